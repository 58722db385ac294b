"""The fleet summary: one line per model in every format, and strings from data shown literally."""

from __future__ import annotations

import orjson

from mlprom.render import render_text
from mlprom.reports.results import FleetMember, FleetResult

TRICKY = "storage at s3://b/[bold]k[/bold] :smile: \x1b[31mred\nsecond line | `x`"


def _fleet() -> FleetResult:
    return FleetResult(
        "alert",
        (
            FleetMember("churn", 3, error=TRICKY),
            FleetMember("fraud", 4, error="no report for 2026-11-20"),
        ),
    )


def test_the_table_has_one_line_per_model_and_shows_an_error_literally() -> None:
    text = render_text(_fleet(), "table")
    lines = [line for line in text.splitlines() if "churn" in line or "fraud" in line]
    assert len(lines) == 2
    churn = lines[0]
    assert "[bold]k[/bold]" in churn and ":smile:" in churn and "\\x1b" in churn and "\x1b" not in text
    assert "second line" in churn  # the line break is an escape, not a second row
    assert " error " in churn and " no_data " in lines[1]
    assert text.splitlines()[0] == "alert for 2 models: exit 3 (2 not clean)"


def test_markdown_escapes_data_and_keeps_one_row_per_model() -> None:
    text = render_text(_fleet(), "markdown")
    rows = [line for line in text.splitlines() if line.startswith("| churn") or line.startswith("| fraud")]
    assert len(rows) == 2 and "\\[bold\\]" in rows[0] and "\\|" in rows[0] and "\\`x\\`" in rows[0]


def test_json_is_a_list_of_each_models_document() -> None:
    documents = orjson.loads(render_text(_fleet(), "json"))
    assert documents == [
        {"schema_version": 1, "model": "churn", "exit_code": 3, "error": TRICKY},
        {"schema_version": 1, "model": "fraud", "exit_code": 4, "error": "no report for 2026-11-20"},
    ]
