"""The report's `distinguishing` section in table and Markdown: every comparison, its names (model versions,
input features: data) shown literally."""

from __future__ import annotations

import io
import sys
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from mlprom.analysis.distinguish import Distinction
from mlprom.render import render
from mlprom.reports.correlation import CorrelationReport, EventCounts

HOSTILE = ["\x1b[2J\x1b[31mred", "two\nlines", "[bold]x[/]", "a|b", "<script>x</script>"]


def _report(name: str) -> CorrelationReport:
    return CorrelationReport(
        date(2026, 11, 20),
        datetime(2026, 11, 20, 12, tzinfo=UTC),
        "ok",
        EventCounts(450, 50, 450, 50),
        0,
        distinguishing=(
            Distinction("rows", None, "median", 512, 8, 0.98, 50, 400, True),
            Distinction("model_version", name, "share", 0.9, 0.1, 0.9, 50, 400, True),
            Distinction("input", f"len({name})", "median", 40, 39, 0.52, 50, 400, False),
        ),
    )


def _rendered(report: CorrelationReport, fmt: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "2000")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    render(report, fmt)
    return out.getvalue()


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_the_table_lists_every_comparison_with_names_shown_literally(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = _rendered(_report(name), "table", monkeypatch)
    escaped = name.replace("\x1b", "\\x1b").replace("\n", "\\n")
    assert "\x1b" not in shown and escaped in shown and f"len({escaped})" in shown
    assert "What distinguished the slow predictions" in shown
    assert "median 512" in shown and "90% of events" in shown and "0.98" in shown


class _Cells(HTMLParser):
    """The text of each table cell of an HTML page, and every tag opened."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self.tags: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_the_markdown_table_reads_back_as_the_names(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from markdown_it import MarkdownIt

    page = _Cells()
    page.feed(
        MarkdownIt("commonmark").enable(["table"]).render(_rendered(_report(name), "markdown", monkeypatch))
    )
    escaped = name.replace("\x1b", "\\x1b").replace("\n", "\\n")
    assert not {"script", "a", "b", "em", "del", "img"} & set(page.tags)  # the title alone is bold
    start = page.cells.index("model_version")
    assert page.cells[start : start + 8] == [
        "model_version", escaped, "90% of events", "10% of events", "0.90", "50", "400", "yes"
    ]  # fmt: skip
    assert f"len({escaped})" in page.cells


def test_a_report_without_the_section_shows_none() -> None:
    report = _report("v")
    assert report.to_dict()["distinguishing"][0] == {
        "factor": "rows",
        "name": None,
        "measure": "median",
        "slow": 512,
        "fast": 8,
        "auc": 0.98,
        "slow_events": 50,
        "fast_events": 400,
        "distinguishing": True,
    }
    read = CorrelationReport.from_dict(report.to_dict())
    assert read.distinguishing == report.distinguishing
    old = {k: v for k, v in report.to_dict().items() if k != "distinguishing"}
    assert CorrelationReport.from_dict(old).distinguishing is None
