"""The heartbeat and its Pushgateway misbehaving: the push ends within pushgateway.timeout, the stage's work
is stored, and the run exits 3 naming the Pushgateway."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import assert_handled, run_cli
from tests.fixtures.hostile import BASE_FAULTS, PROMETHEUS_OK, HostileServer, running_hostile_server

TIMEOUT = 0.5  # the configured timeout: the documented deadline of one call
FAULTS = [
    "hang",
    "trickle",
    "silent",
    "429-retry-after-3600",
    "close-mid-body",
    "html-200",
    "oversized-chunked",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_heartbeat_push_ends_within_the_deadline_and_the_snapshot_is_kept(
    fault: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(PROMETHEUS_OK)
    with running_hostile_server(BASE_FAULTS[fault]) as pushgateway:
        path = write_config(
            {
                "prometheus": {"url": hostile_server.url, "timeout": f"{TIMEOUT:g}s"},
                "pushgateway": {"url": pushgateway.url_with("carol:pg-secret-5"), "timeout": f"{TIMEOUT:g}s"},
                "queries": {"cpu_usage": "up"},
            }
        )
        # Documented worst case: one query (prometheus.timeout) plus the push (pushgateway.timeout).
        outcome = run_cli(["-c", str(path), "capture-infra"], deadline=2 * TIMEOUT)
    assert_handled(outcome, {3}, f"heartbeat not pushed: Pushgateway at {pushgateway.url}/metrics/job/mlprom")
    assert len(list((tmp_path / "data").rglob("infra/**/*.json"))) == 1
