"""Distribution drift over plain numbers: reservoir samples, PSI, KS, Wasserstein and the finding rule.

No I/O; see docs/drift.md for the statistics and why the default rule is what it is.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlprom.analysis.thresholds import Levels

SAMPLE_SIZE = 50_000  # values kept per distribution per side
PSI_EPSILON = 1e-4  # proportion given to an empty bin, so ln(c/r) stays finite

DEFAULT_PSI_WARNING = 0.1
DEFAULT_PSI_CRITICAL = 0.25
DEFAULT_KS_PVALUE = 0.001

DRIFT_METRICS = ("drift_psi", "drift_ks_pvalue", "drift_wasserstein", "accuracy_drop")


@dataclass(frozen=True)
class Finite:
    """A column's finite values in order and their math.fsum: what a reservoir takes
    (Reservoir.extend_finite). mlprom.events.scan prepares them where an object is decoded, so the
    process folding the day's objects in order only draws its samples."""

    values: array[float]
    total: float

    @classmethod
    def of(cls, column: array[float]) -> Finite:
        # A finite sum means every value is finite: the common case needs no per-value check at all.
        try:
            total = math.fsum(column)
        except (OverflowError, ValueError):
            total = math.nan
        if math.isfinite(total):
            return cls(column, total)
        kept = array("d", (v for v in column if v - v == 0))
        return cls(kept, safe_fsum(kept))


# Scaling by a power of two is exact (short of subnormals): a sum of up to 2**64 doubles near the largest
# one cannot overflow once scaled down, and scaling back up is ±inf only when the sum itself is.
_DOWN = 2.0**-64
_UP = 2.0**64


