"""The report's layout in headless Chromium at 1400 px: the timeline spans the data (with context), not
the whole date; no table is wider than the page; an empty hour-of-day chart says why under it; text from
data with bidi or control characters shows as visible escapes; the report's headline, its episode
count and the suspects' direction and role are on the page."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from examples.plant_day import INSTANCES, QUERIES, config_yaml
from mlprom.events.log import write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.storage.local import LocalStorage
from tests.browser.layout import measure
from tests.browser.test_report_in_chromium import report_page
from tests.fixtures.browser import open_page
from tests.fixtures.html_check import Element, parse_html
from tests.fixtures.report_documents import DAY, MIDNIGHT, full_document

INCIDENT_DAY = date(2026, 11, 20)
NOON = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # the short day's events run 10:00-10:20
CLOCK = re.compile(r"\d\d:\d\d")
# Bidi overrides and isolates, a C0 and a C1 control: each would reorder or hide what follows it.
BIDI = "\u202e\u2066\x1b\x85"
HOSTILE_METRIC = "disk_write_io_" * 9 + "\u202egnp.exe"
HOSTILE_LABELS = {
    "instance": "node-b:9100/" + "very-long-path-segment-" * 6 + "\u2066x\u2069",
    "job": "n\x1bode",
}


def mlprom(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlprom", *argv], capture_output=True, text=True, timeout=180
    )


def at(hh: int, mm: int, ss: int = 0) -> float:
    return datetime(2026, 11, 20, hh, mm, ss, tzinfo=UTC).timestamp()


def plant_short_incident(storage: LocalStorage) -> None:
    """Events 10:00-10:20 (one every 5 s), slow 10:08-10:12; snapshots every minute 09:58-10:22, with
    disk_write_io on node-b high while predictions are slow. Nothing else on the date."""
    rng = random.Random(3)
    events = []
    for i in range(240):
        ts = NOON + timedelta(seconds=5 * i)
        slow = timedelta(minutes=8) <= ts - NOON < timedelta(minutes=12)
        events.append(
            Event(
                ts=ts,
                model="default",
                prediction_time_seconds=rng.uniform(10.5, 14.0) if slow else rng.uniform(0.05, 0.4),
                slow=slow,
                rows=10,
                sampled=not slow,
            )
        )
    write_events(storage, events)
    for minute in range(-2, 23):
        ts = NOON + timedelta(minutes=minute)
        hot = 8 <= minute <= 12
        queries = {}
        for name, (expr, _) in QUERIES.items():
            series = [
                Series(
                    {"instance": instance, "job": "node"},
                    rng.uniform(5.5e7, 6e7)
                    if (name, instance) == ("disk_write_io", "node-b:9100") and hot
                    else rng.uniform(2e6, 4e6)
                    if name == "disk_write_io"
                    else rng.uniform(0.2, 0.4),
                )
                for instance in INSTANCES
            ]
            queries[name] = QueryResult(expr, "vector", tuple(series))
        write_snapshot(storage, Snapshot(ts, "http://prometheus.example:9090", queries, f"{minute + 2:016x}"))


def timeline_charts(dom: Element) -> list[Element]:
    (section,) = [s for s in dom.iter("section") if s.attrs.get("id") == "timeline"]
    return [svg for svg in section.iter("svg") if "chart" in svg.attrs.get("class", "")]


def ticks(chart: Element) -> list[str]:
    return [t.text for t in chart.iter("text") if CLOCK.fullmatch(t.text)]


def assert_fits(measured: dict[str, Any]) -> None:
    page = measured["page"]
    assert page["scrollWidth"] <= page["clientWidth"], f"the page scrolls sideways: {page}"
    assert measured["tables"], "no table was measured"
    for table in measured["tables"]:
        assert table["tableWidth"] <= table["containerWidth"], f"a table is wider than its box: {table}"
        assert table["containerScrollWidth"] <= table["containerWidth"], table
        assert table["right"] <= page["clientWidth"], table
    cut = [t for t in measured["texts"] if t["left"] < -0.5 or t["right"] > t["width"] + 0.5]
    assert not cut, f"chart texts run past the picture's edge: {cut[:5]}"


def test_a_four_minute_incident_fills_the_timeline(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data")
    plant_short_incident(storage)
    config = tmp_path / "mlprom.yaml"
    config.write_text(config_yaml(str(tmp_path / "data"), snapshots_only=True))
    done = mlprom("-c", str(config), "-o", "html", "correlate", "--date", DAY, "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    page = tmp_path / "incident.html"
    page.write_text(done.stdout)

    run = open_page(page, tmp_path, width=1400, height=1000)

    assert run.console == []
    dom = parse_html(run.dom)
    charts = timeline_charts(dom)
    assert len(charts) >= 3, "no suspect panel under the prediction charts"
    # The data: snapshots 09:58-10:22 (events 10:00-10:20 inside them), 24 minutes; context each side
    # is the larger of 10% of that and 5 minutes: 09:53-10:27, not 00:00-24:00.
    expected = (at(9, 53), at(10, 27))
    for chart in charts:
        assert (float(chart.attrs["data-start"]), float(chart.attrs["data-end"])) == expected
        assert ticks(chart) == ["09:55", "10:00", "10:05", "10:10", "10:15", "10:20", "10:25"]
    (note,) = [p for p in dom.iter("p") if p.attrs.get("id") == "timeline-range"]
    assert note.text.startswith("Drawn 09:53–10:27: the data's span, 09:58–10:22, with context each side")
    assert_fits(measure(page, tmp_path))


def today_document() -> dict[str, Any]:
    """A report of today made at 00:20: events 00:02-00:12, snapshots 00:00-00:19, no hour finished."""
    document = full_document()
    document["generated_at"] = f"{DAY}T00:20:00.000Z"
    document["headline"] = "40 slow prediction(s) in 1 episode(s): no infrastructure series moved."
    document["episodes"] = 1
    timeline = document["timeline"]
    prediction = timeline["prediction"]
    for i, t in enumerate(prediction["t"]):
        if not at(0, 2) <= t < at(0, 12):
            prediction["count"][i], prediction["slow"][i] = 0, 0
            prediction["p50"][i] = prediction["p95"][i] = None
    timeline["slow_periods"] = [[at(0, 5), at(0, 9)]]
    for line in timeline["series"]:
        keep = [i for i, t in enumerate(line["t"]) if t < at(0, 20)]
        line["t"] = [line["t"][i] for i in keep]
        line["v"] = [line["v"][i] for i in keep]
    document["profile"] = {"hours": [], "peak_hours": [], "method": "binomial test at 1%"}
    return document


def test_a_report_of_today_draws_nothing_after_it_was_made_and_says_why_hours_are_empty(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    page = report_page(write_config(), today_document(), tmp_path / "today.html")

    run = open_page(page, tmp_path, width=1400, height=1000)

    assert run.console == []
    dom = parse_html(run.dom)
    # The data runs 00:00-00:19 (snapshots); context would reach 00:24, but the report was made at 00:20.
    for chart in timeline_charts(dom):
        assert (float(chart.attrs["data-start"]), float(chart.attrs["data-end"])) == (MIDNIGHT, at(0, 20))
        assert ticks(chart)[-1] == "00:20"
    gaps = [t.text for t in dom.iter("text") if "gap" in t.attrs.get("class", "")]
    assert gaps == [], f"a stretch after the report was made is drawn as missing data: {gaps}"
    (profile,) = [s for s in dom.iter("section") if s.attrs.get("id") == "profile"]
    charts = [c for c in profile.iter("svg") if "chart" in c.attrs.get("class", "")]
    assert len(charts) == 2 and all(c.attrs.get("data-empty") == "true" for c in charts)
    for chart in charts:
        siblings = [n for n in profile.children]
        after = siblings[siblings.index(chart) + 1]
        assert after.tag == "p" and "empty-chart" in after.attrs["class"].split(), after
        assert after.text == (
            "No finished hour yet at 2026-11-20 00:20:00 UTC, when this report was made: hours count"
            " once they end (UTC), the first at 01:00."
        )
    # The report's own headline leads the page, with the episodes counted.
    main = dom.iter("main")[0]
    assert main.children[0].attrs.get("id") == "report-headline"
    assert main.children[0].text == "40 slow prediction(s) in 1 episode(s): no infrastructure series moved."
    assert "1 slow episode ·" in dom.by_class("status")[0].text


def hostile_document() -> dict[str, Any]:
    document = full_document(planted_metric=HOSTILE_METRIC, planted_labels=HOSTILE_LABELS)
    document["headline"] = f"1 slow prediction(s): {HOSTILE_METRIC} rose {BIDI}end"
    document["warnings"] = [f"warning with {BIDI} inside"]
    consequence = dict(document["suspects"][1])
    consequence.update(
        rank=3, metric="queue_depth" + BIDI, direction="fall", role="consequence", significant=False
    )
    document["suspects"][0].update(direction="rise", role="cause")
    document["suspects"][1].update(direction="rise", role="cause")
    document["suspects"].append(consequence)
    return document


def test_hostile_labels_fit_the_page_and_show_their_controls_as_escapes(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    page = report_page(write_config(), hostile_document(), tmp_path / "hostile.html")

    run = open_page(page, tmp_path, width=1400, height=1000)

    assert run.console == []
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", run.dom), (
        "a bidi or control character from data reached the page live"
    )
    dom = parse_html(run.dom)
    shown = HOSTILE_METRIC.replace("\u202e", "\\u202e")
    (report_headline,) = [p for p in dom.iter("p") if p.attrs.get("id") == "report-headline"]
    assert report_headline.text == f"1 slow prediction(s): {shown} rose \\u202e\\u2066\\x1b\\x85end"
    first = dom.by_class("suspect-panel")[0]
    assert first.attrs["data-metric"] == shown
    assert first.attrs["data-labels"].endswith('\\u2066x\\u2069", job="n\\x1bode"}')
    assert "warning with \\u202e\\u2066\\x1b\\x85 inside" in dom.by_class("warnings")[0].text
    # Suspects: which way each moved, and the one that moved against its query apart as a consequence.
    (suspects,) = [s for s in dom.iter("section") if s.attrs.get("id") == "suspects"]
    tables = suspects.iter("table")
    heading = [h for h in suspects.iter("h3") if h.attrs.get("id") == "consequences"]
    assert [h.text for h in heading] == ["Moved the other way (likely consequences)"]
    columns = [th.text for th in tables[0].iter("th")]
    moved = columns.index("moved")
    last = tables[-1].iter("tbody")[0].iter("tr")
    assert [[td.text for td in tr.iter("td")][moved] for tr in last] == ["fell"]
    assert "queue_depth\\u202e\\u2066\\x1b\\x85" in tables[-1].text
    assert "queue_depth" not in "".join(t.text for t in tables[:-1])
    assert_fits(measure(page, tmp_path))


def test_the_layout_probe_sees_a_table_wider_than_the_page(tmp_path: Path) -> None:
    # The fit check above passes only because the tables fit: the same probe sees one that does not.
    wide = tmp_path / "wide.html"
    cells = "".join(f"<td style='white-space:nowrap'>{'x' * 40}</td>" for _ in range(12))
    wide.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        f"</head><body style='max-width:1000px'><div class='scroll' style='overflow-x:auto'><table><tr>{cells}"
        "</tr></table></div></body></html>"
    )
    measured = measure(wide, tmp_path)
    (table,) = measured["tables"]
    assert table["tableWidth"] > table["containerWidth"]
    with pytest.raises(AssertionError, match="wider than its box"):
        assert_fits(measured)


def test_the_full_planted_page_fits_1400_px(write_config: Callable[..., Path], tmp_path: Path) -> None:
    page = report_page(write_config(), full_document(), tmp_path / "full.html")
    measured = measure(page, tmp_path)
    assert_fits(measured)
    assert {t["section"] for t in measured["tables"]} >= {"findings", "suspects", "profile", "infra"}
    # Here the whole date has data: the axis is 00:00-24:00.
    dom = parse_html(page.read_text())
    for chart in timeline_charts(dom):
        assert (float(chart.attrs["data-start"]), float(chart.attrs["data-end"])) == (
            MIDNIGHT,
            MIDNIGHT + 86400,
        )
        assert ticks(chart)[0] == "00:00" and ticks(chart)[-1] == "24:00"
