"""Prometheus and Alertmanager answers, generated hostile, served by a loopback server: `capture-infra` and
`alert` keep the contract, never store what their readers would choke on, and lose nothing stored before.

Statuses that make clients retry with back-off (429, 5xx) are left to the fault-injection suite: here
they would cost seconds per example without exercising anything the parsers do.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlprom.cli import app
from tests.property.strategies import (
    SECRET,
    assert_contract,
    assert_kept,
    examples,
    json_values,
    near,
    snapshot_files,
)

DAY = "2026-11-20"


class Answer:
    status = 200
    body = b"{}"
    content_type = "application/json"


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[str, type[Answer]]]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(Answer.status)
            self.send_header("Content-Type", Answer.content_type)
            self.send_header("Content-Length", str(len(Answer.body)))
            self.end_headers()
            self.wfile.write(Answer.body)

        do_GET = do_POST = do_PUT = _answer  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", Answer
    finally:
        server.shutdown()
        server.server_close()


SAMPLE = [1764000000.0, "0.5"]
VECTOR_ITEM = {"metric": {"__name__": "up", "instance": "host-a:9100"}, "value": SAMPLE}
MATRIX_ITEM = {"metric": {"instance": "host-a:9100"}, "values": [SAMPLE, [1764000060.0, "NaN"]]}


@st.composite
def prometheus_bodies(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["vector", "matrix", "scalar", "string", "bogus"]))
    if kind == "vector":
        result: Any = draw(
            st.lists(st.one_of(st.just(VECTOR_ITEM), near(VECTOR_ITEM), json_values), max_size=3)
        )
    elif kind == "matrix":
        result = draw(st.lists(st.one_of(st.just(MATRIX_ITEM), near(MATRIX_ITEM), json_values), max_size=3))
    else:
        result = draw(st.one_of(st.just(SAMPLE), json_values))
    envelope = {"status": "success", "data": {"resultType": kind, "result": result}, "warnings": ["w"]}
    error = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
    document = draw(st.one_of(near(envelope), st.just(error), near(error), json_values))
    body = orjson.dumps(document)
    if draw(st.integers(0, 9)) == 0:
        body = body[: draw(st.integers(0, len(body)))]  # cut short
    return body


@settings(max_examples=examples(60))
@given(
    body=prometheus_bodies(),
    status=st.sampled_from([200, 200, 200, 400, 422, 404]),
    content_type=st.sampled_from(["application/json", "text/html"]),
)
def test_capture_infra_keeps_the_contract_on_any_prometheus_answer(
    loopback: tuple[str, type[Answer]], body: bytes, status: int, content_type: str
) -> None:
    address, answer = loopback
    answer.status, answer.body, answer.content_type = status, body, content_type
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        stored = root / f"infra/dt={DAY}/090000-{'1' * 16}.json"
        stored.parent.mkdir(parents=True)
        stored.write_bytes(orjson.dumps({"ts": f"{DAY}T09:00:00Z", "source": "x", "queries": {}}))
        config = Path(tmp) / "mlprom.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": str(root)},
                    "prometheus": {"url": f"http://admin:{SECRET}@{address}", "timeout": "5s"},
                    "queries": {"a": "up", "b": "rate(x[1m])"},
                    "thresholds": {"a": 0.5},
                }
            )
        )
        before = snapshot_files(root)
        runner = CliRunner()
        result = runner.invoke(
            app, ["-c", str(config), "-o", "json", "capture-infra", "--at", f"{DAY}T10:00:00Z"]
        )
        assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
        assert_contract(result.exit_code, result.output)
        after = snapshot_files(root)
        assert_kept(before, after)
        for key, data in after.items():
            assert SECRET.encode() not in data, key  # the URL's credentials are never stored
        # Whatever was stored, its reader takes it without a single skipped series or query.
        read = runner.invoke(app, ["-c", str(config), "correlate", "--date", DAY, "--fail-on", "never"])
        assert_contract(read.exit_code, read.output)
        assert "skipping" not in read.stderr, read.stderr


FINDING = {
    "severity": "critical",
    "metric": "cpu_usage",
    "labels": {"instance": "host-a:9100", "route": "/api/[/id]"},
    "value": 0.93,
    "threshold": 0.7,
    "direction": "above",
    "slow_events": 2,
    "first_seen": f"{DAY}T10:00:00Z",
    "last_seen": f"{DAY}T10:05:00Z",
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


@settings(max_examples=examples(40))
@given(
    document=st.one_of(json_values, st.just({"error": "bad label"}), st.just("")),
    status=st.sampled_from([200, 200, 400, 404, 413, 422]),
    fmt=st.sampled_from(["table", "json", "markdown"]),
)
def test_alert_keeps_the_contract_on_any_alertmanager_answer(
    loopback: tuple[str, type[Answer]], document: Any, status: int, fmt: str
) -> None:
    address, answer = loopback
    answer.status, answer.body, answer.content_type = status, orjson.dumps(document), "application/json"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        report = root / f"reports/dt={DAY}/correlation.json"
        report.parent.mkdir(parents=True)
        report.write_bytes(orjson.dumps(REPORT))
        config = Path(tmp) / "mlprom.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": str(root)},
                    "alertmanager": {"urls": [f"http://admin:{SECRET}@{address}"], "timeout": "5s"},
                }
            )
        )
        before = snapshot_files(root)
        result = CliRunner().invoke(app, ["-c", str(config), "-o", fmt, "alert", "--date", DAY])
        assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
        assert_contract(result.exit_code, result.output)
        after = snapshot_files(root)
        # alerts/state.json and the run record may be written; nothing before is touched.
        assert_kept(before, after)
        for key, data in after.items():
            assert SECRET.encode() not in data, key
