"""Config YAML text, generated: loading gives a Config or one ConfigError naming the source, never a crash
and never the planted secret; through the CLI, the exit code is in the contract's set."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.config import load_config_text
from mlprom.errors import ConfigError
from tests.property.strategies import CLOSED, SECRET, assert_contract, examples, json_values, scalars

SECTIONS: dict[str, list[str]] = {
    "storage": ["url", "endpoint_url", "region"],
    "prometheus": ["url", "timeout", "headers", "bearer_token_file", "basic_auth", "tls"],
    "alertmanager": ["urls", "timeout", "headers", "resend_ttl", "runbook_url", "clear_after", "basic_auth"],
    "pushgateway": ["url", "timeout"],
    "mlflow": ["tracking_uri", "experiment"],
    "model": ["name", "latency_threshold", "sample_rate", "record_inputs", "task"],
    "correlate": ["max_skew"],
    "drift": ["reference_days", "min_samples", "bins"],
    "queries": ["cpu_usage", "x", "[bold]", ""],
    "thresholds": ["cpu_usage", "accuracy", "prediction_time", "x"],
}

urls = st.sampled_from(
    [
        f"http://admin:{SECRET}@{CLOSED}",
        f"http://{CLOSED}/?token={SECRET}",
        f"https://u:{SECRET}@{CLOSED}:99999/x",
        f"htp://u:{SECRET}@host",
        f"s3://AKIA:{SECRET}@bad_bucket!/x",
        f"s3://{SECRET}@bucket/prefix",
        "http://[::1",
        "http://127.0.0.1:1",
        "ftp://example",
        "not a url",
    ]
)
durations = st.one_of(
    st.sampled_from(["0", "0s", "500ms", "30s", "5m", "1h30m", "7d", "1000000y", "-1s", "1e400"]), scalars
)
secret_places = st.sampled_from(
    [
        {"prometheus": {"basic_auth": {"username": "u", "password": SECRET}}},
        {"alertmanager": {"headers": {"Authorization": f"Bearer {SECRET}"}}},
        {"prometheus": {"headers": {"X-Token": SECRET}}},
        {"pushgateway": {"basic_auth": {"username": "u", "password": SECRET}}},
        {"prometheus": {"basic_auth": {"password": "${PLANTED}"}}},
    ]
)


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS) + ["bogus"]), max_size=5, unique=True)):
        keys = SECTIONS.get(section, ["x"]) + ["unknown_key"]
        body: dict[str, Any] = {}
        for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
            if key.endswith(("url", "urls", "tracking_uri", "endpoint_url")):
                value: Any = draw(urls)
                body[key] = [value] if key == "urls" else value
            elif key in ("timeout", "resend_ttl", "clear_after", "latency_threshold", "max_skew"):
                body[key] = draw(durations)
            else:
                body[key] = draw(json_values)
        document[section] = draw(st.one_of(st.just(body), scalars)) if draw(st.booleans()) else body
    for place in draw(st.lists(secret_places, max_size=2)):
        for section, body in place.items():
            if isinstance(document.get(section), dict):
                document[section] = {**document[section], **body}
            else:
                document[section] = body
    return document


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


yaml_fragments = st.sampled_from(
    [
        "&a ",
        "*a",
        "<<: *a\n",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "\n  - ",
        "!!python/object:os.system ",
        "%YAML 1.1\n",
        "---\n",
        "\t",
        "'",
        '"',
        "\\x00",
        "? ",
        "|\n",
        ">\n",
        "#",
        "@",
        "`",
    ]
)


@st.composite
def yaml_texts(draw: Any) -> str:
    text = _dump(draw(documents()))
    if draw(st.booleans()):
        # Splice syntax fragments in: the reader, not only the validator, meets hostile text.
        for fragment in draw(st.lists(yaml_fragments, min_size=1, max_size=4)):
            at = draw(st.integers(0, len(text)))
            text = text[:at] + fragment + text[at:]
    return text


@settings(max_examples=examples(300))
@given(text=yaml_texts())
def test_loading_any_text_gives_a_config_or_a_clean_config_error(text: str) -> None:
    try:
        load_config_text(text, "fuzz.yaml", env={"PLANTED": SECRET})
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml"), message
        assert SECRET not in message, message


@settings(max_examples=examples(40))
@given(
    text=yaml_texts(),
    command=st.sampled_from([["check"], ["correlate", "--allow-empty"], ["alert", "--dry-run"]]),
)
def test_the_cli_on_any_config_keeps_the_contract(text: str, command: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        document: Any
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            document = None
        if isinstance(document, dict):
            # Never talk to a real network: storage in the temp dir, every endpoint on a closed port.
            document["storage"] = {"url": str(Path(tmp) / "data")}
            document.pop("mlflow", None)  # check would build an MLflow store: seconds per example
            text = _dump(document)
        config = Path(tmp) / "mlprom.yaml"
        config.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = CliRunner().invoke(
            app,
            ["-c", str(config), *command, "--date", "2026-11-20"]
            if command[0] != "check"
            else ["-c", str(config), "check"],
            env={"PLANTED": SECRET, "MLFLOW_TRACKING_URI": None},
        )
        assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
        assert_contract(result.exit_code, result.output)
