"""Latency sketches: quantiles and counts within 1%, merging, the stored form, the Monitor's recorder."""

from __future__ import annotations

import random

import pytest

from mlprom.analysis.sketch import GAMMA, LatencySketch, MinuteHistogram
from mlprom.serving.recorder import SketchRecorder


def test_quantiles_are_within_one_percent() -> None:
    rng = random.Random(1)
    values = sorted(rng.lognormvariate(-2.0, 1.0) for _ in range(20_000))
    histogram = MinuteHistogram()
    for v in values:
        histogram.add(v)
    for q in (0.5, 0.95, 0.99):
        exact = values[int(q * (len(values) - 1))]
        assert histogram.quantile(q) == pytest.approx(exact, rel=(GAMMA - 1))


def test_count_above_reclassifies_at_any_threshold() -> None:
    histogram = MinuteHistogram()
    for v in (0.1, 0.2, 0.5, 1.0, 2.0, 4.9, 5.2, 9.0):
        histogram.add(v)
    assert histogram.count_above(5.0) == 2 and histogram.count_above(0.45) == 6
    assert histogram.count_above(0.0) == 8


def test_sketches_merge_and_round_trip() -> None:
    a, b = LatencySketch(), LatencySketch()
    a.add(60.5, 0.1)
    b.add(61.0, 0.3)
    b.add(3600.0, 12.0)
    a.merge(b)
    assert a.count == 3 and sorted(a.minutes) == [60, 3600]
    again = LatencySketch.from_dict(a.to_dict())
    assert again.to_dict() == a.to_dict()


def test_a_tampered_sketch_is_refused() -> None:
    data = LatencySketch()
    data.add(0.0, 1.0)
    document = data.to_dict()
    document["minutes"]["0"]["count"] = 5
    with pytest.raises(ValueError, match="do not add up"):
        LatencySketch.from_dict(document)


def test_recorder_counts_every_call_and_drains_once() -> None:
    import time

    recorder = SketchRecorder()
    for i in range(1000):
        recorder.add(time.perf_counter(), 0.001 * (i % 10 + 1))
    sketch = recorder.drain()
    assert sketch.count == 1000 and not recorder.drain()
    recorder.restore(sketch)
    assert recorder.drain().count == 1000
