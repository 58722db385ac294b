"""Calibration of the suspect test on synthetic days: false positives on null days, power on planted ones.

Null day: 18 AR(1) series (phi drawn from 0.9 to 0.99) on a day of 30 s steps, unrelated to 1-5 slow
episodes of 1-20 minutes. Planted day: the same, with one series raised by `effect` of its stationary
standard deviation during every episode. Each day is tested with the circular-shift test as correlate
runs it (rank_suspects) and with the previous test (Mann-Whitney U per (series, lag) on the
distinct step values, Benjamini-Hochberg over the family; kept below as `independent_test`).

Run: python bench/significance_calibration.py                     (200 null days, 100 planted per effect)
     python bench/significance_calibration.py --null-days 1000 --planted-days 200
     python bench/significance_calibration.py --cost-series 1500   (also time one day of 1,500 series)
Pure numpy and scipy (for the old test's p-values); seeded, so a run prints the same table every time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlprom.analysis.suspects import GridSeries, QueryGrid, rank_suspects  # noqa: E402

STEP = 30.0
STEPS = 2880  # one day
SERIES = 18
# correlate's defaults at a 30 s step: ten lags of a step up to max_lag 5m
LAGS = [30.0 * k for k in range(11)]
FDR = 0.05
ORIGIN = 1_764_547_200.0  # 2025-12-01T00:00Z: only the times' spacing matters


@dataclass(frozen=True)
class Day:
    slow: list[int]  # slow events per step
    fast: list[int]  # sampled fast events per step
    values: np.ndarray  # SERIES x STEPS
    planted: int | None  # index of the planted series, if any
    episodes: int


def ar1(rng: np.random.Generator, phi: float, n: int) -> np.ndarray:
    """A stationary AR(1) series of unit variance."""
    noise = rng.normal(scale=math.sqrt(1.0 - phi * phi), size=n)
    out = np.empty(n)
    out[0] = rng.normal()
    for t in range(1, n):
        out[t] = phi * out[t - 1] + noise[t]
    return out


def make_day(
    rng: np.random.Generator,
    effect: float = 0.0,
    episodes: int | None = None,
    series: int = SERIES,
    steps: int = STEPS,
) -> Day:
    count = int(rng.integers(1, 6)) if episodes is None else episodes
    slow = [0] * steps
    placed = 0
    while placed < count:
        length = int(rng.integers(2, 41))  # 1 to 20 minutes
        start = int(rng.integers(0, steps - length))
        # Episodes at least 10 steps apart (a quiet gap the episode rule sees).
        if any(slow[max(0, start - 10) : start + length + 10]):
            continue
        for t in range(start, start + length):
            slow[t] = 1 + int(rng.poisson(3.0))
        placed += 1
    fast = [0 if n else 1 + int(rng.poisson(1.0)) for n in slow]
    values = np.stack([50.0 + 10.0 * ar1(rng, float(rng.uniform(0.9, 0.99)), steps) for _ in range(series)])
    planted = None
    if effect > 0:
        planted = int(rng.integers(0, series))
        mask = np.asarray(slow) > 0
        values[planted, mask] += effect * 10.0
    return Day(slow, fast, values, planted, count)


def grid_of(day: Day) -> QueryGrid:
    times = [ORIGIN + STEP * t for t in range(len(day.slow))]
    members = [
        GridSeries("metric", {"series": str(j)}, day.values[j].tolist(), direction="rise")
        for j in range(day.values.shape[0])
    ]
    return QueryGrid(times, day.slow, day.fast, members, STEP)


def shift_test(day: Day) -> tuple[set[int], set[int]]:
    """Series the circular-shift test finds: (significant as reported, rejected by the test alone)."""
    ranking = rank_suspects([grid_of(day)], LAGS, fdr=FDR)
    significant = {int(s.labels["series"]) for s in ranking.suspects if s.significant}
    rejected = {
        int(s.labels["series"]) for s in ranking.suspects if s.q_value is not None and s.q_value <= FDR
    }
    return significant, rejected


def _bh(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def independent_test(day: Day) -> set[int]:
    """The previous test: every (series, lag) by a two-sided Mann-Whitney U over the step values on each
    side as if they were independent, BH over the family, significant at q <= fdr with the medians moved
    by at least half a robust sigma."""
    from scipy.stats import mannwhitneyu

    slow = np.asarray(day.slow) > 0
    n = len(slow)
    p_values: list[float] = []
    keys: list[tuple[int, float]] = []
    for j in range(day.values.shape[0]):
        x = day.values[j]
        for lag in LAGS:
            k = int(round(lag / STEP))
            at = np.zeros(n, dtype=bool)
            at[: n - k] = slow[k:]  # the value k steps before each slow step
            a, b = x[at], x[~at]
            med_a, med_b = np.median(a), np.median(b)
            mad = np.median(np.abs(b - med_b))
            effect = (med_a - med_b) / (1.4826 * max(mad, 0.01 * max(abs(med_a), abs(med_b)), 1e-12))
            p_values.append(float(mannwhitneyu(a, b, alternative="two-sided", method="auto").pvalue))
            keys.append((j, effect))
    q = _bh(np.asarray(p_values))
    return {j for (j, effect), qv in zip(keys, q, strict=True) if qv <= FDR and abs(effect) >= 0.5}


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def null_calibration(days: int, seed: int, old: bool = True) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    counts = {"shift": 0, "shift_test_alone": 0, "old": 0}
    for _ in range(days):
        day = make_day(rng)
        significant, rejected = shift_test(day)
        counts["shift"] += bool(significant)
        counts["shift_test_alone"] += bool(rejected)
        if old:
            counts["old"] += bool(independent_test(day))
    return {"days": days, **counts}


def one_period(days: int, seed: int) -> dict[str, Any]:
    """Days of one 20-minute slow period and 18 unrelated series: series named per day by each test."""
    rng = np.random.default_rng(seed)
    shift_named = shift_alone = old_named = 0
    for _ in range(days):
        day = make_day(rng, episodes=1)
        slow = [0] * len(day.slow)
        start = int(rng.integers(0, len(slow) - 40))
        slow[start : start + 40] = [3] * 40
        day = Day(slow, [0 if n else 1 for n in slow], day.values, None, 1)
        significant, rejected = shift_test(day)
        shift_named += len(significant)
        shift_alone += len(rejected)
        old_named += len(independent_test(day))
    return {"days": days, "shift": shift_named, "shift_test_alone": shift_alone, "old": old_named}


def power(effect: float, days: int, seed: int, old: bool = True) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    found = found_old = false_any = false_old = several = found_several = 0
    for _ in range(days):
        day = make_day(rng, effect=effect)
        significant, _ = shift_test(day)
        found += day.planted in significant
        if day.episodes >= 2:
            several += 1
            found_several += day.planted in significant
        false_any += bool(significant - {day.planted})
        if old:
            old_found = independent_test(day)
            found_old += day.planted in old_found
            false_old += bool(old_found - {day.planted})
    return {
        "effect": effect,
        "days": days,
        "found": found,
        "several": several,
        "found_several": found_several,
        "false": false_any,
        "found_old": found_old,
        "false_old": false_old,
    }


def cost(series: int, seed: int) -> float:
    """Seconds for rank_suspects over one day of `series` series at 30 s and the default lags."""
    rng = np.random.default_rng(seed)
    day = make_day(rng, effect=0.0, episodes=3, series=series)
    grid = grid_of(day)
    start = time.perf_counter()
    rank_suspects([grid], LAGS, fdr=FDR)
    return time.perf_counter() - start


def _share(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {k / n:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--null-days", type=int, default=200)
    parser.add_argument("--planted-days", type=int, default=100)
    parser.add_argument("--effects", default="0.5,1,2,4")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--cost-series", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scaffold import machine_line

    print(machine_line())
    print(
        f"days of {STEPS} steps of {STEP:g} s, {SERIES} AR(1) series (phi 0.9-0.99), 1-5 episodes, fdr {FDR}"
    )
    began = time.perf_counter()
    null = null_calibration(args.null_days, args.seed)
    n = null["days"]
    print("\nnull days: share with any significant suspect, 95% Wilson interval")
    print("| test | days with a false suspect |\n| --- | --- |")
    print(f"| circular shift + maxT, as reported | {_share(null['shift'], n)} |")
    print(
        f"| circular shift + maxT, test alone (no episode or effect rule) | {_share(null['shift_test_alone'], n)} |"
    )
    print(f"| Mann-Whitney + BH (previous) | {_share(null['old'], n)} |")
    single = one_period(max(1, args.null_days // 10), args.seed + 100)
    k = single["days"] * SERIES
    print(f"\none 20-minute slow period, {SERIES} unrelated series, {single['days']} days: series named")
    print(f"| circular shift, as reported | {single['shift']}/{k} |")
    print(f"| circular shift, test alone | {single['shift_test_alone']}/{k} |")
    print(f"| Mann-Whitney + BH (previous) | {single['old']}/{k} |")
    print("\nplanted days: one series raised by `effect` stationary sd in every episode")
    print(
        "| effect (sd) | found, shift | found, shift, days of 2+ episodes | others significant, shift "
        "| found, previous | others significant, previous |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for i, effect in enumerate(float(e) for e in args.effects.split(",")):
        row = power(effect, args.planted_days, args.seed + 1 + i)
        d = row["days"]
        print(
            f"| {effect:g} | {_share(row['found'], d)} | {_share(row['found_several'], row['several'])} | "
            f"{_share(row['false'], d)} | "
            f"{_share(row['found_old'], d)} | {_share(row['false_old'], d)} |"
        )
    print(f"\ncalibration took {time.perf_counter() - began:.1f} s")
    if args.cost_series:
        seconds = min(cost(args.cost_series, args.seed) for _ in range(3))
        print(
            f"cost: one day of {args.cost_series} series x {STEPS} steps x {len(LAGS)} lags: "
            f"{seconds:.2f} s (best of 3)"
        )


if __name__ == "__main__":
    main()
