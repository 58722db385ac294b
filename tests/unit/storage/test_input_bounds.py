"""Hostile configs, flags and numbers: each is refused with exit 2 and one line naming the culprit (file and
line, flag or key), never a traceback, never a secret, before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlprom.cli import app

SECRET = "hunter2-S3CR3T"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def assert_refused(result: Any, *needles: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert SECRET not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlprom: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# ---------------------------------------------------------------- the YAML reader is bounded


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (alias_bomb(), "expands to more than"),
        ("model: " + "[" * 200 + "]" * 200 + "\n", "nested deeper than"),
        ("a: &a [*a]\n", "a cycle"),
        ("a: &x 1\n" + "".join(f"b{i}: *x\n" for i in range(300)), "aliases"),
        ("storage: {url: '" + "x" * (2 * 1024 * 1024) + "'}\n", "larger than"),
        ("drift: {bins: 1" + "0" * 5000 + "}\n", "invalid YAML"),
    ],
    ids=["alias-bomb", "deep-nesting", "recursive-alias", "many-aliases", "huge", "huge-integer"],
)
def test_hostile_yaml_is_refused_naming_the_file(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text(text)
    assert_refused(invoke("-c", str(config), "check"), str(config), needle)


def test_a_binary_or_endless_config_file_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"model:\n  name: \xff\xfe\x00\n")
    assert_refused(invoke("-c", str(binary), "check"), str(binary), "not UTF-8")
    assert_refused(
        invoke("-c", "/dev/zero", "check"), "/dev/zero", "is a character device, not a regular file"
    )


# ---------------------------------------------------------------- values that passed loading and crashed later


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ("prometheus: {timeout: 0}", "prometheus.timeout"),
        ("alertmanager: {timeout: 0s}", "alertmanager.timeout"),
        ("pushgateway: {timeout: 2d}", "pushgateway.timeout"),
        ("prometheus: {url: 'http://localhost:99999'}", "prometheus.url"),
        ("alertmanager: {urls: ['http://am:0']}", "alertmanager.urls"),
        ('model: {name: "churn\\n"}', "model.name"),
        ("alertmanager: {resend_ttl: 1000000y}", "alertmanager.resend_ttl"),
        ('prometheus: {headers: {X-Scope-OrgID: "a\\r\\nInjected: yes"}}', "prometheus.headers"),
        ('storage: {url: "/tmp/a\\0b"}', "storage.url"),
        ('queries: {"x\\ud800": up}', "queries"),
    ],
    ids=[
        "timeout-0",
        "timeout-0s",
        "timeout-2d",
        "port-99999",
        "port-0",
        "name-newline",
        "ttl-overflow",
        "header-injection",
        "nul-path",
        "lone-surrogate",
    ],
)
def test_bad_values_are_refused_at_load_naming_the_key(tmp_path: Path, document: str, key: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(document + "\n")
    assert_refused(invoke("-c", str(config), "check"), f"{config}:1: {key}")


def test_a_binary_bearer_token_file_is_refused_naming_the_key(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    config = write_config({"prometheus": {"url": "http://127.0.0.1:9", "bearer_token_file": str(token)}})
    assert_refused(invoke("-c", str(config), "capture-infra"), "prometheus.bearer_token_file", str(token))
    assert not (tmp_path / "data").exists()


def test_a_missing_ca_file_is_refused_naming_the_key(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    config = write_config({"prometheus": {"url": "https://127.0.0.1:9", "tls": {"ca_file": "/nope/ca.pem"}}})
    assert_refused(invoke("-c", str(config), "capture-infra"), "prometheus.tls.ca_file", "/nope/ca.pem")


# ---------------------------------------------------------------- dates and numbers


@pytest.mark.parametrize("value", ["9999-12-31", "20261125xx", "0001-01-01", "2026-02-30", "1969-12-31"])
@pytest.mark.parametrize(
    "command",
    [["correlate"], ["alert", "--dry-run"], ["capture-model", "--input", "x.csv", "--model", "m:f"]],
    ids=["correlate", "alert", "capture-model"],
)
def test_out_of_range_or_malformed_dates_are_refused(
    write_config: Callable[..., Path], command: list[str], value: str
) -> None:
    config = write_config()
    assert_refused(invoke("-c", str(config), *command, "--date", value), "--date")


@pytest.mark.parametrize("value", ["1e20", "-1", "nan", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"])
def test_out_of_range_at_is_refused(write_config: Callable[..., Path], value: str) -> None:
    assert_refused(invoke("-c", str(write_config()), "capture-infra", "--at", value), "--at")


@pytest.mark.parametrize("value", ["0", "999999", "36501"])
def test_keep_days_is_bounded(write_config: Callable[..., Path], value: str) -> None:
    assert_refused(invoke("-c", str(write_config()), "prune", "--keep-days", value, "--yes"), "--keep-days")


def test_a_far_future_alert_state_no_longer_suppresses_todays_alerts() -> None:
    """State written by `alert --date 9999-12-31` (accepted before) is not trusted to outrank today."""
    import orjson

    from mlprom.reports.alert_state import load_state
    from mlprom.storage.interface import Versioned
    from mlprom.storage.local import LocalStorage

    state = {
        "updated_at": "2026-11-20T10:00:00Z",
        "alerts": [
            {
                "labels": {"alertname": "MlpromThreshold", "metric": "cpu_usage"},
                "annotations": {},
                "startsAt": "2026-11-20T10:00:00Z",
                "endsAt": "2026-11-20T11:00:00Z",
                "status": "firing",
                "date": "9999-12-31",
                "report": "reports/dt=9999-12-31/correlation.json",
            }
        ],
    }

    class Memory(LocalStorage):
        def __init__(self) -> None:
            self.location = "memory"

        def get_versioned(self, key: str) -> Versioned:
            return Versioned(orjson.dumps(state), "1")

        def url_for(self, key: str) -> str:
            return "memory://" + key

    assert load_state(Memory(), "default").alerts == ()


# ---------------------------------------------------------------- secrets in errors, valid URL or not


@pytest.mark.parametrize(
    "document",
    [
        f"storage: {{url: 's3://AKIAKEY:{SECRET}@bad_bucket!/x'}}",
        f"storage: {{url: 's3://{SECRET}@bucket/x'}}",
        f"alertmanager: {{urls: ['htp://admin:{SECRET}@am:9093']}}",
        f"alertmanager: {{urls: ['http://admin:{SECRET}@am:99999']}}",
        f"prometheus: {{url: 'http://prom:9090/x?token={SECRET}&a=b c'}}",
        f"pushgateway: {{url: 'ftp://u:{SECRET}@pgw'}}",
    ],
    ids=[
        "s3-userinfo-bad-bucket",
        "s3-token",
        "am-bad-scheme",
        "am-bad-port",
        "prom-token-query",
        "pgw-bad-scheme",
    ],
)
def test_secrets_never_reach_error_messages(tmp_path: Path, document: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(document + "\n")
    assert_refused(invoke("-c", str(config), "check"), str(config))


@pytest.mark.parametrize(
    "document",
    [
        "prometheus: {basic_auth: {username: u, password: 73310021}}",
        "prometheus: {headers: {Authorization: 73310021}}",
    ],
    ids=["password", "header"],
)
def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path, document: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(document + "\n")
    result = invoke("-c", str(config), "check")
    assert_refused(result, str(config))
    assert "73310021" not in result.output
