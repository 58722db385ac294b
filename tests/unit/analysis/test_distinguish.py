"""What told slow from fast predictions, on plain lists: the AUC, the stated rule, hour windows, versions and
the bounds of the accumulated sides."""

from __future__ import annotations

import random
from array import array

import pytest

from mlprom.analysis import distinguish
from mlprom.analysis.distinguish import (
    MAX_FEATURES,
    MAX_VALUES,
    MAX_VERSIONS,
    Distinction,
    SlowFactors,
    auc,
    compare_numbers,
    compare_versions,
    hour_counts,
    hour_window,
    short_name,
)
from mlprom.analysis.drift import Finite


def _finite(values: list[float]) -> Finite:
    return Finite.of(array("d", values))


def test_auc_is_the_mann_whitney_u_over_the_pairs() -> None:
    from scipy.stats import mannwhitneyu

    rng = random.Random(7)
    slow = [rng.choice([1, 2, 3, 4, 8]) for _ in range(40)]  # ties on both sides
    fast = [rng.choice([1, 2, 3]) for _ in range(70)]
    u = mannwhitneyu(slow, fast, alternative="two-sided").statistic
    assert auc(slow, fast) == pytest.approx(u / (40 * 70))
    assert auc([2, 3], [1]) == 1.0 and auc([1], [2, 3]) == 0.0 and auc([1, 1], [1, 1]) == 0.5
    assert auc([], [1.0]) == 0.5


def test_larger_slow_batches_distinguish_with_medians_and_counts() -> None:
    found = compare_numbers("rows", None, [512] * 9 + [256], [8] * 49 + [600])
    assert found is not None and found.distinguishing
    assert (found.slow, found.fast, found.slow_events, found.fast_events) == (512, 8, 10, 50)
    assert found.auc == pytest.approx((9 * 49 + 49) / 500)  # 512 and 256 beat every 8, not the 600


@pytest.mark.parametrize(
    ("slow", "fast", "expected"),
    [
        ([2.0] * 10, [1.0] * 10, True),  # AUC 1 with ten a side
        ([2.0] * 9, [1.0] * 50, False),  # nine slow events are too few, whatever the effect
        ([1.0] * 10, [2.0] * 10, True),  # AUC 0: smaller, as distinguishing as larger
        ([2.0] * 40, [1.0] * 9, False),  # AUC 1 but nine fast events
        ([2] * 5 + [1] * 15, [1] * 20, False),  # AUC 0.625: below the rule
        ([3] * 10 + [1] * 10, [2] * 20, False),  # AUC exactly 0.5
    ],
)
def test_the_rule_is_an_auc_of_at_least_075_or_at_most_025_with_ten_a_side(
    slow: list[float], fast: list[float], expected: bool
) -> None:
    found = compare_numbers("rows", None, slow, fast)
    assert found is not None and found.distinguishing is expected


def test_the_rule_includes_its_bounds() -> None:
    fast = [1.5] * 12
    for above, effect, expected in ((9, 0.75, True), (8, 2 / 3, False), (3, 0.25, True), (4, 1 / 3, False)):
        found = compare_numbers("rows", None, [2.0] * above + [1.0] * (12 - above), fast)
        assert found is not None and found.auc == pytest.approx(effect) and found.distinguishing is expected


def test_a_side_without_values_compares_nothing() -> None:
    assert compare_numbers("rows", None, [], [1.0]) is None


def test_versions_compare_each_versions_share_of_each_side() -> None:
    found = {d.name: d for d in compare_versions({"2": 18, "1": 2}, {"1": 90, "2": 10})}
    assert (found["2"].slow, found["2"].fast) == (0.9, 0.1)
    assert found["2"].auc == pytest.approx(0.9) and found["2"].distinguishing
    assert found["1"].auc == pytest.approx(0.1) and found["1"].distinguishing
    assert (found["2"].slow_events, found["2"].fast_events) == (20, 100)


def test_one_version_is_no_comparison_and_many_are_capped() -> None:
    assert compare_versions({"1": 10}, {"1": 100}) == []
    many = {f"v{i:03d}": i + 1 for i in range(50)}
    found = compare_versions(many, many)
    assert len(found) == MAX_VERSIONS and found[0].name == "v049"  # the most frequent