def safe_fsum(values: Sequence[float]) -> float:
    """math.fsum of finite values, never raising: fsum's "intermediate overflow" (two values of 1e308) is
    summed scaled down instead, so the result is the exact sum, or ±inf when that is past a double's range."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.fsum(v * _DOWN for v in values) * _UP


def mean_of(values: Sequence[float]) -> float:
    """The mean of finite values, itself always finite: summed scaled down when their sum would not be."""
    mean = sum(values) / len(values)
    if mean - mean == 0:
        return mean
    return math.fsum(v * _DOWN for v in values) / len(values) * _UP


def _total_of(totals: Sequence[float]) -> float:
    """The sum of parts' totals; NaN (no mean) when a part's own total had overflowed."""
    if all(math.isfinite(t) for t in totals):
        return safe_fsum(totals)
    return math.nan


def finite_mean(total: float, seen: int) -> float | None:
    """total / seen, or None when there is nothing to average or the total overflowed (±inf, or NaN when
    overflows of both signs met): a mean no one can use is left out rather than reported as inf."""
    if not seen:
        return None
    mean = total / seen
    return mean if math.isfinite(mean) else None


class Reservoir:
    """A uniform random sample of at most `size` values from a stream of any length (Li's Algorithm L).

    Memory is `size` floats whatever the stream's length; `extend` skips over the values that are not
    sampled without touching them, so feeding millions of values costs O(size · log(n / size)) draws.
    Count and mean are exact over every value seen, not just the sample. Non-finite values are dropped.
    """

    __slots__ = ("size", "values", "seen", "total", "_rng", "_w", "_next")

    def __init__(self, size: int = SAMPLE_SIZE, seed: int = 0) -> None:
        if size < 1:
            raise ValueError("reservoir size must be at least 1")
        self.size = size
        self.values = array("d")  # 8 bytes a value: a first run holds eight days of three distributions
        self.seen = 0
        self.total = 0.0
        self._rng = random.Random(seed)  # fixed seed: the same data gives the same report
        self._w = 1.0
        self._next = 0

    def _draw(self) -> float:
        u = self._rng.random()
        while u == 0.0:
            u = self._rng.random()
        return u

    def _skip(self) -> None:
        # Index (0-based, in the whole stream) of the next value to enter the reservoir.
        self._w *= math.exp(math.log(self._draw()) / self.size)
        w = min(self._w, 1.0 - 1e-16)
        self._next += int(math.log(self._draw()) / math.log1p(-w)) + 1

    def add(self, value: float) -> None:
        # One value per event is the common case: the same draws and sums as extend((value,)),
        # without its lists: at a million events a day, drift sampling was half of correlate's time.
        if not isinstance(value, int | float) or not math.isfinite(value):
            return
        value = float(value)
        self.total += value
        index = self.seen
        self.seen = index + 1
        if len(self.values) < self.size:
            self.values.append(value)
            if len(self.values) == self.size:
                self._next = self.size - 1
                self._skip()
        elif self._next == index:
            self.values[int(self._rng.random() * self.size)] = value  # as extend_finite draws a slot
            self._skip()

    def extend(self, values: Iterable[float]) -> None:
        if isinstance(values, array) and values.typecode == "d":
            finite = Finite.of(values)  # a column of floats (mlprom.events.scan): NaN marks an absent value
        else:
            kept = array("d", (v for v in values if isinstance(v, int | float) and math.isfinite(v)))
            finite = Finite(kept, safe_fsum(kept))
        self.extend_finite(finite.values, finite.total)

    def extend_finite(self, finite: Sequence[float], total: float) -> None:
        """extend() for floats already known finite, given their math.fsum: a decoding worker prepares
        both (mlprom.events.scan), so the process folding the day only draws."""
        if not finite:
            return
        self.total += total
        start = self.seen
        self.seen += len(finite)
        i = 0
        size, values = self.size, self.values
        if len(values) < size:
            take = min(size - len(values), len(finite))
            values.extend(finite[:take])
            i = take
            if len(values) == size:
                self._next = size - 1
                self._skip()
        # _skip() inlined, with the same draws in the same order: at a million events a day this loop
        # runs 600,000 times, and the calls cost more than the arithmetic.
        rng = self._rng
        draw = rng.random
        log, exp, log1p = math.log, math.exp, math.log1p
        w, following, count = self._w, self._next, len(finite)
        while True:
            offset = following - start
            if offset >= count or offset < i:
                break
            # A slot by random() * size rather than randrange(size): a fifth of the cost, and for a size far
            # below 2**53 its bias (at most size / 2**53) is nothing a sample of values could show.
            values[int(draw() * size)] = finite[offset]
            u = draw()
            while u == 0.0:
                u = draw()
            w *= exp(log(u) / size)
            u = draw()
            while u == 0.0:
                u = draw()
            following += int(log(u) / log1p(-min(w, 1.0 - 1e-16))) + 1
        self._w, self._next = w, following

    @property
    def mean(self) -> float | None:
        return finite_mean(self.total, self.seen)

    def sample(self) -> Sample:
        return Sample(array("d", self.values), self.seen, self.total)


@dataclass(frozen=True)
class Sample:
    """A uniform sample of one distribution, with the exact count and sum of every value it stands for."""

    values: Sequence[float]  # an array('d') as a Reservoir or a stored sample gives it, or a tuple
    seen: int
    total: float

    @property
    def mean(self) -> float | None:
        return finite_mean(self.total, self.seen)


def allocate(seen: Sequence[int], size: int) -> list[int]:
    """Shares of `size` in proportion to `seen`, summing to min(size, sum(seen)) (largest remainder).

    Plain rounding of each share can overshoot `size` by half a value per part; the largest-remainder
    method hands out the leftover units to the biggest fractions instead, ties to the earlier part.
    """
    whole = sum(seen)
    if whole <= size:
        return list(seen)
    exact = [size * n / whole for n in seen]
    shares = [math.floor(x) for x in exact]
    by_fraction = sorted(range(len(seen)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_fraction[: size - sum(shares)]:
        shares[i] += 1
    return shares


class Combiner:
    """Folds per-day samples into one fair sample of their union, holding at most `size` values.

    Each part keeps a share of `size` in proportion to its `seen` count (stratified sampling): a day
    with ten times the events stands for ten times the values, whatever the size of its stored sample.
    Shares are recomputed as each part arrives and a part is cut down to its new share by a seeded
    uniform subsample (a uniform subsample of a uniform sample is a uniform sample of the same day), so
    memory is `size` values plus the part being added, however many days are combined. Count and sum
    stay exact; the seed makes the subsampling repeatable.
    """

    def __init__(self, size: int = SAMPLE_SIZE, seed: int = 0) -> None:
        if size < 1:
            raise ValueError("sample size must be at least 1")
        self.size = size
        self._rng = random.Random(seed)
        self._parts: list[list[float]] = []
        self._seen: list[int] = []
        self._totals: list[float] = []

    def add(self, sample: Sample) -> None:
        self._parts.append(list(sample.values))
        self._seen.append(sample.seen)
        self._totals.append(sample.total)
        if sum(len(p) for p in self._parts) <= self.size:
            return  # every value held still fits: nothing to give up yet
        for i, share in enumerate(allocate(self._seen, self.size)):
            part = self._parts[i]
            # A part holding less than its share (a smaller stored sample) gives all it has.
            if len(part) > share:
                self._parts[i] = self._rng.sample(part, share)

    def result(self) -> Sample:
        values = tuple(v for part in self._parts for v in part)
        return Sample(values, sum(self._seen), _total_of(self._totals))


def combine(samples: Iterable[Sample], size: int = SAMPLE_SIZE, seed: int = 0) -> Sample:
    """One fair sample of the union of `samples` (see Combiner)."""
    combiner = Combiner(size, seed)
    for sample in samples:
        combiner.add(sample)
    return combiner.result()


def psi(
    reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = PSI_EPSILON
) -> float:
    """Population Stability Index of `current` against `reference`.

    Bin edges are the reference's quantiles, so each bin holds about 1/bins of the reference; the outer
    bins are open-ended so every current value lands somewhere. Repeated quantiles (discrete outputs such
    as class ids) collapse into one edge, giving one bin per distinct value. Empty bins get `epsilon`.
    """
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if ref.size == 0 or cur.size == 0:
        raise ValueError("psi needs values on both sides")
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    # side="left": a value equal to an edge belongs to the bin the edge closes, so a discrete value
    # and its quantile edge share one bin.
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=edges.size + 1)
    r = np.maximum(ref_counts / ref.size, epsilon)
    c = np.maximum(cur_counts / cur.size, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass(frozen=True)
class Comparison:
    psi: float
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution: 2 * sum_k (-1)^(k-1) exp(-2 k^2 lam^2)."""
    if lam < 0.2:  # the series converges slowly there, and the probability is 1 to 9 digits
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * lam * lam)
        total += term if k % 2 else -term
        if term < 1e-17:
            break
    return min(1.0, max(0.0, 2.0 * total))


