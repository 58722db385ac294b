"""Table and markdown views of a capture-model result: one summary line per fact an operator checks."""

from __future__ import annotations

from typing import Any

from mlprom.render.markdown import escape, to_markdown
from mlprom.render.table import to_table
from mlprom.reports.results import CaptureResult


def _rows(result: CaptureResult) -> list[tuple[str, str]]:
    lat = result.latency
    rows = [
        ("model", f"{result.model}" + (f" ({result.model_version})" if result.model_version else "")),
        ("date", result.date.isoformat()),
        ("input", result.input),
        ("rows / batches", f"{result.rows} / {result.batches}"),
        (
            "prediction time",
            f"p50 {lat['p50']:.4g}s  p95 {lat['p95']:.4g}s  p99 {lat['p99']:.4g}s  max {lat['max']:.4g}s"
            if lat
            else "-",
        ),
        ("slow batches", f"{result.slow_batches} (over {result.latency_threshold:g}s)"),
        (
            "events written",
            f"{result.events} ({result.sampled_batches} sampled) in {len(result.event_keys)} objects",
        ),
    ]
    if result.quality:
        scores = "  ".join(f"{k} {v:.4g}" for k, v in result.quality.items())
        rows.append((f"quality ({result.task})", scores))
    rows.append(("mlflow run", f"{result.mlflow_run_id} at {result.tracking_uri}"))
    if result.snapshots or result.infra_errors:
        rows.append(("infra snapshots", f"{len(result.snapshots)} taken, {len(result.infra_errors)} failed"))
    for warning in result.warnings:
        rows.append(("warning", warning))
    return rows


@to_table.register
def _table(result: CaptureResult) -> Any:
    from rich.table import Table

    table = Table(title="capture-model", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for name, value in _rows(result):
        table.add_row(name, value)
    return table


@to_markdown.register
def _markdown(result: CaptureResult) -> str:
    lines = ["### capture-model", "", "| | |", "| --- | --- |"]
    lines += [f"| {escape(name)} | {escape(value)} |" for name, value in _rows(result)]
    return "\n".join(lines)
