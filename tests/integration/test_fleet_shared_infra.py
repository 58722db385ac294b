"""A fleet correlate reads the date's infra once for the models that read the same values, and each
model's report is the one its own run writes (byte for byte, but for the time of the run)."""

from __future__ import annotations

import copy
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import Config, load_config
from mlprom.events.log import write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.stages import correlate, fleet
from mlprom.storage.local import LocalStorage

pytestmark = pytest.mark.integration

CPU = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))'
MEMORY = "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SNAPSHOTS = 180  # one a minute, 08:00 to 11:00; host-a's CPU hot from 09:00 to 09:30
HOT = (START + timedelta(hours=1), START + timedelta(hours=1, minutes=30))
runner = CliRunner()


class CountingStorage(LocalStorage):
    """The local store, counting the objects read under infra/ (snapshots and archived ranges)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.infra_reads = 0

    def get_bytes(self, key: str) -> bytes:
        if key.startswith("infra/"):
            self.infra_reads += 1
        return super().get_bytes(key)


def _models() -> list[str]:
    suffix = uuid.uuid4().hex[:6]
    return [f"{name}-{suffix}" for name in ("churn", "fraud", "search")]


def _store(tmp_path: Path, models: list[str]) -> tuple[Path, Path]:
    """(config, store root): a morning of snapshots and each model's own events; the first model's
    latency_threshold and the second's cpu_usage threshold overridden."""
    root = tmp_path / "shared"
    config = tmp_path / "mlprom.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": str(root)},
                "correlate": {"infra_source": "snapshots"},
                "queries": {"cpu_usage": CPU, "memory_usage": MEMORY},
                "thresholds": {"cpu_usage": 0.9},
                "models": {
                    models[0]: {"latency_threshold": "5s"},
                    models[1]: {"thresholds": {"cpu_usage": 1000}},
                },
            }
        )
    )
    storage = LocalStorage(root)
    rng = random.Random(7)
    for minute in range(SNAPSHOTS):
        at = START + timedelta(minutes=minute)
        hot = HOT[0] <= at < HOT[1]
        cpu = tuple(
            Series(
                {"instance": host},
                rng.uniform(0.93, 0.99) if hot and host == "host-a" else rng.uniform(0.2, 0.5),
            )
            for host in ("host-a", "host-b")
        )
        memory = tuple(Series({"instance": h}, rng.uniform(30, 60)) for h in ("host-a", "host-b"))
        queries = {
            "cpu_usage": QueryResult(CPU, "vector", cpu),
            "memory_usage": QueryResult(MEMORY, "vector", memory),
        }
        write_snapshot(storage, Snapshot(at, "http://prometheus.test", queries, f"{minute:016x}"))
    for index, model in enumerate(models):
        events = []
        for i in range(400):
            at = START + timedelta(seconds=rng.uniform(0, SNAPSHOTS * 60))
            slow = HOT[0] <= at < HOT[1] and rng.random() < 0.6 + 0.1 * index
            seconds = rng.uniform(6.0, 14.0) if slow else rng.uniform(0.05, 0.4)
            events.append(
                Event(at, model, seconds, seconds > 10.0, 10, accuracy=rng.uniform(0.8, 0.99), batch=i)
            )
        write_events(storage, events)
    return config, root


def _report(root: Path, model: str) -> dict[str, Any]:
    """The stored report without the time of its run."""
    document = orjson.loads((root / layout.report_key(DAY, model)).read_bytes())
    assert isinstance(document, dict) and document["model"] == model
    document.pop("generated_at")
    return document


def test_all_models_reports_are_each_models_own_run(tmp_path: Path) -> None:
    models = _models()
    config, root = _store(tmp_path, models)
    own = {}
    for model in models:
        done = runner.invoke(
            app, ["-c", str(config), "correlate", "--date", DAY.isoformat(), "--model", model]
        )
        assert done.exit_code in (0, 1), done.output
        own[model] = _report(root, model)
        (root / layout.report_key(DAY, model)).unlink()
    # The models differ: the shared values are joined to each model's own events and thresholds.
    assert own[models[0]]["events"] != own[models[2]]["events"]
    assert own[models[1]]["findings"] != own[models[2]]["findings"]
    assert own[models[2]]["suspects"] and own[models[2]]["suspects"][0]["labels"] == {"instance": "host-a"}

    for jobs in ("1", "2"):
        flags = ["correlate", "--date", DAY.isoformat(), "--all-models", "--jobs", jobs]
        done = runner.invoke(app, ["-c", str(config), *flags])
        assert done.exit_code in (0, 1), done.output
        for model in models:
            # Byte for byte but for generated_at: compared as serialised, keys sorted as stored.
            assert orjson.dumps(_report(root, model), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
                own[model], option=orjson.OPT_SORT_KEYS
            ), (jobs, model)


def _fleet_run(config: Config, models: list[str], storage: CountingStorage, share: bool, jobs: int) -> None:
    def work(own: Config, shared: fleet.Shared) -> Any:
        return correlate.run(own, DAY, storage=storage, shared=shared if share else None)

    result = fleet.run(config, "correlate", models, work, jobs=jobs)
    assert all(member.error is None for member in result.members), result.members


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_fleet_run_reads_the_snapshots_once(tmp_path: Path, jobs: int) -> None:
    models = _models()
    path, root = _store(tmp_path, models)
    config = load_config(str(path))

    alone = CountingStorage(root)
    _fleet_run(config, models, alone, share=False, jobs=jobs)
    assert alone.infra_reads == len(models) * SNAPSHOTS  # each model read every snapshot of the date

    shared = CountingStorage(root)
    _fleet_run(config, models, shared, share=True, jobs=jobs)
    assert shared.infra_reads == SNAPSHOTS


def test_another_query_set_loads_its_own_values(tmp_path: Path) -> None:
    models = _models()
    path, root = _store(tmp_path, models)
    config = load_config(str(path))
    storage = CountingStorage(root)
    shared = fleet.Shared()
    correlate.run(config.for_model(models[0]), DAY, storage=storage, shared=shared)
    narrower = config.for_model(models[1]).model_copy(
        update={"queries": {"cpu_usage": config.queries["cpu_usage"]}}
    )
    correlate.run(narrower, DAY, storage=storage, shared=shared)
    assert (shared.loads, shared.hits) == (2, 0) and storage.infra_reads == 2 * SNAPSHOTS
    correlate.run(config.for_model(models[2]), DAY, storage=storage, shared=shared)
    assert (shared.loads, shared.hits) == (2, 1) and storage.infra_reads == 2 * SNAPSHOTS


def test_a_models_analysis_leaves_the_shared_values_as_loaded(tmp_path: Path) -> None:
    from mlprom.infra.resolution import with_step
    from mlprom.reports.drift_window import drift_report

    models = _models()
    path, root = _store(tmp_path, models)
    own = load_config(str(path)).for_model(models[0])
    storage = LocalStorage(root)
    data = correlate.read_date(own, storage, DAY, None)
    loaded = copy.deepcopy(data.infra)
    own = with_step(own, data.resolution)
    now = datetime(2026, 11, 21, tzinfo=UTC)
    drift = drift_report(storage, own, DAY, current=data.events.drift, stored=data.stored_samples)
    analysis = correlate.analyse(own, DAY, data, drift, now)
    report = correlate.build_report(own, storage, DAY, now, data, drift, analysis)
    assert report.suspects and report.findings
    assert data.infra == loaded
