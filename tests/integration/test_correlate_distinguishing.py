"""`mlprom correlate` through storage when the infrastructure is quiet: the headline says no series moved and
names what did tell the slow predictions apart (batch size, a recorded input), within stated bounds."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from mlprom.analysis.distinguish import MAX_FEATURES, MAX_NAME
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.storage import open_storage

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
QUERIES = {
    "cpu_usage": '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))',
    "memory_usage": "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
}

runner = CliRunner()


def _quiet_day(write_config: Callable[..., Path], seed: int) -> tuple[Path, Any, random.Random]:
    """A store whose infra is noise all day, one snapshot a minute, unrelated to any prediction."""
    path = write_config(
        {
            "queries": QUERIES,
            "thresholds": {"cpu_usage": {"warning": 0.97, "critical": 0.99}},
            "correlate": {"infra_source": "snapshots", "max_skew": "2m"},
        }
    )
    config = load_config(str(path))
    storage = open_storage(config)
    rng = random.Random(seed)
    for minute in range(1440):
        values = {"cpu_usage": rng.gauss(0.4, 0.05), "memory_usage": rng.gauss(60, 5)}
        queries = {
            name: QueryResult(QUERIES[name], "vector", (Series({"instance": "host-a:9100"}, value),))
            for name, value in values.items()
        }
        write_snapshot(
            storage, Snapshot(START + timedelta(minutes=minute), "http://prometheus.test", queries)
        )
    return path, storage, rng


def _event(minute: int, slow: bool, rows: int, **extra: Any) -> Event:
    return Event(
        ts=START + timedelta(minutes=minute, seconds=20),
        model="default",
        prediction_time_seconds=12.0 if slow else 0.2,
        slow=slow,
        rows=rows,
        sampled=not slow,
        **extra,
    )


def _correlate(path: Path, fmt: str = "json") -> Any:
    result = runner.invoke(app, ["-c", str(path), "-o", fmt, "correlate", "--date", DAY.isoformat()])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout) if fmt == "json" else result.stdout


def test_slow_predictions_driven_by_batch_size_are_named_when_the_infra_is_quiet(
    write_config: Callable[..., Path],
) -> None:
    path, storage, rng = _quiet_day(write_config, seed=3)
    slow_minutes = rng.sample(range(30, 1410), 40)
    events = [_event(m, True, rng.choice([384, 512, 640])) for m in slow_minutes]
    events += [_event(rng.randrange(1440), False, rng.choice([4, 8, 16])) for _ in range(400)]
    write_events(storage, events)

    report = _correlate(path)

    assert not any(s["significant"] for s in report["suspects"])
    headline = report["headline"]
    assert "no infrastructure series moved with the slow predictions" in headline, headline
    assert "slow predictions were larger batches (median 512 rows against 8; AUC 1.00" in headline, headline
    assert "40 slow and 400 fast events" in headline
    by_factor = {d["factor"]: d for d in report["distinguishing"]}
    rows = by_factor["rows"]
    assert rows["distinguishing"] and (rows["slow"], rows["fast"], rows["auc"]) == (512, 8, 1.0)
    assert (rows["slow_events"], rows["fast_events"]) == (40, 400)
    # Slow minutes drawn over the whole day: no hour window is claimed, and nothing else is said.
    assert not by_factor["hour"]["distinguishing"] and "UTC" not in headline
    assert [d["factor"] for d in report["distinguishing"] if d["distinguishing"]] == ["rows"]
    markdown = _correlate(path, "markdown")
    assert (
        "### What distinguished the slow predictions" in markdown and "| rows | - | median 512 |" in markdown
    )


def test_a_recorded_input_that_drives_slowness_is_named_and_the_comparison_stays_bounded(
    write_config: Callable[..., Path],
) -> None:
    """record_inputs full: each event carries its rows. A long `payload` makes a batch slow; sixty other
    features are noise, some with very long names or huge values. Only MAX_FEATURES features are compared,
    names cut at MAX_NAME, and the report's section stays small."""
    path, storage, rng = _quiet_day(write_config, seed=5)

    def inputs(slow: bool) -> list[dict[str, Any]]:
        rows = []
        for _ in range(30):
            row: dict[str, Any] = {
                "payload": "x" * (rng.randrange(4000, 6000) if slow else rng.randrange(5, 50))
            }
            row.update({f"noise_{j:02d}": rng.random() for j in range(40)})
            row["n" * 5000] = rng.random() * 1e300
            row.update({f"late_{j}": 1e6 if slow else 0.0 for j in range(20)})  # past the first MAX_FEATURES
            rows.append(row)
        return rows

    events = [_event(m, True, 30, inputs=inputs(True)) for m in rng.sample(range(30, 1410), 30)]
    events += [_event(rng.randrange(1440), False, 30, inputs=inputs(False)) for _ in range(300)]
    write_events(storage, events)

    report = _correlate(path)

    headline = report["headline"]
    assert "no infrastructure series moved with the slow predictions" in headline, headline
    assert 'slow predictions had higher input "len(payload)"' in headline, headline
    assert "batches" not in headline  # every batch had 30 rows: batch size told nothing
    inputs_compared = [d for d in report["distinguishing"] if d["factor"] == "input"]
    assert len(inputs_compared) == MAX_FEATURES
    assert all(len(d["name"]) <= MAX_NAME + len("len()") for d in inputs_compared)
    assert not any(d["name"].startswith("late_") for d in inputs_compared)
    named = [d["name"] for d in inputs_compared if d["distinguishing"]]
    assert named == ["len(payload)"]
    payload = inputs_compared[0]
    assert payload["name"] == "len(payload)" and payload["slow"] > 4000 > 50 > payload["fast"]
    assert len(orjson.dumps(report["distinguishing"])) < 8_000


