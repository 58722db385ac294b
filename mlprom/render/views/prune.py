"""Table and markdown views of a prune result: partitions, kept partitions, failed and unknown keys."""

from __future__ import annotations

from typing import Any

from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.results import PartitionSummary, PruneResult, human_bytes

_HEADERS = ("stage", "date", "objects", "bytes", "status")


def _headline(result: PruneResult) -> str:
    verb = "would delete" if result.dry_run else "deleted"
    text = (
        f"prune {result.location}: {result.status}; {verb} {result.objects} objects "
        f"({human_bytes(result.bytes)}) in {sum(1 for p in result.partitions if p.objects)} partition(s) "
        f"dated before {result.cutoff.isoformat()}"
    )
    if result.failed_count or result.not_attempted:
        text += f"; {result.failed_count + result.not_attempted} key(s) left, re-run to finish"
    return text


def _row(p: PartitionSummary) -> tuple[str, ...]:
    status = f"{p.status} ({p.failed} left)" if p.failed else p.status
    return (p.stage, p.day.isoformat(), str(p.objects), human_bytes(p.bytes), status)


@to_table.register
def _prune_table(result: PruneResult) -> Any:
    from rich.console import Group
    from rich.table import Table

    parts: list[Any] = []
    table = Table(title=_headline(result), show_header=True, header_style="bold", title_justify="left")
    for name in _HEADERS:
        table.add_column(name, justify="right" if name in ("objects", "bytes") else "left")
    for p in (*result.partitions, *result.protected):
        table.add_row(*_row(p))
    parts.append(table)
    if result.failures:
        failed = Table(title=f"{result.failed_count} key(s) not deleted", title_justify="left")
        failed.add_column("key")
        failed.add_column("reason")
        for key, reason in result.failures:
            failed.add_row(key, reason)
        parts.append(failed)
    if result.unknown_keys:
        title = f"{result.unknown_count} key(s) outside the layout, left alone"
        unknown = Table(title=title, title_justify="left")
        unknown.add_column("key")
        for key in result.unknown_keys:
            unknown.add_row(key)
        parts.append(unknown)
    return Group(*parts)


@to_markdown.register
def _prune_markdown(result: PruneResult) -> str:
    lines = [f"**{escape(_headline(result))}**", "", "| " + " | ".join(_HEADERS) + " |", "| --- " * 5 + "|"]
    for p in (*result.partitions, *result.protected):
        lines.append("| " + " | ".join(escape(c) for c in _row(p)) + " |")
    if result.failures:
        lines += ["", f"{result.failed_count} key(s) not deleted:", "", "| key | reason |", "| --- | --- |"]
        lines += [f"| {escape(k)} | {escape(r)} |" for k, r in result.failures]
    if result.unknown_keys:
        lines += ["", f"{result.unknown_count} key(s) outside the layout, left alone:", ""]
        lines += [f"- {escape(k)}" for k in result.unknown_keys]
    return "\n".join(lines)
