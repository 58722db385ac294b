"""Views of capture-infra and check results."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from mlprom.render.literal import literal
from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.results import CheckResult, InfraResult


@to_table.register
def _infra_table(result: InfraResult) -> Any:
    table = Table(title=f"snapshot {result.url}", title_justify="left")
    for column in ("query", "type", "series", "error"):
        table.add_column(column)
    for name, q in result.snapshot.queries.items():
        table.add_row(name, q.result_type or "-", str(len(q.series)), q.error or "")
    return table


@to_markdown.register
def _infra_markdown(result: InfraResult) -> str:
    lines = [
        f"Snapshot {escape(result.url)} at {result.to_dict()['ts']}",
        "",
        "| query | type | series | error |",
        "| --- | --- | --- | --- |",
    ]
    for name, q in result.snapshot.queries.items():
        lines.append(
            f"| {escape(name)} | {escape(q.result_type or '-')} | {len(q.series)} | {escape(q.error or '')} |"
        )
    return "\n".join(lines)


@to_table.register
def _check_table(result: CheckResult) -> Any:
    # One unwrapped line per target, so CI logs and grep see "FAIL alertmanager ..." whole.
    width = max(len(item.target) for item in result.items)
    text = Text()
    for item in result.items:
        text.append("ok  " if item.ok else "FAIL", style="green" if item.ok else "bold red")
        text.append(f" {item.target:<{width}}  {literal(item.endpoint)}  {literal(item.detail)}\n")
    text.rstrip()
    return text


@to_markdown.register
def _check_markdown(result: CheckResult) -> str:
    lines = ["| status | target | endpoint | detail |", "| --- | --- | --- | --- |"]
    for item in result.items:
        lines.append(
            f"| {'ok' if item.ok else 'FAIL'} | {escape(item.target)} | "
            f"{escape(item.endpoint)} | {escape(item.detail)} |"
        )
    return "\n".join(lines)
