"""Table and Markdown views of the correlation report and of an alert run."""

from __future__ import annotations

from typing import Any

from mlprom.analysis.distinguish import AUC_HIGH, AUC_LOW, MIN_EVENTS, Distinction
from mlprom.analysis.findings import Finding
from mlprom.analysis.suspects import Suspect
from mlprom.dates import rfc3339
from mlprom.render.literal import json_literal, literal
from mlprom.render.markdown import escape, fence, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.correlation import CorrelationReport
from mlprom.reports.drift_window import DriftReport
from mlprom.reports.results import AlertRun

SUSPECTS_SHOWN = 10
SUSPECT_COLUMNS = (
    "#",
    "kind",
    "metric",
    "labels",
    "effect",
    "q-value",
    "lag",
    "median slow",
    "median baseline",
    "slow steps",
    "baseline steps",
    "slow n",
    "baseline n",
    "source",
)


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if not k.startswith("__")) or "-"


def _headline(report: CorrelationReport) -> str:
    e = report.events
    sketches = f", {e.from_sketches} from sketches" if e.from_sketches else ""
    return (
        f"{report.date}  status {report.status}  events {e.total} ({e.slow} slow{sketches}, {e.joined} joined)  "
        f"snapshots {report.snapshots}  findings {len(report.findings)}"
    )


def _value(f: Finding) -> str:
    """A quality finding's value says the rows of the window it was judged on."""
    return f"{f.value:.6g}" if f.rows is None else f"{f.value:.6g} over {f.rows:,} rows"


def _slow_events(f: Finding) -> str:
    # A quality finding is a window's mean: no event of it co-occurred with anything.
    return str(f.slow_events) if f.rows is None else "-"


def _shown_suspects(report: CorrelationReport) -> list[Suspect]:
    """Significant suspects only, unless --all-suspects; the JSON always has every one."""
    if report.all_suspects:
        return list(report.suspects)
    return [s for s in report.suspects if s.significant][:SUSPECTS_SHOWN]


def _q(q: float | None) -> str:
    if q is None:
        return "-"
    # Below the smallest double the q-value underflows to 0; it is tiny, not zero.
    return f"{q:.2g}" if q > 0 else "<1e-300"


def _suspect_cells(s: Suspect) -> list[str]:
    return [
        str(s.rank),
        s.kind,
        s.metric,
        _labels(s.labels),
        f"{s.effect:+.3g}",
        _q(s.q_value),
        f"{s.lag_seconds:g}s before" if s.lag_seconds else "0",
        f"{s.median_slow:.6g}",
        f"{s.median_baseline:.6g}",
        str(s.slow_snapshots),
        str(s.baseline_snapshots),
        str(s.slow_count),
        str(s.baseline_count),
        s.source,
    ]


DISTINGUISHING_COLUMNS = ("factor", "name", "slow", "fast", "AUC", "slow n", "fast n", "distinguishes")
DISTINGUISHING_TITLE = (
    f"What distinguished the slow predictions (AUC >= {AUC_HIGH:g} or <= {AUC_LOW:g}, "
    f"{MIN_EVENTS}+ events a side)"
)


def _side(d: Distinction, value: float) -> str:
    return f"{100 * value:.0f}% of events" if d.measure == "share" else f"median {value:.6g}"


def _distinction_cells(d: Distinction) -> list[str]:
    """One comparison's cells; the name (a model version, an input feature) is data, shown literally."""
    return [
        d.factor,
        literal(d.name) if d.name is not None else "-",
        _side(d, d.slow),
        _side(d, d.fast),
        f"{d.auc:.2f}",
        str(d.slow_events),
        str(d.fast_events),
        "yes" if d.distinguishing else "no",
    ]


def _no_suspects_line(report: CorrelationReport) -> str:
    if not report.suspects:
        return "No suspects (too few observations on a side)."
    hidden = len(report.suspects)
    fdr = report.significance.fdr if report.significance is not None else 0.05
    return (
        f"No significant suspects at a false discovery rate of {fdr:g} "
        f"({hidden} series tested; --all-suspects or -o json lists them)."
    )


