"""The drift statistics over plain lists: reservoir sampling, PSI, KS/Wasserstein and the finding rule."""

from __future__ import annotations

import math
import random

import pytest

from mlprom.analysis.drift import (
    Combiner,
    Comparison,
    Reservoir,
    Sample,
    allocate,
    combine,
    compare,
    judge,
    psi,
)
from mlprom.analysis.thresholds import ThresholdLevels


def test_reservoir_never_holds_more_than_its_size_and_counts_exactly() -> None:
    reservoir = Reservoir(size=100, seed=1)
    for start in range(0, 100_000, 7_000):
        reservoir.extend(range(start, min(start + 7_000, 100_000)))

    assert len(reservoir.values) == 100
    assert reservoir.seen == 100_000
    assert reservoir.mean == pytest.approx(49_999.5)


def test_reservoir_samples_uniformly_across_the_stream() -> None:
    reservoir = Reservoir(size=2_000, seed=7)
    for value in range(200_000):
        reservoir.add(value)

    # Each quarter of the stream should hold about a quarter of the sample (fixed seed: no flakiness).
    quarters = [sum(1 for v in reservoir.values if q * 50_000 <= v < (q + 1) * 50_000) for q in range(4)]
    assert all(400 <= n <= 600 for n in quarters), quarters


def test_reservoir_is_deterministic_for_a_seed_and_drops_non_finite_values() -> None:
    a, b = Reservoir(size=50, seed=3), Reservoir(size=50, seed=3)
    data = [float(i) for i in range(10_000)] + [math.nan, math.inf]
    a.extend(data)
    b.extend(data)

    assert a.values == b.values
    assert a.seen == 10_000


def _day(values: list[float], size: int, seed: int) -> Sample:
    reservoir = Reservoir(size, seed)
    reservoir.extend(values)
    return reservoir.sample()


def test_allocate_is_proportional_and_sums_to_the_size() -> None:
    assert allocate([10, 20, 30], 100) == [10, 20, 30]  # everything fits: all of it
    assert allocate([1, 1, 1], 2) == [1, 1, 0]  # ties go to the earlier part
    shares = allocate([100_000, 10_000, 3, 0], 1_000)
    assert sum(shares) == 1_000 and shares[3] == 0
    assert shares[0] == pytest.approx(1_000 * 100_000 / 110_003, abs=1)
    assert shares[1] == pytest.approx(1_000 * 10_000 / 110_003, abs=1)


def test_combining_samples_that_fit_keeps_the_whole_union_and_exact_sums() -> None:
    days = [_day([float(i + 10 * d) for i in range(10)], 100, d) for d in range(3)]

    combined = combine(days, size=100, seed=1)

    assert sorted(combined.values) == [float(i) for i in range(30)]
    assert combined.seen == 30 and combined.total == math.fsum(range(30))
    assert combined.mean == pytest.approx(14.5)


def test_each_day_weighs_in_proportion_to_its_seen_count_not_its_sample_size() -> None:
    # Both days store a full 1,000-value sample, but the first stands for ten times the values.
    busy = _day([0.0] * 100_000, 1_000, 1)
    quiet = _day([1.0] * 10_000, 1_000, 2)

    combined = combine([busy, quiet], size=1_000, seed=3)

    assert len(combined.values) == 1_000
    assert combined.values.count(1.0) == round(1_000 * 10_000 / 110_000)
    assert combined.seen == 110_000 and combined.mean == pytest.approx(10_000 / 110_000)


def test_a_combined_sample_matches_one_reservoir_over_every_day() -> None:
    rng = random.Random(5)
    streams = [[rng.gauss(d * 0.1, 1.0) for _ in range(rng.randint(2_000, 20_000))] for d in range(7)]
    whole = Reservoir(2_000, 9)
    for stream in streams:
        whole.extend(stream)

    combined = combine((_day(s, 2_000, d) for d, s in enumerate(streams)), size=2_000, seed=4)

    assert len(combined.values) == 2_000 and combined.seen == whole.seen
    assert combined.mean == pytest.approx(whole.mean, rel=1e-12)
    stats = compare(whole.values, list(combined.values))
    assert stats.ks_pvalue > 0.01 and stats.psi < 0.02  # two samples of the same union


def test_combining_is_deterministic_and_never_holds_more_than_its_size() -> None:
    days = [_day([float(i) for i in range(d * 1_000, d * 1_000 + 5_000)], 500, d) for d in range(30)]
    combiner = Combiner(size=500, seed=2)
    for day in days:
        combiner.add(day)
        assert sum(len(part) for part in combiner._parts) <= 500

    assert combiner.result() == combine(days, size=500, seed=2)
    assert combine(days, size=500, seed=2) != combine(days, size=500, seed=3)


def test_a_part_smaller_than_its_share_gives_all_it_has() -> None:
    thin = Sample((5.0,) * 10, seen=10_000, total=50_000.0)  # stored with a smaller sample size
    full = _day([1.0] * 1_000, 1_000, 1)

    combined = combine([thin, full], size=1_000, seed=1)

    assert combined.values.count(5.0) == 10
    assert combined.seen == 11_000 and combined.total == 51_000.0


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = random.Random(0)
    reference = [rng.gauss(0, 1) for _ in range(20_000)]
    same = [rng.gauss(0, 1) for _ in range(20_000)]
    shifted = [rng.gauss(1, 1) for _ in range(20_000)]

    assert psi(reference, same) < 0.01
    assert psi(reference, shifted) > 0.5


