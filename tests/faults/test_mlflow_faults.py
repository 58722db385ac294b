"""capture-model and its MLflow tracking server misbehaving: the /health probe ends within 5 s, MLflow's own
client within its call deadline, exit 3 naming the server, no events written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import Outcome, assert_handled, run_cli
from tests.fixtures.hostile import BASE_FAULTS, Behaviour, HostileServer

MODEL = "tests.fixtures.mlflow_server:sum_rule_predict"
HEALTHY = Behaviour("normal", 200, b"OK", (("Content-Type", "text/plain"),))
# MLflow's own client: 1 s per attempt, no retries -> call deadline (0 + 1) * 1 + 2 = 3 s. Every variable
# mlprom may set is given here, so the runner restores them all after the in-process run.
FAST_MLFLOW = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "1",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
    "MLFLOW_TRACKING_URI": "",
}
PROBE_DEADLINE = 5.0
CALL_DEADLINE = 3.0


def _run(
    server: HostileServer, write_config: Callable[..., Path], tmp_path: Path, deadline: float
) -> Outcome:
    (tmp_path / "in.csv").write_text("x1,x2\n0.1,0.2\n0.9,0.8\n")
    path = write_config(
        {"mlflow": {"tracking_uri": server.url_with("dave:mlflow-secret-6"), "experiment": "f"}}
    )
    args = ["-c", str(path), "capture-model", "--input", str(tmp_path / "in.csv"), "--model", MODEL]
    return run_cli(args, deadline, env=FAST_MLFLOW)


@pytest.mark.parametrize("fault", ["429-retry-after-3600", "close-mid-body", "503-retry-after-3600"])
def test_probe_of_a_failing_tracking_server_is_exit_3_before_any_work(
    fault: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(BASE_FAULTS[fault])
    outcome = _run(hostile_server, write_config, tmp_path, PROBE_DEADLINE)
    assert_handled(outcome, {3}, f"MLflow tracking server at {hostile_server.url}")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("fault", ["trickle", "hang", "html-200", "malformed-json"])
def test_mlflow_client_calls_end_within_their_deadline(
    fault: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    # /health is fine; the tracking API misbehaves, so MLflow's own client meets the fault.
    hostile_server.set(HEALTHY, [("/api/", BASE_FAULTS[fault])])
    outcome = _run(hostile_server, write_config, tmp_path, PROBE_DEADLINE + CALL_DEADLINE)
    assert_handled(outcome, {3}, f"MLflow at {hostile_server.url}")
    assert not list(tmp_path.rglob("*.jsonl*"))