def _suspects_title(report: CorrelationReport) -> str:
    what = "All suspects" if report.all_suspects else "Significant suspects"
    sig = report.significance
    test = f"{sig.test}, {sig.correction}" if sig is not None else "effect size only"
    fdr = f" q <= {sig.fdr:g}" if sig is not None and not report.all_suspects else ""
    return f"{what} (departure from baseline during slow predictions; {test}{fdr})"


def _add_column(table: Any, column: str) -> None:
    """The metric column names the finding or suspect: folded onto a second line when the table is narrow,
    never cut to an ellipsis ("cpu_usage_sh…" could be two metrics); the other columns give way first."""
    name = column == "metric"
    table.add_column(column, no_wrap=name, overflow="fold" if name else "ellipsis")


@to_table.register
def _report_table(report: CorrelationReport) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    style = {"critical": "bold red", "warning": "yellow", "ok": "green"}.get(report.status, "")
    parts: list[Any] = [Text(_headline(report), style=style)]
    # Text objects bypass the console's own escaping of plain strings: data in them goes through literal().
    if report.headline:
        parts.append(Text(literal(report.headline), style="bold"))
    for warning in report.warnings:
        parts.append(Text(f"warning: {literal(warning)}", style="yellow"))
    findings = Table(title="Findings", show_header=True, header_style="bold")
    for column in (
        "severity",
        "metric",
        "labels",
        "value",
        "threshold",
        "slow events",
        "first seen",
        "last seen",
    ):
        _add_column(findings, column)
    for f in report.findings:
        findings.add_row(
            Text(f.severity, style="bold red" if f.severity == "critical" else "yellow"),
            f.metric,
            _labels(f.labels),
            _value(f),
            f"{'>=' if f.direction == 'above' else '<='} {f.threshold:g}",
            _slow_events(f),
            rfc3339(f.first_seen),
            rfc3339(f.last_seen),
        )
    parts.append(findings if report.findings else Text("No findings."))
    suspects = Table(title=_suspects_title(report), header_style="bold")
    for column in SUSPECT_COLUMNS:
        _add_column(suspects, column)
    shown = _shown_suspects(report)
    for s in shown:
        suspects.add_row(*_suspect_cells(s))
    parts.append(suspects if shown else Text(_no_suspects_line(report)))
    if report.distinguishing:
        factors = Table(title=DISTINGUISHING_TITLE, header_style="bold")
        for column in DISTINGUISHING_COLUMNS:
            factors.add_column(column)
        for d in report.distinguishing:
            factors.add_row(*_distinction_cells(d))
        parts.append(factors)
    if isinstance(report.drift, DriftReport):
        parts.append(to_table(report.drift))
    if report.profile is not None:
        parts.append(to_table(report.profile))  # render/views/profile.py
    if report.url:
        parts.append(Text(f"report: {literal(report.url)}", style="dim"))
    return Group(*parts)


