"""The DuckDB query documented in docs/scaling.md reads the event layout mlprom writes, plain and gzipped."""

from __future__ import annotations

import random
import re
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb  # a test dependency: missing, the run fails rather than skips
import pytest

from mlprom.events.log import write_events
from mlprom.records import Event
from mlprom.storage.local import LocalStorage

SCALING_DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
DAYS = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
# churn's objects pass the 64 KiB gzip threshold; fraud's stay plain JSON Lines.
SIZES = {"churn": 600, "fraud": 40}


def documented_query() -> str:
    blocks = re.findall(r"```sql\n(.*?)```", SCALING_DOC.read_text(), re.DOTALL)
    query = next(b for b in blocks if "read_json_auto" in b)
    return query.strip().rstrip(";")


def make_events(model: str, day: datetime, n: int, rng: random.Random) -> list[Event]:
    events = []
    for i in range(n):
        seconds = rng.uniform(0.05, 15.0)
        # Monitor-style and capture-style events mix optional fields within a partition's objects.
        extra = (
            {"batch": i, "outputs": (1.0, 0.0), "accuracy": 0.9, "metrics": {"accuracy": 0.9}}
            if i % 2
            else {}
        )
        events.append(
            Event(
                ts=day + timedelta(seconds=30 * i),
                model=model,
                prediction_time_seconds=seconds,
                slow=seconds > 10.0,
                rows=100,
                sampled=seconds <= 10.0,
                **extra,  # type: ignore[arg-type]
            )
        )
    return events


def test_documented_duckdb_query_counts_slow_events_and_p95_per_model_per_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path / "mlprom-data")
    rng = random.Random(7)
    expected = []
    keys: list[str] = []
    for day in DAYS:
        for model, n in SIZES.items():
            events = make_events(model, day, n, rng)
            # Two flushes per partition, as a capture writing one object per flush would.
            keys += write_events(storage, events[: n // 2]) + write_events(storage, events[n // 2 :])
            times = [e.prediction_time_seconds for e in events]
            p95 = statistics.quantiles(times, n=100, method="inclusive")[94]
            expected.append((day.date(), model, n, sum(e.slow for e in events), p95))
    assert any(k.endswith(".jsonl.gz") for k in keys) and any(k.endswith(".jsonl") for k in keys)

    monkeypatch.chdir(tmp_path)  # the documented path is relative: mlprom-data/model/...
    rows = duckdb.sql(documented_query()).fetchall()

    assert [r[:4] for r in rows] == [e[:4] for e in expected]
    for row, want in zip(rows, expected, strict=True):
        assert row[4] == pytest.approx(want[4], rel=1e-9)


def documented_snapshot_query() -> str:
    blocks = re.findall(r"```sql\n(.*?)```", SCALING_DOC.read_text(), re.DOTALL)
    query = next(b for b in blocks if "mlprom-data/infra/" in b)
    return query.strip().rstrip(";")


def test_documented_duckdb_snapshot_query_gives_one_row_per_query_and_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprom.events.log import write_snapshot
    from mlprom.records import QueryResult, Series, Snapshot

    storage = LocalStorage(tmp_path / "mlprom-data")
    expected = []
    for day in DAYS:
        for minute in range(3):
            at = day + timedelta(hours=10, minutes=minute)
            cpu = (
                Series({"instance": "a:9100"}, 0.5 + minute / 10),
                Series({"instance": "b:9100"}, None, "NaN"),
            )
            load = (Series({"instance": "a:9100", "job": "node"}, 1.5),)
            queries = {
                "cpu_usage": QueryResult("cpu expr", "vector", cpu),
                "system_load": QueryResult("node_load1", "vector", load),
                "broken": QueryResult("sum(", None, (), "bad_data: parse error"),  # no series: no row
            }
            write_snapshot(storage, Snapshot(at, "http://prom:9090", queries))
            for name in ("cpu_usage", "system_load"):
                for series in queries[name].series:
                    expected.append((day.date(), at, name, series.labels, series.value, series.raw))
    expected.sort(key=lambda r: (r[1], r[2], str(r[3])))

    monkeypatch.chdir(tmp_path)
    rows = duckdb.sql(documented_snapshot_query()).fetchall()

    got = [
        (dt, ts.astimezone(UTC), query, labels, value, raw)
        for dt, ts, query, _expr, labels, value, raw in rows
    ]
    assert got == expected
    assert {r[3] for r in rows} == {"cpu expr", "node_load1"}


def test_documented_parquet_export_of_a_day_keeps_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path / "mlprom-data")
    rng = random.Random(11)
    day = datetime(2026, 3, 1, tzinfo=UTC)
    write_events(storage, make_events("churn", day, 600, rng))
    write_events(storage, make_events("fraud", day, 40, rng))
    blocks = re.findall(r"```sql\n(.*?)```", SCALING_DOC.read_text(), re.DOTALL)
    (copy,) = [b for b in blocks if b.lstrip().startswith("COPY")]
    monkeypatch.chdir(tmp_path)
    duckdb.sql(copy.strip().rstrip(";"))
    rows = duckdb.sql("SELECT model, count(*) FROM 'events-2026-03-01.parquet' GROUP BY model ORDER BY model")
    assert rows.fetchall() == [("churn", 600), ("fraud", 40)]
