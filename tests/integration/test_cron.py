"""Cron's view: with -q a clean run of every command prints nothing at all, on stdout or stderr (library
warnings, progress bars and MLflow's prints included); a partial failure still speaks and exits 3; the
heartbeat counts partial failures; a dry run pushes no heartbeat.

Each run is a real `python -m mlprom` child process, so file-descriptor-level writes are seen too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fixtures.recent import clear_of_midnight

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def mlprom(config: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "mlprom", "-c", str(config), *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_input(path: Path, rows: int = 30) -> Path:
    path.write_text(
        "x1,x2,label\n" + "".join(f"{(i % 10) / 10},{(i % 7) / 7:.3f},{i % 2}\n" for i in range(rows))
    )
    return path


@pytest.fixture
def stack_config(
    tmp_path: Path, prometheus_stack: Any, alertmanager: Any, mlflow_server: str
) -> tuple[Path, str]:
    model = f"cron-{uuid.uuid4().hex[:8]}"
    config = {
        "storage": {"url": str(tmp_path / "data")},
        "prometheus": {"url": prometheus_stack.prometheus_url},
        "alertmanager": {"urls": [alertmanager.url]},
        "pushgateway": {"url": prometheus_stack.pushgateway_url},
        "mlflow": {"tracking_uri": mlflow_server, "experiment": model},
        "model": {"name": model, "latency_threshold": "1s", "sample_rate": 1.0},
        "queries": {"load": "node_load1", "up": "up"},
        "thresholds": {"load": 1e9},
    }
    path = tmp_path / "mlprom.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, model


def pushed(pushgateway_url: str, model: str, stage: str) -> dict[str, float]:
    """The metrics of one heartbeat group, by name ({} when the group was never pushed)."""
    text = requests.get(pushgateway_url + "/metrics", timeout=10).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or f'model="{model}"' not in line or f'stage="{stage}"' not in line:
            continue
        name, _, value = line.rpartition(" ")
        found[name.split("{", 1)[0]] = float(value)
    return found


def test_every_command_is_silent_under_quiet_on_a_clean_run(
    tmp_path: Path, stack_config: tuple[Path, str], prometheus_stack: Any
) -> None:
    config, model = stack_config
    clear_of_midnight(180)  # every command below works on one date partition
    today = datetime.now(UTC).date().isoformat()
    runs = {
        "check": mlprom(config, "-q", "check"),
        "capture-infra": mlprom(config, "-q", "capture-infra"),
        "capture-model": mlprom(
            config,
            "-q",
            "capture-model",
            "--input",
            str(write_input(tmp_path / "in.csv")),
            "--model",
            "tests.fixtures.mlflow_server:sum_rule_predict",
            "--label-column",
            "label",
            "--batch-size",
            "10",
        ),
        "correlate": mlprom(config, "-q", "correlate", "--date", today, "--fail-on", "never"),
        "alert": mlprom(config, "-q", "alert", "--date", today),
        "alert --dry-run": mlprom(config, "-q", "alert", "--date", today, "--dry-run"),
        "prune": mlprom(config, "-q", "prune", "--keep-days", "30", "--yes"),
        "prune --dry-run": mlprom(config, "-q", "prune", "--keep-days", "30", "--dry-run"),
        "report": mlprom(config, "-q", "report", "--date", today),
        "rules": mlprom(config, "-q", "rules"),
    }
    for name, done in runs.items():
        assert (name, done.returncode, done.stdout, done.stderr) == (name, 0, "", "")
    # The heartbeats went out, silently, with no partial failure.
    for stage in ("capture-infra", "capture-model", "correlate", "alert", "prune", "check"):
        assert pushed(prometheus_stack.pushgateway_url, model, stage)["mlprom_partial_failures"] == 0.0


def test_mlflow_prints_reach_stderr_only_with_verbose(tmp_path: Path, stack_config: tuple[Path, str]) -> None:
    config, _ = stack_config
    args = ["capture-model", "--input", str(write_input(tmp_path / "in.csv"))]
    args += ["--model", "tests.fixtures.mlflow_server:sum_rule_predict", "-o", "json"]
    plain = mlprom(config, *args)
    assert plain.returncode == 0, plain.stderr
    assert "View run" not in plain.stdout + plain.stderr
    verbose = mlprom(config, "-v", *args)
    assert verbose.returncode == 0, verbose.stderr
    assert "View run" in verbose.stderr and "View run" not in verbose.stdout


def test_a_failed_query_among_good_ones_is_exit_3_with_a_warning_even_under_quiet(
    tmp_path: Path, stack_config: tuple[Path, str], prometheus_stack: Any
) -> None:
    config, model = stack_config
    document = yaml.safe_load(config.read_text())
    document["queries"]["broken"] = "rate(node_cpu_seconds_total[1m]"
    config.write_text(yaml.safe_dump(document))
    done = mlprom(config, "-q", "capture-infra")
    assert done.returncode == 3, done.stderr
    assert "query broken failed" in done.stderr and "Traceback" not in done.stderr
    assert len(list((tmp_path / "data" / "infra").rglob("*.json"))) == 1  # the good queries are stored
    heartbeat = pushed(prometheus_stack.pushgateway_url, model, "capture-infra")
    assert heartbeat["mlprom_partial_failures"] == 1.0


def test_dry_runs_push_no_heartbeat(
    tmp_path: Path, stack_config: tuple[Path, str], prometheus_stack: Any
) -> None:
    config, model = stack_config
    today = datetime.now(UTC).date().isoformat()
    assert (
        mlprom(config, "-q", "correlate", "--date", today, "--allow-empty", "--fail-on", "never").returncode
        == 0
    )
    for args in (("alert", "--date", today, "--dry-run"), ("prune", "--keep-days", "3", "--dry-run")):
        done = mlprom(config, "-q", *args)
        assert done.returncode == 0, done.stderr
        # A dry run is not the job done: a staleness alert must still fire if only dry runs happen.
        assert pushed(prometheus_stack.pushgateway_url, model, args[0]) == {}
