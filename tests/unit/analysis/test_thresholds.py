"""Threshold evaluation over plain lists: levels, directions, worst values, NaN and None."""

from __future__ import annotations

import math

from mlprom.analysis.thresholds import BreachTracker, ThresholdLevels, crossed, evaluate


def test_above_reports_the_highest_level_reached() -> None:
    assert crossed(0.95, 0.7, 0.9, "above") == ("critical", 0.9)
    assert crossed(0.8, 0.7, 0.9, "above") == ("warning", 0.7)
    assert crossed(0.5, 0.7, 0.9, "above") is None


def test_below_direction_mirrors_above() -> None:
    assert crossed(0.5, 0.9, 0.8, "below") == ("critical", 0.8)
    assert crossed(0.85, 0.9, 0.8, "below") == ("warning", 0.9)
    assert crossed(0.95, 0.9, 0.8, "below") is None


def test_reaching_the_level_counts_as_crossing_it() -> None:
    assert crossed(0.7, None, 0.7, "above") == ("critical", 0.7)
    assert crossed(0.8, None, 0.8, "below") == ("critical", 0.8)


def test_breach_keeps_worst_value_and_first_and_last_times() -> None:
    levels = ThresholdLevels(warning=5.0, critical=10.0)
    breach = evaluate([(1.0, 1.0), (2.0, 6.0), (3.0, 12.0), (4.0, 7.0), (5.0, 2.0)], levels)
    assert breach is not None
    assert (breach.severity, breach.value, breach.threshold) == ("critical", 12.0, 10.0)
    assert (breach.first_seen, breach.last_seen, breach.count) == (2.0, 4.0, 3)


def test_breach_severity_is_warning_when_critical_never_reached() -> None:
    breach = evaluate([(1.0, 6.0), (2.0, 7.0)], ThresholdLevels(warning=5.0, critical=10.0))
    assert breach is not None and (breach.severity, breach.value, breach.threshold) == ("warning", 7.0, 5.0)


def test_below_breach_keeps_the_lowest_value() -> None:
    breach = evaluate([(1.0, 0.9), (2.0, 0.6), (3.0, 0.75)], ThresholdLevels(critical=0.8, direction="below"))
    assert breach is not None and (breach.value, breach.count, breach.direction) == (0.6, 2, "below")


def test_none_and_nan_never_breach() -> None:
    levels = ThresholdLevels(critical=-1.0)  # every real number is above -1
    assert evaluate([(1.0, None), (2.0, math.nan)], levels) is None
    breach = evaluate([(1.0, None), (2.0, math.nan), (3.0, 0.0)], levels)
    assert breach is not None and breach.count == 1


def test_slow_events_are_summed_over_breaching_values_only() -> None:
    tracker = BreachTracker(ThresholdLevels(critical=1.0))
    tracker.add(2.0, 1.0, 3)
    tracker.add(0.5, 2.0, 100)
    tracker.add(1.5, 3.0, 4)
    breach = tracker.breach()
    assert breach is not None and breach.slow_events == 7


def test_out_of_order_times_still_give_first_and_last() -> None:
    breach = evaluate([(5.0, 2.0), (1.0, 2.0), (9.0, 2.0), (3.0, 2.0)], ThresholdLevels(critical=1.0))
    assert breach is not None and (breach.first_seen, breach.last_seen) == (1.0, 9.0)


def test_nothing_past_any_level_is_no_breach() -> None:
    assert evaluate([(1.0, 0.1), (2.0, 0.2)], ThresholdLevels(warning=0.5)) is None
