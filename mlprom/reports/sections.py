"""The typed sections of the correlation report: infra, skew, significance and timeline.

Each has one `to_dict` (the stored form, docs/correlation.md "Report") and one `from_dict` (reading a
stored report, which may come from another writer or be edited by hand). `from_dict` returns what a
valid section holds unchanged, numbers keeping their JSON type, so `to_dict(from_dict(d)) == d` for
what correlate writes; it raises ValueError or TypeError for a section that is unusable as a whole,
and drops or blanks the parts of one that are not (a point whose time is not a number, a series that
is not an object), as the report page always did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def number(value: Any) -> float | None:
    """A finite number as it was stored (an int stays an int), else None; booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _numbers(value: Any) -> list[float | None]:
    return [number(v) for v in value] if isinstance(value, list) else []


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


@dataclass(frozen=True)
class InfraQuery:
    """Where one query's values came from and how many distinct times had one."""

    source: str  # snapshots | prometheus | mixed | none
    points: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "points": self.points, "error": self.error}

    @classmethod
    def from_dict(cls, data: Any) -> InfraQuery:
        data = data if isinstance(data, dict) else {}
        points = data.get("points")
        error = data.get("error")
        return cls(
            _text(data.get("source")),
            points if isinstance(points, int) and not isinstance(points, bool) else 0,
            error if isinstance(error, str) else None,
        )


@dataclass(frozen=True)
class InfraSection:
    """Which infra source correlate was set to use, at what step, and what each query gave."""

    source_setting: str  # correlate.infra_source: auto | snapshots | prometheus
    step_seconds: float
    requests: int  # range requests made to Prometheus
    queries: dict[str, InfraQuery]
    step_why: str = ""  # how correlate.step was resolved (mlprom/infra/resolution.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_setting": self.source_setting,
            "step_seconds": self.step_seconds,
            # Absent from reports written before correlate.step auto: a stored report reads back the same.
            **({"step_why": self.step_why} if self.step_why else {}),
            "requests": self.requests,
            "queries": {name: q.to_dict() for name, q in self.queries.items()},
        }

    @classmethod
    def from_dict(cls, data: Any) -> InfraSection:
        data = _object(data)
        step = number(data.get("step_seconds"))
        requests = data.get("requests")
        queries = data.get("queries")
        return cls(
            _text(data.get("source_setting")),
            step if step is not None else 0.0,
            requests if isinstance(requests, int) and not isinstance(requests, bool) else 0,
            {str(k): InfraQuery.from_dict(v) for k, v in queries.items()}
            if isinstance(queries, dict)
            else {},
            _text(data.get("step_why")),
        )


@dataclass(frozen=True)
class Skew:
    """The clock skew between events and infra that best separates the top suspect (None: not estimated)."""

    estimated_seconds: float | None
    warning: bool  # large enough, and inside the search, to be worth a warning
    gain: float | None = None  # the best shift's gain over none, and what noise gains (analysis/skew.py)
    null_gain: float | None = None

    def to_dict(self) -> dict[str, Any]:
        gains = {"gain": self.gain, "null_gain": self.null_gain} if self.gain is not None else {}
        return {"estimated_seconds": self.estimated_seconds, "warning": self.warning, **gains}

    @classmethod
    def from_dict(cls, data: Any) -> Skew:
        data = _object(data)
        return cls(
            number(data.get("estimated_seconds")),
            data.get("warning") is True,
            number(data.get("gain")),
            number(data.get("null_gain")),
        )


@dataclass(frozen=True)
class Significance:
    """How suspects were tested: the test, the multiple-testing correction and its rate, what was tested."""

    test: str
    correction: str
    fdr: float  # in (0, 1)
    hypotheses: int
    lags_seconds: tuple[float, ...]
    # What the circular-shift test computed and could resolve (docs/correlation.md, "The test"): kept
    # as written, absent from reports before it.
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **(self.details or {}),
            "test": self.test,
            "correction": self.correction,
            "fdr": self.fdr,
            "hypotheses": self.hypotheses,
            "lags_seconds": list(self.lags_seconds),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Significance:
        """ValueError when `fdr` is not a rate in (0, 1): the views print it as one."""
        data = _object(data)
        fdr = number(data.get("fdr"))
        if fdr is None or not 0 < fdr < 1:
            raise ValueError(f"fdr {data.get('fdr')!r} is not a rate")
        hypotheses = data.get("hypotheses")
        lags = [lag for lag in _numbers(data.get("lags_seconds")) if lag is not None]
        own = {"test", "correction", "fdr", "hypotheses", "lags_seconds"}
        details = {k: v for k, v in data.items() if k not in own}
        return cls(
            _text(data.get("test")),
            _text(data.get("correction")),
            fdr,
            hypotheses if isinstance(hypotheses, int) and not isinstance(hypotheses, bool) else 0,
            tuple(lags),
            details or None,
        )