def compare(reference: Sequence[float], current: Sequence[float], bins: int = 10) -> Comparison:
    """PSI, two-sample Kolmogorov–Smirnov and Wasserstein distance of two samples (numpy only).

    KS: D = max |F_ref - F_cur| over the pooled values (exact); its p-value from the asymptotic
    Kolmogorov distribution at Stephens' effective size, (sqrt(n_e) + 0.12 + 0.11 / sqrt(n_e)) * D with
    n_e = n m / (n + m). Wasserstein-1: the integral of |F_ref - F_cur| (exact). docs/drift.md states how
    far the p-value is from scipy's exact one.
    """
    import numpy as np

    ref = np.sort(np.asarray(reference, dtype=np.float64))
    cur = np.sort(np.asarray(current, dtype=np.float64))
    pooled = np.sort(np.concatenate([ref, cur]))
    f_ref = np.searchsorted(ref, pooled, side="right") / ref.size
    f_cur = np.searchsorted(cur, pooled, side="right") / cur.size
    gaps = np.abs(f_ref - f_cur)
    statistic = float(gaps.max()) if gaps.size else 0.0
    n_e = ref.size * cur.size / (ref.size + cur.size)
    root = math.sqrt(n_e)
    # Between pooled values both step functions are flat: each gap times the width it holds for.
    with np.errstate(over="ignore", invalid="ignore"):
        distance = float(np.sum(gaps[:-1] * np.diff(pooled))) if pooled.size > 1 else 0.0
    return Comparison(
        psi=psi(reference, current, bins),
        ks_statistic=statistic,
        ks_pvalue=kolmogorov_sf((root + 0.12 + 0.11 / root) * statistic),
        wasserstein=distance,
    )


HISTOGRAM_BINS = 40
# Positive values spanning more than this ratio (prediction times: 50 ms next to 12 s) get log-spaced bins,
# so the bulk and the tail both show; equal widths would put the bulk in one bin.
LOG_BINS_RATIO = 50.0


