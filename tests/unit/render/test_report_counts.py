"""One report through table, markdown, HTML and JSON: the same event counts in each, and a quality finding
shown with the rows of its window and no slow events (a latency finding keeps its slow events)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import orjson

from mlprom.analysis.findings import Finding
from mlprom.render import render_text
from mlprom.reports.correlation import CorrelationReport, EventCounts
from tests.fixtures.html_check import parse_html

DAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
COUNTS = EventCounts(total=3021, slow=2940, joined=2877, slow_joined=2800, from_sketches=2900)


def _report() -> CorrelationReport:
    quality = Finding(
        "warning", "accuracy", {}, 0.86, 0.9, "below", 0, AT, AT, detail={"source": "model"}, rows=1234
    )
    latency = Finding(
        "critical", "prediction_time", {}, 14.0, 10.0, "above", 7, AT, AT, detail={"source": "model"}
    )
    return CorrelationReport(DAY, AT, "critical", COUNTS, 5, (latency, quality), model="churn")


def _cells(text: str, metric: str) -> list[str]:
    """The cells of the Markdown findings row of `metric`."""
    (row,) = [
        line
        for line in text.splitlines()
        if line.startswith(f"| warning | {metric} ") or line.startswith(f"| critical | {metric} ")
    ]
    return [c.strip() for c in row.strip("|").split("|")]


def test_table_markdown_html_and_json_show_the_same_event_counts() -> None:
    report = _report()
    words = "events 3021 (2940 slow, 2900 from sketches, 2877 joined)"
    assert words in render_text(report, "table")
    assert words in render_text(report, "markdown")
    (status,) = parse_html(render_text(report, "html")).by_class("status")
    # The page says the joined share; 2877 of 3021 is 95%.
    assert "3,021 events (2,940 slow, 2,900 from sketches, 95% joined to infra data)" in status.text
    document = orjson.loads(render_text(report, "json"))
    assert document["events"] == {
        "total": 3021,
        "slow": 2940,
        "joined": 2877,
        "slow_joined": 2800,
        "from_sketches": 2900,
    }


def test_a_quality_finding_shows_its_rows_and_no_slow_events() -> None:
    report = _report()
    markdown = render_text(report, "markdown")
    quality, latency = _cells(markdown, "accuracy"), _cells(markdown, "prediction_time")
    # severity, metric, labels, value, threshold, slow events, first seen, last seen
    assert (quality[3], quality[4], quality[5]) == ("0.86 over 1,234 rows", "<= 0.9", "-")
    assert (latency[3], latency[5]) == ("14", "7")
    table = render_text(report, "table")
    assert re.search(r"accuracy .* 0\.86 over 1,234 rows .*<= 0\.9 .* - ", table), table
    rows = parse_html(render_text(report, "html")).iter("tr")
    (html_quality,) = [
        [td.text for td in r.iter("td")] for r in rows if "accuracy" in [td.text for td in r.iter("td")]
    ]
    assert "0.86 over 1,234 rows" in html_quality and "7" not in html_quality
    assert "–" in html_quality  # the slow-events cell
    (html_latency,) = [
        [td.text for td in r.iter("td")]
        for r in rows
        if "prediction_time" in [td.text for td in r.iter("td")]
    ]
    assert "7" in html_latency
    assert orjson.loads(render_text(report, "json"))["findings"][1]["rows"] == 1234


def test_a_long_metric_name_is_never_cut_to_an_ellipsis_in_the_table() -> None:
    # Fourteen suspect columns at 160 characters once cut "cpu_usage_short" to "cpu_usage_sh…", which
    # could be any of several metrics: the name folds instead, and the other columns give way.
    from mlprom.analysis.suspects import Suspect

    labels = {"instance": "127.0.0.1:38489", "job": "node"}
    long_name = "cpu_usage_short_with_a_much_longer_recording_rule_name"
    suspects = tuple(
        Suspect(
            name,
            labels,
            33.1,
            1.0,
            0.51,
            0.05,
            181,
            579,
            39,
            134,
            rank=i + 1,
            q_value=0.017,
            significant=True,
            source="mixed",
        )
        for i, name in enumerate(("cpu_usage_short", long_name))
    )
    report = CorrelationReport(DAY, AT, "critical", COUNTS, 5, (), suspects, model="churn")
    table = render_text(report, "table").split("Significant suspects", 1)[1]
    assert "…" not in "".join(line.split("│")[3] for line in table.splitlines() if line.count("│") > 3)
    assert "│ cpu_usage_short " in table, table
    # The long name is shown whole, folded over lines of its cell.
    cells = [line.split("│")[3].strip() for line in table.splitlines() if line.count("│") > 3]
    assert long_name in "".join(cells), table
