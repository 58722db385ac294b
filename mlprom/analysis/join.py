"""Joining events, counted per second, to the points of a series: pure arithmetic on prefix sums.

An event at second e (its timestamp rounded down, counted from the date's midnight) looks at the infra
through `shift`: it joins the point whose time is nearest to e + shift (on a tie, the earlier point),
if that point is at most `max_skew` away. The shift carries the query's rate window (half of it), a
lag and a clock-skew candidate (docs/correlation.md, "Joining events to infra values").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def prefix_sums(counts: Sequence[int]) -> list[int]:
    """P[i] = sum(counts[:i]); P has len(counts) + 1 entries."""
    out = [0] * (len(counts) + 1)
    running = 0
    for i, n in enumerate(counts):
        running += n
        out[i + 1] = running
    return out


@dataclass(frozen=True)
class Joined:
    """Per point: slow and fast events joined to it, and slow events within max_skew of it."""

    slow: list[int]
    fast: list[int]
    near_slow: list[int]


def join_counts(
    times: Sequence[float],
    origin: float,
    shift: float,
    max_skew: float,
    slow_prefix: Sequence[int],
    fast_prefix: Sequence[int],
) -> Joined:
    """Counts of the events joined to each of `times` (sorted unix seconds).

    `slow_prefix` / `fast_prefix` are prefix sums of events per second since `origin`.
    """
    n_bins = len(slow_prefix) - 1
    count = len(times)
    slow = [0] * count
    fast = [0] * count
    near = [0] * count
    floor, ceil = math.floor, math.ceil
    base = origin + shift
    last = count - 1
    # Midpoints between neighbours: seconds nearest to point i lie after mids[i-1] and up to mids[i]
    # (a tie goes to the earlier point).
    mids = [(times[i] + times[i + 1]) / 2.0 - base for i in range(last)]
    sp, fp = slow_prefix, fast_prefix
    for i in range(count):
        t = times[i] - base  # the point's time on the events' second scale
        lo = ceil(t - max_skew)
        hi = floor(t + max_skew)
        if hi < 0 or lo >= n_bins:
            continue
        if lo < 0:
            lo = 0
        if hi >= n_bins:
            hi = n_bins - 1
        near[i] = sp[hi + 1] - sp[lo]
        if i:
            edge = floor(mids[i - 1]) + 1
            if edge > lo:
                lo = edge
        if i < last:
            edge = floor(mids[i])
            if edge < hi:
                hi = edge
        if hi >= lo:
            slow[i] = sp[hi + 1] - sp[lo]
            fast[i] = fp[hi + 1] - fp[lo]
    return Joined(slow, fast, near)
