"""The serving loop's latency recorder: every call counted into log buckets per minute, drained per flush.

What it drains is a LatencySketch (mlprom.analysis.sketch), stored by events/sketches.py.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from mlprom.analysis.sketch import _LOG_GAMMA, MIN_INDEX, MIN_VALUE, LatencySketch


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
