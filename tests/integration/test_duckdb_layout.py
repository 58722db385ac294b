"""The DuckDB query documented in docs/scaling.md reads the event layout mlprom writes, plain and gzipped."""

from __future__ import annotations

import random
import re
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlprom.eventlog import write_events
from mlprom.records import Event
from mlprom.storage.local import LocalStorage

duckdb = pytest.importorskip("duckdb")

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
