"""Clock skew between the serving hosts and Prometheus, estimated from one significant suspect.

Pure: per-second event counts and one series in, an estimate out; docs/correlation.md ("Clock skew").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlprom.analysis.join import join_counts

SKEW_SEARCH = 60.0  # searched within +-max(this, 2 steps)
SKEW_WARN = 10.0  # an estimate at least this large (and at least half a step) is worth a warning
# The gain of the best shift must exceed this quantile of the gains the same search finds when the slow
# steps are shifted circularly by whole steps to where the series says little: noise finds gains too.
NULL_QUANTILE = 0.99


@dataclass(frozen=True)
class SkewEstimate:
    estimated_seconds: float  # how far the events' clock is ahead of Prometheus' (negative: behind)
    gain: float  # |statistic| at the best shift minus at no shift
    null_gain: float  # the NULL_QUANTILE of the same gain at shifted alignments
    warning: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimated_seconds": self.estimated_seconds,
            "gain": self.gain,
            "null_gain": self.null_gain,
            "warning": self.warning,
        }


def candidates_of(step: float) -> list[float]:
    """Shifts of the events, in seconds, both directions, finer than a step."""
    reach = max(SKEW_SEARCH, 2 * step)
    spacing = max(1.0, min(step, SKEW_SEARCH) / 3.0)
    count = int(reach // spacing)
    return [k * spacing for k in range(-count, count + 1)]


def estimate_skew(
    times: Sequence[float],
    values: Sequence[float | None],
    origin: float,
    base_shift: float,
    max_skew: float,
    slow_prefix: Sequence[int],
    fast_prefix: Sequence[int],
    step: float,
) -> SkewEstimate | None:
    """The shift of event times that best separates one series' values (the suspect's own axis).

    For every candidate shift d (sub-step, both directions) the events are joined again at
    `base_shift + d` (the query's window and the suspect's lag) and the shift test's statistic |T| of
    the series at that alignment is computed; the best d (largest |T|; the middle of the run of equally
    good shifts that holds the one nearest to 0; 0 when that run holds 0) is the estimate. Its gain over
    no shift is compared with the gains the same search finds at the circular whole-step shifts of the
    slow steps where the series says little (|T| at most its median) and whose own search cannot reach
    the observed alignment (more than twice the search's reach away): a warning needs a gain beyond
    their NULL_QUANTILE, an estimate of at least max(SKEW_WARN, step / 2), and a best shift inside the
    search (at its edge a real lead is likelier than a skew). None when no candidate has slow steps.
    """
    import numpy as np

    from mlprom.analysis.significance import shift_statistics

    shifts = candidates_of(step)
    x = np.array([values], dtype=np.float64)
    rows = []
    for d in shifts:
        joined = join_counts(times, origin, base_shift + d, max_skew, slow_prefix, fast_prefix)
        slow = (np.asarray(joined.slow) > 0).astype(np.float64)
        rows.append(np.abs(shift_statistics(slow, x)[0]) if slow.any() else np.zeros(len(times)))
    scores = np.stack(rows)  # scores[c, o]: |T| with candidate c, slow steps moved o steps
    zero = shifts.index(0.0)
    if not scores[:, 0].any():
        return None
    observed = [round(float(v), 9) for v in scores[:, 0]]
    top = max(observed)
    best = min((c for c in range(len(shifts)) if observed[c] == top), key=lambda c: abs(shifts[c]))
    # Events join whole steps, so a run of neighbouring shifts often separates equally well: the
    # estimate is the middle of the run that holds the best shift nearest to 0.
    low = high = best
    while low > 0 and observed[low - 1] == top:
        low -= 1
    while high < len(shifts) - 1 and observed[high + 1] == top:
        high += 1
    gain = float(scores[best, 0] - scores[zero, 0])
    # The same search at alignments where the slow steps sit elsewhere: how much noise alone gains.
    # Only alignments where the series says little (|T| at most its median over the shifts): where the
    # slow steps land on the signal again (episodes as regular as the load behind them) the search
    # gains from the signal, not from noise.
    # Nor alignments whose own search reaches the observed one's: their best shift would be the signal.
    steps = scores.shape[1]
    offsets = np.arange(1, steps)
    apart = np.minimum(offsets, steps - offsets) * step > 2.0 * max(abs(shifts[0]), abs(shifts[-1]))
    plain = (scores[zero, 1:] <= np.median(scores[zero, 1:])) & apart if steps > 1 else np.zeros(0, bool)
    null_gains = (scores[:, 1:].max(axis=0) - scores[zero, 1:])[plain]
    null_gain = float(np.quantile(null_gains, NULL_QUANTILE)) if null_gains.size else float("inf")
    # A shift of +d joins each event to the infra d seconds later: the events' clock is d seconds behind.
    # No shift separates as well as the best: nothing to estimate beyond what a step can resolve.
    estimate = 0.0 if low <= zero <= high else -(shifts[low] + shifts[high]) / 2.0
    inside = low > 0 and high < len(shifts) - 1
    warning = inside and abs(estimate) >= max(SKEW_WARN, step / 2.0) and gain > null_gain
    return SkewEstimate(estimate, gain, null_gain, warning)
