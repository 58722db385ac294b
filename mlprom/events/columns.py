"""One stored object's events as plain columns, and what is computed over them where they are decoded.

The decoder (events/scan.py) produces an EventColumns per object; `classify` and `prepare_samples`
then add what correlate and the drift reference need from it.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from datetime import date

from mlprom.analysis.drift import Finite
from mlprom.analysis.profile import HourProfile
from mlprom.analysis.sketch import LatencySketch
from mlprom.dates import DAY_SECONDS


@dataclass
class EventColumns:
    """One stored object's events as columns; metrics[name][i] is NaN where event i has no such metric."""

    key: str
    times: array[float] = field(default_factory=lambda: array("d"))
    seconds: array[float] = field(default_factory=lambda: array("d"))
    metrics: dict[str, array[float]] = field(default_factory=dict)
    outputs: array[float] = field(default_factory=lambda: array("d"))  # every numeric output, flattened
    outputs_mean: array[float] = field(default_factory=lambda: array("d"))  # per event, NaN when none
    # With a Classification: per event slow or not, events per second of the date, and a latency sketch.
    run_ids: list[str | None] = field(default_factory=list)  # each event's mlflow_run_id
    recorded_slow: list[bool] = field(default_factory=list)  # `slow` as the capture recorded it
    rows: list[int] = field(default_factory=list)  # each event's `rows`; 0 when absent or not above 0
    slow: list[bool] = field(default_factory=list)
    slow_seconds: dict[int, int] = field(default_factory=dict)
    fast_seconds: dict[int, int] = field(default_factory=dict)
    sketch: LatencySketch | None = None
    hours: HourProfile | None = None
    # Set by prepare_samples(), which then empties outputs and outputs_mean (the largest columns, needed
    # for nothing else): per drift distribution (docs/drift.md) its values, and with a Classification,
    # per model metric and outputs_mean the values of the slow and of the other events.
    samples: dict[str, Finite] = field(default_factory=dict)
    sides: dict[str, tuple[Finite, Finite]] = field(default_factory=dict)
    # What tells slow from fast besides the infra (analysis/distinguish.py): per event its model version
    # and per input feature the batch's mean (NaN where absent), with `rows` above; prepare_samples()
    # turns them into sides and counts and empties versions and inputs (rows is kept for the quality
    # window, which the parent folds).
    versions: list[str | None] = field(default_factory=list)
    inputs: dict[str, array[float]] = field(default_factory=dict)
    row_sides: tuple[Finite, Finite] | None = None
    version_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # (slow, fast) events
    input_sides: dict[str, tuple[Finite, Finite]] = field(default_factory=dict)
    # Not read (a warning named it): the store refused the object, or its partition could not be listed.
    unreadable: bool = False
    outside: int = 0  # events left out as stamped outside the partition's date and correlate.max_skew

    def __len__(self) -> int:
        return len(self.times)


def prepare_samples(columns: EventColumns, classified: bool) -> None:
    """What the drift side and the model metrics' reservoirs take from this object (see EventColumns)."""
    from itertools import compress

    if not columns.times:
        return
    columns.samples["prediction_time"] = Finite.of(columns.seconds)
    columns.samples["outputs"] = Finite.of(columns.outputs)
    accuracy = columns.metrics.get("accuracy")
    if accuracy is not None:
        columns.samples["accuracy"] = Finite.of(accuracy)
    if classified:
        slow = columns.slow
        fast = [not s for s in slow]
        for name, column in [*columns.metrics.items(), ("outputs_mean", columns.outputs_mean)]:
            columns.sides[name] = (
                Finite.of(array("d", compress(column, slow))),
                Finite.of(array("d", compress(column, fast))),
            )
        _prepare_factors(columns, slow, fast)
    columns.outputs = array("d")
    columns.outputs_mean = array("d")
    columns.versions, columns.inputs = [], {}


def _prepare_factors(columns: EventColumns, slow: list[bool], fast: list[bool]) -> None:
    """The slow and fast sides of batch size and input features, and events per model version."""
    from itertools import compress

    def sides(column: array[float]) -> tuple[Finite, Finite]:
        return Finite.of(array("d", compress(column, slow))), Finite.of(array("d", compress(column, fast)))

    if columns.rows:
        columns.row_sides = sides(array("d", columns.rows))
    counts: dict[str, list[int]] = {}
    for version, is_slow in zip(columns.versions, slow, strict=True):
        if version is not None:
            counts.setdefault(version, [0, 0])[0 if is_slow else 1] += 1
    columns.version_counts = {v: (n[0], n[1]) for v, n in counts.items()}
    columns.input_sides = {name: sides(column) for name, column in columns.inputs.items()}


@dataclass(frozen=True)
class Classification:
    """What correlate asks of each object besides its columns, computed where the object is decoded."""

    origin: float  # the date's midnight, unix seconds
    threshold: float  # model.latency_threshold: slower is slow
    sketch: bool  # also a latency sketch of the events (when the date has no stored sketches)
    day: date | None = None  # with fast_weight: also the hour-of-day profile of the events
    fast_weight: float = 1.0


def classify(columns: EventColumns, how: Classification) -> None:
    from collections import Counter

    threshold, origin = how.threshold, how.origin
    slow = [v > threshold for v in columns.seconds]
    seconds = [int(at - origin) for at in columns.times]
    slow_counts: Counter[int] = Counter()
    fast_counts: Counter[int] = Counter()
    slow_counts.update(
        s for s, is_slow in zip(seconds, slow, strict=True) if is_slow and 0 <= s < DAY_SECONDS
    )
    fast_counts.update(
        s for s, is_slow in zip(seconds, slow, strict=True) if not is_slow and 0 <= s < DAY_SECONDS
    )
    columns.slow = slow
    columns.slow_seconds = dict(slow_counts)
    columns.fast_seconds = dict(fast_counts)
    if how.sketch:
        columns.sketch = LatencySketch()
        columns.sketch.add_many(columns.times, columns.seconds)
    if how.day is not None:
        hours = columns.hours = HourProfile(how.day, how.fast_weight)
        add = hours.add
        for at, value, is_slow, recorded in zip(
            columns.times, columns.seconds, slow, columns.recorded_slow, strict=True
        ):
            add(at, value, is_slow, not recorded)