@dataclass(frozen=True)
class Histogram:
    """Counts of two samples on shared bins: what the HTML report draws, reference against current.

    `edges` has one more entry than each count list; bin i is [edges[i], edges[i+1]), the last closed.
    """

    edges: tuple[float, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    scale: str = "linear"  # or "log": edges are log-spaced, to be drawn on a log axis

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": list(self.edges),
            "reference": list(self.reference),
            "current": list(self.current),
            "scale": self.scale,
        }


def histogram(reference: Sequence[float], current: Sequence[float], bins: int = HISTOGRAM_BINS) -> Histogram:
    """Both samples on the same bins, for the eye rather than for a statistic.

    Discrete data (at most `bins` distinct values, such as class ids) get one bin per value, centred on
    it; otherwise `bins` bins from the smallest to the largest value of either side, so nothing is
    clipped and a tail that moved stays visible: equal-width, or log-spaced for positive values
    spanning more than LOG_BINS_RATIO.
    """
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    both = np.concatenate([ref, cur])
    if both.size == 0:
        raise ValueError("histogram needs values on a side")
    distinct = np.unique(both)
    scale = "linear"
    if distinct.size <= bins:
        if distinct.size == 1:
            edges = np.array([distinct[0] - 0.5, distinct[0] + 0.5])
        else:
            middles = (distinct[1:] + distinct[:-1]) / 2
            half = float(np.min(np.diff(distinct))) / 2
            edges = np.concatenate([[distinct[0] - half], middles, [distinct[-1] + half]])
    else:
        low, high = float(distinct[0]), float(distinct[-1])
        if low > 0 and high / low > LOG_BINS_RATIO:
            edges = np.geomspace(low, high, bins + 1)
            edges[0], edges[-1] = low, high  # exactly, so the extremes fall inside
            scale = "log"
        else:
            edges = np.linspace(low, high, bins + 1)
    ref_counts, _ = np.histogram(ref, bins=edges)
    cur_counts, _ = np.histogram(cur, bins=edges)
    return Histogram(
        tuple(float(e) for e in edges),
        tuple(int(c) for c in ref_counts),
        tuple(int(c) for c in cur_counts),
        scale,
    )


# ---------------------------------------------------------------- the finding rule


@dataclass(frozen=True)
class Verdict:
    severity: str  # warning | critical
    metric: str  # drift_psi | drift_ks_pvalue | drift_wasserstein | accuracy_drop
    value: float
    threshold: float
    direction: str


def judge(
    comparison: Comparison,
    thresholds: Mapping[str, Levels],
    accuracy_drop: float | None = None,
) -> list[Verdict]:
    """Which drift levels a comparison crosses.

    With no drift threshold configured, the built-in rule: PSI at or above 0.1 (warning) / 0.25
    (critical), counted only when the KS p-value is below 0.001 too. PSI measures how far the
    distribution moved, KS whether the move is more than sampling noise: PSI alone flags noise on small
    samples (its expectation under no change is about (bins-1)(1/n+1/m)), KS alone flags tiny,
    harmless moves on huge ones. With any drift threshold configured, exactly the configured ones apply,
    each on its own, like every other threshold.
    """
    from mlprom.analysis.thresholds import crossed

    configured = {name: thresholds[name] for name in DRIFT_METRICS if name in thresholds}
    if not configured:
        if comparison.ks_pvalue >= DEFAULT_KS_PVALUE:
            return []
        level = crossed(comparison.psi, DEFAULT_PSI_WARNING, DEFAULT_PSI_CRITICAL, "above")
        if level is None:
            return []
        return [Verdict(level[0], "drift_psi", comparison.psi, level[1], "above")]
    values = {
        "drift_psi": comparison.psi,
        "drift_ks_pvalue": comparison.ks_pvalue,
        "drift_wasserstein": comparison.wasserstein,
        "accuracy_drop": accuracy_drop,
    }
    verdicts = []
    for name, levels in configured.items():
        value = values[name]
        if value is None or not math.isfinite(value):
            continue
        level = crossed(value, levels.warning, levels.critical, levels.direction)
        if level is not None:
            verdicts.append(Verdict(level[0], name, value, level[1], levels.direction))
    return verdicts
