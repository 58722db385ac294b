"""The lean install as a user gets it: the wheel built from this tree, installed with its declared
dependencies and no extra into a fresh venv, then every stage but capture-model run against the suite's
real Prometheus and Alertmanager. capture-model and --assets there exit 2 naming the extra to install.

Installing needs the package index (as `pip install mlprom` does); the wheels come from pip's cache
after the first run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlprom.config import load_config
from mlprom.events.log import write_events
from mlprom.records import Event
from mlprom.storage import open_storage
from tests.fixtures.recent import clear_of_midnight
from tests.fixtures.servers import active_alerts
from tests.fixtures.wheel import build_wheel

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LEAN_LIMIT_MIB = 200
# Never in the lean install: the model-serving stack, dataframes, plotting, and scipy (drift's KS and
# Wasserstein are computed with numpy).
ABSENT = ("mlflow", "pandas", "scipy", "matplotlib", "sklearn", "pyarrow", "sqlalchemy", "flask")
TOOLING = {"pip", "setuptools", "wheel"}


def _run(
    argv: list[str], timeout: float = 600, env_extra: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(env_extra or {})
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, check=False, **kwargs
    )


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel of this tree and its declared dependencies only."""
    work = tmp_path_factory.mktemp("lean")
    wheel = build_wheel(work / "dist")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    installed = _run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)]
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def _site_packages(venv: Path) -> Path:
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return site


def test_the_lean_install_has_no_model_stack_and_weighs_under_its_limit(lean: Path) -> None:
    found = _run(
        [
            str(lean / "bin/python"),
            "-c",
            (
                "import importlib.util, json; "
                f"print(json.dumps([m for m in {ABSENT!r} if importlib.util.find_spec(m)]))"
            ),
        ]
    )
    assert found.returncode == 0 and json.loads(found.stdout) == [], found.stdout + found.stderr
    listed = _run([str(lean / "bin/python"), "-m", "pip", "list", "--format", "json"])
    packages = {p["name"].lower() for p in json.loads(listed.stdout)} - TOOLING
    tooling = [p for p in _site_packages(lean).iterdir() if p.name.split("-")[0].lower() in TOOLING]
    total = sum(f.stat().st_size for f in _site_packages(lean).rglob("*") if f.is_file())
    tooling_size = sum(f.stat().st_size for t in tooling for f in t.rglob("*") if f.is_file())
    size_mib = (total - tooling_size) / 2**20
    print(f"lean install: {len(packages)} packages, {size_mib:.0f} MiB")  # docs/scaling.md quotes it
    assert "mlprom" in packages and size_mib < LEAN_LIMIT_MIB, (sorted(packages), size_mib)
    typed = _site_packages(lean) / "mlprom" / "py.typed"
    assert typed.is_file(), "the wheel ships py.typed"


def _events(store: Path, config_path: Path, model: str) -> None:
    """Two minutes of predictions ending now, the last half slow (written with this tree's own writer)."""
    now = datetime.now(UTC)
    events = [
        Event(
            ts=now - timedelta(seconds=120 - i),
            model=model,
            prediction_time_seconds=3.0 if i >= 60 else 0.1,
            slow=i >= 60,
            rows=10,
        )
        for i in range(0, 120, 2)
    ]
    write_events(open_storage(load_config(str(config_path))), events)


def test_every_stage_but_capture_model_runs_lean_against_the_real_servers(
    lean: Path, tmp_path: Path, prometheus_stack: Any, alertmanager: Any
) -> None:
    clear_of_midnight(300)
    started = time.time()
    model = "lean"
    store = tmp_path / "store"
    config = {
        "storage": {"url": str(store)},
        "prometheus": {"url": prometheus_stack.prometheus_url},
        "alertmanager": {"urls": [alertmanager.url]},
        "pushgateway": {"url": prometheus_stack.pushgateway_url},
        "model": {"name": model, "latency_threshold": "1s", "sample_rate": 1.0},
        "queries": {"load": "node_load1"},
        "thresholds": {"load": 0},  # node_load1 is past it while the model is slow: one alert to deliver
        "correlate": {"infra_source": "prometheus"},
    }
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(yaml.safe_dump(config))
    _events(store, config_path, model)
    mlprom = [str(lean / "bin/mlprom"), "-c", str(config_path)]
    page = tmp_path / "report.html"
    # An MLflow store the lean install cannot open: check says so and does not fail on it.
    sqlite = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for argv, codes in (
        (["check"], {0}),
        (["capture-infra"], {0}),
        (["-o", "json", "correlate", "--date", "today"], {0, 1}),
        (["-o", "json", "alert", "--date", "today"], {0}),
        (["rules"], {0}),
        (["report", "--date", "today", "-o", "html", "--out", str(page)], {0}),
        (["prune", "--keep-days", "30", "--dry-run"], {0}),
    ):
        done = _run(mlprom + argv, timeout=300, cwd=tmp_path, env_extra={"MLFLOW_TRACKING_URI": sqlite})
        assert done.returncode in codes, (argv, done.returncode, done.stderr[-2000:])
        if argv == ["check"]:
            assert "not checked" in done.stdout and "mlprom[mlflow]" in done.stdout, done.stdout
        if "alert" in argv:
            sent = json.loads(done.stdout)
        assert "Traceback" not in done.stderr, (argv, done.stderr[-2000:])
    assert page.read_text().startswith("<!DOCTYPE html>")
    report = json.loads(_run(mlprom + ["-o", "json", "report", "--date", "today"], cwd=tmp_path).stdout)
    assert report["events"]["slow"] > 0
    # What the lean alert said it delivered is what the real Alertmanager holds for the model.
    assert sent["firing"] >= 1 and all(d["accepted"] for d in sent["deliveries"]), sent
    held = active_alerts(alertmanager.url, model, sent["firing"])
    assert sorted(a["labels"]["metric"] for a in held) == ["load"] * sent["firing"], held
    # Each stage that ran pushed its heartbeat to the real Pushgateway, in the model's own group.
    exposed = requests.get(prometheus_stack.pushgateway_url + "/metrics", timeout=10).text
    pushed = {
        sample.labels["stage"]
        for family in text_string_to_metric_families(exposed)
        if family.name == "mlprom_last_success_timestamp_seconds"
        for sample in family.samples
        if sample.labels.get("model") == model and sample.value >= started
    }
    assert {"check", "capture-infra", "correlate", "alert"} <= pushed, pushed


def test_capture_model_and_assets_name_the_extra_they_need(lean: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(yaml.safe_dump({"storage": {"url": str(tmp_path / "store")}}))
    (tmp_path / "rows.csv").write_text("x\n1\n2\n")
    mlprom = [str(lean / "bin/mlprom"), "-c", str(config_path)]
    capture = _run(mlprom + ["capture-model", "--input", str(tmp_path / "rows.csv"), "--model", "math:fabs"])
    assert capture.returncode == 2, capture.stderr
    assert "pip install 'mlprom[mlflow]'" in capture.stderr and len(capture.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.jsonl*"))
    assets = _run(mlprom + ["-o", "markdown", "report", "--date", "today", "--assets", str(tmp_path / "a")])
    assert assets.returncode == 2, assets.stderr
    assert "pip install 'mlprom[assets]'" in assets.stderr and len(assets.stderr.strip().splitlines()) == 1
