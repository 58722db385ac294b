"""Every string from data is shown literally by every renderer, for every result type.

Hostile strings (rich markup, an emoji code, HTML, a Markdown table separator, a terminal escape, a line
break) are pushed through table, markdown and json. The table must show them as typed (control
characters as visible escapes); the Markdown, rendered by a CommonMark parser, must read back as the same
text with no tag or link they could have made; the JSON must hold them unchanged.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import orjson
import pytest

from mlprom.render import render

PLAIN = ["/api/[/id]", "[bold]x[/]", ":smile:", "<script>alert(1)</script>", "a|b", "*x* _y_"]
CONTROL = ["\x1b[2J\x1b[31mred", "two\nlines"]
HOSTILE = PLAIN + CONTROL
DAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _finding(text: str, kind: str = "threshold") -> Any:
    from mlprom.analysis.findings import Finding

    return Finding("critical", text, {"route": text}, 0.9, 0.5, "above", 3, AT, AT, kind=kind)


def _suspect(text: str) -> Any:
    from mlprom.analysis.suspects import Suspect

    return Suspect(text, {"route": text}, 2.5, 1.0, 0.1, 0.05, 10, 20, 5, 10, rank=1)


def _drift(text: str) -> Any:
    from mlprom.reports.drift_window import DistributionDrift, DriftReport

    dist = DistributionDrift(text, "drift", 100, 700, 0.5, 0.4, psi=0.3, ks_pvalue=0.01, wasserstein=0.1)
    finding = _finding(text, kind="drift")
    return DriftReport(DAY, text, "drift", DAY, DAY, {text: dist}, [finding])


def correlation(text: str) -> Any:
    from mlprom.reports.correlation import CorrelationReport, EventCounts

    return CorrelationReport(
        DAY,
        AT,
        "critical",
        EventCounts(10, 2, 8, 2),
        5,
        (_finding(text),),
        (_suspect(text),),
        model=text,
        url=f"file:///store/{text}",
        drift=_drift(text),
        episodes=2,
        # The headline quotes a suspect's metric and labels: data, shown literally like the rest.
        headline=f"2 slow prediction(s) in 2 episode(s): {text}{{instance={text}}} rose at the same time.",
    )


def alert_run(text: str, dry_run: bool) -> Any:
    from mlprom.clients.alertmanager import Delivery
    from mlprom.reports.results import AlertRun

    payload = (
        {"labels": {"alertname": "MlpromThreshold", "metric": text, "route": text}, "annotations": {}},
    )
    deliveries = (Delivery(f"http://am/{text}", False, 400, text),)
    return AlertRun(DAY, dry_run, payload, 1, 0, () if dry_run else deliveries, text, text, text, ("firing",))


def capture(text: str) -> Any:
    from mlprom.reports.results import CaptureResult

    return CaptureResult(
        model=text,
        date=DAY,
        input=text,
        rows=10,
        batches=1,
        slow_batches=1,
        sampled_batches=0,
        events=1,
        event_keys=(text,),
        latency={"p50": 0.1, "p95": 0.2, "p99": 0.3, "max": 0.4, "mean": 0.2},
        quality={"accuracy": 0.9},
        task="classification",
        latency_threshold=0.1,
        mlflow_run_id=text,
        tracking_uri=text,
        model_version=text,
        infra_errors=(text,),
        warnings=(text,),
    )


def infra(text: str) -> Any:
    from mlprom.records import QueryResult, Series, Snapshot
    from mlprom.reports.results import InfraResult

    queries = {
        text: QueryResult(text, "vector", (Series({"route": text}, 1.0),)),
        "failed": QueryResult(text, None, (), text),
    }
    return InfraResult(Snapshot(AT, text, queries, "0" * 16), text, text)


def check(text: str) -> Any:
    from mlprom.reports.results import CheckItem, CheckResult

    return CheckResult((CheckItem("storage", text, True, text), CheckItem("prometheus", text, False, text)))


def prune(text: str) -> Any:
    from mlprom.reports.results import PartitionSummary, PruneResult

    return PruneResult(
        location=text,
        keep_days=3,
        cutoff=DAY,
        stages=("model",),
        dry_run=False,
        cancelled=False,
        partitions=(PartitionSummary("model", DAY, 1, 10, "failed", 1),),
        protected=(),
        protected_dates=(),
        objects=1,
        bytes=10,
        failures=((text, text),),
        failed_count=1,
        unknown_keys=(text,),
        unknown_count=1,
    )


RESULTS: dict[str, Callable[[str], Any]] = {
    "correlate": correlation,
    "alert": lambda t: alert_run(t, dry_run=False),
    "alert --dry-run": lambda t: alert_run(t, dry_run=True),
    "capture-model": capture,
    "capture-infra": infra,
    "check": check,
    "prune": prune,
    "drift": _drift,
}


def rendered(result: Any, fmt: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "2000")  # no wrapping: what is checked is what is shown, not layout
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    render(result, fmt)
    return out.getvalue()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)


def markdown_html(text: str) -> _Text:
    from markdown_it import MarkdownIt

    parser = _Text()
    parser.feed(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text))
    return parser


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
@pytest.mark.parametrize("kind", list(RESULTS))
def test_table_shows_data_literally(kind: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = rendered(RESULTS[kind](text), "table", monkeypatch)
    assert "\x1b" not in shown  # not even a colour code reaches the terminal from data (and none off one)
    if text in PLAIN:
        assert text in shown
    else:
        escaped = text.replace("\x1b", "\\x1b").replace("\n", "\\n")
        assert escaped in shown


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
@pytest.mark.parametrize("kind", list(RESULTS))
def test_markdown_reads_back_as_the_same_text(kind: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    html = markdown_html(rendered(RESULTS[kind](text), "markdown", monkeypatch))
    body = "".join(html.parts)
    expected = text.replace("\x1b", "\\x1b").replace("\n", "\\n")
    assert expected in body
    # Nothing the data could have turned into markup: no script, link, emphasis or strike-through.
    assert not {"script", "a", "em", "del", "b", "img"} & set(html.tags), html.tags


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
@pytest.mark.parametrize("kind", list(RESULTS))
def test_json_holds_data_unchanged(kind: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    document = orjson.loads(rendered(RESULTS[kind](text), "json", monkeypatch))
    assert any(text in s for s in strings(document))


def test_markup_in_a_label_no_longer_kills_the_default_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reported case: `/api/[/id]` raised MarkupError; `/blog/[slug]` printed as `/blog/`."""
    shown = rendered(correlation("/api/[/id]"), "table", monkeypatch)
    assert "route=/api/[/id]" in shown
    assert "route=/blog/[slug]" in rendered(correlation("/blog/[slug]"), "table", monkeypatch)


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
def test_html_shows_data_as_text_and_never_as_markup(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    page = _Text()
    page.feed(rendered(correlation(text), "html", monkeypatch))
    body = "".join(page.parts)
    # The data is there as text, control characters as visible escapes (\x1b, \n), never live.
    escaped = text.replace("\x1b", "\\x1b").replace("\n", "\\n")
    assert escaped in body and "\x1b" not in body
    assert "script" not in page.tags  # the page itself runs no script; data cannot add one
    assert "b" not in page.tags


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
def test_the_headline_is_shown_literally_in_table_and_markdown(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = correlation(text)
    escaped = report.headline.replace("\x1b", "\\x1b").replace("\n", "\\n")
    table = rendered(report, "table", monkeypatch)
    # The console may wrap the sentence at a space: compare without whitespace.
    assert "\x1b" not in table and "".join(escaped.split()) in "".join(table.split())
    html = markdown_html(rendered(report, "markdown", monkeypatch))
    assert escaped in "".join(html.parts)
    assert not {"script", "a", "em", "del", "b", "img"} & set(html.tags), html.tags
