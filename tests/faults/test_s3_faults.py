"""S3 misbehaving (a real moto_server behind a proxy that stalls, resets or trickles): every request ends
within storage.timeout and the run exits 3 naming the bucket and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import assert_handled, run_cli
from tests.fixtures.hostile import PROMETHEUS_OK, HostileServer, running_faulty_proxy
from tests.fixtures.servers import list_s3_keys

TIMEOUT = 0.5  # the configured timeout: the documented deadline of one call
SECRET_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "aws-secret-3"}


def _config(write_config: Callable[..., Path], prometheus: str, bucket: str, endpoint: str) -> Path:
    return write_config(
        {
            "storage": {
                "url": f"s3://{bucket}/p",
                "endpoint_url": endpoint,
                "region": "us-east-1",
                "timeout": f"{TIMEOUT:g}s",
            },
            "prometheus": {"url": prometheus, "timeout": f"{TIMEOUT:g}s"},
            "queries": {"cpu_usage": "up"},
        }
    )


def test_the_proxy_passes_s3_through_when_healthy(
    hostile_server: HostileServer, moto_s3: str, s3_bucket: str, write_config: Callable[..., Path]
) -> None:
    hostile_server.set(PROMETHEUS_OK)
    with running_faulty_proxy(moto_s3, "pass") as proxy:
        path = _config(write_config, hostile_server.url, s3_bucket, proxy.url)
        outcome = run_cli(["-c", str(path), "capture-infra"], deadline=2 * TIMEOUT, env=SECRET_ENV)
    assert_handled(outcome, {0}, "")
    assert len(list_s3_keys(moto_s3, s3_bucket, "p/infra/")) == 1


@pytest.mark.parametrize("mode", ["stall", "reset", "trickle"])
def test_s3_faults_end_within_storage_timeout_with_exit_3(
    mode: str, hostile_server: HostileServer, moto_s3: str, s3_bucket: str, write_config: Callable[..., Path]
) -> None:
    hostile_server.set(PROMETHEUS_OK)
    with running_faulty_proxy(moto_s3, mode) as proxy:
        path = _config(write_config, hostile_server.url, s3_bucket, proxy.url)
        # Documented worst case: the query (prometheus.timeout) plus one PutObject (storage.timeout).
        outcome = run_cli(["-c", str(path), "capture-infra"], deadline=2 * TIMEOUT, env=SECRET_ENV)
    assert_handled(outcome, {3}, f"s3://{s3_bucket}")
    assert "infra/dt=" in outcome.stderr  # names the key it was writing
    if mode != "trickle":  # a trickled answer may come after moto stored the object
        assert list_s3_keys(moto_s3, s3_bucket, "p/infra/") == []
