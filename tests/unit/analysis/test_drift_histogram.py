"""Histograms of reference vs current on shared bins, as the HTML report draws them."""

from __future__ import annotations

import math
import random

import pytest

from mlprom.analysis.drift import HISTOGRAM_BINS, histogram


def test_continuous_values_get_equal_width_bins_over_both_sides() -> None:
    rng = random.Random(1)
    reference = [rng.gauss(0.0, 1.0) for _ in range(5000)]
    current = [rng.gauss(3.0, 1.0) for _ in range(3000)]
    h = histogram(reference, current)
    assert len(h.edges) == HISTOGRAM_BINS + 1 and len(h.reference) == len(h.current) == HISTOGRAM_BINS
    assert h.edges[0] == min(reference + current) and h.edges[-1] == max(reference + current)
    widths = {round(b - a, 9) for a, b in zip(h.edges, h.edges[1:], strict=False)}
    assert len(widths) == 1
    assert sum(h.reference) == 5000 and sum(h.current) == 3000  # the largest value lands in the last bin
    # The shift shows: the current side's mass sits to the right of the reference's.
    centre = lambda counts: sum(c * i for i, c in enumerate(counts)) / sum(counts)  # noqa: E731
    assert centre(h.current) > centre(h.reference) + 5


def test_discrete_values_get_one_bin_each_centred_on_the_value() -> None:
    h = histogram([0.0] * 70 + [1.0] * 30, [0.0] * 40 + [1.0] * 50 + [2.0] * 10)
    assert h.edges == (-0.5, 0.5, 1.5, 2.5)
    assert h.reference == (70, 30, 0) and h.current == (40, 50, 10)


def test_a_single_repeated_value_still_has_a_bin() -> None:
    h = histogram([0.25] * 10, [0.25] * 4)
    assert h.edges == (-0.25, 0.75) and h.reference == (10,) and h.current == (4,)


def test_non_finite_values_are_left_out() -> None:
    h = histogram([1.0, math.nan, 2.0, math.inf], [1.0, -math.inf])
    assert sum(h.reference) == 2 and sum(h.current) == 1


def test_no_values_at_all_is_an_error_not_an_empty_picture() -> None:
    with pytest.raises(ValueError):
        histogram([], [])


def test_to_dict_is_the_report_schema() -> None:
    assert histogram([0.0, 1.0], [1.0]).to_dict() == {
        "edges": [-0.5, 0.5, 1.5],
        "reference": [1, 1],
        "current": [0, 1],
        "scale": "linear",
    }


def test_positive_values_over_a_wide_range_get_log_spaced_bins() -> None:
    rng = random.Random(2)
    fast = [rng.uniform(0.05, 0.4) for _ in range(990)]
    slow = [rng.uniform(10.5, 14.0) for _ in range(10)]
    h = histogram(fast, fast[:500] + slow)
    assert h.scale == "log" and h.edges[0] == min(fast) and h.edges[-1] == max(slow)
    ratios = {round(b / a, 6) for a, b in zip(h.edges, h.edges[1:], strict=False)}
    assert len(ratios) == 1
    # The bulk spreads over many bins instead of filling one, and the slow tail has bins of its own.
    assert sum(1 for c in h.reference if c) >= 10
    assert sum(h.current[-5:]) == 10
