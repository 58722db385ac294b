"""Clock-skew warning: how often it fires on skewed and on honest synthetic days (docs/correlation.md).

    python bench/skew_calibration.py [--days 100]

A day is ten minutes of history at a 1 s step before three load windows of 15 s, the planted series an
AR(1) walk (phi 0.9 or 0.99) that rises by 6 innovations' sd in each window, slow events in 60% of the
window's seconds, stamped 0 s (honest) or 30 s (skewed) late; ten more AR walks stand beside it. As in
correlate, the skew is estimated only when the planted series is the top significant suspect of the
circular-shift test (lags 0 and 30 s). Windows 35 s apart (quiet 20 s: a 30 s skew lands 5 s before the
next window) and 60 s apart (quiet 45 s). Seeded: a run prints the same table every time.
"""

from __future__ import annotations

import argparse

import numpy as np

from mlprom.analysis.join import prefix_sums
from mlprom.analysis.significance import GridQuery, circular_shift_test
from mlprom.analysis.skew import estimate_skew

ORIGIN = 1_764_547_200.0
LOAD, PRE, WINDOWS, TAIL = 15, 300, 3, 60


def _walk(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    values = np.zeros(n)
    noise = rng.normal(size=n)
    for t in range(1, n):
        values[t] = phi * values[t - 1] + noise[t]
    return values


def _day(
    skew: int, quiet: int, phi: float, seed: int
) -> tuple[list[float], np.ndarray, list[int], list[int]]:
    rng = np.random.default_rng(seed)
    n = PRE + quiet + WINDOWS * (LOAD + quiet) + TAIL
    values = _walk(n, phi, rng)
    slow, fast = [0] * (n + 100), [1] * (n + 100)
    for k in range(WINDOWS):
        start = PRE + quiet + k * (LOAD + quiet)
        values[start : start + LOAD] += 6.0
        for second in range(start, start + LOAD):
            if rng.random() < 0.6:
                slow[second + skew], fast[second + skew] = 1, 0
    return [ORIGIN + t for t in range(n)], values, prefix_sums(slow), prefix_sums(fast)


def _case(skew: int, quiet: int, phi: float, days: int) -> tuple[int, int, int]:
    """(days the planted series was the top significant suspect, warned, warned within 10 s of the skew)."""
    significant = warned = near = 0
    for seed in range(days):
        times, values, slow_prefix, fast_prefix = _day(skew, quiet, phi, seed)
        n = len(times)
        slow = [slow_prefix[i + 1] - slow_prefix[i] for i in range(n)]
        rng = np.random.default_rng(1000 + seed)
        family = [list(values)] + [list(_walk(n, phi, rng)) for _ in range(10)]
        results = circular_shift_test([GridQuery(slow=slow, values=family, lag_steps=[0, 30])], 0.05).results[
            0
        ]
        ranked = sorted(range(len(results)), key=lambda j: results[j].adjusted if results[j].tested else 2.0)
        top = results[ranked[0]]
        if ranked[0] != 0 or top.adjusted is None or top.adjusted > 0.05:
            continue
        significant += 1
        estimate = estimate_skew(times, list(values), ORIGIN, 0.0, 300.0, slow_prefix, fast_prefix, 1.0)
        if estimate is not None and estimate.warning:
            warned += 1
            near += abs(estimate.estimated_seconds - skew) <= 10
    return significant, warned, near


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=100)
    args = parser.parse_args()
    print("| windows apart | phi | skew | days | top significant | warned | warned within 10 s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for quiet in (20, 45):
        for phi in (0.9, 0.99):
            for skew in (0, 30):
                significant, warned, near = _case(skew, quiet, phi, args.days)
                print(
                    f"| {LOAD + quiet} s | {phi} | {skew} s | {args.days} | {significant} | {warned} | {near} |"
                )


if __name__ == "__main__":
    main()
