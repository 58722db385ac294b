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
    for i in range(count):
        t = times[i] - origin - shift  # the point's time on the events' second scale
        left_mid = -math.inf if i == 0 else (times[i - 1] + times[i]) / 2.0 - origin - shift
        right_mid = math.inf if i == count - 1 else (times[i] + times[i + 1]) / 2.0 - origin - shift
        lo_skew = ceil(t - max_skew)
        hi_skew = floor(t + max_skew)
        if hi_skew < 0 or lo_skew >= n_bins:
            continue
        lo = max(lo_skew, 0)
        hi = min(hi_skew, n_bins - 1)
        near[i] = slow_prefix[hi + 1] - slow_prefix[lo]
        # Seconds nearest to this point: after the midpoint with the previous one, up to and including
        # the midpoint with the next one (a tie goes to the earlier point).
        if left_mid != -math.inf:
            lo = max(lo, floor(left_mid) + 1)
        if right_mid != math.inf:
            hi = min(hi, floor(right_mid))
        if hi >= lo:
            slow[i] = slow_prefix[hi + 1] - slow_prefix[lo]
            fast[i] = fast_prefix[hi + 1] - fast_prefix[lo]
    return Joined(slow, fast, near)
