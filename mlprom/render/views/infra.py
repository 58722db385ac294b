"""Views of capture-infra and check results."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.stages.capture_infra import InfraResult
from mlprom.stages.check import CheckResult


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
    lines = [f"Snapshot `{result.url}` at {result.to_dict()['ts']}", "", "| query | type | series | error |",
             "| --- | --- | --- | --- |"]
    for name, q in result.snapshot.queries.items():
        lines.append(f"| {escape(name)} | {q.result_type or '-'} | {len(q.series)} | {escape(q.error or '')} |")
    return "\n".join(lines)


@to_table.register
def _check_table(result: CheckResult) -> Any:
    table = Table(show_header=False, box=None, pad_edge=False)
    for _ in range(4):
        table.add_column(overflow="fold")
    for item in result.items:
        status = "[green]ok[/green]" if item.ok else "[red]FAIL[/red]"
        table.add_row(status, item.target, item.endpoint, item.detail)
    return table


@to_markdown.register
def _check_markdown(result: CheckResult) -> str:
    lines = ["| status | target | endpoint | detail |", "| --- | --- | --- | --- |"]
    for item in result.items:
        lines.append(
            f"| {'ok' if item.ok else 'FAIL'} | {item.target} | {escape(item.endpoint)} | {escape(item.detail)} |"
        )
    return "\n".join(lines)
