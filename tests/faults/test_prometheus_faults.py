"""capture-infra and its Prometheus misbehaving: every fault ends within prometheus.timeout, exit 3, nothing
stored; answers of the wrong shape are never stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import assert_handled, run_cli
from tests.fixtures.hostile import BASE_FAULTS, Behaviour, HostileServer, ok, prometheus_vector

TIMEOUT = 0.5  # the configured timeout: the documented deadline of one call


def _config(
    write_config: Callable[..., Path],
    tmp_path: Path,
    server: HostileServer,
    timeout: float = TIMEOUT,
    **extra: Any,
) -> Path:
    token = tmp_path / "token"
    token.write_text("token-secret-2")
    document: dict[str, Any] = {
        "prometheus": {
            "url": server.url_with("alice:pw-secret-1"),
            "timeout": f"{timeout:g}s",
            "bearer_token_file": str(token),
        },
        "queries": {"cpu_usage": "up"},
    }
    document.update(extra)
    return write_config(document)


def _snapshots(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data").rglob("infra/**/*.json"))


@pytest.mark.parametrize("fault", sorted(BASE_FAULTS))
def test_capture_infra_ends_within_the_deadline_with_exit_3_and_stores_nothing(
    fault: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(BASE_FAULTS[fault])
    path = _config(write_config, tmp_path, hostile_server)
    outcome = run_cli(["-c", str(path), "capture-infra"], deadline=TIMEOUT)
    assert_handled(outcome, {3}, f"Prometheus at {hostile_server.url}/api/v1/query")
    assert "query cpu_usage" in outcome.stderr
    assert _snapshots(tmp_path) == []


def test_one_byte_a_second_with_timeout_2s_ends_at_the_deadline_not_after_the_last_byte(
    hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    # The example as seen: headers, then a byte a second (never trips a 2 s read timeout), `timeout: 2s`.
    hostile_server.set(Behaviour("trickle", 200, b" " * 10_000, interval=1.0))
    path = _config(write_config, tmp_path, hostile_server, timeout=2.0)
    outcome = run_cli(["-c", str(path), "capture-infra"], deadline=2.0)
    assert_handled(outcome, {3}, "Prometheus at")
    assert "within the 2 s deadline" in outcome.stderr


def test_retry_after_past_the_deadline_is_not_slept(
    hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(BASE_FAULTS["429-retry-after-3600"])
    path = _config(write_config, tmp_path, hostile_server)
    outcome = run_cli(["-c", str(path), "capture-infra"], deadline=TIMEOUT)
    assert_handled(outcome, {3}, "Prometheus at")
    assert "asked to retry after 3600 s" in outcome.stderr
    assert len(hostile_server.requests) == 1  # gave up at once instead of sleeping an hour


WRONG_SHAPES: dict[str, Any] = {
    "label value is a list": {"metric": {"instance": ["a", "b"]}, "value": [1764000000, "1"]},
    "label value is a number": {"metric": {"instance": 7}, "value": [1764000000, "1"]},
    "value is a string": {"metric": {"instance": "b:9100"}, "value": "abc"},
    "value is not a number": {"metric": {"instance": "b:9100"}, "value": [1764000000, "abc"]},
    "value is a boolean": {"metric": {"instance": "b:9100"}, "value": [1764000000, True]},
    "series is a string": "series",
    "metric is a list": {"metric": ["instance"], "value": [1764000000, "1"]},
}


@pytest.mark.parametrize("shape", sorted(WRONG_SHAPES))
def test_series_of_the_wrong_shape_are_skipped_and_never_stored(
    shape: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    good = {"metric": {"instance": "a:9100"}, "value": [1764000000, "0.25"]}
    body = {"status": "success", "data": {"resultType": "vector", "result": [good, WRONG_SHAPES[shape]]}}
    hostile_server.set(ok(body))
    path = _config(write_config, tmp_path, hostile_server)
    outcome = run_cli(["-c", str(path), "capture-infra"], deadline=TIMEOUT)
    assert_handled(outcome, {0}, "Prometheus at")
    assert f"Prometheus at {hostile_server.url}: query cpu_usage: skipped 1 series" in outcome.stderr
    (stored,) = _snapshots(tmp_path)
    query = json.loads(stored.read_text())["queries"]["cpu_usage"]
    assert query["series"] == [{"labels": {"instance": "a:9100"}, "value": 0.25}]
    assert any(w.startswith("mlprom: skipped series 1:") for w in query["warnings"])


ENVELOPES: dict[str, Any] = {
    "result is a string": {"status": "success", "data": {"resultType": "vector", "result": "oops"}},
    "data is a list": {"status": "success", "data": []},
    "unknown result type": {"status": "success", "data": {"resultType": "histogram", "result": []}},
    "scalar is a string": {"status": "success", "data": {"resultType": "scalar", "result": "1"}},
    "not a Prometheus answer": {"hello": "world"},
    "a JSON string": "success",
}


@pytest.mark.parametrize("envelope", sorted(ENVELOPES))
def test_malformed_answers_fail_the_query_naming_it_and_the_server(
    envelope: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(ok(ENVELOPES[envelope]))
    path = _config(write_config, tmp_path, hostile_server)
    outcome = run_cli(["-c", str(path), "capture-infra"], deadline=TIMEOUT)
    assert_handled(outcome, {3}, f"Prometheus at {hostile_server.url}/api/v1/query")
    assert "(query cpu_usage)" in outcome.stderr
    assert _snapshots(tmp_path) == []


def test_a_malformed_query_among_good_ones_is_recorded_as_that_query_failing(
    hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(prometheus_vector([({"instance": "a:9100"}, "0.5")]))
    path = _config(write_config, tmp_path, hostile_server, queries={"good": "up", "bad": "down"})
    # Same server, a different answer for the query `down` (the form body names the query).
    hostile_server.body_rules = [
        (b"query=down", ok({"status": "success", "data": {"resultType": "vector", "result": "oops"}}))
    ]
    outcome = run_cli(["-c", str(path), "-o", "json", "capture-infra"], deadline=TIMEOUT)
    assert_handled(outcome, {0, 3}, "Prometheus at")
    (stored,) = _snapshots(tmp_path)
    queries = json.loads(stored.read_text())["queries"]
    assert queries["good"]["series"][0]["value"] == 0.5
    assert queries["bad"]["series"] == [] and "malformed answer" in queries["bad"]["error"]
    assert "query bad failed" in outcome.stderr