def test_slow_predictions_concentrated_in_two_hours_are_named() -> None:
    slow, fast = [0] * 24, [10] * 24
    slow[14], slow[15] = 12, 8
    found = hour_window(slow, fast)
    assert found is not None and found.distinguishing
    assert (found.name, found.hours, found.slow) == ("14:00-16:00", (14, 15), 1.0)
    assert found.fast == pytest.approx(2 / 24)


def test_an_hour_window_may_wrap_at_midnight() -> None:
    slow, fast = [0] * 24, [5] * 24
    slow[23], slow[0] = 6, 6  # twelve slow events
    found = hour_window(slow, fast)
    assert found is not None and (found.name, found.hours) == ("23:00-01:00", (23, 0))


def test_slow_predictions_spread_like_the_fast_ones_are_no_window() -> None:
    found = hour_window([4] * 24, [10] * 24)
    assert found is not None and not found.distinguishing and found.auc == pytest.approx(0.5)


def test_a_window_needs_ten_slow_events_inside_it() -> None:
    slow, fast = [0] * 24, [10] * 24
    slow[3], slow[15] = 9, 1
    found = hour_window(slow, fast)
    assert found is not None and found.auc > 0.75 and not found.distinguishing


def test_hour_counts_sum_each_hour_of_the_seconds() -> None:
    per_second = [0] * 86_400
    per_second[0] = 1
    per_second[3599] = 2
    per_second[3600] = 5
    per_second[86_399] = 7
    assert hour_counts(per_second)[:2] == [3, 5] and hour_counts(per_second)[23] == 7


def test_slow_factors_keep_at_most_max_features_and_max_values() -> None:
    factors = SlowFactors()
    for chunk in range(5):
        inputs = {f"f{chunk * 10 + i}": (_finite([1.0] * 600), _finite([0.0] * 600)) for i in range(10)}
        factors.add((_finite([512.0] * 600), _finite([8.0] * 600)), {"1": (600, 0)}, inputs)
    assert len(factors.inputs) == MAX_FEATURES and "f0" in factors.inputs and "f20" not in factors.inputs
    assert all(len(s.values) <= MAX_VALUES for sides in factors.inputs.values() for s in sides)
    assert len(factors.rows[0].values) == MAX_VALUES and factors.rows[0].seen == 3000
    found = factors.distinctions([0] * 24, [0] * 24)
    assert len(found) == 1 + MAX_FEATURES  # rows and the features; no hours (no events counted), one version
    assert found[0].distinguishing and all(d.distinguishing for d in found)


def test_slow_factors_count_versions_per_side() -> None:
    factors = SlowFactors()
    factors.add(None, {"1": (1, 40), "2": (9, 2)}, {})
    factors.add(None, {"2": (10, 8)}, {})
    assert factors.versions == ({"1": 1, "2": 19}, {"1": 40, "2": 10})
    factors = SlowFactors()
    for i in range(distinguish.MAX_VERSIONS_COUNTED + 50):
        factors.add(None, {f"run:{i}": (1, 1)}, {})
    assert len(factors.versions[0]) == distinguish.MAX_VERSIONS_COUNTED


def test_distinguishing_factors_come_first_by_effect() -> None:
    factors = SlowFactors()
    factors.add(
        (_finite([512.0] * 10), _finite([8.0] * 50)),
        {},
        {"a": (_finite([1.0] * 10), _finite([1.0] * 50)), "b": (_finite([0.0] * 10), _finite([5.0] * 50))},
    )
    found = factors.distinctions([0] * 24, [0] * 24)
    assert [(d.factor, d.name, d.distinguishing) for d in found] == [
        ("rows", None, True),
        ("input", "b", True),
        ("input", "a", False),
    ]


def test_long_names_are_cut_and_marked() -> None:
    assert short_name("x" * 80) == "x" * 80
    cut = short_name("y" * 10_000)
    assert len(cut) == 80 and cut.endswith("…")


def test_a_distinction_reads_back_as_written_and_a_bad_one_is_refused() -> None:
    hours = hour_window([0] * 14 + [9] + [0] * 9, [3] * 24)
    assert hours is not None
    for d in (hours, Distinction("input", "x", "median", 2.5, 1, 0.9, 10, 20, True)):
        assert Distinction.from_dict(d.to_dict()) == d
    good = hours.to_dict()
    for bad in ({**good, "factor": "weather"}, {**good, "auc": "high"}, {**good, "slow_events": -1}, []):
        with pytest.raises((TypeError, ValueError)):
            Distinction.from_dict(bad)
