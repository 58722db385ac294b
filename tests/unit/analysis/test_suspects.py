"""Suspect ranking on the step grid: robust effect size, its MAD floor, minimum counts, the rules after the test."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlprom.analysis.suspects import (
    MAD_TO_SIGMA,
    MIN_OBSERVATIONS,
    GridSeries,
    QueryGrid,
    effect_size,
    median,
    rank_suspects_on_grid,
    weighted_median,
)


def test_weighted_median_equals_plain_median_for_unit_weights() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert weighted_median([(1.0, 1), (2.0, 1), (10.0, 5)]) == 10.0


def test_effect_is_median_shift_over_scaled_mad() -> None:
    baseline = [(v, 1) for v in (1.0, 2.0, 3.0, 4.0, 5.0)]  # median 3, MAD 1
    slow = [(v, 1) for v in (7.0, 7.0, 7.0)]
    effect, med_slow, med_base, mad = effect_size(slow, baseline)
    assert (med_slow, med_base, mad) == (7.0, 3.0, 1.0)
    assert effect == pytest.approx(4.0 / MAD_TO_SIGMA)


def test_flat_baseline_gives_a_finite_effect() -> None:
    effect, _, _, mad = effect_size([(2.0, 1)] * 5, [(1.0, 1)] * 5)
    assert mad == 0.0
    assert math.isfinite(effect) and effect == pytest.approx(1.0 / (MAD_TO_SIGMA * 0.02))


def test_all_zero_sides_have_zero_effect() -> None:
    effect, *_ = effect_size([(0.0, 1)] * 5, [(0.0, 1)] * 5)
    assert effect == 0.0


def _grid(slow: list[int], rows: dict[str, list[float | None]], min_change: float = 0.0) -> QueryGrid:
    times = [1_764_547_200.0 + 30.0 * t for t in range(len(slow))]
    fast = [0 if n else 1 for n in slow]
    members = [GridSeries(name, {"instance": "a"}, v, min_change=min_change) for name, v in rows.items()]
    return QueryGrid(times, slow, fast, members, 30.0)


def _slow_steps(n: int, starts: list[int], length: int, events: int = 2) -> list[int]:
    slow = [0] * n
    for start in starts:
        slow[start : start + length] = [events] * length
    return slow


def test_series_with_too_few_slow_steps_or_events_are_not_ranked() -> None:
    rng = random.Random(1)
    slow = _slow_steps(200, [50, 150], 1)  # two slow steps: below MIN_SNAPSHOTS
    few = rank_suspects_on_grid([_grid(slow, {"cpu": [rng.gauss(0, 1) for _ in range(200)]})], [0])
    assert few.suspects == [] and few.hypotheses == 0
    # Three slow steps of one event each: enough steps, fewer events than MIN_OBSERVATIONS.
    thin = _slow_steps(200, [40, 100, 160], 1, events=1)
    assert MIN_OBSERVATIONS > 3
    assert (
        rank_suspects_on_grid([_grid(thin, {"cpu": [rng.gauss(0, 1) for _ in range(200)]})], [0]).suspects
        == []
    )


def test_none_and_nan_values_are_masked_before_counting() -> None:
    slow = _slow_steps(100, [10, 40, 70], 3)
    values: list[float | None] = [float(t % 7) for t in range(100)]
    values[10], values[41] = None, math.nan  # two slow steps unmeasured
    values[0] = math.inf  # and one other step
    (suspect,) = rank_suspects_on_grid([_grid(slow, {"cpu": values})], [0]).suspects
    assert (suspect.slow_snapshots, suspect.baseline_snapshots) == (7, 90)
    assert suspect.slow_count == 14  # two events on each measured slow step


def test_planted_metric_ranks_first_among_noise() -> None:
    rng = random.Random(20261125)
    n = 1000
    slow = _slow_steps(n, [100, 350, 600, 850], 8)
    rows: dict[str, list[float | None]] = {
        name: [rng.gauss(50, 5) for _ in range(n)]
        for name in ("disk_read_io", "memory_usage", "network_receive_io", "system_load")
    }
    rows["cpu_usage"] = [rng.gauss(0.9, 0.03) if slow[t] else rng.gauss(0.4, 0.05) for t in range(n)]
    ranked = rank_suspects_on_grid([_grid(slow, rows)], [0]).suspects
    assert ranked[0].metric == "cpu_usage" and ranked[0].rank == 1 and ranked[0].effect > 5
    assert ranked[0].significant and not any(s.significant for s in ranked[1:])
    assert all(abs(s.effect) < 2 for s in ranked[1:])


def test_a_drop_counts_too_on_a_query_of_either_direction() -> None:
    rng = random.Random(2)
    n = 600
    slow = _slow_steps(n, [100, 300, 500], 6)
    down = [0.0 if slow[t] else rng.gauss(1.0, 0.05) for t in range(n)]
    (suspect,) = rank_suspects_on_grid([_grid(slow, {"down": down})], [0]).suspects
    assert suspect.significant and suspect.effect < 0
    assert (suspect.direction, suspect.role) == ("fall", "cause")  # direction both: a fall can cause


def test_a_shifted_distribution_with_an_unmoved_median_is_not_significant() -> None:
    # A discrete output: 0.25 is the median on both sides, but slow steps show more 0.5s. The test
    # rejects (the means differ); the suspect is still not named, since its median did not move.
    rng = random.Random(3)
    n = 2000
    slow = _slow_steps(n, list(range(50, 2000, 200)), 10)
    values: list[float | None] = [
        rng.choice([0.25] * 6 + [0.5] * 4) if slow[t] else rng.choice([0.0] * 3 + [0.25] * 6 + [0.5])
        for t in range(n)
    ]
    (suspect,) = rank_suspects_on_grid([_grid(slow, {"outputs": values})], [0]).suspects
    assert suspect.median_slow == suspect.median_baseline == 0.25
    assert suspect.q_value is not None and suspect.q_value <= 0.05
    assert not suspect.significant
    assert suspect.note == "the medians did not move"


def test_a_shift_below_half_a_robust_sigma_is_not_significant_however_small_q() -> None:
    # Many slow steps make a small shift clear to the test; it cannot explain slow predictions.
    rng = random.Random(4)
    n = 6000
    slow = _slow_steps(n, list(range(0, 6000, 200)), 40)
    values: list[float | None] = [rng.uniform(0, 100) + (8.0 if slow[t] else 0.0) for t in range(n)]
    (suspect,) = rank_suspects_on_grid([_grid(slow, {"queue_depth": values}, min_change=0.5)], [0]).suspects
    assert suspect.q_value is not None and suspect.q_value <= 0.05
    assert 0 < suspect.effect < 0.5
    assert not suspect.significant
    assert suspect.note is not None and "below the minimum 0.5" in suspect.note


def test_a_near_zero_series_is_described_but_left_out_of_the_family() -> None:
    slow = _slow_steps(300, [50, 150, 250], 5)
    quiet: list[float | None] = [13.0 if slow[t] else 0.0 for t in range(300)]  # bytes/s: barely moving
    ranking = rank_suspects_on_grid([_grid(slow, {"net": quiet}, min_change=102400.0)], [0])
    (suspect,) = ranking.suspects
    assert ranking.hypotheses == 0 and suspect.p_value is None and not suspect.significant
    assert suspect.note is not None and suspect.note.startswith("near zero")


_FINITE = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.one_of(_FINITE, st.sampled_from([0.0, -0.0, 1.5, 1.5, 3.0])), min_size=1, max_size=60)
)
def test_the_mad_from_sorted_runs_is_the_mad(values: list[float]) -> None:
    from mlprom.analysis.suspects import _mad_of_sorted, _median_of_sorted, median

    ordered = sorted(values)
    center = _median_of_sorted(ordered)
    assert _mad_of_sorted(ordered, center) == median([abs(v - center) for v in values])


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.one_of(_FINITE, st.none(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308])),
            st.integers(min_value=0, max_value=3),
        ),
        max_size=30,
    ),
    weighted=st.booleans(),
)
def test_present_keeps_exactly_the_measured_values_with_positive_weight(
    pairs: list[tuple[float | None, int]], weighted: bool
) -> None:
    from mlprom.analysis.suspects import _present

    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs] if weighted else None
    kept, kept_weights = _present(values, weights)
    expected = [
        (v, w if weighted else 1)
        for v, w in pairs
        if v is not None and math.isfinite(v) and (w > 0 or not weighted)
    ]
    assert list(zip(kept, kept_weights, strict=True)) == expected
