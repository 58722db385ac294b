"""Peak-time profile: per UTC hour, events, slow share, p95 prediction time and resource medians; the peak
rule; and the seasonal forecast of next week's peak hours from several days' profiles.

Pure: plain numbers in, records out. docs/profile.md states exactly what is computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlprom.analysis import sketch
from mlprom.analysis.sketch import RELATIVE_ACCURACY

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 7 * HOURS_PER_DAY
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# --- p95 from a bounded histogram -------------------------------------------------------------------------
# The latency sketch's log buckets (mlprom.analysis.sketch), numbered from 1 here: bucket k holds
# (GAMMA^(j-1), GAMMA^j] with j = k - _SHIFT and answers 2 GAMMA^j / (GAMMA + 1), within RELATIVE_ACCURACY
# of every value in the bucket. Durations at or below MIN_SECONDS share bucket 0, answering 0 (absolute
# error <= 1 µs); durations at or above MAX_SECONDS are clamped into the top bucket. So an hour holds at
# most ~1,400 buckets per side, whatever the number of events.
MIN_SECONDS = sketch.MIN_VALUE
MAX_SECONDS = 1e6
_SHIFT = 1 - sketch.MIN_INDEX  # every duration above MIN_SECONDS: k >= 1
_TOP = sketch.bucket_of(MAX_SECONDS) + _SHIFT
_NAN = -1  # an event without a usable duration: counted, never a quantile
QUANTILE = 0.95


def bucket_index(seconds: float) -> int:
    """The bucket of a duration: the sketch's bucket, 0 for at most MIN_SECONDS, _NAN for NaN."""
    if seconds > MIN_SECONDS:
        return sketch.bucket_of(seconds) + _SHIFT if seconds < MAX_SECONDS else _TOP
    if seconds <= MIN_SECONDS:
        return 0
    return _NAN


def bucket_value(index: int) -> float:
    """What a bucket answers: 0 for bucket 0, else the sketch's value of the bucket."""
    if index <= 0:
        return 0.0
    return sketch.bucket_value(index - _SHIFT)