@to_markdown.register
def _report_markdown(report: CorrelationReport) -> str:
    lines = [f"## mlprom correlation {report.date}: **{report.status}**", "", _headline(report), ""]
    if report.headline:
        lines += [f"**{escape(report.headline)}**", ""]
    if report.findings:
        lines += [
            "| severity | metric | labels | value | threshold | slow events | first seen | last seen |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in report.findings:
            op = ">=" if f.direction == "above" else "<="
            lines.append(
                f"| {f.severity} | {escape(f.metric)} | {escape(_labels(f.labels))} | {_value(f)} | "
                f"{op} {f.threshold:g} | {_slow_events(f)} | {rfc3339(f.first_seen)} | {rfc3339(f.last_seen)} |"
            )
    else:
        lines.append("No findings.")
    if report.warnings:
        lines += [""] + [f"- warning: {escape(w)}" for w in report.warnings]
    lines += ["", f"### {_suspects_title(report)}", ""]
    shown = _shown_suspects(report)
    if shown:
        lines += ["| " + " | ".join(SUSPECT_COLUMNS) + " |", "|" + " --- |" * len(SUSPECT_COLUMNS)]
        for s in shown:
            lines.append("| " + " | ".join(escape(c) for c in _suspect_cells(s)) + " |")
    else:
        lines.append(_no_suspects_line(report))
    if report.distinguishing:
        lines += ["", f"### {DISTINGUISHING_TITLE}", ""]
        lines += [
            "| " + " | ".join(DISTINGUISHING_COLUMNS) + " |",
            "|" + " --- |" * len(DISTINGUISHING_COLUMNS),
        ]
        for d in report.distinguishing:
            lines.append("| " + " | ".join(escape(c) for c in _distinction_cells(d)) + " |")
    if isinstance(report.drift, DriftReport):
        lines += ["", "### Drift", "", to_markdown(report.drift)]
    if report.profile is not None:
        lines += ["", "### Hour profile", "", to_markdown(report.profile)]  # render/views/profile.py
    if report.url:
        lines += ["", f"Report: {escape(report.url)}"]
    return "\n".join(lines)


def _alert_rows(run: AlertRun) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for alert, status in zip(run.payload, run.statuses, strict=False):
        labels = dict(alert["labels"])
        name = labels.pop("alertname", "")
        severity = labels.pop("severity", "")
        metric = labels.pop("metric", "")
        labels.pop("model", None)
        rows.append((status, name, severity, metric, _labels(labels)))
    return rows


def _payload_json(run: AlertRun) -> str:
    """The payload as it would be POSTed, with control and bidi characters from data as \\u escapes."""
    import orjson

    return json_literal(orjson.dumps(list(run.payload), option=orjson.OPT_INDENT_2).decode())


@to_table.register
def _alert_table(run: AlertRun) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = f"{run.date}  {run.firing} firing, {run.resolved} resolved" + (
        "  (dry run: nothing sent)" if run.dry_run else ""
    )
    parts: list[Any] = [Text(head, style="bold")]
    if run.note:
        parts.append(Text(literal(run.note)))
    if run.dry_run:
        # The exact payload, as it would be POSTed.
        parts.append(Text(_payload_json(run)))
        return Group(*parts)
    alerts = Table(title="Alerts", header_style="bold")
    for column in ("status", "alertname", "severity", "metric", "labels"):
        alerts.add_column(column)
    for row in _alert_rows(run):
        alerts.add_row(*row)
    if run.payload:
        parts.append(alerts)
    deliveries = Table(title="Alertmanagers", header_style="bold")
    for column in ("url", "accepted", "status", "error"):
        deliveries.add_column(column)
    for d in run.deliveries:
        deliveries.add_row(
            d.url,
            Text("yes", style="green") if d.accepted else Text("no", style="red"),
            str(d.status or "-"),
            d.error or "",
        )
    if run.deliveries:
        parts.append(deliveries)
    if run.run_key:
        parts.append(Text(f"recorded: {literal(run.run_key)}", style="dim"))
    return Group(*parts)


@to_markdown.register
def _alert_markdown(run: AlertRun) -> str:
    lines = [f"## mlprom alert {run.date}: {run.firing} firing, {run.resolved} resolved", ""]
    if run.note:
        lines += [escape(run.note), ""]
    if run.dry_run:
        payload = _payload_json(run)
        marks = fence(payload)  # longer than any backtick run in the payload: data cannot close it
        return "\n".join([*lines, "Dry run: nothing sent. Payload:", "", marks + "json", payload, marks])
    if run.payload:
        lines += ["| status | alertname | severity | metric | labels |", "| --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in _alert_rows(run)]
        lines.append("")
    if run.deliveries:
        lines += ["| Alertmanager | accepted | status | error |", "| --- | --- | --- | --- |"]
        for d in run.deliveries:
            accepted = "yes" if d.accepted else "no"
            lines.append(f"| {escape(d.url)} | {accepted} | {d.status or '-'} | {escape(d.error or '')} |")
    return "\n".join(lines)
