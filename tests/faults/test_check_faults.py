"""check against endpoints that never answer: each target fails on its own line within its deadline
(min(timeout, 10 s); MLflow's probe 5 s), targets concurrently, exit 3, no secret printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import assert_handled, run_cli
from tests.fixtures.hostile import BASE_FAULTS, HostileServer, running_faulty_proxy, running_hostile_server

TIMEOUT = 0.5  # the configured timeout: the documented deadline of one call


def test_check_fails_every_hanging_target_within_its_deadline(
    hostile_server: HostileServer,
    moto_s3: str,
    s3_bucket: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    hostile_server.set(BASE_FAULTS["hang"])
    token = tmp_path / "token"
    token.write_text("token-secret-2")
    with running_faulty_proxy(moto_s3, "stall") as s3:
        path = write_config(
            {
                "storage": {
                    "url": f"s3://{s3_bucket}",
                    "endpoint_url": s3.url,
                    "region": "us-east-1",
                    "timeout": f"{TIMEOUT:g}s",
                },
                "prometheus": {
                    "url": hostile_server.url_with("alice:pw-secret-1"),
                    "timeout": f"{TIMEOUT:g}s",
                    "bearer_token_file": str(token),
                },
                "alertmanager": {
                    "urls": [hostile_server.url_with("bob:am-secret-4")],
                    "timeout": f"{TIMEOUT:g}s",
                },
                "pushgateway": {
                    "url": hostile_server.url_with("carol:pg-secret-5"),
                    "timeout": f"{TIMEOUT:g}s",
                },
                "mlflow": {"tracking_uri": hostile_server.url_with("dave:mlflow-secret-6")},
            }
        )
        # Targets are probed concurrently: the longest target's deadline (MLflow's 5 s probe), then the
        # heartbeat push to the (hanging) Pushgateway: pushgateway.timeout.
        outcome = run_cli(["-c", str(path), "-o", "json", "check"], deadline=5.0 + TIMEOUT)
    assert_handled(outcome, {3}, "within the")
    checks = {c["target"]: c for c in json.loads(outcome.stdout)["checks"]}
    targets = ("storage", "prometheus", "queries", "alertmanager", "pushgateway", "mlflow")
    assert set(checks) == {"config", *targets}
    for target in targets:
        assert not checks[target]["ok"], checks[target]
        assert "deadline" in checks[target]["detail"], checks[target]


@pytest.mark.parametrize(
    "fault", ["trickle", "silent", "503-retry-after-3600", "html-200", "oversized-chunked"]
)
def test_check_fails_a_misbehaving_prometheus_alertmanager_and_pushgateway(
    fault: str, write_config: Callable[..., Path]
) -> None:
    with running_hostile_server(BASE_FAULTS[fault]) as server:
        path = write_config(
            {
                "prometheus": {"url": server.url, "timeout": f"{TIMEOUT:g}s"},
                "alertmanager": {"urls": [server.url], "timeout": f"{TIMEOUT:g}s"},
                "pushgateway": {"url": server.url, "timeout": f"{TIMEOUT:g}s"},
            }
        )
        # Every target within its timeout, concurrently, then the heartbeat push (pushgateway.timeout).
        outcome = run_cli(["-c", str(path), "check"], deadline=2 * TIMEOUT)
    assert_handled(outcome, {3}, server.url)
    lines = outcome.stdout.splitlines()
    for target in ("prometheus", "alertmanager", "pushgateway"):
        (line,) = [ln for ln in lines if f" {target} " in ln]
        assert line.startswith("FAIL") and server.url in line, line
