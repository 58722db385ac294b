"""Latency sketch: per-minute log-bucketed histograms of prediction times, mergeable by adding counts.

Pure: no I/O. Bucket k holds values in (GAMMA^(k-1), GAMMA^k], so any quantile or count above a level
read from it is within 1% (relative) of the truth: what lets `correlate` re-classify slow at another
`model.latency_threshold` than the one a capture ran with, and draw a latency timeline of every batch.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlprom.dates import DAY_SECONDS

GAMMA = 1.02  # bucket ratio
RELATIVE_ACCURACY = (GAMMA - 1) / (GAMMA + 1)  # of a bucket's value to any value it holds: about 1%
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-6  # values at or below one microsecond share the lowest bucket
MIN_INDEX = math.ceil(math.log(MIN_VALUE) / _LOG_GAMMA)
MINUTE = 60


def _capped(total: float) -> float:
    """A minute's sum of seconds held at the largest double: latencies of 1e308 s (a model writing
    nonsense) would sum to inf, which JSON cannot hold, and the stored sketch would read back as corrupt."""
    return total if total <= _LARGEST else _LARGEST


_LARGEST = sys.float_info.max


def bucket_of(value: float) -> int:
    """Index k of the bucket (GAMMA^(k-1), GAMMA^k] holding `value` (seconds)."""
    if value <= MIN_VALUE:
        return MIN_INDEX
    return math.ceil(math.log(value) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The value a bucket stands for: the point of least relative error, 2 * upper / (1 + GAMMA)."""
    return 2.0 * GAMMA**index / (1.0 + GAMMA)


@dataclass
class MinuteHistogram:
    count: int = 0
    total: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, value: float, n: int = 1) -> None:
        k = bucket_of(value)
        self.buckets[k] = self.buckets.get(k, 0) + n
        self.count += n
        self.total = _capped(self.total + value * n)

    def merge(self, other: MinuteHistogram) -> None:
        for k, n in other.buckets.items():
            self.buckets[k] = self.buckets.get(k, 0) + n
        self.count += other.count
        self.total = _capped(self.total + other.total)

    def quantile(self, q: float) -> float | None:
        """The value at quantile q (0..1), within the sketch's relative accuracy; None when empty."""
        if self.count <= 0:
            return None
        rank = q * (self.count - 1)
        seen = 0
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if seen > rank:
                return bucket_value(k)
        return bucket_value(max(self.buckets))

    def count_above(self, threshold: float) -> int:
        """Batches slower than `threshold`: every bucket whose values lie above it.

        The bucket holding the threshold itself is counted as above when its representative value is:
        a batch within 1% of the threshold may land on either side.
        """
        if threshold < MIN_VALUE:
            return self.count
        k0 = bucket_of(threshold)
        above = sum(n for k, n in self.buckets.items() if k > k0)
        if bucket_value(k0) > threshold:
            above += self.buckets.get(k0, 0)
        return above


@dataclass
class LatencySketch:
    """Histograms by minute (unix seconds of the minute's start)."""

    minutes: dict[int, MinuteHistogram] = field(default_factory=dict)

    def add(self, at: float, seconds: float) -> None:
        minute = int(at // MINUTE) * MINUTE
        histogram = self.minutes.get(minute)
        if histogram is None:
            histogram = self.minutes[minute] = MinuteHistogram()
        histogram.add(seconds)

    def add_many(self, times: Sequence[float], seconds: Sequence[float]) -> None:
        """add() for parallel columns, counted with a Counter rather than a call per value."""
        from collections import Counter

        log, inv, floor_index = math.log, 1.0 / _LOG_GAMMA, MIN_INDEX
        keys = [
            ((int(at // MINUTE) * MINUTE) << 20)
            + ((math.ceil(log(v) * inv) if v > MIN_VALUE else floor_index) - floor_index)
            for at, v in zip(times, seconds, strict=True)
        ]
        mask = (1 << 20) - 1
        for key, n in Counter(keys).items():
            self.add_bucketed(key >> 20, (key & mask) + floor_index, n, 0.0)
        totals: dict[int, float] = {}
        for at, v in zip(times, seconds, strict=True):
            minute = int(at // MINUTE) * MINUTE
            totals[minute] = totals.get(minute, 0.0) + v
        for minute, total in totals.items():
            histogram = self.minutes[minute]
            histogram.total = _capped(histogram.total + total)

    def add_bucketed(self, minute: int, bucket: int, n: int, total: float) -> None:
        """Counts already bucketed elsewhere (the Monitor's fast path keeps only indexes)."""
        histogram = self.minutes.get(minute)
        if histogram is None:
            histogram = self.minutes[minute] = MinuteHistogram()
        histogram.buckets[bucket] = histogram.buckets.get(bucket, 0) + n
        histogram.count += n
        histogram.total = _capped(histogram.total + total)

    def merge(self, other: LatencySketch) -> None:
        for minute, histogram in other.minutes.items():
            mine = self.minutes.get(minute)
            if mine is None:
                mine = self.minutes[minute] = MinuteHistogram()
            mine.merge(histogram)

    def __bool__(self) -> bool:
        return bool(self.minutes)

    @property
    def count(self) -> int:
        return sum(h.count for h in self.minutes.values())

    def split_by_day(self) -> dict[int, LatencySketch]:
        """By UTC day (unix seconds of midnight): one stored object per date partition."""
        out: dict[int, LatencySketch] = {}
        for minute, histogram in self.minutes.items():
            day = minute - minute % DAY_SECONDS
            out.setdefault(day, LatencySketch()).minutes[minute] = histogram
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "gamma": GAMMA,
            "minutes": {
                str(minute): {
                    "count": h.count,
                    "sum": h.total,
                    "buckets": {str(k): n for k, n in sorted(h.buckets.items())},
                }
                for minute, h in sorted(self.minutes.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencySketch:
        """Validates as it reads: ValueError on anything that is not a sketch this module wrote."""
        if data.get("gamma") != GAMMA:
            raise ValueError(f"gamma {data.get('gamma')!r}, expected {GAMMA}")
        minutes = data.get("minutes")
        if not isinstance(minutes, dict):
            raise ValueError("no 'minutes' object")
        sketch = cls()
        for key, entry in minutes.items():
            minute = int(key)
            if minute % MINUTE or not isinstance(entry, dict):
                raise ValueError(f"minute {key!r} is not a minute's histogram")
            buckets = entry.get("buckets")
            count, total = entry.get("count"), entry.get("sum")
            if (
                not isinstance(buckets, dict)
                or not isinstance(count, int)
                or not isinstance(total, int | float)
            ):
                raise ValueError(f"minute {key!r}: count, sum or buckets missing")
            histogram = MinuteHistogram(
                count=count, total=float(total), buckets={int(k): int(n) for k, n in buckets.items()}
            )
            if sum(histogram.buckets.values()) != count or any(n < 0 for n in histogram.buckets.values()):
                raise ValueError(f"minute {key!r}: bucket counts do not add up to {count}")
            sketch.minutes[minute] = histogram
        return sketch
