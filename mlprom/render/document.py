"""The report document behind the pictures: which results have one, and a tolerant reading of its fields.

A stored report may come from another writer or be edited by hand (fields of the wrong type, sections
absent): every reader here returns None or an empty value for what is not usable, never raises. The
timeline is the report's typed one (reports/sections.py parses it). Shared by the HTML page
(render/html/) and the PNG timeline (render/picture.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from mlprom.errors import ConfigError
from mlprom.reports.sections import Timeline


@dataclass(frozen=True)
class ReportDocument:
    """What a picture is drawn from: the report's JSON form, its typed timeline, its storage URL."""

    document: dict[str, Any]
    timeline: Timeline | None
    url: str


def report_document(result: Any) -> ReportDocument:
    """The document of a correlate or report result: a stored report as it was written."""
    from mlprom.reports.correlation import CorrelationReport, StoredReport

    if isinstance(result, StoredReport):
        return ReportDocument(result.document, result.report.timeline, result.url)
    if isinstance(result, CorrelationReport):
        return ReportDocument(result.to_dict(), result.timeline, result.url)
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


def document_timeline(document: Mapping[str, Any]) -> Timeline | None:
    """The typed timeline of a document on its own (a page made without its report), None when unusable."""
    try:
        return Timeline.from_dict(document.get("timeline"))
    except (TypeError, ValueError, OverflowError):
        return None


CONTEXT_SHARE = 0.1  # of the data's span, drawn each side of it
CONTEXT_SECONDS = 300.0  # at least this much each side, so a four-minute incident has its before and after


def data_span(timeline: Timeline) -> tuple[float, float] | None:
    """(first, last) time the timeline has data for: minutes with events or a p50, slow periods, and the
    series' points, inside the date; None when it has none."""
    step = timeline.step
    times: list[float] = []
    for at, count, p50 in zip(timeline.t, timeline.count, timeline.p50, strict=False):
        if (count or 0) > 0 or p50 is not None:
            times += [at, at + step]  # a minute's bucket holds data up to its end
    for a, b in timeline.slow_periods:
        times += [a, b]
    for line in timeline.series:
        times += [at for at, v in zip(line.t, line.v, strict=False) if v is not None]
    inside = [at for at in times if timeline.start <= at <= timeline.end]
    return (min(inside), max(inside)) if inside else None


def data_window(timeline: Timeline, document: Mapping[str, Any]) -> tuple[float, float]:
    """The stretch of the date a time axis draws: the data's span with CONTEXT_SHARE of it (at least
    CONTEXT_SECONDS) each side, on whole steps, clamped to the date and to the report's generation time
    (a report of today draws nothing after it was made). The whole date, up to then, without data."""
    start, end, step = timeline.start, timeline.end, timeline.step or 60.0
    generated = parse_unix(document.get("generated_at"))
    if generated is not None and start < generated < end:
        end = generated
    span = data_span(timeline)
    if span is None:
        return start, end
    first, last = span
    end = max(end, last)  # data stamped after the generation time (a skewed clock) is still drawn
    context = max(CONTEXT_SHARE * (last - first), CONTEXT_SECONDS)
    lo = max(start, math.floor((first - context - start) / step) * step + start)
    hi = min(end, math.ceil((last + context - start) / step) * step + start)
    return (lo, hi) if hi > lo else (start, end)


def time_ticks(start: float, end: float) -> list[float]:
    """Whole-hour (or finer) UTC ticks, at most about nine of them."""
    span = max(end - start, 1.0)
    for step in (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if span / step <= 9:
            break
    first = math.ceil(start / step) * step
    out = []
    t = float(first)
    while t <= end + 1e-6:
        out.append(t)
        t += step
    return out


def hhmm(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M")


def clock(at: float, since: float) -> str:
    """HH:MM of a time, 24:00 for a midnight that ends a stretch starting at `since` (not 00:00)."""
    text = hhmm(at)
    return "24:00" if text == "00:00" and at > since else text
