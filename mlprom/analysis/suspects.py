"""Suspects: metric series ranked by how far their values at slow predictions depart from their baseline.

Pure: plain lists in, Suspect records out. docs/correlation.md states exactly what is computed.
"""

from __future__ import annotations

import math
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
    slow_snapshots: int = 0  # distinct snapshots or steps on each side (each step counts once)
    baseline_snapshots: int = 0
    rank: int = 0
    p_value: float | None = None  # its own circular-shift p-value; None when not tested (near zero, model)
    q_value: float | None = None  # maxT-adjusted over the family (family-wise); the report's name for it
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


def effect_size(slow: Sequence[float], baseline: Sequence[float]) -> tuple[float, float, float, float]:
    """(effect, median_slow, median_baseline, mad_baseline) of two non-empty lists of finite values."""
    import numpy as np

    slow_array, base_array = np.asarray(slow, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    med_slow, med_base = float(np.median(slow_array)), float(np.median(base_array))
    raw_mad = float(np.median(np.abs(base_array - med_base)))
    floor = max(RELATIVE_MAD_FLOOR * max(abs(med_base), abs(med_slow)), ABSOLUTE_MAD_FLOOR)
    return (med_slow - med_base) / (MAD_TO_SIGMA * max(raw_mad, floor)), med_slow, med_base, raw_mad


# Near zero: at least this share of a series' values (both sides pooled) lie within min_change of 0.
NEAR_ZERO_SHARE = 0.9


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
    effect, med_slow, med_base, raw_mad = effect_size(slow, base)
    return Suspect(
        metric,
        dict(labels),
        effect,
        med_slow,
        med_base,
        raw_mad,
        slow_n,
        base_n,
        slow_snapshots=len(slow),
        baseline_snapshots=len(base),
        auc=_auc(slow, base),
        **fields,
    )


def _near_zero_grid(values: Sequence[float | None], min_change: float) -> bool:
    """True when a series' present values (both sides pooled) barely leave zero: such a series cannot show
    a change worth naming. Judged on the pooled values, never on the difference between the sides, so
    leaving these series out of the tested family does not bias the test of the others."""
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


def rank_suspects(
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
    `significance.slow_periods`); None: counted on the longest axis. Every series not near zero enters one
    family, tested by `significance.circular_shift_test` at `fdr` (maxT: the chance of any false suspect on
    a date is at most `fdr`). A series is significant when the test rejects, the date has at least
    MIN_EPISODES slow episodes, it moved in its query's causal direction, and its medians at the reported
    lag moved by more than nothing, by its min_change and by MIN_EFFECT robust sigma. Its lag is the
    shortest that holds; `direction` is how it moved; `role` is `consequence` when that is against its
    query's causal direction. Model metrics (per event, no step axis) are described, never significant.
    Rank: causes before consequences, significant first, infra before model, then the standardized
    statistic, |effect|, name and labels.
    """
    from mlprom.analysis.significance import circular_shift_test

    longest = max(grids, key=lambda g: len(g.slow), default=None)
    step = longest.step_seconds if longest is not None else 0.0
    if episodes is None:
        episodes = _episodes_on(longest)
    family = _family_of(grids, lags_seconds, min_snapshots)
    test = circular_shift_test(family.queries, fdr, min_snapshots)

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
    ranked: list[tuple[Suspect, float]] = []
    for grid, members, lags, results in zip(grids, family.kept, family.lags, test.results, strict=True):
        for series, result in zip(members, results, strict=True):
            suspect = _tested_suspect(
                grid, series, result, lags, fdr, len(episodes), min_snapshots, min_observations
            )
            if suspect is not None:
                ranked.append((suspect, result.z if result.tested else -math.inf))
    ranked += [(s, -math.inf) for s in _model_suspects(model, min_snapshots, min_observations)]
    ranked += [(s, -math.inf) for s in family.described]

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
    tested_lags = sorted(
        {k * g.step_seconds for g, lags in zip(grids, family.lags, strict=True) for k in lags}
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


def _episodes_on(grid: QueryGrid | None) -> list[tuple[float, float]]:
    """Without the events' own seconds, the slow steps of the longest axis stand for them."""
    from mlprom.analysis.significance import episodes_of

    if grid is None or not grid.times:
        return []
    out = []
    for e in episodes_of(grid.slow):
        end = grid.times[e.end] if e.end < len(grid.times) else grid.times[-1] + grid.step_seconds
        out.append((grid.times[e.start], end))
    return out


@dataclass(frozen=True)
class _Family:
    queries: list[Any]  # significance.GridQuery, one per grid
    lags: list[list[int]]  # per grid, in steps
    kept: list[list[GridSeries]]  # per grid, the series tested
    described: list[Suspect]  # near-zero series: described, left out of the family


def _family_of(grids: Sequence[QueryGrid], lags_seconds: Sequence[float], min_snapshots: int) -> _Family:
    """Every grid's series that enter the test (near-zero ones are described instead), with its lags."""
    from mlprom.analysis.significance import GridQuery, lag_steps_for

    family = _Family([], [], [], [])
    for grid in grids:
        lags = lag_steps_for(lags_seconds, grid.step_seconds, len(grid.slow))
        members = []
        for series in grid.series:
            if not _near_zero_grid(series.values, series.min_change):
                members.append(series)
                continue
            slow, base, slow_n, base_n = _sides_at(grid, series.values, 0)
            if min(len(slow), len(base)) < min_snapshots:
                continue
            zero = f"near zero on both sides (below {series.min_change:g} {series.unit or ''})"
            suspect = _described(
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
            moved = "rise" if suspect.effect >= 0 else "fall"
            family.described.append(replace(suspect, direction=moved, role=_role(series.direction, moved)))
        directions = [1 if m.direction == "rise" else -1 if m.direction == "fall" else 0 for m in members]
        family.queries.append(GridQuery(grid.slow, [m.values for m in members], lags, directions))
        family.lags.append(lags)
        family.kept.append(members)
    return family


def _tested_suspect(
    grid: QueryGrid,
    series: GridSeries,
    result: Any,  # significance.SeriesResult
    lags: list[int],
    fdr: float,
    episodes: int,
    min_snapshots: int,
    min_observations: int,
) -> Suspect | None:
    """One tested series as a Suspect at its reported lag, with the rules after the test; None when a
    side is too small to describe."""
    lag = lags[result.lag_index]
    slow, base, slow_n, base_n = _sides_at(grid, series.values, lag)
    if min(len(slow), len(base)) < min_snapshots or min(slow_n, base_n) < min_observations:
        return None
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
    note: str | None = None if result.tested else "not tested: too few slow steps with a value, or constant"
    change = abs(suspect.median_slow - suspect.median_baseline)
    rejected = result.adjusted is not None and result.adjusted <= fdr
    if rejected:
        if episodes < MIN_EPISODES:
            note = f"the test rejects, but {episodes} slow episode(s) cannot support a suspect"
        elif change == 0:
            note = "the medians did not move"
        elif change < series.min_change:
            note = f"median change {change:.3g} below the minimum {series.min_change:g}"
        elif abs(suspect.effect) < MIN_EFFECT:
            note = f"effect {suspect.effect:+.2f} robust sigma, below the minimum {MIN_EFFECT:g}"
    role = _role(series.direction, moved)
    if role == "consequence" and note is None:
        # The test looks along the query's causal direction; a move the other way is the slowness showing
        # (CPU idle while predictions wait), described, never named as a cause.
        note = f"moved against its query's direction ({series.direction}): a consequence, not tested"
    return replace(
        suspect,
        significant=rejected and note is None and role == "cause",
        note=note,
        direction=moved,
        role=role,
        statistic=result.z if result.tested else None,
    )


def _model_suspects(
    model: Iterable[SeriesSample], min_snapshots: int, min_observations: int
) -> list[Suspect]:
    """Per-event model metrics, described on each side; no step axis, so never tested."""
    out = []
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
        out.append(replace(suspect, direction="rise" if suspect.effect >= 0 else "fall", role="cause"))
    return out
