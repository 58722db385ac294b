"""Compare-and-swap on storage, with real concurrent processes: on a local directory and on moto_server.

Two processes increment one counter object with get_versioned/put_if as fast as they can; with a lost
update the final count would be short. Then two `mlprom alert` runs made to overlap (an Alertmanager that
answers neither until both have posted) must both end up in the model's alert state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlprom import layout
from mlprom.storage.local import LocalStorage
from mlprom.storage.s3 import S3Storage
from tests.faults.harness import CPU, seed_report
from tests.fixtures.hostile import Behaviour, running_hostile_server
from tests.fixtures.servers import s3_client

pytestmark = pytest.mark.integration

INCREMENTS = 40
WORKER = """
import sys
from mlprom.storage.local import LocalStorage
from mlprom.storage.s3 import S3Storage

kind, where, endpoint, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if kind == "local":
    storage = LocalStorage(where)
else:
    storage = S3Storage(where, "cas", endpoint_url=endpoint, region="us-east-1")
conflicts = 0
for _ in range(n):
    while True:
        found = storage.get_versioned("counter")
        value = int(found.data) if found else 0
        if storage.put_if("counter", str(value + 1).encode(), found.version if found else None):
            break
        conflicts += 1
print(conflicts)
"""


def _race(kind: str, where: str, endpoint: str = "") -> list[int]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    argv = [sys.executable, "-c", WORKER, kind, where, endpoint, str(INCREMENTS)]
    workers = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)
    ]
    conflicts = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
        conflicts.append(int(out))
    return conflicts


def test_two_processes_lose_no_update_on_local_storage(tmp_path: Path) -> None:
    conflicts = _race("local", str(tmp_path))
    found = LocalStorage(tmp_path).get_versioned("counter")
    assert found is not None and int(found.data) == 2 * INCREMENTS, f"conflicts seen: {conflicts}"
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["counter"]


def test_two_processes_lose_no_update_on_s3(moto_s3: str, s3_bucket: str) -> None:
    conflicts = _race("s3", s3_bucket, moto_s3)
    body = s3_client(moto_s3).get_object(Bucket=s3_bucket, Key="cas/counter")["Body"].read()
    assert int(body) == 2 * INCREMENTS, f"conflicts seen: {conflicts}"


def test_s3_conditional_writes_refuse_stale_and_existing(moto_s3: str, s3_bucket: str) -> None:
    storage = S3Storage(s3_bucket, "cond", endpoint_url=moto_s3, region="us-east-1")
    assert storage.get_versioned("k") is None
    assert storage.put_if("k", b"1", None) is True
    assert storage.put_if("k", b"2", None) is False  # If-None-Match: * on an existing key
    first = storage.get_versioned("k")
    assert first is not None and first.data == b"1"
    assert storage.put_if("k", b"2", first.version) is True
    assert storage.put_if("k", b"3", first.version) is False  # If-Match a stale ETag
    assert storage.get_bytes("k") == b"2"


def _alert_run(config: Path, day: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlprom", "-c", str(config), "-o", "json", "alert", "--date", day],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_two_overlapping_alert_runs_both_land_in_the_state(
    backend: str, tmp_path: Path, write_config: Callable[..., Path], request: pytest.FixtureRequest
) -> None:
    storage: dict[str, Any] = {"url": str(tmp_path / "data")}
    if backend == "s3":
        moto = request.getfixturevalue("moto_s3")
        bucket = request.getfixturevalue("s3_bucket")
        storage = {"url": f"s3://{bucket}/race", "endpoint_url": moto, "region": "us-east-1"}
    with running_hostile_server(Behaviour("rendezvous", size=2)) as alertmanager:
        configs = []
        for day, host in (("2026-11-20", "host-a:9100"), ("2026-11-21", "host-b:9100")):
            document = {
                "storage": storage,
                "alertmanager": {"urls": [alertmanager.url], "timeout": "15s"},
                "model": {"name": "m"},
                "queries": {"cpu_usage": CPU},
                "thresholds": {"cpu_usage": 0.9},
            }
            path = tmp_path / f"{day}.yaml"
            path.write_text(yaml.safe_dump(document))
            seed_report(path, [{"instance": host}], day=day)
            configs.append((path, day))
        # Both read the (empty) state, both post; the Alertmanager answers neither until both have posted.
        runs = [_alert_run(path, day) for path, day in configs]
        results = []
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            results.append(json.loads(out))
    from mlprom.config import load_config
    from mlprom.storage import open_storage

    state = json.loads(open_storage(load_config(str(configs[0][0]))).get_bytes(layout.alert_state_key("m")))
    instances = {a["labels"]["instance"] for a in state["alerts"]}
    assert instances == {"host-a:9100", "host-b:9100"}, state
    assert sorted(r["state_conflicts"] for r in results) == [0, 1]  # the loser re-read and re-did its step