@dataclass(frozen=True)
class SeriesThreshold:
    warning: float | None
    critical: float | None
    direction: str  # above | below

    def to_dict(self) -> dict[str, Any]:
        return {"warning": self.warning, "critical": self.critical, "direction": self.direction}


@dataclass(frozen=True)
class TimelineSeries:
    """One infra series of the timeline, its points in time order with None where it had no value."""

    metric: str
    labels: dict[str, str]
    source: str
    unit: str | None
    t: tuple[float, ...]
    v: tuple[float | None, ...]
    threshold: SeriesThreshold | None
    first_seen: float | None  # of the series' finding, unix seconds
    last_seen: float | None

    @property
    def warning(self) -> float | None:
        return self.threshold.warning if self.threshold else None

    @property
    def critical(self) -> float | None:
        return self.threshold.critical if self.threshold else None

    @property
    def direction(self) -> str:
        return self.threshold.direction if self.threshold else "above"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "labels": self.labels,
            "source": self.source,
            "unit": self.unit,
            "t": list(self.t),
            "v": list(self.v),
            "threshold": self.threshold.to_dict() if self.threshold is not None else None,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimelineSeries:
        t, (v,) = _aligned(_numbers(data.get("t")), _numbers(data.get("v")))
        raw = data.get("threshold")
        threshold = None
        if isinstance(raw, dict):
            direction = "below" if raw.get("direction") == "below" else "above"
            threshold = SeriesThreshold(number(raw.get("warning")), number(raw.get("critical")), direction)
        labels = data.get("labels")
        unit = data.get("unit")
        return cls(
            metric=_text(data.get("metric")),
            labels={str(k): _text(x) for k, x in labels.items()} if isinstance(labels, dict) else {},
            source=_text(data.get("source")),
            unit=unit if isinstance(unit, str) or unit is None else str(unit),
            t=t,
            v=v,
            threshold=threshold,
            first_seen=number(data.get("first_seen")),
            last_seen=number(data.get("last_seen")),
        )


@dataclass(frozen=True)
class Timeline:
    """Per-minute prediction times over the day and the top suspects' values (docs/correlation.md)."""

    start: float
    end: float
    step: float
    t: tuple[float, ...]  # minute starts
    count: tuple[float | None, ...]
    slow: tuple[float | None, ...]
    p50: tuple[float | None, ...]
    p95: tuple[float | None, ...]
    slow_periods: tuple[tuple[float, float], ...]
    series: tuple[TimelineSeries, ...]
    # "sketches": every prediction was counted (latency sketches); "events" (or absent): recorded events
    # only, where fast predictions are sampled.
    prediction_source: str = "events"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_seconds": self.step,
            "start": self.start,
            "end": self.end,
            "prediction": {
                "source": self.prediction_source,
                "t": list(self.t),
                "count": list(self.count),
                "slow": list(self.slow),
                "p50": list(self.p50),
                "p95": list(self.p95),
            },
            "slow_periods": [[a, b] for a, b in self.slow_periods],
            "series": [s.to_dict() for s in self.series],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Timeline:
        """ValueError when `start` and `end` are not numbers with end > start; points without a number
        for a time are dropped."""
        data = _object(data)
        start, end = number(data.get("start")), number(data.get("end"))
        if start is None or end is None or end <= start:
            raise ValueError("the timeline has no valid time range")
        prediction = data.get("prediction")
        prediction = prediction if isinstance(prediction, dict) else {}
        t, (count, slow, p50, p95) = _aligned(
            _numbers(prediction.get("t")),
            _numbers(prediction.get("count")),
            _numbers(prediction.get("slow")),
            _numbers(prediction.get("p50")),
            _numbers(prediction.get("p95")),
        )
        periods = []
        for period in data.get("slow_periods") if isinstance(data.get("slow_periods"), list) else []:
            if isinstance(period, list) and len(period) == 2:
                a, b = number(period[0]), number(period[1])
                if a is not None and b is not None and b >= a:
                    periods.append((a, b))
        series = data.get("series")
        entries = series if isinstance(series, list) else []
        return cls(
            start=start,
            end=end,
            step=number(data.get("step_seconds")) or 60,
            t=t,
            count=count,
            slow=slow,
            p50=p50,
            p95=p95,
            slow_periods=tuple(periods),
            series=tuple(TimelineSeries.from_dict(e) for e in entries if isinstance(e, dict)),
            prediction_source="sketches" if prediction.get("source") == "sketches" else "events",
        )


def _aligned(
    t: list[float | None], *columns: list[float | None]
) -> tuple[tuple[float, ...], list[tuple[float | None, ...]]]:
    """Rows whose time is a number; a column shorter than t is padded with None."""
    keep = [(i, at) for i, at in enumerate(t) if at is not None]
    return tuple(at for _, at in keep), [
        tuple(c[i] if i < len(c) else None for i, _ in keep) for c in columns
    ]
