"""The report document behind the pictures: which results have one, and a tolerant reading of its fields.

A stored report may come from an older mlprom (sections absent) or be edited by hand (fields of the
wrong type): every reader here returns None or an empty value for what is not usable, never raises.
Shared by the HTML page (render/html/) and the PNG timeline (render/picture.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from mlprom.dates import DAY_SECONDS
from mlprom.errors import ConfigError


def report_document(result: Any) -> tuple[dict[str, Any], str]:
    """(the report's JSON document, its storage URL) of a correlate or report result."""
    from mlprom.reports.correlation import CorrelationReport

    document = getattr(result, "document", None)
    if isinstance(document, dict):  # a stored report, read back as it was written
        return document, str(getattr(result, "url", ""))
    if isinstance(result, CorrelationReport):
        return result.to_dict(), result.url
    raise ConfigError(f"html and pictures are for correlate and report results, not {type(result).__name__}")


_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def format_number(value: float, step: float | None = None) -> str:
    """A tick or table number: SI suffixes from 10,000 up, decimals enough to tell ticks apart."""
    if not math.isfinite(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1e4:
        for scale, suffix in _SI:
            if magnitude >= scale:
                scaled = value / scale
                inner = (step / scale) if step else None
                return format_number(scaled, inner) + suffix
    if step:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        if abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
            decimals += 1  # a step of 2.5 needs 2.5 and 7.5, not 2 and 8
        return f"{value:.{min(decimals, 9)}f}"
    if magnitude == 0 or 1e-3 <= magnitude < 1e4:
        return f"{value:.4g}"
    return f"{value:.3g}"


def num(value: Any) -> float | None:
    """A finite number, else None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def nums(value: Any) -> list[float | None]:
    return [num(v) for v in value] if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def labels_of(value: Any) -> dict[str, str]:
    return {str(k): as_str(v) for k, v in as_dict(value).items()}


def label_text(labels: Mapping[str, str]) -> str:
    """{instance="node-b", job="node"}: Prometheus' own notation, values literal."""
    shown = [(k, v) for k, v in sorted(labels.items()) if not k.startswith("__")]
    if not shown:
        return ""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in shown) + "}"


def where_text(labels: Mapping[str, str]) -> str:
    """How a sentence names a series: its instance when it has one, else its labels."""
    return labels.get("instance") or label_text(labels)


def parse_unix(value: Any) -> float | None:
    """Unix seconds from a number or an RFC3339 string with a zone; None otherwise."""
    number = num(value)
    if number is not None:
        return number
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo else None
    return None


def day_of(document: Mapping[str, Any]) -> date | None:
    try:
        return date.fromisoformat(as_str(document.get("date")))
    except ValueError:
        return None


def identity(metric: Any, labels: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    return as_str(metric), tuple(sorted(labels_of(labels).items()))


@dataclass(frozen=True)
class SeriesLine:
    """One infra series of the timeline, its points in time order with None where it had no value."""

    metric: str
    labels: dict[str, str]
    unit: str
    source: str
    t: list[float]
    v: list[float | None]
    warning: float | None
    critical: float | None
    direction: str  # above | below
    first_seen: float | None
    last_seen: float | None


@dataclass(frozen=True)
class Timeline:
    start: float
    end: float
    step: float
    t: list[float]  # minute starts that have prediction data
    count: list[float | None]
    slow: list[float | None]
    p50: list[float | None]
    p95: list[float | None]
    slow_periods: list[tuple[float, float]]
    series: list[SeriesLine]
    # "sketches": every prediction was counted (latency sketches); "events" (or absent): recorded events
    # only, where fast predictions are sampled.
    prediction_source: str = "events"


def _aligned(
    t: list[float | None], *columns: list[float | None]
) -> tuple[list[float], list[list[float | None]]]:
    """Rows whose time is a number; a column shorter than t is padded with None."""
    keep = [(i, at) for i, at in enumerate(t) if at is not None]
    times = [at for _, at in keep]
    return times, [[c[i] if i < len(c) else None for i, _ in keep] for c in columns]


def read_timeline(document: Mapping[str, Any]) -> Timeline | None:
    """The document's timeline, or None when it has none (an older report) or no valid time range."""
    raw = document.get("timeline")
    if not isinstance(raw, dict):
        return None
    day = day_of(document)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() if day else None
    start = num(raw.get("start"))
    start = start if start is not None else midnight
    end = num(raw.get("end"))
    end = end if end is not None else (start + DAY_SECONDS if start is not None else None)
    if start is None or end is None or end <= start:
        return None
    step = num(raw.get("step_seconds")) or 60.0
    prediction = as_dict(raw.get("prediction"))
    t, (count, slow, p50, p95) = _aligned(
        nums(prediction.get("t")),
        nums(prediction.get("count")),
        nums(prediction.get("slow")),
        nums(prediction.get("p50")),
        nums(prediction.get("p95")),
    )
    periods = []
    for period in as_list(raw.get("slow_periods")):
        if isinstance(period, list) and len(period) == 2:
            a, b = num(period[0]), num(period[1])
            if a is not None and b is not None and b >= a:
                periods.append((a, b))
    series = []
    for entry in as_list(raw.get("series")):
        if not isinstance(entry, dict):
            continue
        st, (sv,) = _aligned(nums(entry.get("t")), nums(entry.get("v")))
        threshold = as_dict(entry.get("threshold"))
        series.append(
            SeriesLine(
                metric=as_str(entry.get("metric")),
                labels=labels_of(entry.get("labels")),
                unit=as_str(entry.get("unit")),
                source=as_str(entry.get("source")),
                t=st,
                v=sv,
                warning=num(threshold.get("warning")),
                critical=num(threshold.get("critical")),
                direction="below" if threshold.get("direction") == "below" else "above",
                first_seen=num(entry.get("first_seen")),
                last_seen=num(entry.get("last_seen")),
            )
        )
    source = "sketches" if prediction.get("source") == "sketches" else "events"
    return Timeline(start, end, step, t, count, slow, p50, p95, periods, series, source)


def finding_spans(
    document: Mapping[str, Any], metric: str, labels: Mapping[str, str]
) -> list[tuple[float, float, str]]:
    """(first seen, last seen, severity) of the document's findings on one series."""
    wanted = identity(metric, labels)
    spans = []
    for finding in as_list(document.get("findings")):
        if not isinstance(finding, dict) or identity(finding.get("metric"), finding.get("labels")) != wanted:
            continue
        first, last = parse_unix(finding.get("first_seen")), parse_unix(finding.get("last_seen"))
        if first is not None and last is not None:
            spans.append((first, last, as_str(finding.get("severity"))))
    return spans


def prediction_threshold(document: Mapping[str, Any]) -> float | None:
    """The threshold of the prediction_time finding, when there is one (the line slow is measured against)."""
    for finding in as_list(document.get("findings")):
        if isinstance(finding, dict) and finding.get("metric") == "prediction_time":
            return num(finding.get("threshold"))
    return None
