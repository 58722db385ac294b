"""Table and markdown views of a stored report (`mlprom report`): the correlate views of the same report,
plus its drift section, which a report read back holds as its JSON form."""

from __future__ import annotations

from typing import Any

from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.correlation import StoredReport

_DRIFT_HEADERS = ("distribution", "status", "n current", "n reference", "PSI", "KS p-value", "Wasserstein")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _drift_rows(result: StoredReport) -> list[tuple[str, ...]]:
    drift = result.document.get("drift")
    distributions = drift.get("distributions") if isinstance(drift, dict) else None
    if not isinstance(distributions, dict):
        return []
    rows: list[tuple[str, ...]] = []
    for name, d in distributions.items():
        d = d if isinstance(d, dict) else {}
        rows.append(
            (
                str(name),
                str(d.get("status", "-")),
                _num(d.get("n_current")),
                _num(d.get("n_reference")),
                _num(d.get("psi")),
                _num(d.get("ks_pvalue")),
                _num(d.get("wasserstein")),
            )
        )
    return rows


@to_table.register
def _stored_table(result: StoredReport) -> Any:
    from rich.console import Group
    from rich.table import Table

    parts: list[Any] = [to_table(result.report)]
    rows = _drift_rows(result)
    if rows:
        table = Table(title="Drift", title_justify="left", header_style="bold")
        for name in _DRIFT_HEADERS:
            table.add_column(name)
        for row in rows:
            table.add_row(*row)
        parts.append(table)
    return Group(*parts)


@to_markdown.register
def _stored_markdown(result: StoredReport) -> str:
    text = to_markdown(result.report)
    rows = _drift_rows(result)
    if rows:
        lines = [
            "",
            "### Drift",
            "",
            "| " + " | ".join(_DRIFT_HEADERS) + " |",
            "|" + " --- |" * len(_DRIFT_HEADERS),
        ]
        lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
        text += "\n" + "\n".join(lines)
    return text
