"""Stored objects, generated hostile (near-valid or arbitrary JSON), written into a real local store next to
good data: `alert --dry-run`, `correlate` and `alert --dry-run` again keep the contract, and every object
stored before is still there byte for byte (only the date's report and drift sample may be replaced)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from tests.property.strategies import (
    CLOSED,
    SECRET,
    assert_contract,
    assert_kept,
    examples,
    json_values,
    near,
    snapshot_files,
)

DAY = "2026-11-20"
BEFORE = "2026-11-19"
SERIES = {"labels": {"instance": "host-a:9100", "route": "/api/[/id]"}, "value": 0.93}
QUERY = {"expr": "x", "result_type": "vector", "series": [SERIES], "error": None}
EVENT = {
    "ts": f"{DAY}T10:00:00.000Z",
    "model": "default",
    "prediction_time_seconds": 12.5,
    "slow": True,
    "rows": 10,
    "sampled": False,
    "accuracy": 0.7,
    "metrics": {"accuracy": 0.7},
    "outputs": [0.1, 0.9],
    "batch": 3,
}
FINDING = {
    "severity": "critical",
    "metric": "cpu_usage",
    "labels": {"instance": "host-a:9100"},
    "value": 0.93,
    "threshold": 0.7,
    "direction": "above",
    "slow_events": 2,
    "first_seen": f"{DAY}T10:00:00Z",
    "last_seen": f"{DAY}T10:05:00Z",
    "kind": "threshold",
}
REPORT = {
    "date": DAY,
    "generated_at": f"{DAY}T12:00:00Z",
    "status": "critical",
    "model": "default",
    "events": {"total": 3, "slow": 1},
    "snapshots": 2,
    "findings": [FINDING],
    "suspects": [],
}
ALERT = {
    "fingerprint": "0123456789abcdef",
    "labels": {"alertname": "MlpromThreshold", "metric": "cpu_usage"},
    "annotations": {"summary": "x"},
    "startsAt": f"{DAY}T10:00:00Z",
    "endsAt": f"{DAY}T11:00:00Z",
    "generatorURL": "",
    "status": "firing",
    "resolved_at": None,
    "date": DAY,
    "report": f"reports/dt={DAY}/correlation.json",
}


@st.composite
def snapshots(draw: Any) -> Any:
    series = draw(st.lists(st.one_of(near(SERIES), st.just(SERIES), json_values), max_size=3))
    query = draw(near({**QUERY, "series": series}))
    queries = draw(st.one_of(st.just({"cpu_usage": query}), json_values))
    return draw(
        st.one_of(
            near({"ts": f"{DAY}T10:01:00Z", "source": "http://prom", "id": "a" * 16, "queries": queries}),
            json_values,
        )
    )


@st.composite
def event_objects(draw: Any) -> bytes:
    lines = draw(st.lists(st.one_of(st.just(EVENT), near(EVENT), json_values), min_size=1, max_size=5))
    body = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.binary(max_size=8)) + body[cut:]  # torn or garbled bytes
    return body


@st.composite
def reports(draw: Any) -> Any:
    findings = draw(st.lists(st.one_of(st.just(FINDING), near(FINDING), json_values), max_size=3))
    return draw(st.one_of(near({**REPORT, "findings": findings}), json_values))


@st.composite
def states(draw: Any) -> Any:
    alerts = draw(st.lists(st.one_of(st.just(ALERT), near(ALERT), json_values), max_size=3))
    return draw(st.one_of(near({"updated_at": f"{DAY}T09:00:00Z", "alerts": alerts}), json_values))


def _put(root: Path, key: str, body: Any) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body if isinstance(body, bytes) else orjson.dumps(body))


def _good_store(root: Path) -> None:
    """What other runs stored: the previous day's events, snapshot, report and alert run, and the state."""
    _put(
        root,
        f"model/dt={BEFORE}/model=default/100000-{'1' * 16}.jsonl",
        orjson.dumps({**EVENT, "ts": f"{BEFORE}T10:00:00Z"}) + b"\n",
    )
    _put(
        root,
        f"infra/dt={BEFORE}/100000-{'2' * 16}.json",
        {"ts": f"{BEFORE}T10:00:00Z", "source": "x", "queries": {"cpu_usage": QUERY}},
    )
    _put(root, f"reports/dt={BEFORE}/correlation.json", {**REPORT, "date": BEFORE})
    _put(root, f"alerts/dt={BEFORE}/100000-{'3' * 16}.json", {"payload": []})
    _put(root, f"model/dt={DAY}/model=default/090000-{'4' * 16}.jsonl", orjson.dumps(EVENT) + b"\n")
    _put(
        root,
        f"infra/dt={DAY}/090000-{'5' * 16}.json",
        {"ts": f"{DAY}T09:59:00Z", "source": "x", "queries": {"cpu_usage": QUERY}},
    )


