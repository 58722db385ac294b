"""The pure-Python Mann-Whitney U and Benjamini-Hochberg against scipy, and BH on a planted family."""

from __future__ import annotations

import random

import pytest
from scipy.stats import false_discovery_control, mannwhitneyu

from mlprom.analysis.significance import benjamini_hochberg, mann_whitney


@pytest.mark.parametrize("seed", range(6))
def test_mann_whitney_p_values_equal_scipys(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        n1, n2 = rng.randint(1, 14), rng.randint(1, 60)
        if rng.random() < 0.5:
            n1, n2 = n2, n1
        ties = rng.random() < 0.4  # integer values: many ties, the tie-corrected normal approximation
        x = [float(rng.randint(0, 6)) if ties else rng.gauss(0.0, 1.0) for _ in range(n1)]
        y = [float(rng.randint(0, 6)) if ties else rng.gauss(0.4, 1.0) for _ in range(n2)]
        ours = mann_whitney(x, y)
        theirs = mannwhitneyu(x, y, alternative="two-sided")
        assert ours.u1 == pytest.approx(float(theirs.statistic), abs=1e-9)
        assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-9, abs=1e-300)


def test_exact_distribution_is_used_for_small_samples_without_ties() -> None:
    x, y = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0, 8.0]
    ours = mann_whitney(x, y)
    assert ours.method == "exact" and ours.p_value == pytest.approx(mannwhitneyu(x, y).pvalue, rel=1e-12)
    assert ours.auc == 0.0  # every x below every y


def test_all_values_equal_is_p_one() -> None:
    assert mann_whitney([1.0] * 20, [1.0] * 30).p_value == 1.0


def test_benjamini_hochberg_equals_scipy() -> None:
    rng = random.Random(3)
    p = [rng.random() ** 4 for _ in range(200)]
    q = benjamini_hochberg(p)
    assert q == pytest.approx(list(false_discovery_control(p, method="bh")), rel=1e-12)


def test_benjamini_hochberg_finds_the_planted_and_few_false_ones() -> None:
    """900 true nulls (uniform p) and 100 planted effects (tiny p): at q <= 0.05 nearly all planted are
    found and the share of false discoveries among the discoveries stays near or under 5%."""
    rng = random.Random(11)
    planted = [rng.random() * 1e-4 for _ in range(100)]
    nulls = [rng.random() for _ in range(900)]
    q = benjamini_hochberg(planted + nulls)
    found = [i for i, value in enumerate(q) if value <= 0.05]
    false = [i for i in found if i >= 100]
    assert sum(1 for i in found if i < 100) == 100
    assert len(false) / len(found) <= 0.05


def test_no_effect_at_all_gives_no_discovery() -> None:
    rng = random.Random(5)
    q = benjamini_hochberg([rng.random() for _ in range(500)])
    assert min(q) > 0.05
