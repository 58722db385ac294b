"""The hour-of-day profile: how often the peak rule labels noise, how often it finds a planted peak, and what
the accumulator costs per event in correlate's pass.

Run: python bench/profile_rule.py                  (a few seconds)
     python bench/profile_rule.py --days 2000 --events 1000000
     python bench/profile_rule.py --in-correlate 1000000 --repeat 5     (adds about 2 minutes)

Flat days: 24 hours of Poisson counts at one rate (2 % slow); "any label" is the share of such days on which
the rule labels at least one hour. Planted: one hour at 2x or 3x the rate (load), or at 5x the slow share with
the same load; "found" is the share of days on which that hour is labelled.

With --in-correlate N, the `correlate at scale` day of bench/correlate_scale.py (N events, 1,440 snapshots) is
written to a scratch local store and `correlate.run` is timed in child processes, in CPU seconds, alternately
with `HourProfile.add` as written and replaced by a no-op: the profile's cost inside correlate's pass.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime

import numpy as np
from scaffold import machine_line

from mlprom.analysis.profile import HourProfile, peak_flags

RATES = (3, 10, 30, 100, 1000, 40000)


def flat_and_planted(rate: float, days: int, rng: np.random.Generator) -> dict[str, float]:
    noise = load2 = load3 = slow5 = 0
    for _ in range(days):
        slow = rng.poisson(rate * 0.02, 24).astype(float)
        fast = rng.poisson(rate * 0.98, 24).astype(float)
        noise += any(peak_flags(list(slow + fast), list(slow)))
        events = slow + fast
        events[7] = rng.poisson(2 * rate)
        load2 += peak_flags(list(events), list(slow))[7]
        events[7] = rng.poisson(3 * rate)
        load3 += peak_flags(list(events), list(slow))[7]
        slow_planted = slow.copy()
        slow_planted[7] = rng.binomial(int(slow[7] + fast[7]), min(1.0, 0.10))
        slow5 += peak_flags(list(slow + fast), list(slow_planted))[7]
    return {"noise": noise / days, "load2": load2 / days, "load3": load3 / days, "slow5": slow5 / days}


def accumulator_cost(n: int) -> tuple[float, float]:
    """(ns per add, ms for result()) over n events of one day, best of 3."""
    day = date(2026, 3, 1)
    start = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    rng = random.Random(1)
    rows = []
    for _ in range(n):
        slow = rng.random() < 0.01
        rows.append(
            (start + rng.uniform(0, 86400), rng.uniform(10, 14) if slow else rng.uniform(0.05, 0.4), slow)
        )
    best = math.inf
    result_ms = math.inf
    for _ in range(3):
        hp = HourProfile(day, 100.0)
        add = hp.add
        began = time.perf_counter()
        for at, seconds, slow in rows:
            add(at, seconds, slow)
        loop = time.perf_counter() - began
        began = time.perf_counter()
        for _row in rows:
            pass
        empty = time.perf_counter() - began
        best = min(best, (loop - empty) / n * 1e9)
        began = time.perf_counter()
        hp.result()
        result_ms = min(result_ms, (time.perf_counter() - began) * 1e3)
    return best, result_ms


CHILD = """
import sys, time
from datetime import date
import mlprom.analysis.profile as P
from mlprom.config import load_config
from mlprom.stages import correlate
if sys.argv[2] == "no-op":
    P.HourProfile.add = lambda self, at, seconds, slow, sampled=None: None
config = load_config(sys.argv[1])
began = time.process_time()
correlate.run(config, date(2026, 3, 1))
print(time.process_time() - began)
"""


def in_correlate(events: int, repeat: int) -> tuple[list[float], list[float]]:
    """CPU seconds of correlate.run with the profile and with HourProfile.add a no-op, interleaved."""
    from correlate_scale import write_day_events, write_day_snapshots

    from mlprom.storage.local import LocalStorage

    with tempfile.TemporaryDirectory() as tmp:
        write_day_snapshots(LocalStorage(f"{tmp}/data"), 4)
        write_day_events(LocalStorage(f"{tmp}/data"), "default", events, 100_000)
        config = f"{tmp}/mlprom.yaml"
        with open(config, "w") as f:
            f.write(f"storage: {{url: '{tmp}/data'}}\n")
        runs: dict[str, list[float]] = {"profile": [], "no-op": []}
        for _ in range(repeat):
            for mode in runs:
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, config, mode], capture_output=True, text=True, check=True
                )
                runs[mode].append(float(done.stdout.strip()))
    return runs["profile"], runs["no-op"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1000, help="simulated days per rate")
    parser.add_argument("--events", type=int, default=1_000_000, help="events fed to the accumulator")
    parser.add_argument(
        "--in-correlate", type=int, default=0, help="events of the correlate comparison (0: skip)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="correlate runs per mode")
    args = parser.parse_args()
    print(machine_line())
    rng = np.random.default_rng(2026)
    print("| events/hour | flat days with any label | 2x hour found | 3x hour found | 5x slow share found |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for rate in RATES:
        r = flat_and_planted(rate, args.days, rng)
        print(f"| {rate:,} | {r['noise']:.2%} | {r['load2']:.0%} | {r['load3']:.0%} | {r['slow5']:.0%} |")
    ns, ms = accumulator_cost(args.events)
    print(
        f"\nHourProfile.add: {ns:.0f} ns/event over {args.events:,} events (best of 3); result(): {ms:.1f} ms"
    )
    if args.in_correlate:
        with_profile, without = in_correlate(args.in_correlate, args.repeat)
        print(
            f"correlate.run over {args.in_correlate:,} events, CPU s: with the profile "
            f"{' / '.join(f'{x:.2f}' for x in with_profile)} (median {statistics.median(with_profile):.2f}); "
            f"add a no-op {' / '.join(f'{x:.2f}' for x in without)} (median {statistics.median(without):.2f})"
        )


if __name__ == "__main__":
    main()
