"""Table and markdown views of a drift report: one row per distribution, then the findings."""

from __future__ import annotations

from typing import Any

from mlprom.render.literal import literal
from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.drift_window import DistributionDrift, DriftReport

_HEADERS = (
    "distribution",
    "status",
    "n current",
    "n reference",
    "mean current",
    "mean reference",
    "PSI",
    "KS p-value",
    "Wasserstein",
)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _row(d: DistributionDrift) -> tuple[str, ...]:
    return (
        d.name,
        d.status,
        str(d.n_current),
        str(d.n_reference),
        _num(d.mean_current),
        _num(d.mean_reference),
        _num(d.psi),
        _num(d.ks_pvalue),
        _num(d.wasserstein),
    )


def _headline(report: DriftReport) -> str:
    return (
        f"drift of {report.model} on {report.date.isoformat()} against "
        f"{report.reference_start.isoformat()}..{report.reference_end.isoformat()}: {report.status}"
    )


def _finding_text(report: DriftReport) -> list[str]:
    return [
        f"{f.severity}: {f.metric} of {f.labels.get('distribution', '?')} is {f.value:.4g} "
        f"({f.direction} {f.threshold:g})"
        for f in report.findings
    ]


@to_table.register
def _drift_table(report: DriftReport) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=_headline(report), title_justify="left", show_header=True, header_style="bold")
    for name in _HEADERS:
        table.add_column(name, justify="left" if name in ("distribution", "status") else "right")
    for d in report.distributions.values():
        table.add_row(*_row(d))
    return Group(table, *(Text(literal(line)) for line in _finding_text(report)))


@to_markdown.register
def _drift_markdown(report: DriftReport) -> str:
    lines = [
        f"**{escape(_headline(report))}**",
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "|" + " --- |" * len(_HEADERS),
    ]
    for d in report.distributions.values():
        lines.append("| " + " | ".join(escape(c) for c in _row(d)) + " |")
    findings = _finding_text(report)
    if findings:
        lines += ["", *(f"- {escape(line)}" for line in findings)]
    return "\n".join(lines)
