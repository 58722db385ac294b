"""Clock skew from one suspect: sub-step shifts both ways, a warning only beyond what shifting noise gains."""

from __future__ import annotations

import numpy as np

from mlprom.analysis.join import prefix_sums
from mlprom.analysis.skew import candidates_of, estimate_skew

ORIGIN = 1_764_547_200.0
STEP = 30.0
STEPS = 1440  # half a day
STARTS = (100, 330, 720, 910, 1290)  # episode starts, in steps (irregular: no shift re-aligns them)
LENGTH = 6  # steps


def _day(
    events_ahead: float, seed: int, starts: tuple[int, ...] = STARTS
) -> tuple[list[float], list[float | None], list[int], list[int]]:
    """A series that rises during five episodes, and events a second apart stamped `events_ahead`
    seconds late or early relative to it."""
    rng = np.random.default_rng(seed)
    times = [ORIGIN + STEP * t for t in range(STEPS)]
    values: list[float | None] = [float(v) for v in 50.0 + rng.normal(size=STEPS)]
    slow_bins = [0] * (STEPS * int(STEP))
    fast_bins = [1] * (STEPS * int(STEP))
    for start in starts:
        for t in range(start, start + LENGTH):
            values[t] = 80.0 + float(rng.normal())
        # Slow events over the seconds nearest to the episode's steps (a tie joins the earlier step).
        first = int(start * STEP - STEP / 2 + 1 + events_ahead)
        last = int((start + LENGTH) * STEP - STEP / 2 + 1 + events_ahead)
        for second in range(first, last):
            slow_bins[second], fast_bins[second] = 1, 0
    return times, values, prefix_sums(slow_bins), prefix_sums(fast_bins)


def test_candidates_are_sub_step_in_both_directions() -> None:
    shifts = candidates_of(STEP)
    assert shifts[0] == -60.0 and shifts[-1] == 60.0 and 0.0 in shifts
    assert sorted({b - a for a, b in zip(shifts, shifts[1:], strict=False)}) == [10.0]


def test_events_stamped_forty_seconds_ahead_are_found_and_warned_about() -> None:
    times, values, slow, fast = _day(events_ahead=40.0, seed=1)
    estimate = estimate_skew(times, values, ORIGIN, 0.0, 60.0, slow, fast, STEP)
    assert estimate is not None
    assert estimate.estimated_seconds == 40.0
    assert estimate.gain > estimate.null_gain and estimate.warning


def test_skew_is_warned_about_when_the_episodes_are_as_regular_as_the_load() -> None:
    # Hourly episodes: shifting the slow steps by an hour lands them on the signal again, where the
    # search gains from the signal; those alignments are not noise and do not set the bar.
    times, values, slow, fast = _day(events_ahead=40.0, seed=6, starts=tuple(range(60, 1440, 120)))
    estimate = estimate_skew(times, values, ORIGIN, 0.0, 60.0, slow, fast, STEP)
    assert estimate is not None and estimate.estimated_seconds == 40.0 and estimate.warning


def test_one_clock_gives_no_warning() -> None:
    for seed in range(5):
        times, values, slow, fast = _day(
            events_ahead=0.0, seed=seed, starts=STARTS if seed % 2 else (60, 180, 300)
        )
        estimate = estimate_skew(times, values, ORIGIN, 0.0, 60.0, slow, fast, STEP)
        assert estimate is not None and not estimate.warning
        assert abs(estimate.estimated_seconds) < STEP / 2


def test_a_day_without_slow_steps_has_no_estimate() -> None:
    times, values, _, fast = _day(events_ahead=0.0, seed=0)
    nothing = prefix_sums([0] * (STEPS * int(STEP)))
    assert estimate_skew(times, values, ORIGIN, 0.0, 60.0, nothing, fast, STEP) is None


def _minutes(events_ahead: int, seed: int) -> tuple[list[float], list[float | None], list[int], list[int]]:
    """Ten minutes of history at a 1 s step (AR(1), phi 0.9): three 15 s windows 60 s apart in which the
    series rises by 6 innovations' sd, and a slow event in 60% of the seconds of each window, stamped
    `events_ahead` seconds late."""
    rng = np.random.default_rng(seed)
    steps = 600
    values = np.zeros(steps)
    noise = rng.normal(size=steps)
    for t in range(1, steps):
        values[t] = 0.9 * values[t - 1] + noise[t]
    slow_bins, fast_bins = [0] * (steps + 100), [1] * (steps + 100)
    for start in (345, 405, 465):
        values[start : start + 15] += 6.0
        for second in range(start, start + 15):
            if rng.random() < 0.6:
                slow_bins[second + events_ahead], fast_bins[second + events_ahead] = 1, 0
    times = [ORIGIN + t for t in range(steps)]
    return times, [float(v) for v in values], prefix_sums(slow_bins), prefix_sums(fast_bins)


def test_minutes_of_history_at_a_fine_step_find_a_30_s_skew_and_no_false_one() -> None:
    # The bar is the search's gain at alignments whose own search cannot reach the observed one: on a
    # short history, alignments within the search of the observed one would find the signal itself and
    # set the bar at the signal's height (a 30 s skew was never warned about).
    warned, false = 0, 0
    for seed in range(20):
        ahead = estimate_skew(*_split(_minutes(30, seed)), 1.0)
        honest = estimate_skew(*_split(_minutes(0, seed)), 1.0)
        assert ahead is not None and honest is not None
        warned += ahead.warning and abs(ahead.estimated_seconds - 30.0) <= 5.0
        false += honest.warning
    assert warned >= 15 and false == 0, (warned, false)


def _split(
    day: tuple[list[float], list[float | None], list[int], list[int]],
) -> tuple[list[float], list[float | None], float, float, float, list[int], list[int]]:
    times, values, slow, fast = day
    return times, values, ORIGIN, 0.0, 300.0, slow, fast