@settings(max_examples=examples(40))
@given(
    event_body=event_objects(),
    snapshot=snapshots(),
    report=reports(),
    state=st.one_of(st.none(), states()),
    fmt=st.sampled_from(["table", "json", "markdown"]),
    own=st.booleans(),
)
def test_readers_keep_the_contract_on_any_stored_data(
    event_body: bytes, snapshot: Any, report: Any, state: Any, fmt: str, own: bool
) -> None:
    """The hostile report and alert state at the model's own keys, or at the previous layout's (one per
    store), which a model without its own reads."""
    day = date.fromisoformat(DAY)
    report_key = layout.report_key(day, "default") if own else layout.legacy_report_key(day)
    state_key = layout.alert_state_key("default") if own else layout.LEGACY_ALERT_STATE_KEY
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        _good_store(root)
        _put(root, f"model/dt={DAY}/model=default/100000-{'6' * 16}.jsonl", event_body)
        _put(root, f"infra/dt={DAY}/100000-{'7' * 16}.json", snapshot)
        _put(root, report_key, report)
        if state is not None:
            _put(root, state_key, state)
        config = Path(tmp) / "mlprom.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": str(root)},
                    "prometheus": {"url": f"http://admin:{SECRET}@{CLOSED}"},
                    "alertmanager": {"urls": [f"http://admin:{SECRET}@{CLOSED}"]},
                    "drift": {"reference_days": 1},
                }
            )
        )
        before = snapshot_files(root)
        runner = CliRunner()
        for args in (
            ["alert", "--dry-run"],
            ["correlate", "--fail-on", "warning"],
            ["alert", "--dry-run"],
        ):
            result = runner.invoke(app, ["-c", str(config), "-o", fmt, *args, "--date", DAY])
            assert isinstance(result.exception, SystemExit) or result.exception is None, repr(
                result.exception
            )
            assert_contract(result.exit_code, result.output)
            if fmt == "json" and result.exit_code in (0, 1):
                orjson.loads(result.stdout)  # stdout is exactly one JSON document
        # correlate replaces the model's own report and drift sample; the previous layout's are never written.
        replaced = {layout.report_key(day, "default"), layout.drift_sample_key(day, "default")}
        assert_kept(before, snapshot_files(root), replaced)


@st.composite
def full_reports(draw: Any) -> Any:
    """Today's report format (timeline, profile, significance, infra, ...) with parts made hostile."""
    from tests.fixtures.report_documents import full_document

    document = full_document()
    for section in draw(st.lists(st.sampled_from(sorted(document)), max_size=3, unique=True)):
        value = document[section]
        document[section] = draw(near(value) if isinstance(value, dict) and value else json_values)
    timeline = document.get("timeline")
    if isinstance(timeline, dict) and isinstance(timeline.get("series"), list) and timeline["series"]:
        first = timeline["series"][0]
        if isinstance(first, dict):
            timeline["series"][0] = draw(st.one_of(near(first), json_values))
    return document


@settings(max_examples=examples(25))
@given(report=full_reports(), fmt=st.sampled_from(["table", "json", "markdown", "html"]))
def test_a_stored_report_of_any_shape_renders_or_is_refused_cleanly(report: Any, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        _good_store(root)
        _put(root, f"reports/dt={DAY}/correlation.json", report)
        config = Path(tmp) / "mlprom.yaml"
        config.write_text(yaml.safe_dump({"storage": {"url": str(root)}}))
        before = snapshot_files(root)
        runner = CliRunner()
        for args in (["report", "-o", fmt], ["alert", "--dry-run", "-o", "json" if fmt == "html" else fmt]):
            result = runner.invoke(app, ["-c", str(config), *args, "--date", DAY])
            assert isinstance(result.exception, SystemExit) or result.exception is None, repr(
                result.exception
            )
            assert_contract(result.exit_code, result.output)
        assert_kept(before, snapshot_files(root))