def test_inputs_recorded_by_monitor_tell_an_input_driven_slowness_from_the_host(
    write_config: Callable[..., Path],
) -> None:
    """A served model slow only on long queries, wrapped in Monitor with record_inputs full and every fast
    call sampled; no infra stored. correlate cannot speak of the infrastructure, and says the input did it."""
    import time

    from mlprom.serving.monitor import Monitor

    path = write_config(
        {
            "model": {
                "name": "served",
                "latency_threshold": 0.1,
                "sample_rate": 1.0,
                "record_inputs": "full",
            },
            "correlate": {"infra_source": "snapshots"},
        }
    )

    def model(batch: list[dict[str, Any]]) -> list[float]:
        if any(len(row["query"]) > 1000 for row in batch):
            time.sleep(0.2)  # the long query's own path: slow on any host
        return [0.0] * len(batch)

    rng = random.Random(11)
    with Monitor(model, load_config(str(path)), metrics=False) as monitor:
        day = datetime.now(UTC).date()
        for call in range(80):
            long = call % 4 == 0
            batch = [
                {"query": "q" * (rng.randrange(2000, 3000) if long and i == 0 else 20), "k": i}
                for i in range(4)
            ]
            monitor.predict(batch)

    result = runner.invoke(
        app, ["-c", str(path), "-o", "json", "correlate", "--date", day.isoformat(), "--fail-on", "never"]
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["events"]["slow"] >= 20 and report["status"] == "no_infra"
    headline = report["headline"]
    assert headline.startswith("No infrastructure value joined the predictions"), headline
    assert 'slow predictions had higher input "len(query)"' in headline, headline
    (query,) = [d for d in report["distinguishing"] if d["name"] == "len(query)"]
    assert query["distinguishing"] and query["auc"] >= 0.75 and query["slow"] > 500 > query["fast"]
    (k,) = [d for d in report["distinguishing"] if d["name"] == "k"]
    assert not k["distinguishing"]  # the same on both sides
