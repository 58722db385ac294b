"""Threshold evaluation over plain values: which level a value crosses, and the worst breach of a series.

Pure: no I/O, no config loading; a threshold is anything with `warning`, `critical` and `direction`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


class Levels(Protocol):
    """What a threshold is to this module (mlprom.config.Threshold satisfies it)."""

    @property
    def warning(self) -> float | None: ...

    @property
    def critical(self) -> float | None: ...

    @property
    def direction(self) -> str: ...


@dataclass(frozen=True)
class ThresholdLevels:
    """A plain threshold for callers without a config (tests, library use)."""

    warning: float | None = None
    critical: float | None = None
    direction: str = "above"


def crossed(
    value: float, warning: float | None, critical: float | None, direction: str
) -> tuple[str, float] | None:
    """(severity, level) of the highest level `value` is past, or None. Reaching the level counts as past."""
    if direction == "below":
        if critical is not None and value <= critical:
            return "critical", critical
        if warning is not None and value <= warning:
            return "warning", warning
        return None
    if critical is not None and value >= critical:
        return "critical", critical
    if warning is not None and value >= warning:
        return "warning", warning
    return None


@dataclass(frozen=True)
class Breach:
    """The worst a series did against one threshold: what a Finding is built from."""

    severity: str
    value: float  # the worst value (highest for "above", lowest for "below")
    threshold: float  # the level of `severity`
    direction: str
    first_seen: float  # unix seconds of the first value past any level
    last_seen: float
    count: int  # values past any level
    slow_events: int  # slow events that co-occurred with a value past any level
    longest: float = 0.0  # seconds of the longest unbroken run past a level (values fed in time order)
    ref: str | None = None  # what the caller tagged the worst value with (an event's MLflow run id)


class BreachTracker:
    """Running worst-breach of one series against one threshold, fed one value at a time.

    Memory is constant, so a day of a million events costs a few floats per series.
    """

    __slots__ = (
        "warning",
        "critical",
        "direction",
        "low",
        "worst",
        "first",
        "last",
        "count",
        "slow_events",
        "run_start",
        "longest",
        "ref",
    )

    def __init__(self, levels: Levels) -> None:
        self.warning = levels.warning
        self.critical = levels.critical
        self.direction = levels.direction
        # The level nearest to normal: values not past it need no further work.
        present = [x for x in (self.warning, self.critical) if x is not None]
        self.low = (min(present) if self.direction == "above" else max(present)) if present else None
        self.worst: float | None = None
        self.first = 0.0
        self.last = 0.0
        self.count = 0
        self.slow_events = 0
        self.run_start: float | None = None
        self.longest = 0.0
        self.ref: str | None = None

    def add(self, value: float | None, at: float, slow_events: int = 0, ref: str | None = None) -> bool:
        """Feed one value observed at unix time `at`; True when it is past a level.

        `ref` tags the value (an event's MLflow run id); the breach keeps the worst value's tag.
        """
        # None (NaN, ±Inf, missing) is never compared: an absent measurement is not a breach, and it
        # ends a run of breaches as an absent series ends a pending alert in Prometheus.
        if value is None or self.low is None or value != value:
            self.run_start = None
            return False
        if self.direction == "above":
            if value < self.low:
                self.run_start = None
                return False
            if self.worst is None or value > self.worst:
                self.worst = value
                self.ref = ref
        else:
            if value > self.low:
                self.run_start = None
                return False
            if self.worst is None or value < self.worst:
                self.worst = value
                self.ref = ref
        if self.run_start is None:
            self.run_start = at
        elif at - self.run_start > self.longest:
            self.longest = at - self.run_start
        if self.count == 0 or at < self.first:
            self.first = at
        if self.count == 0 or at > self.last:
            self.last = at
        self.count += 1
        self.slow_events += slow_events
        return True

    def add_many(
        self,
        values: Sequence[float | None],
        times: Sequence[float],
        slow_events: Sequence[bool] | Sequence[int],
        refs: Sequence[str | None] | None = None,
    ) -> None:
        """add() for parallel columns (in time order); only the values past the nearest level cost more
        than a comparison. A value not past a level between two that are ends the run, as in add()."""
        low = self.low
        if low is None:
            return
        if self.direction == "above":
            past = [i for i, v in enumerate(values) if v is not None and v >= low]
        else:
            past = [i for i, v in enumerate(values) if v is not None and v <= low]
        previous = -1
        for i in past:
            if i != previous + 1:
                self.run_start = None
            self.add(values[i], times[i], int(slow_events[i]), refs[i] if refs is not None else None)
            previous = i
        if past and past[-1] != len(values) - 1:
            self.run_start = None

    def breach(self) -> Breach | None:
        if self.worst is None:
            return None
        level = crossed(self.worst, self.warning, self.critical, self.direction)
        assert level is not None  # the worst value passed `low`, so it crossed a level
        severity, threshold = level
        return Breach(
            severity,
            self.worst,
            threshold,
            self.direction,
            self.first,
            self.last,
            self.count,
            self.slow_events,
            self.longest,
            self.ref,
        )


def evaluate(
    values: Iterable[tuple[float, float | None]] | Iterable[tuple[float, float | None, int]], levels: Levels
) -> Breach | None:
    """The worst breach among (unix_time, value[, slow_events]) observations, or None."""
    tracker = BreachTracker(levels)
    for item in values:
        tracker.add(item[1], item[0], item[2] if len(item) > 2 else 0)
    return tracker.breach()
