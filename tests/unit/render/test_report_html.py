"""The HTML report page from report documents: every section, its empty states, escaping, links, honesty."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from mlprom.config import load_config_text
from mlprom.render.html import links_for
from mlprom.render.html.page import Links, Page
from mlprom.render.html.svg import BLACK, BLUE, BLUISH_GREEN, GREY, ORANGE, SKY_BLUE, VERMILLION
from tests.fixtures.html_check import Element, parse_html
from tests.fixtures.report_documents import full_document, minimal_document

PROMETHEUS_EXPR = "rate(node_disk_written_bytes_total[1m])"


def render(document: dict[str, Any], links: Links | None = None) -> str:
    return Page(
        document, links or Links(), "0.0.test", "file:///data/reports/dt=2026-11-20/correlation.json"
    ).render()


def tree(document: dict[str, Any], links: Links | None = None) -> Element:
    return parse_html(render(document, links))


def section(root: Element, ident: str) -> Element:
    (found,) = [e for e in root.iter("section") if e.attrs.get("id") == ident]
    return found


def test_headline_names_the_planted_suspect_with_effect_and_q_value() -> None:
    root = tree(full_document())
    (headline,) = [e for e in root.iter("p") if e.attrs.get("id") == "headline"]
    assert (
        headline.text
        == "prediction time rose with disk_write_io on node-b:9100: +14.20 robust σ, q = 3.0e-09."
    )
    (status,) = root.by_class("status")
    assert status.text.startswith("critical 17,000 events (495 slow")
    assert "2 findings (2 critical)" in status.text


def test_suspect_panels_follow_the_timeline_series_in_rank_order() -> None:
    panels = tree(full_document()).by_class("suspect-panel")
    assert [(p.attrs["data-metric"], p.attrs["data-rank"]) for p in panels] == [
        ("disk_write_io", "1"),
        ("cpu_usage", "2"),
    ]
    first = panels[0]
    assert first.iter("h3")[0].text == '#1 disk_write_io {instance="node-b:9100", job="node"}'
    texts = [t.text for t in first.iter("text")]
    assert "critical ≥ 50M" in texts and "warning ≥ 40M" in texts
    assert "critical first seen 03:00" in texts and "last seen 14:44" in texts
    assert "significant" in first.by_class("facts")[0].text
    assert "not significant" in panels[1].by_class("facts")[0].text


def test_a_stretch_without_snapshots_is_labelled_with_its_hours() -> None:
    panel = tree(full_document(gap=(2 * 3600, 4 * 3600))).by_class("suspect-panel")[0]
    notes = [p.text for p in panel.by_class("note")]
    assert "No snapshots for 02:00–04:00 (UTC)." in notes
    gap_titles = [t.text for t in panel.iter("title")]
    assert "no snapshots for 02:00–04:00" in gap_titles


def test_a_gap_reaching_the_end_of_the_day_ends_at_24_00() -> None:
    panel = tree(full_document(gap=(22 * 3600, 24 * 3600))).by_class("suspect-panel")[0]
    assert "No snapshots for 22:00–24:00 (UTC)." in [p.text for p in panel.by_class("note")]


def test_every_chart_states_its_unit_and_utc_and_has_an_accessible_name() -> None:
    root = tree(full_document())
    charts = [svg for svg in root.iter("svg") if "chart" in svg.attrs.get("class", "")]
    assert len(charts) >= 7  # prediction, counts, 2 suspects, 2 drift histograms, 2 profile charts
    for chart in charts:
        ylabel = [t.text for t in chart.iter("text") if t.attrs.get("class") == "ylabel"]
        xlabel = [t.text for t in chart.iter("text") if t.attrs.get("class") == "xlabel"]
        assert ylabel and re.search(r"\(.+\)$", ylabel[0]), ylabel  # "quantity (unit)"
        assert xlabel and xlabel[0]
        assert chart.attrs["role"] == "img" and chart.iter("title")[0].text and chart.iter("desc")[0].text
        if "time of day" in xlabel[0] or "hour of day" in xlabel[0]:
            assert "UTC" in xlabel[0]


def test_a_series_without_a_unit_says_so_on_its_axis() -> None:
    document = full_document()
    document["timeline"]["series"][1]["unit"] = None
    panel = tree(document).by_class("suspect-panel")[1]
    assert [t.text for t in panel.iter("text") if t.attrs.get("class") == "ylabel"] == [
        "cpu_usage (unit not configured)"
    ]


def test_y_axes_start_at_zero_so_small_moves_do_not_look_big() -> None:
    document = full_document()
    # cpu between 0.25 and 0.45 all day: a truncated axis would make it look like a swing.
    for chart in [svg for svg in tree(document).iter("svg") if "chart" in svg.attrs.get("class", "")]:
        ticks = [
            t for t in chart.iter("text") if t.attrs.get("text-anchor") == "end" and not t.attrs.get("class")
        ]
        values = [t.text for t in ticks]
        assert values[0] in ("0", "0.0", "0.00"), values


def test_colours_come_from_the_okabe_ito_palette_only() -> None:
    allowed = {c.lower() for c in (BLACK, ORANGE, SKY_BLUE, BLUISH_GREEN, BLUE, VERMILLION, GREY)}
    text = render(full_document())
    body = text.split("<body>", 1)[1]
    used = {c.lower() for c in re.findall(r'(?:stroke|fill)="(#[0-9A-Fa-f]{6})"', body)}
    assert used and used <= allowed, used - allowed


def test_the_page_is_self_contained_and_runs_no_script() -> None:
    text = render(full_document(), Links(prometheus_url="http://prometheus:9090", queries={"x": "up"}))
    root = parse_html(text)
    assert (
        not root.iter("script") and not root.iter("link") and not root.iter("img") and not root.iter("iframe")
    )
    (csp,) = [m for m in root.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp.attrs["content"]
    for element in root.iter():
        for name, value in element.attrs.items():
            assert not name.startswith("on"), (element.tag, name)
            if name in ("src", "srcset", "data", "poster", "action"):
                pytest.fail(f"<{element.tag} {name}=...> would fetch {value}")
            if name in ("href", "xlink:href") and element.tag != "a":
                pytest.fail(f"<{element.tag} href={value}>")
    assert "@import" not in text and "url(http" not in text and "@font-face" not in text


def test_a_day_of_many_series_stays_far_under_two_megabytes() -> None:
    document = full_document()
    series = document["timeline"]["series"]
    document["timeline"]["series"] = [copy.deepcopy(series[i % 2]) for i in range(12)]
    text = render(document)
    assert len(text.encode()) < 2_000_000 / 4, len(text.encode())


HOSTILE_METRIC = "<script>alert(1)</script>"
HOSTILE_LABELS = {"instance": "/api/[/id]", "path": "\"quoted\" & 'apos' </title>", "job": "{{ $labels }}"}


def hostile_document() -> dict[str, Any]:
    document = full_document(planted_metric=HOSTILE_METRIC, planted_labels=HOSTILE_LABELS)
    document["model"] = "m</title><script>alert(2)</script>"
    document["warnings"] = ["<b>not bold</b> & <img src=x onerror=alert(3)>"]
    document["drift"]["histograms"]["<svg onload=alert(4)>"] = {
        "edges": [0, 1],
        "reference": [1],
        "current": [1],
    }
    document["drift"]["distributions"]["<svg onload=alert(4)>"] = {"status": "ok", "psi": 0.0}
    return document


def test_strings_from_data_are_shown_literally_and_never_become_markup() -> None:
    text = render(hostile_document())
    root = parse_html(text)
    assert not root.iter("script") and not root.iter("b") and not root.iter("img")
    assert all(not k.startswith("on") for e in root.iter() for k in e.attrs)
    shown = root.text
    assert HOSTILE_METRIC in shown
    assert "/api/[/id]" in shown and "\"quoted\" & 'apos' </title>" in shown and "{{ $labels }}" in shown
    assert "m</title><script>alert(2)</script>" in root.iter("title")[0].text
    assert "<b>not bold</b> & <img src=x onerror=alert(3)>" in shown
    assert "<svg onload=alert(4)>" in shown
    (panel,) = [p for p in root.by_class("suspect-panel") if p.attrs["data-rank"] == "1"]
    assert panel.attrs["data-metric"] == HOSTILE_METRIC
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_an_older_report_gets_an_empty_state_in_every_section_that_says_why() -> None:
    root = tree(minimal_document())
    states = {s.attrs["id"]: [p.text for p in s.by_class("empty-state")] for s in root.iter("section")}
    assert states["timeline"][0].startswith("No timeline in this report: it was made by an mlprom")
    assert states["profile"] == ["No profile in this report (made by an older mlprom)."]
    assert states["drift"] == ["No drift section in this report."]
    assert states["findings"] == ["No findings: no threshold crossed, no drift found."]
    assert states["suspects"] == ["No suspects: no slow predictions on this date."]
    (headline,) = [e for e in root.iter("p") if e.attrs.get("id") == "headline"]
    assert headline.text == "No slow predictions on this date: nothing to explain."


def test_a_drift_section_without_histograms_says_it_is_from_an_older_mlprom() -> None:
    document = full_document()
    del document["drift"]["histograms"]
    drift = section(tree(document), "drift")
    states = [p.text for p in drift.by_class("empty-state")]
    assert states.count("No histograms in this report (made by an older mlprom).") == 2
    assert "Not compared: too few values (need 100 on each side)." in states


def test_drift_cards_show_psi_and_ks_with_both_sides_drawn() -> None:
    drift = section(tree(full_document()), "drift")
    card = drift.by_class("card")[0]
    assert card.iter("h3")[0].text == "prediction_time"
    facts = card.by_class("facts")[0].text
    assert (
        "PSI 0.31" in facts
        and "KS D 0.12, p = 1.0e-40" in facts
        and "n 17,000 current / 119,000 reference" in facts
    )
    titles = [t.text for t in card.iter("title")]
    assert "reference 2026-11-13..2026-11-19" in titles and "this date" in titles


def test_report_without_significance_says_the_ranking_is_by_effect_only() -> None:
    document = full_document()
    del document["significance"]
    for suspect in document["suspects"]:
        for key in ("p_value", "q_value", "significant"):
            suspect.pop(key)
    root = tree(document)
    (headline,) = [e for e in root.iter("p") if e.attrs.get("id") == "headline"]
    assert headline.text.endswith("(no significance test in this report: ranked by effect only)")
    assert "q =" not in headline.text


def test_no_significant_suspect_is_said_plainly_rather_than_naming_noise() -> None:
    document = full_document()
    for suspect in document["suspects"]:
        suspect["significant"] = False
    (headline,) = [e for e in tree(document).iter("p") if e.attrs.get("id") == "headline"]
    assert (
        headline.text
        == "No suspect is significant at FDR 0.05 over 48 hypotheses: nothing stood out from noise."
    )


def test_a_suspect_that_fell_is_described_as_falling() -> None:
    document = full_document()
    document["suspects"][0]["effect"] = -3.5
    (headline,) = [e for e in tree(document).iter("p") if e.attrs.get("id") == "headline"]
    assert headline.text.startswith(
        "prediction time rose as disk_write_io on node-b:9100 fell: -3.50 robust σ"
    )


@pytest.mark.parametrize(
    "breakage",
    [
        {"timeline": "yes"},
        {"timeline": {"start": "x", "end": None, "prediction": [], "series": {"a": 1}}},
        {"timeline": {"prediction": {"t": [1, "2", None], "p50": "x"}, "series": [None, {"v": [1]}]}},
        {"profile": {"hours": [{"hour": "3"}, None, {"hour": 5, "slow_share": "x"}]}},
        {"drift": {"distributions": {"outputs": None}, "histograms": {"outputs": {"edges": [1]}}}},
        {"suspects": [None, {"metric": 3, "labels": ["a"], "rank": "one"}], "findings": [{"metric": None}]},
        {"events": None, "warnings": "not a list", "significance": 5},
    ],
)
def test_a_malformed_section_is_rendered_as_unusable_never_raises(breakage: dict[str, Any]) -> None:
    document = full_document()
    document.update(breakage)
    root = tree(document)
    assert root.iter("h1")


def test_infra_rows_link_to_the_prometheus_graph_without_credentials() -> None:
    config = load_config_text(
        "prometheus: {url: 'http://scraper:s3cret@prometheus.internal:9090'}\n"
        "mlflow: {tracking_uri: 'http://mlflow.internal:5000'}\n"
        f"queries: {{disk_write_io: '{PROMETHEUS_EXPR}'}}\n"
        "thresholds: {}\n"
    )
    text = render(full_document(), links_for(config))
    assert "s3cret" not in text and "scraper" not in text
    links = [a.attrs["href"] for a in parse_html(text).iter("a") if not a.attrs["href"].startswith("#")]
    assert links and all(href.startswith("http://prometheus.internal:9090/graph?g0.expr=") for href in links)
    assert "g0.expr=rate%28node_disk_written_bytes_total%5B1m%5D%29" in links[0]
    assert "g0.end_input=2026-11-21+00%3A00%3A00" in links[0]


def test_a_link_to_anything_but_http_is_never_clickable() -> None:
    links = Links(prometheus_url="javascript:alert(1)//", queries={"disk_write_io": "up"})
    text = render(full_document(), links)
    assert "javascript:" not in text
    assert [a.attrs["href"] for a in parse_html(text).iter("a") if not a.attrs["href"].startswith("#")] == []


def test_the_same_document_renders_to_the_same_bytes() -> None:
    assert render(full_document()) == render(full_document())


def test_without_significance_a_small_top_effect_is_not_named_as_a_cause() -> None:
    document = full_document()
    del document["significance"]
    for suspect in document["suspects"]:
        for key in ("p_value", "q_value", "significant"):
            suspect.pop(key)
    document["suspects"][0]["effect"] = 0.9
    (headline,) = [e for e in tree(document).iter("p") if e.attrs.get("id") == "headline"]
    assert headline.text == (
        "No suspect departs by 3 robust σ or more, and this report has no significance test: nothing to single out."
    )


def test_suspect_columns_an_older_report_lacks_are_left_out() -> None:
    document = full_document()
    for suspect in document["suspects"]:
        for key in ("p_value", "q_value", "significant", "lag_seconds", "source", "kind", "unit"):
            suspect.pop(key)
    heads = [th.text for th in section(tree(document), "suspects").iter("th")]
    assert heads[:5] == ["#", "metric", "labels", "effect (robust σ)", "median slow"]
    assert "q" not in heads and "significant" not in heads


def test_suspect_medians_carry_their_unit() -> None:
    cells = [td.text for td in section(tree(full_document()), "suspects").iter("td")]
    assert "58M bytes/s" in cells and "3M bytes/s" in cells


def test_a_log_binned_histogram_is_drawn_on_a_log_axis() -> None:
    document = full_document()
    document["drift"]["histograms"]["prediction_time"] = {
        "edges": [0.05 * 2**i for i in range(9)],
        "reference": [10, 40, 30, 10, 5, 3, 1, 1],
        "current": [5, 20, 15, 5, 3, 2, 20, 30],
        "scale": "log",
    }
    card = section(tree(document), "drift").by_class("card")[0]
    (xlabel,) = [t.text for t in card.iter("text") if t.attrs.get("class") == "xlabel"]
    assert xlabel == "prediction time (seconds, log scale)"
    ticks = [
        t.text
        for t in card.iter("text")
        if t.attrs.get("text-anchor") == "middle" and not t.attrs.get("class")
    ]
    assert ticks == ["0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"]


@pytest.mark.parametrize(
    ("source", "ylabel"),
    [
        ("sketches", "predictions per minute (count)"),
        ("events", "recorded events per minute (count)"),
        (None, "recorded events per minute (count)"),
    ],
)
def test_counts_say_whether_they_are_all_predictions_or_recorded_events(
    source: str | None, ylabel: str
) -> None:
    document = full_document()
    if source is None:
        document["timeline"]["prediction"].pop("source", None)
    else:
        document["timeline"]["prediction"]["source"] = source
    panel = [e for e in tree(document).iter("div") if e.attrs.get("id") == "prediction-panel"][0]
    assert ylabel in [t.text for t in panel.iter("text") if t.attrs.get("class") == "ylabel"]


def test_a_finding_with_an_mlflow_run_links_to_the_run_page() -> None:
    document = full_document()
    document["findings"][1]["detail"]["mlflow_run_id"] = "0f3c2b1a9d8e4f6a"
    links = Links(mlflow_url="http://mlflow.internal:5000")
    hrefs = [a.attrs["href"] for a in section(tree(document, links), "findings").iter("a")]
    assert hrefs == ["http://mlflow.internal:5000/#/runs/0f3c2b1a9d8e4f6a"]


def test_mlflow_links_come_from_an_http_tracking_server_only() -> None:
    remote = load_config_text("mlflow: {tracking_uri: 'https://user:pw@mlflow.example:443/'}\n")
    local = load_config_text("mlflow: {tracking_uri: 'sqlite:///tmp/mlflow.db'}\n")
    assert links_for(remote).mlflow_url == "https://mlflow.example:443/"
    assert links_for(local).mlflow_url == ""


def test_close_threshold_labels_do_not_overlap_and_stay_inside_the_plot() -> None:
    document = full_document()
    document["timeline"]["series"][1]["threshold"] = {"warning": 0.97, "critical": 0.99, "direction": "above"}
    panel = tree(document).by_class("suspect-panel")[1]
    labels = {
        t.text: float(t.attrs["y"]) for t in panel.iter("text") if t.text.startswith(("warning", "critical"))
    }
    assert set(labels) == {"warning ≥ 0.97", "critical ≥ 0.99"}
    assert abs(labels["warning ≥ 0.97"] - labels["critical ≥ 0.99"]) >= 12
    assert min(labels.values()) >= 30  # the plot's top: not clipped away


def test_effects_and_model_suspects_in_the_headline() -> None:
    document = full_document()
    document["suspects"].append(
        {
            **document["suspects"][1],
            "rank": 3,
            "metric": "accuracy",
            "labels": {},
            "effect": -4.93,
            "q_value": 2.5e-138,
            "significant": True,
            "kind": "model",
            "source": "model",
        }
    )
    (headline,) = [e for e in tree(document).iter("p") if e.attrs.get("id") == "headline"]
    assert headline.text == (
        "prediction time rose with disk_write_io on node-b:9100: +14.20 robust σ, q = 3.0e-09."
        " The model's own metrics moved too: accuracy -4.93 robust σ (q = 2.5e-138)."
    )
    document["suspects"] = [document["suspects"][2]]
    (headline,) = [e for e in tree(document).iter("p") if e.attrs.get("id") == "headline"]
    assert headline.text.startswith("No infrastructure series stood out; the model's own metrics moved")


# Bidi overrides and isolates (each reorders what follows it), C0 controls (ESC, BEL, NUL, a tab) and a C1.
CONTROLS = "\u202e\u2066\u2067\u2068\u2069\x1b\x07\x00\t\x85"
SHOWN = "\\u202e\\u2066\\u2067\\u2068\\u2069\\x1b\\x07\\x00\\t\\x85"
RAW_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_bidi_and_control_characters_from_data_are_shown_as_escapes_by_to_html() -> None:
    from mlprom.render.html import to_html
    from mlprom.reports.correlation import CorrelationReport, StoredReport

    metric = "disk_write_io" + CONTROLS + "gnp.exe"
    document = full_document(
        planted_metric=metric, planted_labels={"instance": "node-b" + CONTROLS, "job": "n"}
    )
    document["model"] = "churn" + CONTROLS
    url = "file:///data/reports/dt=2026-11-20/model=churn/correlation.json"
    report = CorrelationReport.from_dict(document, key="reports/correlation.json", url=url)
    text = to_html(StoredReport(report, document, "reports/correlation.json", url))
    assert not RAW_CONTROLS.search(text), RAW_CONTROLS.findall(text)
    root = parse_html(text)
    assert root.iter("title")[0].text.startswith(f"mlprom report: churn{SHOWN} on 2026-11-20")
    (panel,) = [p for p in root.by_class("suspect-panel") if p.attrs["data-rank"] == "1"]
    assert panel.attrs["data-metric"] == f"disk_write_io{SHOWN}gnp.exe"
    assert panel.iter("h3")[0].text == f'#1 disk_write_io{SHOWN}gnp.exe {{instance="node-b{SHOWN}", job="n"}}'
    assert f"churn{SHOWN}" in root.text and f"node-b{SHOWN}" in root.text