class LatencyHistogram:
    """Weighted counts per bucket: quantiles within RELATIVE_ACCURACY, memory bounded by the buckets' range."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: dict[int, float] = {}
        self.total = 0.0

    def add(self, seconds: float, weight: float = 1.0) -> None:
        self.add_bucket(bucket_index(seconds), weight)

    def add_bucket(self, index: int, weight: float) -> None:
        if index == _NAN or weight <= 0:
            return
        self.counts[index] = self.counts.get(index, 0.0) + weight
        self.total += weight

    def quantile(self, q: float) -> float | None:
        """The weighted nearest-rank q-quantile: the first bucket whose cumulative weight reaches q x total."""
        if self.total <= 0:
            return None
        rank = q * self.total
        cumulative = 0.0
        ordered = sorted(self.counts.items())
        for index, weight in ordered:
            cumulative += weight
            # A relative tolerance keeps float sums of weights from skipping the bucket that reaches the rank.
            if cumulative >= rank * (1 - 1e-12):
                return bucket_value(index)
        return bucket_value(ordered[-1][0])


def weighted_quantile(pairs: Iterable[tuple[float, float]], q: float) -> float | None:
    """Exact weighted nearest-rank quantile of (value, weight) pairs; the reference the histogram approximates."""
    ordered = sorted((v, w) for v, w in pairs if v == v and w > 0)
    if not ordered:
        return None
    rank = q * sum(w for _, w in ordered)
    cumulative = 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= rank * (1 - 1e-12):
            return value
    return ordered[-1][0]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of nothing")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


# --- constants of the peak rule and the forecast (docs/profile.md) ---------------------------------------
PEAK_Z = 3.5  # Iglewicz & Hoaglin's cut for the modified z-score: beyond it a point is an outlier
MAD_TO_SIGMA = 1.4826  # 1.4826 x MAD estimates the standard deviation of normal data
MIN_RISE = 0.25  # and at least 25 % above the median: a 2 % bump on a busy day is not a peak
MIN_PEAK_EVENTS = 10  # fewer events than this in an hour are too few to call a load peak
MIN_PEAK_SLOW = 5  # fewer slow events than this in an hour are too few to call a slow-share peak
MIN_HOURS = 6  # fewer observed hours than this are no baseline: nothing is labelled
MIN_WEEKS = 2  # every weekday seen at least this often, else the forecast falls back to hour-of-day
TOP_RESOURCES = 5  # resources whose hourly medians a profile keeps


# --- records ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HourStats:
    """One UTC hour of one day (or one slot of a forecast when the numbers are medians)."""

    hour: int
    events: int  # events recorded in the hour: every slow batch, a sample_rate share of the fast ones
    slow: int
    slow_share: float | None  # estimated share of the hour's batches that were slow; None without events
    p95: float | None  # seconds; None without events
    peak: bool = False
    resources: dict[str, float | None] = field(default_factory=dict)  # metric -> median in the hour

    def to_dict(self) -> dict[str, Any]:
        return {
            "hour": self.hour,
            "events": self.events,
            "slow": self.slow,
            "slow_share": self.slow_share,
            "p95": self.p95,
            "peak": self.peak,
            "resources": dict(self.resources),
        }

    @classmethod
    def from_dict(cls, data: Any) -> HourStats:
        if not isinstance(data, dict):
            raise ValueError("an hour is not an object")
        hour = _int(data.get("hour"), "hour")
        if not 0 <= hour < HOURS_PER_DAY:
            raise ValueError(f"hour {hour} is not 0..23")
        events = _int(data.get("events"), "events")
        slow = _int(data.get("slow"), "slow")
        if events < 0 or not 0 <= slow <= events:
            raise ValueError(f"hour {hour}: events {events}, slow {slow}")
        share = _optional_float(data.get("slow_share"), "slow_share")
        if share is not None and not 0.0 <= share <= 1.0:
            raise ValueError(f"hour {hour}: slow_share {share} is not 0..1")
        p95 = _optional_float(data.get("p95"), "p95")
        if p95 is not None and p95 < 0:
            raise ValueError(f"hour {hour}: p95 {p95} is negative")
        peak = data.get("peak", False)
        if not isinstance(peak, bool):
            raise ValueError(f"hour {hour}: peak is not a boolean")
        resources = data.get("resources") or {}
        if not isinstance(resources, dict) or not all(isinstance(k, str) for k in resources):
            raise ValueError(f"hour {hour}: resources is not an object")
        return cls(
            hour=hour,
            events=events,
            slow=slow,
            slow_share=share,
            p95=p95,
            peak=peak,
            resources={k: _optional_float(v, f"resources.{k}") for k, v in resources.items()},
        )


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not an integer")
    return value


def _optional_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number")
    return float(value)


@dataclass(frozen=True)
class DayProfile:
    """The `profile` section of a report: the day's observed hours, its peak hours and how they were found."""

    hours: tuple[HourStats, ...]
    peak_hours: tuple[int, ...]
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": [h.to_dict() for h in self.hours],
            "peak_hours": list(self.peak_hours),
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: Any) -> DayProfile:
        """Validate a stored section; ValueError names what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("profile is not an object")
        raw_hours = data.get("hours")
        if not isinstance(raw_hours, list):
            raise ValueError("profile.hours is not a list")
        hours = tuple(HourStats.from_dict(h) for h in raw_hours)
        if len({h.hour for h in hours}) != len(hours):
            raise ValueError("profile.hours repeats an hour")
        peaks = data.get("peak_hours") or []
        if not isinstance(peaks, list):
            raise ValueError("profile.peak_hours is not a list")
        method = data.get("method", "")
        if not isinstance(method, str):
            raise ValueError("profile.method is not a string")
        return cls(
            hours=tuple(sorted(hours, key=lambda h: h.hour)),
            peak_hours=tuple(_int(p, "peak hour") for p in peaks),
            method=method,
        )


# --- the peak rule ------------------------------------------------------------------------------------------


def peak_flags(events: Sequence[float], slow: Sequence[float]) -> list[bool]:
    """Which of these hours (or slots) are peaks, by load or by slow share; the rule of docs/profile.md.

    `events` and `slow` are per observed hour (recorded counts, or their medians in a forecast).
    Load: with y = 2 sqrt(events + 3/8), y >= median(y) + PEAK_Z x max(1.4826 x MAD(y), 1), and
    events >= (1 + MIN_RISE) x median(events), and events >= MIN_PEAK_EVENTS.
    Slow share: over the hours with events, on the log-odds log((slow + 0.5) / (fast + 0.5)),
    log-odds >= median + PEAK_Z x max(1.4826 x MAD, sqrt(1/(slow+0.5) + 1/(fast+0.5))), and the share
    >= (1 + MIN_RISE) x the median share, and slow >= MIN_PEAK_SLOW.
    """
    n = len(events)
    flags = [False] * n
    if n < MIN_HOURS:
        return flags
    # Load on the Anscombe scale, 2 sqrt(x + 3/8): Poisson counts become about normal with standard deviation 1
    # at any rate, so a flat day of independent arrivals labels nothing, at 3 events an hour or at 40,000.
    center = median(events)
    scaled = [2.0 * math.sqrt(x + 0.375) for x in events]
    center_scaled = median(scaled)
    mad = median([abs(y - center_scaled) for y in scaled])
    scale = max(MAD_TO_SIGMA * mad, 1.0)
    for i, x in enumerate(events):
        if (
            x >= MIN_PEAK_EVENTS
            and x >= (1 + MIN_RISE) * center
            and scaled[i] - center_scaled >= PEAK_Z * scale
        ):
            flags[i] = True

    # Slow share: the sampling weight of fast events is the same for every hour of a day, so it cancels out
    # of log-odds differences and the recorded counts are enough.
    active = [i for i in range(n) if events[i] > 0]
    if len(active) < MIN_HOURS:
        return flags
    odds = {i: math.log((slow[i] + 0.5) / (events[i] - slow[i] + 0.5)) for i in active}
    share = {i: slow[i] / events[i] for i in active}
    center_odds = median(list(odds.values()))
    mad_odds = median([abs(v - center_odds) for v in odds.values()])
    center_share = median(list(share.values()))
    for i in active:
        fast = events[i] - slow[i]
        noise = math.sqrt(1.0 / (slow[i] + 0.5) + 1.0 / (fast + 0.5))
        if (
            slow[i] >= MIN_PEAK_SLOW
            and share[i] >= (1 + MIN_RISE) * center_share
            and odds[i] - center_odds >= PEAK_Z * max(MAD_TO_SIGMA * mad_odds, noise)
        ):
            flags[i] = True
    return flags


def day_method(fast_weight: float) -> str:
    return (
        f"hour-of-day UTC; peak: robust z >= {PEAK_Z:g} of events or of slow log-odds (docs/profile.md); "
        f"p95 within {RELATIVE_ACCURACY:.0%} relative; fast events weighted x{fast_weight:g} (1/model.sample_rate)"
    )


# --- the accumulator fed by correlate ------------------------------------------------------------------------


class HourProfile:
    """Per UTC hour of one date: latency bucket counts and slow counts, for sampled and for kept events.

    Fed one event at a time in correlate's pass; memory is bounded by the buckets (24 hours x 2 sides x
    ~1,400 log buckets at most), whatever the number of events. Capture keeps every slow batch but only a
    model.sample_rate share of the fast ones; for the slow share and the p95 each sampled event stands for
    `fast_weight` batches, each kept one for itself. The counts stay as recorded.
    """

    __slots__ = ("start", "fast_weight", "counts", "slow", "outside")

    def __init__(self, day: date, fast_weight: float = 1.0) -> None:
        self.start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        self.fast_weight = fast_weight if fast_weight > 0 and math.isfinite(fast_weight) else 1.0
        # Side h: the events of hour h recorded as a sample; side 24 + h: those kept whatever (slow at capture).
        self.counts: list[dict[int, int]] = [{} for _ in range(2 * HOURS_PER_DAY)]  # bucket -> events
        self.slow = [0] * (2 * HOURS_PER_DAY)  # slow events per side
        self.outside = 0  # events whose time is not on the date

    def add(self, at: float, seconds: float, slow: bool, sampled: bool | None = None) -> None:
        """Count one event; `sampled` (default: not slow) says it was recorded as part of the fast sample.

        They differ when slow is re-classified at another latency threshold than the capture's.
        """
        hour = int((at - self.start) // 3600.0)
        if not 0 <= hour < HOURS_PER_DAY:
            self.outside += 1
            return
        if not (not slow if sampled is None else sampled):
            hour += HOURS_PER_DAY
        if slow:
            self.slow[hour] += 1
        counts = self.counts[hour]
        index = bucket_index(seconds)
        counts[index] = counts.get(index, 0) + 1

    def result(
        self, covered: int = HOURS_PER_DAY, resources: dict[int, dict[str, float | None]] | None = None
    ) -> DayProfile:
        """The profile of hours 0..covered-1 (the hours of the date that have ended), peaks labelled."""
        resources = resources or {}
        w = self.fast_weight
        hours = range(max(0, min(covered, HOURS_PER_DAY)))
        events = [sum(self.counts[h].values()) + sum(self.counts[HOURS_PER_DAY + h].values()) for h in hours]
        slow = [self.slow[h] + self.slow[HOURS_PER_DAY + h] for h in hours]
        flags = peak_flags([float(n) for n in events], [float(n) for n in slow])
        stats = []
        for h in hours:
            latency = LatencyHistogram()
            for index, count in self.counts[h].items():
                latency.add_bucket(index, count * w)
            for index, count in self.counts[HOURS_PER_DAY + h].items():
                latency.add_bucket(index, float(count))
            sampled = sum(self.counts[h].values())
            weight = w * sampled + (events[h] - sampled)
            slow_weight = w * self.slow[h] + self.slow[HOURS_PER_DAY + h]
            stats.append(
                HourStats(
                    hour=h,
                    events=events[h],
                    slow=slow[h],
                    slow_share=slow_weight / weight if weight > 0 else None,
                    p95=latency.quantile(QUANTILE),
                    peak=flags[h],
                    resources=dict(resources.get(h, {})),
                )
            )
        return DayProfile(
            hours=tuple(stats), peak_hours=tuple(s.hour for s in stats if s.peak), method=day_method(w)
        )


def covered_hours(day: date, now: datetime) -> int:
    """How many hours of `day` have ended at `now`: 24 for a past date, fewer for today, 0 for a future one."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    elapsed = (now.astimezone(UTC) - start).total_seconds()
    return max(0, min(HOURS_PER_DAY, int(elapsed // 3600)))


# --- resources per hour, from the infra table correlate builds ------------------------------------------------


def top_resources(ranked: Iterable[str], available: Iterable[str], limit: int = TOP_RESOURCES) -> list[str]:
    """Up to `limit` metric names: those of the ranked suspects first (rank order), then the others by name."""
    available_set = set(available)
    chosen: list[str] = []
    for metric in ranked:
        if metric in available_set and metric not in chosen:
            chosen.append(metric)
    for metric in sorted(available_set - set(chosen)):
        chosen.append(metric)
    return chosen[:limit]


def hourly_medians(
    day: date,
    times: Sequence[float],
    series: Sequence[tuple[str, Any]],
    values: Sequence[Sequence[float | None]],
    metrics: Sequence[str],
) -> dict[int, dict[str, float | None]]:
    """hour -> {metric: median of every value of every series of the metric at times within that hour}.

    `series[k]` is (metric, labels) and `values[k][i]` its value at `times[i]` (None when absent), the shape of
    correlate's infra table. Memory is the table's own: at most one list of values per metric and hour.
    """
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    hour_of = [int((t - start) // 3600.0) for t in times]
    wanted = set(metrics)
    pooled: dict[tuple[int, str], list[float]] = {}
    for k, key in enumerate(series):
        metric = key[0]
        if metric not in wanted:
            continue
        for i, value in enumerate(values[k]):
            hour = hour_of[i]
            if value is None or not math.isfinite(value) or not 0 <= hour < HOURS_PER_DAY:
                continue
            pooled.setdefault((hour, metric), []).append(value)
    out: dict[int, dict[str, float | None]] = {}
    for hour in range(HOURS_PER_DAY):
        row = {m: (median(pooled[(hour, m)]) if (hour, m) in pooled else None) for m in metrics}
        if any(v is not None for v in row.values()):
            out[hour] = row
    return out


# --- the forecast over several days -------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One hour of the week (weekday 0 = Monday) or, in the hour-of-day fallback, of every day (weekday None)."""

    weekday: int | None
    hour: int
    observations: int  # days behind the medians (the weeks, for an hour-of-week slot)
    events: float | None
    slow: float | None
    slow_share: float | None
    p95: float | None
    resources: dict[str, float | None]
    peak: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "weekday": WEEKDAYS[self.weekday] if self.weekday is not None else None,
            "hour": self.hour,
            "observations": self.observations,
            "events": self.events,
            "slow": self.slow,
            "slow_share": self.slow_share,
            "p95": self.p95,
            "resources": dict(self.resources),
            "peak": self.peak,
        }


@dataclass(frozen=True)
class PeakForecast:
    """A predicted peak: the date and UTC hour (date None in the hour-of-day fallback: every day)."""

    date: date | None
    weekday: int | None
    hour: int
    events: float
    slow_share: float | None
    p95: float | None
    observations: int
    resources: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat() if self.date else None,
            "weekday": WEEKDAYS[self.weekday] if self.weekday is not None else None,
            "hour": self.hour,
            "events": self.events,
            "slow_share": self.slow_share,
            "p95": self.p95,
            "observations": self.observations,
            "resources": dict(self.resources),
        }


@dataclass(frozen=True)
class Forecast:
    method: str  # "hour-of-week" | "hour-of-day"
    start: date  # first date forecast (the day after the history)
    end: date  # last date forecast (start + 6)
    weekday_days: tuple[int, ...]  # days of history per weekday, Monday first
    slots: tuple[Slot, ...]
    peaks: tuple[PeakForecast, ...]
    note: str | None  # why the forecast fell back, or how thin it is

    @property
    def peak_hours(self) -> tuple[int, ...]:
        return tuple(sorted({p.hour for p in self.peaks}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "weekday_days": dict(zip(WEEKDAYS, self.weekday_days, strict=True)),
            "peak_hours": list(self.peak_hours),
            "peaks": [p.to_dict() for p in self.peaks],
            "slots": [s.to_dict() for s in self.slots],
            "note": self.note,
        }


def _median_or_none(values: list[float]) -> float | None:
    return median(values) if values else None


def _slot(weekday: int | None, hour: int, hours: list[HourStats]) -> Slot:
    metrics = sorted({m for h in hours for m in h.resources})
    resources = {
        m: _median_or_none([v for h in hours if (v := h.resources.get(m)) is not None]) for m in metrics
    }
    return Slot(
        weekday=weekday,
        hour=hour,
        observations=len(hours),
        events=_median_or_none([float(h.events) for h in hours]),
        slow=_median_or_none([float(h.slow) for h in hours]),
        slow_share=_median_or_none([h.slow_share for h in hours if h.slow_share is not None]),
        p95=_median_or_none([h.p95 for h in hours if h.p95 is not None]),
        resources=resources,
    )


def forecast(days: Sequence[tuple[date, DayProfile]], start: date) -> Forecast:
    """Seasonal-median forecast of the 7 days from `start`, from the profiles of earlier days.

    Hour of week (168 slots, the median of each slot's days) when every weekday has at least MIN_WEEKS days
    of history; otherwise hour of day (24 slots, the median over all days). Peaks: peak_flags over the slots'
    median events and slow counts (all 168 slots together, so a busy Tuesday is measured against the week).
    """
    weekday_days = [0] * 7
    by_slot: dict[tuple[int, int], list[HourStats]] = {}
    for day, profile in days:
        weekday_days[day.weekday()] += 1
        for hour in profile.hours:
            by_slot.setdefault((day.weekday(), hour.hour), []).append(hour)
    total_days = len(days)
    weekly = min(weekday_days) >= MIN_WEEKS
    if weekly:
        method = "hour-of-week"
        slots = [_slot(w, h, by_slot.get((w, h), [])) for w in range(7) for h in range(HOURS_PER_DAY)]
        thin = sum(1 for s in slots if s.observations < MIN_WEEKS)
        note = (
            f"{thin} of {HOURS_PER_WEEK} hour-of-week slots rest on fewer than {MIN_WEEKS} days"
            if thin
            else None
        )
    else:
        method = "hour-of-day"
        slots = [
            _slot(None, h, [s for w in range(7) for s in by_slot.get((w, h), [])])
            for h in range(HOURS_PER_DAY)
        ]
        short = ", ".join(WEEKDAYS[w] for w in range(7) if weekday_days[w] < MIN_WEEKS)
        note = (
            f"too little history for a weekly forecast: {total_days} day(s); {short} seen fewer than "
            f"{MIN_WEEKS} times. Forecasting by hour of day (the same peak hours every day)"
            if total_days
            else "no profiles: nothing to forecast"
        )
    observed = [i for i, s in enumerate(slots) if s.events is not None]
    flags = peak_flags([slots[i].events or 0.0 for i in observed], [slots[i].slow or 0.0 for i in observed])
    peak_index = {i for i, flag in zip(observed, flags, strict=True) if flag}
    slots = [_with_peak(s, i in peak_index) for i, s in enumerate(slots)]
    peaks: list[PeakForecast] = []
    for offset in range(7) if weekly else ():
        when = start + timedelta(days=offset)
        for h in range(HOURS_PER_DAY):
            slot = slots[when.weekday() * HOURS_PER_DAY + h]
            if slot.peak:
                peaks.append(_peak(when, slot))
    if not weekly:
        peaks = [_peak(None, s) for s in slots if s.peak]
    return Forecast(
        method=method,
        start=start,
        end=start + timedelta(days=6),
        weekday_days=tuple(weekday_days),
        slots=tuple(slots),
        peaks=tuple(peaks),
        note=note,
    )


def _with_peak(slot: Slot, peak: bool) -> Slot:
    return replace(slot, peak=True) if peak else slot


def _peak(when: date | None, slot: Slot) -> PeakForecast:
    return PeakForecast(
        date=when,
        weekday=when.weekday() if when else None,
        hour=slot.hour,
        events=slot.events or 0.0,
        slow_share=slot.slow_share,
        p95=slot.p95,
        observations=slot.observations,
        resources=dict(slot.resources),
    )
