"""prometheus.sigv4: capture-infra, check and correlate sign every Prometheus request so that a server
verifying SigV4 with botocore (as Amazon Managed Service for Prometheus does) answers them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.sigv4_server import SigV4Prometheus, serve_sigv4_prometheus

ACCESS_KEY = "AKIAMLPROMTEST000001"
SECRET_KEY = "mlprom-test-secret/with+odd=chars"
REGION = "eu-west-1"
QUERIES = {
    "cpu_usage": '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))',
    "load": "node_load1 + 0 * count(up{job=~'node|a b'})",  # quotes, a space and a "+" in the form
}


@pytest.fixture
def amp() -> Iterator[SigV4Prometheus]:
    yield from serve_sigv4_prometheus(ACCESS_KEY, SECRET_KEY, REGION)


def aws_environment(tmp_path: Path, secret: str = SECRET_KEY) -> dict[str, str]:
    """The environment of a run whose only AWS credentials are the two variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    return env


def mlprom(env: dict[str, str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlprom", "-c", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def amp_config(write_config: Callable[..., Path], amp: SigV4Prometheus, **sections: object) -> Path:
    return write_config(
        {
            "prometheus": {"url": amp.url + "/workspaces/ws-0123", "sigv4": {"region": REGION}},
            "alertmanager": {"urls": []},
            "queries": QUERIES,
            "thresholds": {"cpu_usage": 0.9},
            **sections,
        }
    )


def test_capture_infra_signs_every_query_and_stores_what_the_server_answered(
    amp: SigV4Prometheus, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = amp_config(write_config, amp)
    done = mlprom(aws_environment(tmp_path), config, "-o", "json", "capture-infra")
    assert done.returncode == 0, done.stderr
    queries = [r for r in amp.received if r.path == "/workspaces/ws-0123/api/v1/query"]
    assert sorted(r.form["query"] for r in queries) == sorted(QUERIES.values())
    assert all(r.verdict == "ok" for r in amp.received), [(r.path, r.verdict) for r in amp.received]
    assert all(r.method == "POST" and "content-type" in r.signed_headers for r in queries)
    (snapshot_path,) = (tmp_path / "data" / "infra").rglob("*.json")
    snapshot = json.loads(snapshot_path.read_text())
    assert snapshot["source"] == amp.url + "/workspaces/ws-0123"
    series = snapshot["queries"]["cpu_usage"]["series"]
    assert [(s["labels"], s["value"]) for s in series] == [
        ({"instance": "amp-node:9100", "job": "node"}, 0.25)
    ]


def test_check_passes_against_a_workspace_that_verifies_signatures(
    amp: SigV4Prometheus, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = amp_config(write_config, amp)
    done = mlprom(aws_environment(tmp_path), config, "-o", "json", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    items = {i["target"]: i for i in json.loads(done.stdout)["checks"]}
    assert items["prometheus"]["ok"] and items["queries"]["ok"]
    asked = [r.form.get("query") for r in amp.received if r.path.endswith("/api/v1/query")]
    assert "vector(1)" in asked and set(QUERIES.values()) <= set(asked)
    # The workspace has no /-/ready and no format_query (404, signed too): check reads the query API.
    assert not any(r.path.endswith("/-/ready") for r in amp.received)
    assert all(r.verdict == "ok" for r in amp.received)


def test_capture_infra_history_signs_every_range_query(
    amp: SigV4Prometheus, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = amp_config(write_config, amp, correlate={"infra_source": "prometheus"})
    # No --step: the step is chosen from the targets API's scrape interval, a signed GET with a query.
    args = ("capture-infra", "--from", "2026-11-30T10:00:00Z", "--to", "2026-11-30T10:30:00Z")
    done = mlprom(aws_environment(tmp_path), config, "-o", "json", *args)
    assert done.returncode == 0, done.stderr
    (targets,) = [r for r in amp.received if r.path.endswith("/api/v1/targets")]
    assert (targets.method, targets.form, targets.verdict) == ("GET", {"state": "active"}, "ok")
    ranges = [r for r in amp.received if r.path.endswith("/api/v1/query_range")]
    assert sorted(r.form["query"] for r in ranges) == sorted(QUERIES.values())
    assert {r.form["step"] for r in ranges} == {"15"}  # whole scrape intervals of the targets' 15s
    assert all(r.verdict == "ok" for r in amp.received)
    stored = list((tmp_path / "data" / "infra" / "dt=2026-11-30").glob("range-*.json"))
    assert len(stored) == len(QUERIES)


def test_a_wrong_secret_is_refused_by_the_server_and_exits_3_with_one_line(
    amp: SigV4Prometheus, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = amp_config(write_config, amp, queries={"cpu_usage": QUERIES["cpu_usage"]})
    done = mlprom(aws_environment(tmp_path, secret="not-the-secret"), config, "capture-infra")
    assert done.returncode == 3, done.stderr
    assert amp.received and all(r.verdict == "signature does not match" for r in amp.received)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "HTTP 403" in lines[0] and amp.url in lines[0]
    assert "not-the-secret" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "infra").exists()
