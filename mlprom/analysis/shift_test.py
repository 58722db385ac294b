"""The circular time-shift test of suspects: slow steps shifted against each series, maxT across series.

Pure numpy over plain arrays; docs/correlation.md ("The test") states exactly what is computed and why.
numpy is imported inside the functions, never when mlprom is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Runs of slow steps closer than this many quiet steps are one episode: a step is one measurement of the
# infra, and two bursts a step or two apart sit in the same rate windows (90 s at the default 30 s step).
EPISODE_GAP_STEPS = 3
# Lags longer than this share of the analysed window are not tested: a lag is a lead of minutes, and a
# window only a few lags long leaves too few shifts that do not reuse the observed alignment.
MAX_LAG_SHARE = 0.1
BLOCK_ROWS = 256


@dataclass(frozen=True)
class Episode:
    """A run of slow steps, [start, end) in step indices of the grid it was counted on."""

    start: int
    end: int


def episodes_of(slow: Sequence[int], gap: int = EPISODE_GAP_STEPS) -> list[Episode]:
    """Runs of steps with slow events, merged when fewer than `gap` quiet steps separate them."""
    out: list[Episode] = []
    start = last = -1
    for i, n in enumerate(slow):
        if not n:
            continue
        if start < 0:
            start = i
        elif i - last - 1 >= gap:
            out.append(Episode(start, last + 1))
            start = i
        last = i
    if start >= 0:
        out.append(Episode(start, last + 1))
    return out


def slow_periods(slow_bins: Sequence[int], origin: float, gap_seconds: float) -> list[tuple[float, float]]:
    """Episodes from per-second slow event counts: runs of seconds with slow events, merged when the quiet
    between them is shorter than `gap_seconds`; [start, end) in unix seconds from `origin`."""
    import numpy as np

    seconds = np.flatnonzero(np.asarray(slow_bins))
    if not len(seconds):
        return []
    breaks = np.flatnonzero(np.diff(seconds) - 1 >= gap_seconds)
    starts = [int(seconds[0]), *(int(seconds[i + 1]) for i in breaks)]
    ends = [*(int(seconds[i]) + 1 for i in breaks), int(seconds[-1]) + 1]
    return [(origin + a, origin + b) for a, b in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class GridQuery:
    """One query's series on its step axis, with the slow events joined to each step (at lag 0).

    `values[j][t]` is series j at step t, None where it has no finite value (masked, never filled).
    `lag_steps` are the lags to test, in steps (k: the series' value k steps before the slow step).
    """

    slow: Sequence[int]
    values: Sequence[Sequence[float | None]]
    lag_steps: Sequence[int] = (0,)
    directions: Sequence[int] = ()  # per series: +1 causes by rising, -1 by falling, 0 either way (default)


@dataclass(frozen=True)
class SeriesResult:
    """The test of one series: where it stands among the shifts and across the family."""

    tested: bool  # False: too few slow steps with a value, or a constant series
    z: float  # its observed statistic, standardized against its own shifts (max over its lags)
    p_value: float | None  # its own shift p-value: share of shifts at least as extreme
    adjusted: float | None  # maxT across the family: FWER-adjusted p-value
    lag_index: int  # index into its query's lag_steps: the shortest lag that holds (or the best)
    sign: int  # +1: higher on slow steps at that lag, -1: lower, 0: no difference
    slow_steps: int  # steps with a value and slow events at that lag


@dataclass(frozen=True)
class ShiftTest:
    """Every query's series results (same order as given), and what the test could resolve."""

    results: list[list[SeriesResult]]
    shifts: int  # null shifts used (the observed alignment not counted)
    window_steps: int  # steps of the longest analysed axis
    resolution: float  # the smallest adjusted p-value possible: 1 / (shifts + 1)
    critical: float | None  # the standardized statistic a cause must reach; None: cannot reject
    hypotheses: int  # series in the family


def step_of(times: Sequence[float], default: float) -> float:
    """The resolution of an axis: the median spacing of its times (`default` for fewer than two)."""
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    return gaps[len(gaps) // 2] if gaps else default


def lag_steps_for(lags_seconds: Sequence[float], step_seconds: float, window_steps: int) -> list[int]:
    """The lags (seconds) in whole steps, without repeats, keeping lag 0 and those within MAX_LAG_SHARE
    of the window."""
    limit = max(0, int(MAX_LAG_SHARE * window_steps))
    out: list[int] = []
    for lag in lags_seconds:
        k = round(lag / step_seconds) if step_seconds > 0 else 0
        if k <= limit and k not in out:
            out.append(k)
    return out or [0]


def shift_statistics(
    slow: npt.NDArray[np.float64], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """T[j, o]: the standardized difference of series j's mean on the steps whose slow indicator, moved
    o steps (slow at t + o paired with the value at t), is set, against its mean on the other steps.

    T = (mean_slow - mean_other) / sqrt(var * (1/n_slow + 1/n_other)), var over every present value,
    for every offset at once by circular cross-correlation (FFT). 0 where a side is empty.
    """
    import numpy as np

    n = values.shape[1]
    present = np.isfinite(values)
    counts = present.sum(axis=1, keepdims=True).astype(np.float64)
    safe = np.where(present, values, 0.0)
    mean = safe.sum(axis=1, keepdims=True) / np.maximum(counts, 1.0)
    # Centred first: bytes per second near 1e8 would lose their variance to cancellation.
    centred = np.where(present, values - mean, 0.0)
    var = (centred**2).sum(axis=1, keepdims=True) / np.maximum(counts, 1.0)
    spectrum = np.fft.rfft(slow)
    # sum_t s[(t + o) % n] * x[t] for every o: irfft(S * conj(X)).
    n_slow = np.rint(
        np.fft.irfft(spectrum * np.conj(np.fft.rfft(present.astype(np.float64), axis=1)), n, axis=1)
    )
    sum_slow = np.fft.irfft(spectrum * np.conj(np.fft.rfft(centred, axis=1)), n, axis=1)
    n_other = counts - n_slow
    with np.errstate(divide="ignore", invalid="ignore"):
        # The centred mean over all is 0, so mean_other = -sum_slow / n_other.
        diff = sum_slow / n_slow + sum_slow / n_other
        t = diff / np.sqrt(var * (1.0 / n_slow + 1.0 / n_other))
    ok = (n_slow >= 1) & (n_other >= 1) & (var > 0)
    return np.where(ok & np.isfinite(t), t, 0.0)


def circular_shift_test(queries: Sequence[GridQuery], alpha: float, min_slow_steps: int = 3) -> ShiftTest:
    """Test every series of every query at once (docs/correlation.md, "The test").

    Per series, at every circular shift d of the slow indicator: M(d) = max over its lags k of S(d + k),
    with S = T for a series whose query causes slowness by rising, -T by falling, |T| either way;
    standardized by the mean and standard deviation of M over every shift (d = 0, the observed alignment,
    included). Across the family, single-step Westfall-Young maxT: adjusted p = (1 + #{shifts d != 0
    whose largest standardized M over the family reaches the series' observed one}) / (number of shifts).
    A directional series that moved against its direction is not tested as a cause there (its S is
    low): it is a consequence, described, not a suspect the test names. Queries on axes of different
    lengths are shifted by the same share of their axis.
    """
    import numpy as np

    window = max((len(q.slow) for q in queries), default=0)
    # Every circular shift, the observed alignment (0) included: the shifts form a group, which is what
    # makes the test exact when the slow steps' position in the window carries no information. Shifts
    # near 0 partly re-align a real signal and cost it some power; leaving them out would make the test
    # anti-conservative for autocorrelated series (the observed alignment would lose exactly the
    # neighbours that share its luck: 8% false days instead of 5% in bench/significance_calibration.py).
    # The shift r of the longest axis moves an axis of n steps by round(r * n / window) steps.
    null = list(range(1, window))
    reference = np.array([0, *null], dtype=np.int64)

    measured: list[_Measured | None] = []
    for q in queries:
        n = len(q.slow)
        if n == 0 or not q.values:
            measured.append(None)
            continue
        slow = (np.asarray(q.slow, dtype=np.float64) > 0).astype(np.float64)
        values = np.array(q.values, dtype=np.float64)  # None becomes NaN
        values[~np.isfinite(values)] = np.nan
        # In blocks of rows: the temporaries of a block stay in cache (1,500 series of a day at 30 s:
        # 0.4 s in blocks of 256 against 1.2 s at once, docs/benchmarks.md).
        t = np.concatenate(
            [shift_statistics(slow, values[i : i + BLOCK_ROWS]) for i in range(0, len(values), BLOCK_ROWS)]
        )
        lags = np.asarray(q.lag_steps, dtype=np.int64)
        present = np.isfinite(values)
        # Slow steps with a value at each lag: the indicator at t + k over the present steps.
        counts = np.stack([(np.roll(slow, -int(k))[None, :] * present).sum(axis=1) for k in lags], axis=1)
        shifts = np.rint(reference * n / window).astype(np.int64) % n
        directions = np.asarray(q.directions if q.directions else [0] * len(values), dtype=np.float64)
        measured.append(_Measured(n, t, lags, counts.astype(np.int64), shifts, directions[:, None]))

    results, critical, hypotheses = _family(queries, measured, alpha, min_slow_steps, len(null))
    return ShiftTest(results, len(null), window, 1.0 / (len(null) + 1), critical, hypotheses)


@dataclass(frozen=True)
class _Measured:
    n: int
    t: npt.NDArray[np.float64]  # T[j, offset]
    lags: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]  # slow steps with a value, per series and lag
    shifts: npt.NDArray[np.int64]  # this axis' shift for each reference shift
    directions: npt.NDArray[np.float64]  # per series (column): +1 rise, -1 fall, 0 either way


def _family(
    queries: Sequence[GridQuery],
    measured: Sequence[_Measured | None],
    alpha: float,
    min_slow_steps: int,
    n_null: int,
) -> tuple[list[list[SeriesResult]], float | None, int]:
    """The maxT family: each series' oriented statistic S, max over lags per shift, standardized."""
    import numpy as np

    rows_of: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]] | None] = []
    for item in measured:
        if item is None:
            rows_of.append(None)
            continue
        # Along the query's causal direction; either way for a query that may cause slowness both ways.
        statistic = np.where(item.directions == 0, np.abs(item.t), item.directions * item.t)
        n, lags, shifts = item.n, item.lags, item.shifts
        m = statistic[:, shifts % n]
        for k in lags[1:]:
            np.maximum(m, statistic[:, (shifts + k) % n], out=m)
        mu = m.mean(axis=1, keepdims=True)
        sd = m.std(axis=1, keepdims=True)
        tested = (sd[:, 0] > 0) & (item.counts.max(axis=1) >= min_slow_steps) & (n_null > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sd > 0, (m - mu) / sd, 0.0)
            z_lag = np.where(sd > 0, (statistic[:, lags % n] - mu) / sd, 0.0)
        z_lag = np.where(item.counts >= min_slow_steps, z_lag, -np.inf)
        rows_of.append((z, z_lag, tested))

    family = [z[tested] for entry in rows_of if entry is not None for z, _, tested in [entry]]
    hypotheses = sum(len(z) for z in family)
    null_max = (
        np.sort(np.concatenate(family, axis=0)[:, 1:].max(axis=0)) if hypotheses and n_null else np.zeros(0)
    )
    total = n_null + 1
    allowed = int(np.floor(alpha * total + 1e-9)) - 1  # null shifts that may reach a rejected series
    critical = float(null_max[len(null_max) - 1 - allowed]) if 0 <= allowed < len(null_max) else None

    def adjusted(value: float) -> float:
        reached = len(null_max) - int(np.searchsorted(null_max, value, side="left"))
        return (1 + reached) / total

    results: list[list[SeriesResult]] = []
    for q, item, entry in zip(queries, measured, rows_of, strict=True):
        if item is None or entry is None:
            results.append([SeriesResult(False, 0.0, None, None, 0, 0, 0) for _ in q.values])
            continue
        z, z_lag, tested = entry
        sign, counts = np.sign(item.t[:, item.lags % item.n]), item.counts
        out = []
        for j in range(z.shape[0]):
            observed = float(z[j, 0])
            order = sorted(range(z_lag.shape[1]), key=lambda i: q.lag_steps[i])  # shortest lag first
            if not tested[j]:
                best = max(order, key=lambda i: z_lag[j, i])
                out.append(
                    SeriesResult(False, observed, None, None, best, int(sign[j, best]), int(counts[j, best]))
                )
                continue
            own = (1 + int((z[j, 1:] >= observed).sum())) / total
            adj = adjusted(observed)
            if adj <= alpha:
                # The shortest lag whose statistic alone passes the family's critical value.
                index = next(i for i in order if adjusted(float(z_lag[j, i])) <= alpha)
            else:
                index = max(order, key=lambda i: z_lag[j, i])  # max() keeps the first, shortest, on a tie
            out.append(
                SeriesResult(True, observed, own, adj, index, int(sign[j, index]), int(counts[j, index]))
            )
        results.append(out)
    return results, critical, hypotheses
