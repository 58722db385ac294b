"""prometheus.sigv4: the config it accepts, the credentials it finds, and the bytes it signs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.clients.sigv4 import SigV4Auth, sigv4_auth
from mlprom.config.schema import SigV4
from tests.fixtures.sigv4_server import verify

runner = CliRunner()
REGION = "eu-west-1"
KEYS = ("AKIAMLPROMUNIT000001", "unit-secret")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Only what the test sets: no profile, no shared files, no instance metadata service."""
    for name in (
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _config(write_config: Callable[..., Path], **prometheus: Any) -> Path:
    section = {"url": "http://127.0.0.1:9/workspaces/ws-1", "sigv4": {"region": REGION}, **prometheus}
    return write_config({"prometheus": section, "queries": {"up": "up"}, "thresholds": {}})


def _signed(auth: SigV4Auth, method: str, url: str, **kwargs: Any) -> requests.PreparedRequest:
    prepared = requests.Request(method, url, **kwargs).prepare()
    return auth(prepared)


def _verdict(prepared: requests.PreparedRequest, keys: tuple[str, str], region: str = REGION) -> str:
    body = prepared.body if isinstance(prepared.body, bytes) else b""
    headers = {**prepared.headers, "Host": "127.0.0.1:9"}
    return verify(str(prepared.method), str(prepared.url), headers, body, keys, region, "aps")[0]


def test_no_credentials_found_exits_2_with_one_line_naming_prometheus_sigv4(
    aws_env: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    result = runner.invoke(app, ["-c", str(_config(write_config)), "capture-infra"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "prometheus.sigv4: no AWS credentials found" in line
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("prometheus", "named"),
    [
        ({"bearer_token_file": "/run/secrets/token"}, "bearer_token_file"),
        ({"basic_auth": {"username": "u", "password": "p"}}, "basic_auth"),
        ({"url": "http://u:hunter2@127.0.0.1:9"}, "credentials in url"),
        ({"headers": {"authorization": "Bearer x"}}, "an Authorization header"),
    ],
)
def test_sigv4_beside_another_credential_is_a_config_error(
    prometheus: dict[str, Any], named: str, aws_env: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    result = runner.invoke(app, ["-c", str(_config(write_config, **prometheus)), "capture-infra"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "prometheus: sigv4 signs every request; it cannot be used with " + named in line
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("sigv4", "culprit"),
    [
        ({"region": "EU West 1"}, "'EU West 1' is not an AWS region"),
        ({"region": REGION, "role_arn": "mlprom-reader"}, "'mlprom-reader' is not an IAM role ARN"),
        ({"region": REGION, "signing": "aps"}, "signing"),
        ({}, "region"),
    ],
)
def test_a_bad_sigv4_section_names_the_key(
    sigv4: dict[str, Any], culprit: str, write_config: Callable[..., Path]
) -> None:
    result = runner.invoke(app, ["-c", str(_config(write_config, sigv4=sigv4)), "rules"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "sigv4" in line and culprit in line


def test_the_signature_covers_the_form_body_sent(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ACCESS_KEY_ID", KEYS[0])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", KEYS[1])
    auth = sigv4_auth(SigV4(region=REGION))
    url = "http://127.0.0.1:9/workspaces/ws-1/api/v1/query"
    prepared = _signed(auth, "POST", url, data={"query": 'sum(rate(x{a="b c+d"}[5m]))', "time": "1"})
    assert isinstance(prepared.body, bytes)  # hashed and sent as the same bytes
    assert _verdict(prepared, KEYS) == "ok"
    assert _verdict(prepared, (KEYS[0], "another-secret")) == "signature does not match"
    assert _verdict(prepared, KEYS, region="us-east-1") == "signature does not match"
    prepared.body = prepared.body.replace(b"5m", b"1h")
    assert _verdict(prepared, KEYS) == "signature does not match"


def test_a_query_string_is_sent_in_the_form_aws_canonicalises_and_signed_as_sent(
    aws_env: pytest.MonkeyPatch,
) -> None:
    aws_env.setenv("AWS_ACCESS_KEY_ID", KEYS[0])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", KEYS[1])
    auth = sigv4_auth(SigV4(region=REGION))
    prepared = _signed(auth, "GET", "http://127.0.0.1:9/api/v1/targets", params={"state": "a b+c~"})
    assert str(prepared.url).endswith("?state=a%20b%2Bc~")  # not "a+b%2Bc%7E": AWS reads + as itself
    assert _verdict(prepared, KEYS) == "ok"


def test_role_arn_signs_with_the_credentials_sts_issued(aws_env: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    aws_env.setenv("AWS_ACCESS_KEY_ID", KEYS[0])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", KEYS[1])
    with mock_aws():
        auth = sigv4_auth(SigV4(region=REGION, role_arn="arn:aws:iam::123456789012:role/mlprom-reader"))
        assumed = auth.credentials.get_frozen_credentials()
        prepared = _signed(auth, "POST", "http://127.0.0.1:9/api/v1/query", data={"query": "up"})
    assert assumed.access_key != KEYS[0] and assumed.token
    assert prepared.headers["X-Amz-Security-Token"] == assumed.token
    assert _verdict(prepared, (assumed.access_key, assumed.secret_key)) == "ok"
    assert _verdict(prepared, KEYS) == "unknown access key"


def test_loading_a_sigv4_config_imports_no_aws_library(write_config: Callable[..., Path]) -> None:
    probe = (
        "import sys; from mlprom.config import load_config; load_config(sys.argv[1]); "
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(_config(write_config))], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
