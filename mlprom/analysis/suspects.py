"""Suspects: metric series ranked by how far their values at slow predictions depart from their baseline.

Pure: plain lists in, Suspect records out. docs/correlation.md states exactly what is computed.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import compress
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
# A significant suspect's slow-side median sits at least half a robust standard deviation of its baseline
# away: with many points the test finds shifts too small to explain anything (a noise day once had
# "significant" suspects at 0.3 sigma), and half a sigma is a medium effect in Cohen's terms.
MIN_EFFECT = 0.5


@dataclass(frozen=True)
class Suspect:
    metric: str
    labels: dict[str, str]
    effect: float  # robust effect size; positive when the metric is higher during slow predictions
    median_slow: float
    median_baseline: float
    mad_baseline: float  # as measured, before the floor
    slow_count: int  # observations (events) on each side
    baseline_count: int
    slow_snapshots: int = 0  # distinct snapshots or steps on each side: what the test counts
    baseline_snapshots: int = 0
    rank: int = 0
    p_value: float | None = None  # two-sided Mann-Whitney U; None when not tested (near zero)
    q_value: float | None = None  # Benjamini-Hochberg over every series and lag tested
    significant: bool = False
    lag_seconds: float = 0.0  # the series' values this long before the predictions
    source: str = "snapshots"  # snapshots | prometheus | mixed | model
    kind: str = "infra"  # infra | model
    unit: str | None = None
    note: str | None = None  # why it cannot be significant: "near zero on both sides", "change below ..."
    auc: float | None = None  # P(slow value > baseline value), ties halved: 0.5 when the sides do not differ
    direction: str | None = None  # rise | fall: how the series moved on slow steps at its lag
    role: str = "cause"  # cause | consequence: consequence when it moved against its query's direction
    statistic: float | None = None  # the shift test's standardized statistic (None: not tested)

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
            "p_value": self.p_value,
            "q_value": self.q_value,
            "significant": self.significant,
            "lag_seconds": self.lag_seconds,
            "source": self.source,
            "kind": self.kind,
            "unit": self.unit,
            "note": self.note,
            "auc": self.auc,
            "direction": self.direction,
            "role": self.role,
            "statistic": self.statistic,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suspect:
        def optional(name: str) -> float | None:
            value = data.get(name)
            return None if value is None else float(value)

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
            p_value=optional("p_value"),
            q_value=optional("q_value"),
            significant=bool(data.get("significant", False)),
            lag_seconds=float(data.get("lag_seconds", 0.0)),
            source=str(data.get("source", "snapshots")),
            kind=str(data.get("kind", "infra")),
            unit=data.get("unit"),
            note=data.get("note"),
            auc=optional("auc"),
            direction=data.get("direction"),
            role=str(data.get("role", "cause")),
            statistic=optional("statistic"),
        )


@dataclass(frozen=True)
class SeriesSample:
    """One series on each side: one value per snapshot (or step), weighted by the events it stands for.

    Weights default to 1. None values (NaN, ±Inf, missing) are dropped before anything is computed.
    A series tested at several lags gives one sample per lag, all with the same metric and labels.
    """

    metric: str
    labels: dict[str, str]
    slow: Sequence[float | None]
    baseline: Sequence[float | None]
    slow_weights: Sequence[int] | None = None
    baseline_weights: Sequence[int] | None = None
    lag_seconds: float = 0.0
    source: str = "snapshots"
    kind: str = "infra"
    unit: str | None = None
    min_change: float = 0.0  # in `unit`; 0: no near-zero or minimum-change rule


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
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of nothing")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def weighted_mad(pairs: Sequence[tuple[float, int]], center: float) -> float:
    """Median absolute deviation from `center`, unscaled, with the same weights."""
    return weighted_median([(abs(v - center), w) for v, w in pairs])


def _present(values: Sequence[float | None], weights: Sequence[int] | None) -> tuple[list[float], list[int]]:
    """The measured values and their weights, as two lists (zip(*pairs) over thousands of pairs took
    longer than the test itself)."""
    ws: Sequence[int] = weights if weights is not None else [1] * len(values)
    # The common case in C: nothing missing (a finite sum means no NaN or infinity either, and an
    # overflowing one just takes the path below), every weight positive.
    if None not in values and math.isfinite(sum(values)) and (not ws or min(ws) > 0):  # type: ignore[arg-type]
        return list(values), list(ws)  # type: ignore[arg-type]
    # None, NaN and infinities are absent measurements: never compared, never counted (v - v is 0 only
    # for a finite v).
    mask = [v is not None and v - v == 0 and w > 0 for v, w in zip(values, ws, strict=True)]
    kept: list[float] = list(compress(values, mask))  # type: ignore[arg-type]
    return kept, list(compress(ws, mask))


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


# Near zero: at least this share of a series' values (both sides pooled) lie within min_change of 0.
NEAR_ZERO_SHARE = 0.9


def _median_of_sorted(ordered: Sequence[float]) -> float:
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _mad_of_sorted(ordered: list[float], center: float) -> float:
    """median(|v - center|) of ascending values around their median `center`: the deviations below and
    above it are two ascending runs, which sorted() merges in linear time (center - v is exactly
    |v - center| for v <= center in floating point)."""
    split = bisect_left(ordered, center)
    below = [center - v for v in reversed(ordered[:split])]
    above = [v - center for v in ordered[split:]]
    return _median_of_sorted(sorted(below + above))


def _near_zero_sorted(ordered: Sequence[float], min_change: float) -> bool:
    if min_change <= 0 or not ordered:
        return False
    small = bisect_left(ordered, min_change) - bisect_right(ordered, -min_change)
    return small >= NEAR_ZERO_SHARE * len(ordered)


def near_zero(values: Sequence[float], min_change: float) -> bool:
    """True when the pooled values barely leave zero: such a series cannot show a change worth naming.

    Judged on both sides pooled, never on the difference between them, so leaving these series out of
    the tested family does not bias the test of the others (independent filtering).
    """
    return _near_zero_sorted(sorted(values), min_change)


@dataclass(frozen=True)
class _Tested:
    sample: SeriesSample
    suspect: Suspect
    auc_distance: float


def rank_suspects(
    samples: Iterable[SeriesSample],
    min_observations: int = MIN_OBSERVATIONS,
    min_snapshots: int = MIN_SNAPSHOTS,
    fdr: float = 0.05,
) -> tuple[list[Suspect], int]:
    """Suspects (one per series, at its most significant lag) in rank order, and the hypotheses tested.

    Every (series, lag) with enough observations on each side is tested (two-sided Mann-Whitney U on
    the distinct snapshot or step values, one per snapshot whatever the events joined to it); the
    family is corrected with Benjamini-Hochberg at `fdr`. Significant: q <= fdr and the medians moved,
    by more than nothing, by at least the series' min_change and by at least MIN_EFFECT robust sigma.
    Rank: significant first, infra before model metrics, then how completely the sides separate
    (|AUC - 0.5|, the test's own effect, which no MAD floor caps), then |effect|, then q, then name and
    labels.
    """
    from mlprom.analysis.significance import benjamini_hochberg, mann_whitney

    tested: list[_Tested] = []
    for sample in samples:
        slow_values, slow_w = _present(sample.slow, sample.slow_weights)
        base_values, base_w = _present(sample.baseline, sample.baseline_weights)
        if min(len(slow_values), len(base_values)) < min_snapshots:
            continue
        slow_n, base_n = sum(slow_w), sum(base_w)
        if min(slow_n, base_n) < min_observations:
            continue
        # The unit of measurement is the snapshot (step): its value counts once, however many events
        # joined it, both in the medians and in the test.
        slow_sorted, base_sorted = sorted(slow_values), sorted(base_values)
        med_slow, med_base = _median_of_sorted(slow_sorted), _median_of_sorted(base_sorted)
        raw_mad = _mad_of_sorted(base_sorted, med_base)
        floor = max(RELATIVE_MAD_FLOOR * max(abs(med_base), abs(med_slow)), ABSOLUTE_MAD_FLOOR)
        effect = (med_slow - med_base) / (MAD_TO_SIGMA * max(raw_mad, floor))
        pooled = sorted(slow_sorted + base_sorted)  # two sorted runs: merged, not sorted afresh
        note = None
        p_value = None
        auc = None
        auc_distance = 0.0
        if _near_zero_sorted(pooled, sample.min_change):
            note = f"near zero on both sides (below {sample.min_change:g} {sample.unit or ''})".replace(
                " )", ")"
            )
        else:
            test = mann_whitney(slow_values, base_values, pooled)
            p_value = test.p_value
            auc = test.auc
            auc_distance = abs(test.auc - 0.5)
        suspect = Suspect(
            sample.metric,
            dict(sample.labels),
            effect,
            med_slow,
            med_base,
            raw_mad,
            slow_n,
            base_n,
            slow_snapshots=len(slow_values),
            baseline_snapshots=len(base_values),
            p_value=p_value,
            lag_seconds=sample.lag_seconds,
            source=sample.source,
            kind=sample.kind,
            unit=sample.unit,
            note=note,
            auc=auc,
        )
        tested.append(_Tested(sample, suspect, auc_distance))

    family = [t for t in tested if t.suspect.p_value is not None]
    q_values = benjamini_hochberg([t.suspect.p_value for t in family])  # type: ignore[misc]
    with_q: list[_Tested] = []
    q_of = {id(t): q for t, q in zip(family, q_values, strict=True)}
    for t in tested:
        q = q_of.get(id(t))
        suspect = t.suspect
        if q is not None:
            change = abs(suspect.median_slow - suspect.median_baseline)
            # A test can reject on any difference in distribution; a suspect is named for a moved median,
            # so an unmoved median (a discrete output at 0.25 on both sides) is never significant.
            big_enough = change > 0 and change >= t.sample.min_change and abs(suspect.effect) >= MIN_EFFECT
            note = suspect.note
            if change == 0:
                note = "the medians did not move"
            elif change < t.sample.min_change:
                note = f"median change {change:.3g} below the minimum {t.sample.min_change:g}"
            elif not big_enough:
                note = f"effect {suspect.effect:+.2f} robust sigma, below the minimum {MIN_EFFECT:g}"
            suspect = replace(suspect, q_value=q, significant=q <= fdr and big_enough, note=note)
        with_q.append(_Tested(t.sample, suspect, t.auc_distance))

    # One suspect per series: its most significant lag (the smallest p; on a tie, the shortest lag).
    best: dict[tuple[str, tuple[tuple[str, str], ...]], _Tested] = {}
    for t in with_q:
        key = (t.suspect.metric, tuple(sorted(t.suspect.labels.items())))
        held = best.get(key)
        if held is None or _lag_order(t) < _lag_order(held):
            best[key] = t
    chosen = sorted(
        best.values(),
        key=lambda t: (
            not t.suspect.significant,
            t.suspect.kind != "infra",  # the question is what the infrastructure did; the model follows
            -round(t.auc_distance, 9),
            -abs(t.suspect.effect),
            t.suspect.q_value if t.suspect.q_value is not None else 2.0,
            t.suspect.metric,
            sorted(t.suspect.labels.items()),
        ),
    )
    return [replace(t.suspect, rank=rank) for rank, t in enumerate(chosen, start=1)], len(family)


def _lag_order(t: _Tested) -> tuple[float, float]:
    p = t.suspect.p_value
    return (p if p is not None else 2.0, abs(t.suspect.lag_seconds))


# Fewer distinct slow episodes than this: no suspect is significant. One episode is one coincidence in
# time: the shift test can say a series was unusual then, not that it moves with slowness; anything that
# changed at that moment (a deploy, a neighbour's job) fits as well (docs/correlation.md, "Episodes").
MIN_EPISODES = 2


@dataclass(frozen=True)
class GridSeries:
    """One series on its query's step axis: one value per step, None where it has none."""

    metric: str
    labels: dict[str, str]
    values: Sequence[float | None]
    source: str = "snapshots"
    unit: str | None = None
    min_change: float = 0.0
    direction: str = "both"  # the query's causal direction: rise | fall | both


@dataclass(frozen=True)
class QueryGrid:
    """A query's step axis with the events joined to each step (at lag 0) and its series on it."""

    times: Sequence[float]
    slow: Sequence[int]
    fast: Sequence[int]
    series: Sequence[GridSeries]
    step_seconds: float


@dataclass(frozen=True)
class Ranking:
    """Ranked suspects and what the test could say (the report's `significance` and `episodes`)."""

    suspects: list[Suspect]
    hypotheses: int  # series in the test's family of causes
    shifts: int  # null shifts
    window_steps: int  # steps of the longest analysed axis
    step_seconds: float  # its resolution
    resolution: float  # smallest adjusted p-value the window allows
    episodes: list[tuple[float, float]]  # slow episodes, [start, end) in unix seconds
    lags_seconds: list[float]  # the lags actually tested (those that fit the window)
    notes: list[str]  # why the date cannot support confident suspects; empty when it can

    def significance(self, fdr: float) -> dict[str, Any]:
        return {
            "test": "circular-shift",
            "statistic": "max over lags of the standardized mean difference, slow steps vs the rest, "
            "in the query's causal direction (either way: its absolute value)",
            "correction": "westfall-young-maxT",
            "fdr": fdr,
            "hypotheses": self.hypotheses,
            "lags_seconds": self.lags_seconds,
            "shifts": self.shifts,
            "steps_analysed": self.window_steps,
            "step_seconds": self.step_seconds,
            "resolution": self.resolution,
            "episodes": len(self.episodes),
            "episode_periods": [[start, end] for start, end in self.episodes],
            "min_episodes": MIN_EPISODES,
            "notes": self.notes,
        }


def _role(query_direction: str, moved: str) -> str:
    if query_direction == "both" or query_direction == moved:
        return "cause"
    return "consequence"


def _auc(slow: Any, base: Any) -> float:
    """P(slow value > baseline value) + P(tie) / 2."""
    import numpy as np

    ordered = np.sort(np.asarray(base, dtype=np.float64))
    x = np.asarray(slow, dtype=np.float64)
    below = np.searchsorted(ordered, x, side="left")
    upto = np.searchsorted(ordered, x, side="right")
    return float((below + upto).sum() / 2.0 / (len(x) * len(ordered)))


def _described(
    metric: str,
    labels: dict[str, str],
    slow: Sequence[float],
    base: Sequence[float],
    slow_n: int,
    base_n: int,
    **fields: Any,
) -> Suspect:
    """A Suspect with the medians, MAD, robust effect and AUC of its two sides (each non-empty)."""
    import numpy as np

    slow_array, base_array = np.asarray(slow, dtype=np.float64), np.asarray(base, dtype=np.float64)
    med_slow, med_base = float(np.median(slow_array)), float(np.median(base_array))
    raw_mad = float(np.median(np.abs(base_array - med_base)))
    floor = max(RELATIVE_MAD_FLOOR * max(abs(med_base), abs(med_slow)), ABSOLUTE_MAD_FLOOR)
    effect = (med_slow - med_base) / (MAD_TO_SIGMA * max(raw_mad, floor))
    return Suspect(
        metric,
        dict(labels),
        effect,
        med_slow,
        med_base,
        raw_mad,
        slow_n,
        base_n,
        slow_snapshots=len(slow_array),
        baseline_snapshots=len(base_array),
        auc=_auc(slow_array, base_array),
        **fields,
    )


def _near_zero_grid(values: Sequence[float | None], min_change: float) -> bool:
    """near_zero over a series' present values on the grid (both sides pooled)."""
    import numpy as np

    if min_change <= 0:
        return False
    x = np.array(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    return bool(len(x)) and int(np.count_nonzero(np.abs(x) < min_change)) >= NEAR_ZERO_SHARE * len(x)


def _sides_at(
    grid: QueryGrid, values: Sequence[float | None], lag: int
) -> tuple[list[float], list[float], int, int]:
    """Values on slow steps and on the other steps at `lag` (the slow indicator of step t + lag paired
    with the value at t, circularly as in the test), and the events each side stands for."""
    import numpy as np

    x = np.array(values, dtype=np.float64)  # None becomes NaN
    present = np.isfinite(x)  # None, NaN and infinities are absent
    slow_counts = np.roll(np.asarray(grid.slow, dtype=np.int64), -lag)
    fast_counts = np.roll(np.asarray(grid.fast, dtype=np.int64), -lag)
    on_slow = present & (slow_counts > 0)
    on_base = present & (slow_counts == 0)
    slow_n = int(slow_counts[on_slow].sum())
    base_n = int(np.maximum(fast_counts[on_base], 1).sum())  # a quiet step stands for itself
    return x[on_slow].tolist(), x[on_base].tolist(), slow_n, base_n


def rank_suspects_on_grid(
    grids: Sequence[QueryGrid],
    lags_seconds: Sequence[float],
    model: Iterable[SeriesSample] = (),
    fdr: float = 0.05,
    min_observations: int = MIN_OBSERVATIONS,
    min_snapshots: int = MIN_SNAPSHOTS,
    episodes: list[tuple[float, float]] | None = None,
) -> Ranking:
    """Suspects in rank order with the circular time-shift test (docs/correlation.md, "The test").

    `episodes` are the date's slow episodes ([start, end) unix seconds, from the events' own seconds:
    `shift_test.slow_periods`); None: counted on the longest axis. Every series not near zero enters one
    family, tested by `shift_test.circular_shift_test` at `fdr`
    (maxT: the chance of any false suspect on a date is at most `fdr`). A series is significant when the
    test rejects, the date has at least MIN_EPISODES slow episodes, and its medians at the reported lag
    moved by more than nothing, by its min_change and by MIN_EFFECT robust sigma. Its lag is the shortest
    that holds; `direction` is how it moved; `role` is `consequence` when that is against its query's
    causal direction. Model metrics (per event, no step axis) are described, never significant here.
    Rank: causes before consequences, significant first, infra before model, then the standardized
    statistic, |effect|, name and labels.
    """
    from mlprom.analysis.shift_test import GridQuery, circular_shift_test, episodes_of, lag_steps_for

    longest = max(grids, key=lambda g: len(g.slow), default=None)
    step = longest.step_seconds if longest is not None else 0.0
    if episodes is None:
        # Without the events' own seconds, the slow steps of the longest axis stand for them.
        episodes = []
        if longest is not None and longest.times:
            for e in episodes_of(longest.slow):
                end = longest.times[e.end] if e.end < len(longest.times) else longest.times[-1] + step
                episodes.append((longest.times[e.start], end))

    queries: list[GridQuery] = []
    lag_sets: list[list[int]] = []
    kept: list[list[GridSeries]] = []
    described: list[Suspect] = []
    for grid in grids:
        n = len(grid.slow)
        lags = lag_steps_for(lags_seconds, grid.step_seconds, n)
        members = []
        for series in grid.series:
            if _near_zero_grid(series.values, series.min_change):
                slow, base, slow_n, base_n = _sides_at(grid, series.values, 0)
                if min(len(slow), len(base)) >= min_snapshots:
                    zero = f"near zero on both sides (below {series.min_change:g} {series.unit or ''})"
                    described.append(
                        _described(
                            series.metric,
                            series.labels,
                            slow,
                            base,
                            slow_n,
                            base_n,
                            source=series.source,
                            unit=series.unit,
                            note=zero.replace(" )", ")"),
                        )
                    )
                    moved = "rise" if described[-1].effect >= 0 else "fall"
                    described[-1] = replace(
                        described[-1], direction=moved, role=_role(series.direction, moved)
                    )
                continue
            members.append(series)
        directions = [1 if m.direction == "rise" else -1 if m.direction == "fall" else 0 for m in members]
        queries.append(GridQuery(grid.slow, [m.values for m in members], lags, directions))
        lag_sets.append(lags)
        kept.append(members)
    test = circular_shift_test(queries, fdr, min_snapshots)

    notes: list[str] = []
    if test.hypotheses and test.resolution > fdr:
        notes.append(
            f"the analysed window ({test.window_steps} steps of {step:g} s) leaves {test.shifts} shift(s): the "
            f"smallest p-value it allows, {test.resolution:.3g}, is above correlate.fdr {fdr:g}, so the test "
            "can never reject; analyse a longer window (more history) or a finer step"
        )
    if len(episodes) < MIN_EPISODES:
        notes.append(
            f"{len(episodes)} slow episode(s): at least {MIN_EPISODES} are needed before a suspect is named "
            "significant (one episode is one coincidence in time: whatever changed then fits as well)"
        )
    enough_episodes = len(episodes) >= MIN_EPISODES
    tested_lags = sorted({k * g.step_seconds for g, lags in zip(grids, lag_sets, strict=True) for k in lags})

    ranked: list[tuple[Suspect, float]] = []
    for grid, members, lags, results in zip(grids, kept, lag_sets, test.results, strict=True):
        for series, result in zip(members, results, strict=True):
            lag = lags[result.lag_index]
            slow, base, slow_n, base_n = _sides_at(grid, series.values, lag)
            if min(len(slow), len(base)) < min_snapshots or min(slow_n, base_n) < min_observations:
                continue
            suspect = _described(
                series.metric,
                series.labels,
                slow,
                base,
                slow_n,
                base_n,
                lag_seconds=lag * grid.step_seconds,
                source=series.source,
                unit=series.unit,
                p_value=result.p_value,
                q_value=result.adjusted,
            )
            moved = "rise" if result.sign > 0 or (result.sign == 0 and suspect.effect >= 0) else "fall"
            note: str | None = (
                None if result.tested else "not tested: too few slow steps with a value, or constant"
            )
            change = abs(suspect.median_slow - suspect.median_baseline)
            rejected = result.adjusted is not None and result.adjusted <= fdr
            if rejected:
                if not enough_episodes:
                    note = f"the test rejects, but {len(episodes)} slow episode(s) cannot support a suspect"
                elif change == 0:
                    note = "the medians did not move"
                elif change < series.min_change:
                    note = f"median change {change:.3g} below the minimum {series.min_change:g}"
                elif abs(suspect.effect) < MIN_EFFECT:
                    note = f"effect {suspect.effect:+.2f} robust sigma, below the minimum {MIN_EFFECT:g}"
            role = _role(series.direction, moved)
            if role == "consequence" and note is None:
                # The test looks along the query's causal direction; a move the other way is the slowness
                # showing (CPU idle while predictions wait), described, never named as a cause.
                note = f"moved against its query's direction ({series.direction}): a consequence, not tested"
            significant = rejected and note is None and role == "cause"
            suspect = replace(
                suspect,
                significant=significant,
                note=note,
                direction=moved,
                role=role,
                statistic=result.z if result.tested else None,
            )
            ranked.append((suspect, result.z if result.tested else -math.inf))

    for sample in model:
        slow_values, slow_w = _present(sample.slow, sample.slow_weights)
        base_values, base_w = _present(sample.baseline, sample.baseline_weights)
        if min(len(slow_values), len(base_values)) < min_snapshots:
            continue
        if min(sum(slow_w), sum(base_w)) < min_observations:
            continue
        suspect = _described(
            sample.metric,
            sample.labels,
            slow_values,
            base_values,
            sum(slow_w),
            sum(base_w),
            source=sample.source,
            kind=sample.kind,
            unit=sample.unit,
            note="per-event model metric: described, not tested (the shift test needs a step axis)",
        )
        moved = "rise" if suspect.effect >= 0 else "fall"
        ranked.append((replace(suspect, direction=moved, role="cause"), -math.inf))
    ranked += [(s, -math.inf) for s in described]

    chosen = sorted(
        ranked,
        key=lambda item: (
            item[0].role == "consequence",  # a series that moved against its causal direction follows
            not item[0].significant,
            item[0].kind != "infra",  # the question is what the infrastructure did; the model follows
            -round(item[1], 9),
            -abs(item[0].effect),
            item[0].metric,
            sorted(item[0].labels.items()),
        ),
    )
    return Ranking(
        [replace(s, rank=rank) for rank, (s, _) in enumerate(chosen, start=1)],
        test.hypotheses,
        test.shifts,
        test.window_steps,
        step,
        test.resolution,
        episodes,
        tested_lags,
        notes,
    )
