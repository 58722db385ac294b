"""Significance of suspects: the two-sided Mann-Whitney U test and Benjamini-Hochberg q-values.

Pure Python over plain lists (no scipy on the correlate path); the p-values equal
scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="auto") and the q-values
scipy.stats.false_discovery_control(p, method="bh"), which the unit tests check.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# scipy's choice for method="auto": the exact null distribution when a side has at most 8 values and
# there are no ties, else the normal approximation with tie and continuity corrections.
EXACT_MAX_SIDE = 8


@dataclass(frozen=True)
class UTest:
    u1: float  # U of the first sample: how many (x, y) pairs have x > y, ties counting a half
    p_value: float  # two-sided
    n1: int
    n2: int
    method: str  # "exact" | "asymptotic"

    @property
    def auc(self) -> float:
        """P(x > y) + P(x = y)/2: 0.5 when the sides do not differ, 1 or 0 when they separate fully."""
        return self.u1 / (self.n1 * self.n2)


def mann_whitney(x: Sequence[float], y: Sequence[float], pooled: Sequence[float] | None = None) -> UTest:
    """Two-sided Mann-Whitney U test of two independent samples of finite floats (neither empty).

    `pooled`, when the caller has it, is x and y together in ascending order.
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    if pooled is None:
        pooled = sorted([*x, *y])
    # Mid-ranks (1-based): a value's rank is the mean of the positions its ties occupy.
    r1 = 0.0
    for value in x:
        r1 += (bisect_left(pooled, value) + bisect_right(pooled, value) + 1) / 2.0
    u1 = r1 - n1 * (n1 + 1) / 2.0
    u = max(u1, n1 * n2 - u1)
    tie_term = 0
    run = 1
    for i in range(1, len(pooled)):
        if pooled[i] == pooled[i - 1]:
            run += 1
        else:
            if run > 1:
                tie_term += run**3 - run
            run = 1
    if run > 1:
        tie_term += run**3 - run
    if min(n1, n2) <= EXACT_MAX_SIDE and tie_term == 0:
        p = 2.0 * _exact_sf(n1, n2, round(u))
        return UTest(u1, min(max(p, 0.0), 1.0), n1, n2, "exact")
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0.0:  # every value equal: nothing to tell the sides apart
        return UTest(u1, 1.0, n1, n2, "asymptotic")
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    p = math.erfc(z / math.sqrt(2.0))  # 2 * P(Z > z)
    return UTest(u1, min(max(p, 0.0), 1.0), n1, n2, "asymptotic")


def _exact_sf(n1: int, n2: int, u: int) -> float:
    """P(U >= u) under the null hypothesis, without ties."""
    counts = _u_distribution(min(n1, n2), max(n1, n2))
    if u <= 0:
        return 1.0
    if u >= len(counts):
        return 0.0
    return sum(counts[u:]) / math.comb(n1 + n2, n1)


@lru_cache(maxsize=64)
def _u_distribution(m: int, n: int) -> tuple[int, ...]:
    """Number of orderings giving U = 0..m*n: the coefficients of the Gaussian binomial [m+n choose m].

    Built as prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), each factor an O(m*n) pass over exact integers.
    """
    size = m * n + 1
    poly = [0] * size
    poly[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        # Multiply by (1 - q^shift), truncated to the degrees that can occur.
        for k in range(size - 1, shift - 1, -1):
            poly[k] -= poly[k - shift]
        # Divide by (1 - q^i): a running sum with stride i.
        for k in range(i, size):
            poly[k] += poly[k - i]
    return tuple(poly)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input's order.

    q_(i) = min over j >= i of p_(j) * m / j, capped at 1 (p sorted ascending, m hypotheses). Rejecting
    every hypothesis with q <= alpha keeps the expected share of false discoveries at or below alpha
    for independent or positively dependent tests.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = min(running, 1.0)
    return q
