"""The report's event counts agree with each other and with the day that made them: random captures (every
batch in a latency sketch, the slow ones and a sample of the rest stored as events) and snapshots, written
into a real local store, through correlate as the command runs it."""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlprom.analysis.sketch import LatencySketch
from mlprom.config.loader import load_config_text
from mlprom.events.log import write_events, write_snapshot
from mlprom.events.sketches import write_sketch
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.stages import correlate
from mlprom.storage.local import LocalStorage
from tests.property.strategies import examples

DAY = date(2026, 11, 20)
MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)
# Batch times and thresholds far apart on the sketches' 2% buckets: a batch is on the same side of a
# threshold in its event and in its sketch, so the day's true slow count is known exactly.
SECONDS = (0.05, 0.3, 2.0, 7.0, 15.0)
THRESHOLDS = (0.1, 1.0, 5.0, 10.0)


@dataclass(frozen=True)
class Capture:
    threshold: float  # the capture's model.latency_threshold: its events' `slow` flags and its sketch
    batches: list[tuple[int, float]]  # (second of the day, prediction seconds) of every batch it timed
    sample_rate: float
    seed: int


captures = st.builds(
    Capture,
    threshold=st.sampled_from(THRESHOLDS),
    batches=st.lists(
        st.tuples(st.integers(0, 86399), st.sampled_from(SECONDS)),
        max_size=60,
    ),
    sample_rate=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
)


def _store(storage: LocalStorage, capture: Capture) -> int:
    """Write a capture as capture-model does: a sketch of every batch, events for the slow ones and a
    sample of the rest (flagged with the capture's threshold). Returns the events written."""
    rng = random.Random(capture.seed)
    sketch = LatencySketch()
    events = []
    for second, seconds in capture.batches:
        at = MIDNIGHT + timedelta(seconds=second)
        sketch.add(at.timestamp(), seconds)
        slow = seconds > capture.threshold
        sampled = not slow and rng.random() < capture.sample_rate
        if slow or sampled:
            events.append(
                Event(
                    ts=at,
                    model="default",
                    prediction_time_seconds=seconds,
                    slow=slow,
                    rows=5,
                    sampled=sampled,
                )
            )
    if sketch:
        write_sketch(storage, "default", sketch, capture.threshold, "capture-model")
    if events:
        write_events(storage, events)
    return len(events)


def _config(root: Path, threshold: float) -> Any:
    return load_config_text(
        yaml.safe_dump(
            {
                "storage": {"url": str(root)},
                "model": {"latency_threshold": threshold},
                "queries": {"load": "node_load1"},
                "thresholds": {"load": 100},
                "correlate": {"infra_source": "snapshots"},
                "drift": {"reference_days": 1},
            }
        )
    )


@settings(max_examples=examples(30))
@given(
    day_captures=st.lists(captures, max_size=3),
    snapshot_seconds=st.lists(st.integers(0, 86399), max_size=6, unique=True),
    threshold=st.sampled_from(THRESHOLDS),
)
def test_event_counts_add_up_on_any_day(
    day_captures: list[Capture], snapshot_seconds: list[int], threshold: float
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        storage = LocalStorage(root)
        stored = sum(_store(storage, capture) for capture in day_captures)
        for second in snapshot_seconds:
            at = MIDNIGHT + timedelta(seconds=second)
            query = QueryResult("node_load1", "vector", (Series({"instance": "a"}, 1.0),))
            write_snapshot(storage, Snapshot(at, "http://prometheus.test", {"load": query}))

        report = correlate.run(_config(root, threshold), DAY, allow_empty=True, storage=storage)

        e = report.events
        assert 0 <= e.from_sketches <= e.slow <= e.total
        assert 0 <= e.slow_joined <= e.joined <= e.total
        assert e.slow_joined <= e.slow and e.joined - e.slow_joined <= e.total - e.slow
        # total: every stored event and every slow batch known only from a sketch.
        assert e.total == stored + e.from_sketches
        # slow: every batch of the day slower than the threshold, whether its event was stored or not.
        truly_slow = sum(1 for c in day_captures for _, seconds in c.batches if seconds > threshold)
        assert e.slow == truly_slow
        if not snapshot_seconds:
            assert e.joined == 0
        # The stored report holds the same counts.
        document = orjson.loads((root / report.key).read_bytes())
        assert document["events"] == e.to_dict()
