"""Suspect ranking over plain lists: robust effect size, its MAD floor, minimum counts, a planted signal."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlprom.analysis.suspects import (
    MAD_TO_SIGMA,
    MIN_OBSERVATIONS,
    SeriesSample,
    effect_size,
    median,
    rank_suspects,
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


def test_series_with_too_few_observations_are_not_ranked() -> None:
    few = SeriesSample("cpu", {}, [1.0] * (MIN_OBSERVATIONS - 1), [0.0, 0.1, 0.2, 0.3, 0.4])
    enough = SeriesSample("mem", {}, [1.0, 1.1, 1.2, 1.3, 1.4], [0.0, 0.1, 0.2, 0.3, 0.4])
    assert [s.metric for s in rank_suspects([few, enough])[0]] == ["mem"]


def test_many_events_on_one_snapshot_are_not_enough_snapshots() -> None:
    one_snapshot = SeriesSample("cpu", {}, [9.0], [0.0, 0.1, 0.2, 0.3, 0.4], slow_weights=[50])
    assert rank_suspects([one_snapshot]) == ([], 0)


def test_none_and_nan_values_are_dropped_before_counting() -> None:
    sample = SeriesSample(
        "cpu", {}, [1.0, None, math.nan, 1.0, 1.0, 1.0, 1.0], [0.0, 0.1, None, 0.2, 0.3, 0.4]
    )
    (suspect,), _ = rank_suspects([sample])
    assert (suspect.slow_count, suspect.baseline_count) == (5, 5)


def test_planted_metric_ranks_first_among_noise() -> None:
    rng = random.Random(20261125)
    samples = []
    for name in ("disk_read_io", "memory_usage", "network_receive_io", "system_load"):
        samples.append(
            SeriesSample(
                name,
                {"instance": "a"},
                [rng.gauss(50, 5) for _ in range(30)],
                [rng.gauss(50, 5) for _ in range(300)],
            )
        )
    samples.append(
        SeriesSample(
            "cpu_usage",
            {"instance": "a"},
            [rng.gauss(0.9, 0.03) for _ in range(30)],
            [rng.gauss(0.4, 0.05) for _ in range(300)],
        )
    )
    ranked, _ = rank_suspects(samples)
    assert ranked[0].metric == "cpu_usage" and ranked[0].rank == 1 and ranked[0].effect > 5
    assert all(abs(s.effect) < 2 for s in ranked[1:])


def test_ranking_uses_absolute_effect_so_drops_count_too() -> None:
    up = SeriesSample("up", {}, [1.2] * 5, [1.0, 1.05, 0.95, 1.0, 1.0])
    down = SeriesSample("down", {}, [0.0] * 5, [1.0, 1.05, 0.95, 1.0, 1.0])
    ranked, _ = rank_suspects([up, down])
    assert [s.metric for s in ranked] == ["down", "up"] and ranked[0].effect < 0


def test_a_shifted_distribution_with_an_unmoved_median_is_not_significant() -> None:
    # A discrete output: 0.25 is the median on both sides, but the slow side has more 0.5s. The test
    # rejects (the distributions differ); the suspect is still not named, since its median did not move.
    slow = [0.25] * 30 + [0.5] * 25
    baseline = [0.0] * 25 + [0.25] * 60 + [0.5] * 10
    sample = SeriesSample("outputs_mean", {}, slow, baseline, kind="model", source="model")
    suspects, _ = rank_suspects([sample])
    (suspect,) = suspects
    assert suspect.median_slow == suspect.median_baseline == 0.25
    assert suspect.q_value is not None and suspect.q_value < 0.05
    assert not suspect.significant
    assert suspect.note == "the medians did not move"


def test_a_shift_below_half_a_robust_sigma_is_not_significant_however_small_q() -> None:
    # Thousands of points make a tiny shift "significant" to the test; it cannot explain slow predictions.
    baseline = [float(i % 100) for i in range(5000)]
    slow = [float(i % 100) + 6.0 for i in range(5000)]  # median +6 on a MAD of 25: about 0.16 sigma
    sample = SeriesSample("queue_depth", {}, slow, baseline, unit="tasks", min_change=0.5)
    (suspect,), _ = rank_suspects([sample])
    assert suspect.q_value is not None and suspect.q_value < 1e-6
    assert 0 < suspect.effect < 0.5
    assert not suspect.significant
    assert suspect.note is not None and "below the minimum 0.5" in suspect.note


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