def test_psi_gives_discrete_values_a_bin_each() -> None:
    reference = [0.0] * 700 + [1.0] * 300
    assert psi(reference, [0.0] * 700 + [1.0] * 300) == pytest.approx(0.0)
    # 70/30 -> 30/70: (0.3-0.7)ln(0.3/0.7) + (0.7-0.3)ln(0.7/0.3)
    assert psi(reference, [0.0] * 300 + [1.0] * 700) == pytest.approx(0.8 * math.log(7 / 3))


def test_psi_stays_finite_when_current_falls_outside_the_reference() -> None:
    value = psi([float(i) for i in range(100)], [1_000.0] * 100, bins=10)
    # Every current value in the top bin (10% of the reference), epsilon in the other nine.
    expected = (1 - 0.1) * math.log(1 / 0.1) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert value == pytest.approx(expected)


def test_compare_reports_ks_and_wasserstein() -> None:
    rng = random.Random(1)
    reference = [rng.gauss(0, 1) for _ in range(5_000)]
    shifted = [v + 2.0 for v in reference]

    result = compare(reference, shifted)

    assert result.wasserstein == pytest.approx(2.0)
    assert result.ks_pvalue < 1e-10 and result.ks_statistic > 0.5


def test_default_rule_needs_both_psi_and_ks() -> None:
    noisy_small_sample = Comparison(psi=0.3, ks_statistic=0.2, ks_pvalue=0.2, wasserstein=0.1)
    tiny_shift_huge_sample = Comparison(psi=0.02, ks_statistic=0.01, ks_pvalue=1e-9, wasserstein=0.01)
    moderate = Comparison(psi=0.15, ks_statistic=0.1, ks_pvalue=1e-6, wasserstein=0.2)
    large = Comparison(psi=0.4, ks_statistic=0.3, ks_pvalue=1e-30, wasserstein=1.0)

    assert judge(noisy_small_sample, {}) == []
    assert judge(tiny_shift_huge_sample, {}) == []
    [warning] = judge(moderate, {})
    assert (warning.severity, warning.metric, warning.threshold) == ("warning", "drift_psi", 0.1)
    [critical] = judge(large, {})
    assert (critical.severity, critical.threshold) == ("critical", 0.25)


def test_configured_drift_thresholds_replace_the_default_rule() -> None:
    comparison = Comparison(psi=0.3, ks_statistic=0.2, ks_pvalue=0.005, wasserstein=0.7)
    thresholds = {
        "drift_ks_pvalue": ThresholdLevels(critical=0.01, direction="below"),
        "drift_wasserstein": ThresholdLevels(warning=0.5),
        "accuracy_drop": ThresholdLevels(warning=0.05, critical=0.1),
        "cpu_usage": ThresholdLevels(critical=0.7),
    }

    verdicts = {v.metric: v for v in judge(comparison, thresholds, accuracy_drop=0.12)}

    assert set(verdicts) == {
        "drift_ks_pvalue",
        "drift_wasserstein",
        "accuracy_drop",
    }  # no drift_psi: not configured
    assert (
        verdicts["drift_ks_pvalue"].severity == "critical"
        and verdicts["drift_ks_pvalue"].direction == "below"
    )
    assert verdicts["accuracy_drop"].severity == "critical"
    assert verdicts["drift_wasserstein"].severity == "warning"


def test_accuracy_drop_is_skipped_where_there_is_none() -> None:
    comparison = Comparison(psi=0.0, ks_statistic=0.0, ks_pvalue=1.0, wasserstein=0.0)
    assert judge(comparison, {"accuracy_drop": ThresholdLevels(critical=0.1)}, accuracy_drop=None) == []


def test_ks_and_wasserstein_agree_with_scipy() -> None:
    # scipy arrives with the MLflow extra in the test install; the lean install computes without it.
    import numpy as np
    from scipy.stats import ks_2samp, wasserstein_distance

    rng = np.random.default_rng(0)
    for trial in range(200):
        n, m = (int(k) for k in rng.integers(50, 3000, size=2))
        a = rng.normal(size=n)
        b = rng.normal(loc=rng.uniform(0.0, 0.4), scale=rng.uniform(0.8, 1.2), size=m)
        if trial % 3 == 0:  # ties, as in rounded latencies or class outputs
            a, b = np.round(a, 1), np.round(b, 1)
        mine = compare(a.tolist(), b.tolist())
        theirs = ks_2samp(a, b)
        assert mine.ks_statistic == pytest.approx(float(theirs.statistic), abs=1e-12)
        assert abs(mine.ks_pvalue - float(theirs.pvalue)) <= 0.02
        if 1e-6 < theirs.pvalue < 0.05:  # where thresholds sit, within 5% of the exact p-value
            assert mine.ks_pvalue == pytest.approx(float(theirs.pvalue), rel=0.05)
        assert mine.wasserstein == pytest.approx(float(wasserstein_distance(a, b)), rel=1e-9, abs=1e-12)


def test_kolmogorov_tail_is_one_near_zero_and_vanishes_far_out() -> None:
    from mlprom.analysis.drift import kolmogorov_sf

    assert kolmogorov_sf(0.0) == 1.0 and kolmogorov_sf(0.1) == 1.0
    assert kolmogorov_sf(1.36) == pytest.approx(0.0495, abs=5e-4)  # the classic 5% point
    assert 0.0 <= kolmogorov_sf(10.0) < 1e-80
