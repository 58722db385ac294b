"""What told the slow predictions from the fast ones, besides the infrastructure: batch size, model
version, hour of day and recorded inputs, each compared by one rank effect (the AUC) on plain data.

The rule (docs/correlation.md, "What distinguished the slow predictions"): a factor distinguishes when
its AUC is at least 0.75 or at most 0.25 with at least MIN_EVENTS events on each side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mlprom.analysis.drift import Finite, Reservoir

MIN_EVENTS = 10  # per side: at 5 a side chance alone passes the AUC bar 22% of the time (docs/correlation.md)
AUC_HIGH = 0.75
AUC_LOW = 0.25
MAX_FEATURES = 20  # input features compared, the first ones met in the date's events in key order
MAX_VALUES = 1000  # sampled values per side and numeric factor (a uniform reservoir)
MAX_INPUT_ROWS = 100  # rows of one event's recorded inputs read for its per-feature means
MAX_NAME = 80  # characters of a feature name or model version kept; a longer one is cut and ends in …
MAX_VERSIONS = 10  # model versions compared, the most frequent; the others are counted, not compared
MAX_VERSIONS_COUNTED = 1000  # distinct versions counted at all: memory stays bounded whatever the events say
MAX_WINDOW_HOURS = 6  # the longest run of UTC hours in which slow predictions may "concentrate"
FACTORS = ("rows", "model_version", "hour", "input")


def short_name(name: str) -> str:
    """A data string cut to MAX_NAME characters, marked with … when it was cut."""
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def auc(slow: Sequence[float], fast: Sequence[float]) -> float:
    """P(a slow value > a fast value) + P(equal) / 2: the Mann-Whitney U over n_slow · n_fast, from
    midranks. 0.5 when either side is empty."""
    if not slow or not fast:
        return 0.5
    merged = sorted([(v, 1) for v in slow] + [(v, 0) for v in fast])
    rank_sum = 0.0
    i = 0
    while i < len(merged):
        j = i
        while j < len(merged) and merged[j][0] == merged[i][0]:
            j += 1
        midrank = (i + 1 + j) / 2  # ranks i+1 .. j share their mean
        rank_sum += midrank * sum(side for _, side in merged[i:j])
        i = j
    n_slow, n_fast = len(slow), len(fast)
    return (rank_sum - n_slow * (n_slow + 1) / 2) / (n_slow * n_fast)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _distinguishes(effect: float, slow_events: int, fast_events: int) -> bool:
    return (
        slow_events >= MIN_EVENTS and fast_events >= MIN_EVENTS and (effect >= AUC_HIGH or effect <= AUC_LOW)
    )


@dataclass(frozen=True)
class Distinction:
    """One comparison of the slow and the fast predictions.

    `measure` says what `slow` and `fast` are: "median" (of a number per event) or "share" (of each
    side's events with the value `name`, or in the hours `hours`). For a share, the AUC is that of the
    indicator "has the value": 0.5 + (slow share - fast share) / 2, which the sampling of fast events
    does not bias.
    """

    factor: str  # rows | model_version | hour | input
    name: str | None  # the model version, the input feature, the hours ("14:00-16:00"); None for rows
    measure: str  # median | share
    slow: float
    fast: float
    auc: float
    slow_events: int  # compared on each side (a sample of at most MAX_VALUES for a number)
    fast_events: int
    distinguishing: bool
    hours: tuple[int, ...] = ()  # the UTC hours of an hour window

    def to_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "name": self.name,
            "measure": self.measure,
            "slow": self.slow,
            "fast": self.fast,
            "auc": self.auc,
            "slow_events": self.slow_events,
            "fast_events": self.fast_events,
            "distinguishing": self.distinguishing,
            **({"hours": list(self.hours)} if self.factor == "hour" else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Distinction:
        """ValueError or TypeError for a record that is not one."""
        if not isinstance(data, dict):
            raise TypeError("not an object")
        factor, name, measure = data.get("factor"), data.get("name"), data.get("measure")
        if factor not in FACTORS or measure not in ("median", "share"):
            raise ValueError(f"unknown factor {str(factor)[:40]!r} or measure {str(measure)[:40]!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError("name is not a string")
        slow, fast, effect = (_number(data.get(k), k) for k in ("slow", "fast", "auc"))
        slow_events, fast_events = (_count(data.get(k), k) for k in ("slow_events", "fast_events"))
        hours = data.get("hours", [])
        if not isinstance(hours, list):
            raise TypeError("hours is not a list")
        return cls(
            factor,
            name,
            measure,
            slow,
            fast,
            effect,
            slow_events,
            fast_events,
            data.get("distinguishing") is True,
            tuple(_count(h, "hours") for h in hours),
        )


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{key} is not a number")
    return value


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{key} is not a non-negative integer")
    return value


def compare_numbers(
    factor: str, name: str | None, slow: Sequence[float], fast: Sequence[float]
) -> Distinction | None:
    """Medians and AUC of a number per event on each side; None when a side has none."""
    if not slow or not fast:
        return None
    effect = auc(slow, fast)
    return Distinction(
        factor, name, "median", median(slow), median(fast), effect, len(slow), len(fast),
        _distinguishes(effect, len(slow), len(fast)),
    )  # fmt: skip


def compare_versions(slow: Mapping[str, int], fast: Mapping[str, int]) -> list[Distinction]:
    """Each model version's share of the slow and of the fast events; nothing unless at least two
    versions are present. At most MAX_VERSIONS, the most frequent (ties by name)."""
    names = set(slow) | set(fast)
    n_slow, n_fast = sum(slow.values()), sum(fast.values())
    if len(names) < 2 or not n_slow or not n_fast:
        return []
    kept = sorted(names, key=lambda v: (-(slow.get(v, 0) + fast.get(v, 0)), v))[:MAX_VERSIONS]
    return [
        _share("model_version", short_name(v), slow.get(v, 0), n_slow, fast.get(v, 0), n_fast) for v in kept
    ]


def _share(factor: str, name: str, in_slow: int, n_slow: int, in_fast: int, n_fast: int) -> Distinction:
    share_slow, share_fast = in_slow / n_slow, in_fast / n_fast
    effect = 0.5 + (share_slow - share_fast) / 2
    return Distinction(
        factor, name, "share", share_slow, share_fast, effect, n_slow, n_fast,
        _distinguishes(effect, n_slow, n_fast),
    )  # fmt: skip


def hour_counts(per_second: Sequence[int]) -> list[int]:
    """Events per UTC hour of the date, from events per second of it."""
    return [sum(per_second[h * 3600 : (h + 1) * 3600]) for h in range(24)]


def hour_window(slow: Sequence[int], fast: Sequence[int]) -> Distinction | None:
    """The run of at most MAX_WINDOW_HOURS consecutive UTC hours (wrapping at midnight) whose share of
    the slow events most exceeds its share of the fast ones (ties: the shorter, then the earlier). Being
    the best of 144 windows, it also needs MIN_EVENTS slow events inside it to distinguish. None when a
    side has no events."""
    n_slow, n_fast = sum(slow), sum(fast)
    if not n_slow or not n_fast:
        return None
    best: tuple[float, int, int] | None = None  # (gain, width, start)
    for width in range(1, MAX_WINDOW_HOURS + 1):
        for start in range(24):
            window = [(start + k) % 24 for k in range(width)]
            gain = sum(slow[h] for h in window) / n_slow - sum(fast[h] for h in window) / n_fast
            if best is None or gain > best[0] + 1e-12:
                best = (gain, width, start)
    assert best is not None
    _, width, start = best
    hours = tuple((start + k) % 24 for k in range(width))
    inside = sum(slow[h] for h in hours)
    name = f"{start:02d}:00-{(start + width) % 24:02d}:00"
    found = _share("hour", name, inside, n_slow, sum(fast[h] for h in hours), n_fast)
    return replace(found, hours=hours, distinguishing=found.distinguishing and inside >= MIN_EVENTS)


def ordered(distinctions: Sequence[Distinction]) -> list[Distinction]:
    """Distinguishing ones first, then by the AUC's distance from 0.5, then by factor and name."""
    return sorted(
        distinctions,
        key=lambda d: (not d.distinguishing, -abs(d.auc - 0.5), FACTORS.index(d.factor), d.name or ""),
    )


@dataclass
class SlowFactors:
    """The date's slow and fast sides of each factor, folded object by object: bounded reservoirs of
    batch sizes and of per-event input feature means, and event counts per model version."""

    rows: tuple[Reservoir, Reservoir] = field(
        default_factory=lambda: (Reservoir(MAX_VALUES, 1), Reservoir(MAX_VALUES, 2))
    )
    versions: tuple[dict[str, int], dict[str, int]] = field(default_factory=lambda: ({}, {}))
    inputs: dict[str, tuple[Reservoir, Reservoir]] = field(default_factory=dict)

    def add(
        self,
        rows: tuple[Finite, Finite] | None,
        versions: Mapping[str, tuple[int, int]],
        inputs: Mapping[str, tuple[Finite, Finite]],
    ) -> None:
        """One object's sides: batch sizes, (slow, fast) events per version, per feature its means."""
        if rows is not None:
            for reservoir, side in zip(self.rows, rows, strict=True):
                reservoir.extend_finite(side.values, side.total)
        slow_versions, fast_versions = self.versions
        for version, (n_slow, n_fast) in versions.items():
            if version not in slow_versions and len(slow_versions) >= MAX_VERSIONS_COUNTED:
                continue
            slow_versions[version] = slow_versions.get(version, 0) + n_slow
            fast_versions[version] = fast_versions.get(version, 0) + n_fast
        for name, (slow, fast) in inputs.items():
            sides = self.inputs.get(name)
            if sides is None:
                if len(self.inputs) >= MAX_FEATURES:
                    continue
                seed = sum(name.encode())
                sides = self.inputs[name] = (Reservoir(MAX_VALUES, seed), Reservoir(MAX_VALUES, seed + 1))
            sides[0].extend_finite(slow.values, slow.total)
            sides[1].extend_finite(fast.values, fast.total)

    def distinctions(self, slow_hours: Sequence[int], fast_hours: Sequence[int]) -> list[Distinction]:
        """Every comparison the date allows, ordered (see `ordered`)."""
        found: list[Distinction | None] = [
            compare_numbers("rows", None, self.rows[0].values, self.rows[1].values),
            hour_window(slow_hours, fast_hours),
        ]
        found += compare_versions(*self.versions)
        found += [
            compare_numbers("input", name, slow.values, fast.values)
            for name, (slow, fast) in self.inputs.items()
        ]
        return ordered([d for d in found if d is not None])
