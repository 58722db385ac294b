"""The drift statistics over plain lists: reservoir sampling, PSI, KS/Wasserstein and the finding rule."""

from __future__ import annotations

import math
import random

import pytest

from mlprom.analysis.drift import Comparison, Reservoir, compare, flatten_numbers, judge, psi
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


def test_flatten_numbers_flattens_multi_output_and_skips_non_numbers() -> None:
    assert flatten_numbers([1, [2.5, [3]], "cat", None, math.nan, True]) == [1.0, 2.5, 3.0, 1.0]


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
