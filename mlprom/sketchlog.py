"""Latency sketches through storage: one small object per flush beside the events, read back by correlate.

The histograms themselves (mlprom.analysis.sketch) are pure; this module stores them in the layout's
`model/dt=D/model=NAME/HHMMSS-ID.latency.json` keys and reads them, skipping bad objects with a warning.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlprom import layout
from mlprom.analysis.sketch import _LOG_GAMMA, MIN_INDEX, MIN_VALUE, LatencySketch

if TYPE_CHECKING:
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

SKETCH_VERSION = 1


@dataclass(frozen=True)
class StoredSketch:
    key: str
    source: str  # capture-model | monitor
    latency_threshold: float  # the threshold the capture classified slow with
    sketch: LatencySketch


def write_sketch(
    storage: Storage,
    model: str,
    sketch: LatencySketch,
    latency_threshold: float,
    source: str,
    now: datetime | None = None,
) -> list[str]:
    """Store `sketch` as one object per UTC date it covers; returns the keys written."""
    import orjson

    now = now or datetime.now(UTC)
    keys = []
    for midnight, part in sorted(sketch.split_by_day().items()):
        day = datetime.fromtimestamp(midnight, UTC).date()
        key = layout.latency_sketch_key(day, model, now)
        document = {
            "version": SKETCH_VERSION,
            "kind": "latency_sketch",
            "model": model,
            "source": source,
            "latency_threshold": latency_threshold,
            **part.to_dict(),
        }
        storage.put_bytes(key, orjson.dumps(document), "application/json")
        keys.append(key)
    return keys


def read_sketches(storage: Storage, day: date, model: str) -> list[StoredSketch]:
    """Every latency sketch of the date's model partition; a bad object is skipped with a warning naming it."""
    import orjson

    out = []
    for info in storage.list(layout.partition_prefix("model", day, model)):
        parsed = layout.parse_key(info.key)
        if parsed is None or parsed.kind != "latency_sketch":
            continue
        try:
            document = orjson.loads(storage.get_bytes(info.key))
            if not isinstance(document, dict) or document.get("version") != SKETCH_VERSION:
                raise ValueError("not a version 1 latency sketch")
            threshold = document.get("latency_threshold")
            if not isinstance(threshold, int | float) or not math.isfinite(threshold) or threshold < 0:
                raise ValueError("latency_threshold missing")
            sketch = LatencySketch.from_dict(document)
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            log.warning("skipping latency sketch %s: %s", info.key, exc)
            continue
        out.append(StoredSketch(info.key, str(document.get("source", "")), float(threshold), sketch))
    return out


class SketchRecorder:
    """Thread-safe recorder for a serving loop: `add()` costs a logarithm, a lock and one dict update.

    The minute comes from a perf_counter reading mapped onto the wall clock once per drain, so a call
    does not read the wall clock itself. Only counts are kept per call; a minute's stored sum is
    estimated from its buckets (each within 1%).
    """

    def __init__(self) -> None:
        import time

        lock = threading.Lock()
        self._lock = lock
        self._counts: dict[int, int] = {}  # minute << 20 | (bucket - MIN_INDEX) -> count
        self._offset = time.time() - time.perf_counter()
        # Bound once: add() runs on every prediction.
        self.add = self._make_add(lock.acquire, lock.release)  # type: ignore[method-assign]

    def _make_add(self, acquire: Any, release: Any) -> Any:
        log, inv, lowest, floor = math.log, 1.0 / _LOG_GAMMA, MIN_VALUE, MIN_INDEX
        recorder = self

        def add(started: float, elapsed: float) -> None:
            if elapsed > lowest:
                offset = int(-(-log(elapsed) * inv // 1)) - floor  # ceil, without a global lookup
            else:
                offset = 0
            key = (int((started + recorder._offset) // 60) << 20) + offset
            counts = recorder._counts
            acquire()
            counts[key] = counts.get(key, 0) + 1
            release()

        return add

    def add(self, started: float, elapsed: float) -> None:  # replaced per instance in __init__
        """One call that began at perf_counter() == started and took `elapsed` seconds."""

    def drain(self) -> LatencySketch:
        """Everything recorded since the last drain, as a sketch; the recorder starts empty again."""
        import time

        from mlprom.analysis.sketch import bucket_value

        with self._lock:
            counts, self._counts = self._counts, {}
        self._offset = time.time() - time.perf_counter()
        sketch = LatencySketch()
        mask = (1 << 20) - 1
        for key, n in counts.items():
            bucket = (key & mask) + MIN_INDEX
            sketch.add_bucketed((key >> 20) * 60, bucket, n, n * bucket_value(bucket))
        return sketch

    def restore(self, sketch: LatencySketch) -> None:
        """Put a drained sketch back after a failed write, so the next flush retries it."""
        with self._lock:
            for minute, histogram in sketch.minutes.items():
                for bucket, n in histogram.buckets.items():
                    key = ((minute // 60) << 20) + bucket - MIN_INDEX
                    self._counts[key] = self._counts.get(key, 0) + n
