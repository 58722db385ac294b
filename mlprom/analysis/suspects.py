"""Suspects: metric series ranked by how far their values at slow predictions depart from their baseline.

Pure: plain lists in, Suspect records out. docs/correlation.md states exactly what is computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

# A side needs this many observations from at least this many distinct snapshots: a median and a MAD
# from fewer are noise, and many events joined to one snapshot are still one measurement of the infra.
MIN_OBSERVATIONS = 5
MIN_SNAPSHOTS = 3
# 1.4826 * MAD estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826
# The MAD is floored at 1% of the larger |median| so a flat baseline (MAD 0) gives a finite effect:
# a metric that never moves and then moves scores at most 1 / (1.4826 * 0.01) ~ 67.
RELATIVE_MAD_FLOOR = 0.01
ABSOLUTE_MAD_FLOOR = 1e-12


@dataclass(frozen=True)
class Suspect:
    metric: str
    labels: dict[str, str]
    effect: float  # robust effect size; positive when the metric is higher during slow predictions
    median_slow: float
    median_baseline: float
    mad_baseline: float  # as measured, before the floor
    slow_count: int
    baseline_count: int
    slow_snapshots: int = 0
    baseline_snapshots: int = 0
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "metric": self.metric,
            "labels": self.labels,
            "effect": self.effect,
            "median_slow": self.median_slow,
            "median_baseline": self.median_baseline,
            "mad_baseline": self.mad_baseline,
            "slow_count": self.slow_count,
            "baseline_count": self.baseline_count,
            "slow_snapshots": self.slow_snapshots,
            "baseline_snapshots": self.baseline_snapshots,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suspect:
        return cls(
            metric=data["metric"],
            labels=dict(data.get("labels") or {}),
            effect=float(data["effect"]),
            median_slow=float(data["median_slow"]),
            median_baseline=float(data["median_baseline"]),
            mad_baseline=float(data["mad_baseline"]),
            slow_count=int(data["slow_count"]),
            baseline_count=int(data["baseline_count"]),
            slow_snapshots=int(data.get("slow_snapshots", 0)),
            baseline_snapshots=int(data.get("baseline_snapshots", 0)),
            rank=int(data.get("rank", 0)),
        )


@dataclass(frozen=True)
class SeriesSample:
    """One series on each side: one value per snapshot, weighted by the observations it stands for.

    Weights default to 1. None values (NaN, ±Inf, missing) are dropped before anything is computed.
    """

    metric: str
    labels: dict[str, str]
    slow: Sequence[float | None]
    baseline: Sequence[float | None]
    slow_weights: Sequence[int] | None = None
    baseline_weights: Sequence[int] | None = None


def weighted_median(pairs: Sequence[tuple[float, int]]) -> float:
    """Median of values repeated by their weights; equals the plain median when every weight is 1."""
    ordered = sorted(p for p in pairs if p[1] > 0)
    if not ordered:
        raise ValueError("median of nothing")
    half = sum(w for _, w in ordered) / 2.0
    cumulative = 0
    for index, (value, weight) in enumerate(ordered):
        cumulative += weight
        if cumulative > half:
            return value
        if cumulative == half:
            return (value + ordered[index + 1][0]) / 2.0
    return ordered[-1][0]


def median(values: Sequence[float]) -> float:
    return weighted_median([(v, 1) for v in values])


def weighted_mad(pairs: Sequence[tuple[float, int]], center: float) -> float:
    """Median absolute deviation from `center`, unscaled, with the same weights."""
    return weighted_median([(abs(v - center), w) for v, w in pairs])


def _pairs(values: Sequence[float | None], weights: Sequence[int] | None) -> list[tuple[float, int]]:
    ws: Iterable[int] = weights if weights is not None else [1] * len(values)
    # None and NaN are absent measurements: never compared, never counted.
    return [(v, w) for v, w in zip(values, ws, strict=True) if v is not None and math.isfinite(v) and w > 0]


def effect_size(
    slow: Sequence[tuple[float, int]], baseline: Sequence[tuple[float, int]]
) -> tuple[float, float, float, float]:
    """(effect, median_slow, median_baseline, mad_baseline) for two non-empty (value, weight) lists."""
    med_slow = weighted_median(slow)
    med_base = weighted_median(baseline)
    raw_mad = weighted_mad(baseline, med_base)
    floor = max(RELATIVE_MAD_FLOOR * max(abs(med_base), abs(med_slow)), ABSOLUTE_MAD_FLOOR)
    effect = (med_slow - med_base) / (MAD_TO_SIGMA * max(raw_mad, floor))
    return effect, med_slow, med_base, raw_mad


def rank_suspects(
    samples: Iterable[SeriesSample],
    min_observations: int = MIN_OBSERVATIONS,
    min_snapshots: int = MIN_SNAPSHOTS,
) -> list[Suspect]:
    """Series with enough observations on each side, by |effect| descending (ties by name and labels)."""
    found: list[Suspect] = []
    for sample in samples:
        slow = _pairs(sample.slow, sample.slow_weights)
        baseline = _pairs(sample.baseline, sample.baseline_weights)
        slow_n = sum(w for _, w in slow)
        base_n = sum(w for _, w in baseline)
        if min(slow_n, base_n) < min_observations or min(len(slow), len(baseline)) < min_snapshots:
            continue
        effect, med_slow, med_base, raw_mad = effect_size(slow, baseline)
        found.append(
            Suspect(
                sample.metric,
                dict(sample.labels),
                effect,
                med_slow,
                med_base,
                raw_mad,
                slow_n,
                base_n,
                slow_snapshots=len(slow),
                baseline_snapshots=len(baseline),
            )
        )
    found.sort(key=lambda s: (-abs(s.effect), s.metric, sorted(s.labels.items())))
    return [replace(s, rank=rank) for rank, s in enumerate(found, start=1)]
