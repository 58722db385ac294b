"""Table and markdown views of the hour-of-day profile (a report's section) and of `mlprom profile`'s forecast."""

from __future__ import annotations

from typing import Any

from mlprom.analysis.profile import DayProfile, Forecast, PeakForecast
from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.results import ProfileResult

MISSING_SHOWN = 10


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _hours(hours: tuple[int, ...] | list[int]) -> str:
    return ", ".join(f"{h:02d}" for h in hours) or "none"


def _metrics(profile: DayProfile) -> list[str]:
    return sorted({m for h in profile.hours for m in h.resources})


def _day_headline(profile: DayProfile) -> str:
    return f"Hour profile (UTC): peak hours {_hours(profile.peak_hours)}"


def _day_rows(profile: DayProfile) -> list[list[str]]:
    metrics = _metrics(profile)
    return [
        [
            f"{h.hour:02d}",
            str(h.events),
            str(h.slow),
            _share(h.slow_share),
            _num(h.p95),
            "peak" if h.peak else "",
            *(_num(h.resources.get(m)) for m in metrics),
        ]
        for h in profile.hours
    ]


_DAY_HEADERS = ("hour", "events", "slow", "slow share", "p95 s", "peak")


@to_table.register
def _day_table(profile: DayProfile) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=_day_headline(profile), header_style="bold", title_justify="left")
    for name in _DAY_HEADERS:
        table.add_column(name, justify="left" if name in ("hour", "peak") else "right")
    for metric in _metrics(profile):
        table.add_column(Text(metric), justify="right")  # a query name from the config: shown literally
    for row in _day_rows(profile):
        table.add_row(*(Text(c, style="bold") if c == "peak" else Text(c) for c in row))
    return table


@to_markdown.register
def _day_markdown(profile: DayProfile) -> str:
    headers = [*_DAY_HEADERS, *(escape(m) for m in _metrics(profile))]
    lines = [
        f"{_day_headline(profile)}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + " --- |" * len(headers),
    ]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in _day_rows(profile)]
    return "\n".join(lines)


def _when(peak: PeakForecast) -> str:
    if peak.date is None:
        return f"every day {peak.hour:02d}:00"
    return f"{peak.date.isoformat()} {peak.date.strftime('%a')} {peak.hour:02d}:00"


def _peak_metrics(fc: Forecast) -> list[str]:
    return sorted({m for p in fc.peaks for m in p.resources})


def _peak_rows(fc: Forecast) -> list[list[str]]:
    metrics = _peak_metrics(fc)
    return [
        [
            _when(p),
            _num(p.events, 6),
            _share(p.slow_share),
            _num(p.p95),
            str(p.observations),
            *(_num(p.resources.get(m)) for m in metrics),
        ]
        for p in fc.peaks
    ]


_PEAK_HEADERS = ("UTC", "events/h", "slow share", "p95 s", "days behind")


def _result_headline(result: ProfileResult) -> str:
    fc = result.forecast
    return (
        f"profile {result.start}..{result.end}: {len(result.used)} day(s) used, {len(result.missing)} missing; "
        f"{fc.method} forecast for {fc.start}..{fc.end}: peak hours (UTC) {_hours(fc.peak_hours)}"
    )


def _no_peaks(result: ProfileResult) -> str:
    if not result.used:
        return "No forecast: no date of the range has a stored profile."
    return "No peak hours predicted: no hour stands out of the history."


def _missing_lines(result: ProfileResult) -> list[str]:
    lines = [f"{m.day}: {m.reason}" for m in result.missing[:MISSING_SHOWN]]
    if len(result.missing) > MISSING_SHOWN:
        lines.append(f"... and {len(result.missing) - MISSING_SHOWN} more (all in -o json)")
    return lines


@to_table.register
def _result_table(result: ProfileResult) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    fc = result.forecast
    parts: list[Any] = [Text(_result_headline(result), style="bold")]
    if fc.note:
        parts.append(Text(f"note: {fc.note}", style="yellow"))
    if fc.peaks:
        table = Table(title="Predicted peak hours", header_style="bold", title_justify="left")
        for name in _PEAK_HEADERS:
            table.add_column(name, justify="left" if name == "UTC" else "right")
        for metric in _peak_metrics(fc):
            table.add_column(Text(metric), justify="right")
        for row in _peak_rows(fc):
            table.add_row(*(Text(c) for c in row))
        parts.append(table)
    else:
        parts.append(Text(_no_peaks(result)))
    for line in _missing_lines(result):
        parts.append(Text(f"missing {line}", style="dim"))
    return Group(*parts)


@to_markdown.register
def _result_markdown(result: ProfileResult) -> str:
    fc = result.forecast
    lines = [f"## mlprom profile {result.start}..{result.end}", "", escape(_result_headline(result)), ""]
    if fc.note:
        lines += [f"Note: {escape(fc.note)}", ""]
    if fc.peaks:
        headers = [*_PEAK_HEADERS, *(escape(m) for m in _peak_metrics(fc))]
        lines += ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
        lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in _peak_rows(fc)]
    else:
        lines.append(_no_peaks(result))
    if result.missing:
        lines += ["", "Missing dates:", ""]
        lines += [f"- {escape(line)}" for line in _missing_lines(result)]
    return "\n".join(lines)
