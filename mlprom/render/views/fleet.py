"""Table and markdown views of a run for many models: one summary line per model."""

from __future__ import annotations

from typing import Any

from mlprom.render.literal import literal
from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.correlation import CorrelationReport, StoredReport
from mlprom.reports.results import AlertRun, FleetMember, FleetResult, ProfileResult

_HEADERS = ("model", "exit", "status", "summary")


def _report_line(report: CorrelationReport) -> tuple[str, str]:
    severities = [f.severity for f in report.findings]
    counts = ", ".join(f"{severities.count(s)} {s}" for s in ("critical", "warning") if s in severities)
    text = (
        f"{report.events.total} events ({report.events.slow} slow), {report.snapshots} snapshots, "
        f"{len(report.findings)} findings" + (f" ({counts})" if counts else "")
    )
    return report.status, text


def _alert_line(run: AlertRun) -> tuple[str, str]:
    if run.dry_run:
        status = "dry_run"
    elif not run.payload:
        status = "nothing_to_send"
    else:
        status = {0: "sent", 1: "not_accepted", 3: "partial"}.get(run.exit_code, "sent")
    text = f"{run.firing} firing, {run.resolved} resolved"
    if run.deliveries:
        text += f"; {run.accepted}/{len(run.deliveries)} Alertmanagers took every alert"
    return status, text + (f"; {run.note}" if run.note else "")


def _profile_line(result: ProfileResult) -> tuple[str, str]:
    status = "ok" if result.used else "no_data"
    return status, (
        f"{len(result.used)} days used, {len(result.missing)} missing; "
        f"{len(result.forecast.peaks)} peak hours forecast ({result.forecast.method})"
    )


def summary(member: FleetMember) -> tuple[str, str]:
    """(status, one line of text) for a model's run, the file it wrote first (`report --out DIR`: a narrow
    terminal cuts the counts before the path); the error itself when it failed."""
    result = member.result
    if result is None:
        return ("no_data" if member.exit_code == 4 else "error"), member.error or ""
    status, text = _result_line(result)
    if member.out is not None:
        return status, f"wrote {member.out}" + (f"; {text}" if text else "")
    return status, text


def _result_line(result: object) -> tuple[str, str]:
    if isinstance(result, StoredReport):
        result = result.report
    if isinstance(result, CorrelationReport):
        return _report_line(result)
    if isinstance(result, AlertRun):
        return _alert_line(result)
    if isinstance(result, ProfileResult):
        return _profile_line(result)
    return "done", ""


def _headline(result: FleetResult) -> str:
    failed = sum(1 for m in result.members if m.exit_code)
    return f"{result.stage} for {len(result.members)} models: exit {result.exit_code}" + (
        f" ({failed} not clean)" if failed else ""
    )


@to_table.register
def _fleet_table(result: FleetResult) -> Any:
    from rich.table import Table
    from rich.text import Text

    rows = [(m.model, str(m.exit_code), *summary(m)) for m in result.members]
    table = Table(title=_headline(result), show_header=True, header_style="bold", title_justify="left")
    # One line per model: only the summary gives way, cut with an ellipsis where the terminal ends (an
    # error is whole on stderr, every field in -o json).
    for index, name in enumerate(_HEADERS[:3]):
        width = max([len(name), *(len(row[index]) for row in rows)])
        table.add_column(name, justify="right" if name == "exit" else "left", no_wrap=True, width=width)
    table.add_column(_HEADERS[3])  # wrappable as a column, so rich narrows it first; one line as a cell
    for *fixed, text in rows:
        # A Text is never markup; literal() shows its line breaks and controls as escapes, as render_str does.
        table.add_row(*fixed, Text(literal(text), no_wrap=True, overflow="ellipsis"))
    return table


@to_markdown.register
def _fleet_markdown(result: FleetResult) -> str:
    lines = [
        f"**{escape(_headline(result))}**",
        "",
        "| model | exit | status | summary |",
        "| --- | ---: | --- | --- |",
    ]
    for member in result.members:
        status, text = summary(member)
        lines.append(f"| {escape(member.model)} | {member.exit_code} | {escape(status)} | {escape(text)} |")
    return "\n".join(lines)
