"""The circular time-shift test: its statistic, its calibration on autocorrelated null days, lags, roles."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mlprom.analysis.shift_test import (
    Episode,
    GridQuery,
    circular_shift_test,
    episodes_of,
    lag_steps_for,
    shift_statistics,
    slow_periods,
)
from mlprom.analysis.suspects import GridSeries, QueryGrid, SeriesSample, Suspect, rank_suspects_on_grid

BENCH = Path(__file__).resolve().parents[3] / "bench" / "significance_calibration.py"


def _calibration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("significance_calibration", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _grid(
    slow: list[int], rows: dict[str, list[float | None]], direction: str = "both", step: float = 30.0
) -> QueryGrid:
    times = [1_764_547_200.0 + step * t for t in range(len(slow))]
    fast = [0 if n else 1 for n in slow]
    series = [
        GridSeries(name, {"instance": name}, values, direction=direction) for name, values in rows.items()
    ]
    return QueryGrid(times, slow, fast, series, step)


def _episodes(n: int, starts: list[int], length: int) -> list[int]:
    slow = [0] * n
    for start in starts:
        for t in range(start, start + length):
            slow[t] = 2
    return slow


def _noise(rng: np.random.Generator, n: int, phi: float = 0.95) -> list[float]:
    out = [0.0]
    for _ in range(n - 1):
        out.append(phi * out[-1] + float(rng.normal()))
    return [50.0 + v for v in out]


def test_the_fft_statistic_equals_the_direct_sum_with_missing_values_masked() -> None:
    rng = np.random.default_rng(5)
    n = 60
    slow = (rng.random(n) < 0.2).astype(np.float64)
    values = rng.normal(size=(2, n))
    values[0, [3, 17]] = np.nan
    fast = shift_statistics(slow, values)
    for j in range(2):
        for offset in range(n):
            moved = np.roll(slow, -offset)  # moved[t] = slow[t + offset]
            present = np.isfinite(values[j])
            a = values[j][present & (moved > 0)]
            b = values[j][present & (moved == 0)]
            direct = (a.mean() - b.mean()) / math.sqrt(values[j][present].var() * (1 / len(a) + 1 / len(b)))
            assert fast[j, offset] == pytest.approx(direct, abs=1e-9)


def test_episodes_merge_runs_closer_than_the_gap() -> None:
    slow = [0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0]
    assert episodes_of(slow, gap=3) == [Episode(1, 6), Episode(9, 11)]
    assert episodes_of(slow, gap=1) == [Episode(1, 3), Episode(5, 6), Episode(9, 11)]
    assert episodes_of([0, 0]) == []


def test_slow_periods_come_from_the_events_seconds_merged_across_short_quiet() -> None:
    bins = [0] * 100
    for second in (10, 11, 12, 15, 40, 41, 99):
        bins[second] = 1
    # Quiet of 2 s (13-14) is shorter than the 6 s gap; 27 s (16-39) and 57 s are not.
    assert slow_periods(bins, 1000.0, 6.0) == [(1010.0, 1016.0), (1040.0, 1042.0), (1099.0, 1100.0)]
    assert slow_periods([0] * 10, 0.0, 6.0) == []


def test_lags_beyond_a_tenth_of_the_window_are_not_tested() -> None:
    assert lag_steps_for([0, 60, 120, 180, 240, 300], 30.0, 2880) == [0, 2, 4, 6, 8, 10]
    assert lag_steps_for([0, 60, 120, 180, 240, 300], 30.0, 50) == [0, 2, 4]
    assert lag_steps_for([0, 60, 120], 2.0, 45) == [0]


def test_null_days_of_autocorrelated_series_keep_false_suspects_within_the_binomial_bound() -> None:
    bench = _calibration()
    rng = np.random.default_rng(20261201)
    days = 60
    false_days = 0
    for _ in range(days):
        day = bench.make_day(rng, steps=720)
        grid = bench.grid_of(day)
        ranking = rank_suspects_on_grid([grid], bench.LAGS, fdr=0.05)
        false_days += any(s.q_value is not None and s.q_value <= 0.05 for s in ranking.suspects)
    # Binomial(60, 0.05): P(X > 7) < 0.01. The previous test found false suspects on nearly every such day.
    bound = next(k for k in range(days) if sum(_binom(days, i, 0.05) for i in range(k + 1, days + 1)) < 0.01)
    assert bound == 7
    assert false_days <= bound


def _binom(n: int, k: int, p: float) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


def test_a_planted_series_rising_in_every_episode_is_found_first_as_a_cause() -> None:
    bench = _calibration()
    rng = np.random.default_rng(7)
    day = bench.make_day(rng, effect=4.0, episodes=4)
    ranking = rank_suspects_on_grid([bench.grid_of(day)], bench.LAGS, fdr=0.05)
    top = ranking.suspects[0]
    assert top.labels == {"series": str(day.planted)}
    assert top.significant and top.q_value is not None and top.q_value <= 0.05
    assert (top.direction, top.role, top.lag_seconds) == ("rise", "cause", 0.0)
    assert [s for s in ranking.suspects if s.significant] == [top]
    assert len(ranking.episodes) == 4 and ranking.notes == []


def test_a_series_that_rose_before_the_slowness_is_reported_at_its_shortest_holding_lag() -> None:
    rng = np.random.default_rng(11)
    n = 1200
    slow = _episodes(n, [200, 500, 800, 1000], 10)
    # Raised from 4 steps before each episode to its end: lag 0 alone already separates the sides as well
    # as any longer lag that covers the lead, so the shortest is reported; the lead alone needs lag 4.
    lead = _noise(rng, n)
    early = _noise(rng, n)
    for start in (200, 500, 800, 1000):
        for t in range(start - 4, start + 10):
            lead[t] += 30.0
        for t in range(start - 6, start + 4):
            early[t] += 30.0
    grid = _grid(slow, {"lead": lead, "early": early}, direction="rise")
    ranking = rank_suspects_on_grid([grid], [0, 60, 120, 180, 240, 300], fdr=0.05)
    by_name = {s.metric: s for s in ranking.suspects}
    assert by_name["lead"].significant and by_name["lead"].lag_seconds == 0.0
    assert by_name["early"].significant and by_name["early"].lag_seconds > 0.0


def test_a_series_that_moved_against_its_causal_direction_is_a_consequence_ranked_after_causes() -> None:
    rng = np.random.default_rng(3)
    n = 1200
    starts = [150, 450, 750, 1050]
    slow = _episodes(n, starts, 12)
    rises, falls = _noise(rng, n), _noise(rng, n)
    for start in starts:
        for t in range(start, start + 12):
            rises[t] += 6.0
            falls[t] -= 30.0  # a stronger departure, but the wrong way for a `rise` query
    ranking = rank_suspects_on_grid([_grid(slow, {"rises": rises, "falls": falls}, "rise")], [0], fdr=0.05)
    first, second = ranking.suspects
    assert (first.metric, first.role, first.direction, first.significant) == ("rises", "cause", "rise", True)
    assert (second.metric, second.role, second.direction, second.significant) == (
        "falls",
        "consequence",
        "fall",
        False,
    )
    assert second.note is not None and "consequence" in second.note
    # The same fall on a query that may cause slowness either way is a cause, and significant.
    either = rank_suspects_on_grid([_grid(slow, {"falls": falls}, "both")], [0], fdr=0.05)
    assert (either.suspects[0].role, either.suspects[0].significant) == ("cause", True)


def test_one_slow_episode_names_no_significant_suspect_and_says_why() -> None:
    rng = np.random.default_rng(2)
    n = 1200
    slow = _episodes(n, [600], 40)
    values = _noise(rng, n)
    for t in range(600, 640):
        values[t] += 40.0
    ranking = rank_suspects_on_grid([_grid(slow, {"cpu": values})], [0], fdr=0.05)
    (suspect,) = ranking.suspects
    assert suspect.q_value is not None and suspect.q_value <= 0.05  # the test alone rejects
    assert not suspect.significant and suspect.note is not None and "episode" in suspect.note
    assert len(ranking.episodes) == 1 and any("episode" in note for note in ranking.notes)


def test_a_window_too_short_to_ever_reject_says_so() -> None:
    slow = _episodes(15, [2, 9], 2)
    values: list[float | None] = [float(v) for v in range(15)]
    ranking = rank_suspects_on_grid([_grid(slow, {"cpu": values})], [0], fdr=0.05)
    assert ranking.resolution == pytest.approx(1 / 15)
    assert any("can never reject" in note for note in ranking.notes)
    assert not any(s.significant for s in ranking.suspects)


def test_gaps_are_masked_and_a_series_without_enough_slow_values_is_not_tested() -> None:
    rng = np.random.default_rng(4)
    n = 600
    slow = _episodes(n, [100, 300, 500], 8)
    gappy: list[float | None] = list(_noise(rng, n))
    for t in range(n):
        if slow[t]:
            gappy[t] = None  # never measured while slow
    test = circular_shift_test([GridQuery(slow, [gappy, _noise(rng, n)], [0])], 0.05)
    first, second = test.results[0]
    assert not first.tested and first.adjusted is None
    assert second.tested and test.hypotheses == 1


def test_model_metrics_are_described_but_never_significant_by_the_shift_test() -> None:
    model = SeriesSample("accuracy", {}, [0.5] * 40, [0.9] * 400, source="model", kind="model")
    ranking = rank_suspects_on_grid([], [0], model=[model], fdr=0.05)
    (suspect,) = ranking.suspects
    assert suspect.kind == "model" and not suspect.significant and suspect.q_value is None
    assert suspect.effect < 0 and suspect.note is not None and "not tested" in suspect.note


def test_direction_role_and_statistic_survive_the_report_round_trip() -> None:
    suspect = Suspect(
        "cpu",
        {"instance": "a"},
        3.0,
        0.9,
        0.2,
        0.05,
        40,
        400,
        direction="fall",
        role="consequence",
        statistic=5.5,
    )
    again = Suspect.from_dict(suspect.to_dict())
    assert again == suspect
    legacy = {k: v for k, v in suspect.to_dict().items() if k not in ("direction", "role", "statistic")}
    assert (Suspect.from_dict(legacy).direction, Suspect.from_dict(legacy).role) == (None, "cause")
