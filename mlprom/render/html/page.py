"""The HTML report page: a correlation report document (its JSON form) -> one self-contained HTML file.

Reads the document defensively: any section may be absent (a report made by an older mlprom) or
malformed (an edited file), and then says so in place instead of drawing a misleading picture.
No script, no external resource: a Content-Security-Policy of default-src 'none' enforces both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from mlprom.render.document import (
    as_dict,
    as_list,
    as_str,
    clock,
    data_span,
    data_window,
    day_of,
    document_timeline,
    finding_spans,
    format_number,
    hhmm,
    identity,
    label_text,
    labels_of,
    num,
    nums,
    parse_unix,
    prediction_threshold,
    time_ticks,
    where_text,
)
from mlprom.render.html import svg
from mlprom.render.html.svg import Chart, esc
from mlprom.reports.sections import Timeline, TimelineSeries

MOVED = {"rise": "rose", "fall": "fell"}  # a suspect's direction, as the tables say it
SUSPECT_PANELS = 5  # series drawn under the prediction timeline, in rank order
SUSPECT_ROWS = 20  # significant suspects listed in the table before the rest are folded away
GAP_SECONDS = 15 * 60  # missing data longer than this breaks a line and is labelled as a gap
GAPS_LISTED = 6
UNTESTED_EFFECT_NAMED = 3.0  # robust σ a suspect needs for the headline of a report without significance

DISTRIBUTION_UNITS = {
    "prediction_time": "prediction time (seconds)",
    "outputs": "model output (the model's own units)",
    "accuracy": "accuracy (share of rows right, 0–1)",
}


@dataclass(frozen=True)
class Links:
    """Where rows of the report link to; empty strings mean "not configured", and no link is drawn."""

    prometheus_url: str = ""  # without credentials
    mlflow_url: str = ""  # an http(s) tracking server, whose UI serves /#/runs/RUN_ID
    queries: Mapping[str, str] = field(default_factory=dict)  # query name -> PromQL
    units: Mapping[str, str] = field(default_factory=lambda: {"prediction_time": "s"})  # metric -> unit

    def prometheus_graph(self, expr: str, day: date | None) -> str:
        if not self.prometheus_url or not expr:
            return ""
        params = {"g0.expr": expr, "g0.tab": "0", "g0.range_input": "1d"}
        if day is not None:
            params["g0.end_input"] = f"{(day + timedelta(days=1)).isoformat()} 00:00:00"
        return f"{self.prometheus_url.rstrip('/')}/graph?{urlencode(params)}"

    def mlflow_run(self, run_id: str) -> str:
        """The MLflow UI's page of a run (its /#/runs/RUN_ID route redirects to the run in its experiment)."""
        if not self.mlflow_url or not run_id:
            return ""
        return f"{self.mlflow_url.rstrip('/')}/#/runs/{quote(run_id, safe='')}"


def safe_href(url: str) -> str:
    """Only http(s) URLs become links: a javascript: or data: URL from a config is never clickable."""
    return url if urlsplit(url).scheme in ("http", "https") else ""


# ---------------------------------------------------------------- formatting


def fmt(value: Any, spec: str = ".4g") -> str:
    number = num(value)
    return "–" if number is None else format(number, spec)


def fmt_value(value: Any) -> str:
    """A measured value for a table: SI suffixes from 10,000 up (61.23M), four significant digits."""
    number = num(value)
    return "–" if number is None else format_number(number)


def fmt_effect(value: float | None) -> str:
    """+14.20, -0.28; a tiny effect keeps two significant digits instead of reading +0.00."""
    if value is None:
        return "–"
    return f"{value:+.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:+.2g}"


def with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit and text != "–" else text


def fmt_q(value: Any) -> str:
    number = num(value)
    if number is None:
        return "–"
    return f"{number:.2g}" if number >= 1e-4 else f"{number:.1e}"


def fmt_count(value: Any) -> str:
    number = num(value)
    return "–" if number is None else f"{int(number):,}"


def fmt_time(value: Any) -> str:
    unix = parse_unix(value)
    return "–" if unix is None else datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S")


def span_text(start: float, end: float) -> str:
    """02:00–04:00; 22:00–24:00 at the end of the day."""
    return f"{hhmm(start)}–{clock(end, start)}"


# ---------------------------------------------------------------- the page


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"c{self.n}"


@dataclass
class Page:
    document: Mapping[str, Any]
    links: Links
    version: str
    url: str = ""  # where the report is stored
    ids: _Ids = field(default_factory=_Ids)
    # The report's typed timeline; a page made from a document alone reads the document's.
    day_timeline: Timeline | None = None

    def __post_init__(self) -> None:
        if self.day_timeline is None:
            self.day_timeline = document_timeline(self.document)

    @property
    def day(self) -> date | None:
        return day_of(self.document)

    # ------------------------------------------------------------ headline

    def suspects(self) -> list[dict[str, Any]]:
        return [s for s in as_list(self.document.get("suspects")) if isinstance(s, dict)]

    def has_significance(self) -> bool:
        return isinstance(self.document.get("significance"), dict) or any(
            "significant" in s for s in self.suspects()
        )

    def lead_suspects(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(infra, model) suspects the headline names: significant ones when the report tested them,
        best first; the infrastructure leads, the model's own metrics (accuracy, outputs) follow."""
        ranked = sorted(self.suspects(), key=lambda s: num(s.get("rank")) or math.inf)
        if self.has_significance():
            chosen = [s for s in ranked if s.get("significant") is True]
        else:
            # No test to tell a finding from noise: the top suspect only, and only when it is far out.
            chosen = [s for s in ranked[:1] if abs(num(s.get("effect")) or 0.0) >= UNTESTED_EFFECT_NAMED]
        model = [s for s in chosen if s.get("kind") == "model" or s.get("source") == "model"]
        infra = [s for s in chosen if s not in model]
        return infra[:3], model[:3]

    def suspect_sentence(self, suspect: Mapping[str, Any]) -> str:
        """prediction time rose with disk_write_io on node-b: +0.76 robust σ, q = 0.003"""
        metric = as_str(suspect.get("metric"))
        where = where_text(labels_of(suspect.get("labels")))
        effect = num(suspect.get("effect"))
        subject = f"{metric} on {where}" if where else metric
        if effect is not None and effect < 0:
            text = f"prediction time rose as {subject} fell: {fmt_effect(effect)} robust σ"
        else:
            text = f"prediction time rose with {subject}: {fmt_effect(effect)} robust σ"
        if "q_value" in suspect:
            text += f", q = {fmt_q(suspect.get('q_value'))}"
        lag = num(suspect.get("lag_seconds"))
        if lag:
            text += f", lag {lag:g} s"
        return text

    def headline(self) -> str:
        d = self.document
        events = as_dict(d.get("events"))
        status = as_str(d.get("status")) or "unknown"
        total = num(events.get("total")) or 0
        joined = num(events.get("joined"))
        findings = as_list(d.get("findings"))
        critical = sum(1 for f in findings if isinstance(f, dict) and f.get("severity") == "critical")
        facts = [
            f"{fmt_count(events.get('total'))} events ({fmt_count(events.get('slow'))} slow"
            + (
                f", {fmt_count(events.get('from_sketches'))} from sketches"
                if num(events.get("from_sketches"))
                else ""
            )
            + (f", {joined / total:.0%} joined to infra data" if joined is not None and total else "")
            + ")",
            *self.episode_fact(),
            f"{fmt_count(d.get('snapshots'))} snapshots",
            f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
            + (f" ({critical} critical)" if critical else ""),
        ]
        lead, model = self.lead_suspects()
        also = ", ".join(
            f"{as_str(s.get('metric'))} {fmt_effect(num(s.get('effect')))} robust σ"
            + (f" (q = {fmt_q(s.get('q_value'))})" if "q_value" in s else "")
            for s in model
        )
        if lead:
            sentences = [self.suspect_sentence(s) for s in lead]
            caveat = (
                ""
                if self.has_significance()
                else " (no significance test in this report: ranked by effect only)"
            )
            story = "; ".join(sentences) + "." + caveat
            if also:
                story += f" The model's own metrics moved too: {also}."
        elif also:
            story = f"No infrastructure series stood out; the model's own metrics moved with slow predictions: {also}."
        elif self.suspects() and not self.has_significance():
            story = (
                f"No suspect departs by {UNTESTED_EFFECT_NAMED:g} robust σ or more, and this report has no"
                " significance test: nothing to single out."
            )
        elif self.suspects():
            sig = as_dict(d.get("significance"))
            story = (
                f"No suspect is significant at FDR {fmt(sig.get('fdr'), 'g')} over "
                f"{fmt_count(sig.get('hypotheses'))} hypotheses: nothing stood out from noise."
            )
        elif events.get("slow") == 0:
            story = "No slow predictions on this date: nothing to explain."
        else:
            story = "No suspects: too few observations on a side to compare."
        answer = as_str(d.get("headline"))
        top = f'<p class="report-headline" id="report-headline">{esc(answer)}</p>' if answer else ""
        return (
            f"{top}"
            f'<p class="status"><span class="badge {esc(status)}">{esc(status)}</span> '
            f"{esc(' · '.join(facts))}</p>"
            f'<p class="headline" id="headline">{esc(story)}</p>'
        )

    def episode_fact(self) -> list[str]:
        """The count of distinct slow episodes, when the report has it (docs/correlation.md, "Episodes")."""
        episodes = self.document.get("episodes")
        if isinstance(episodes, bool) or not isinstance(episodes, int):
            return []
        return [f"{episodes:,} slow episode{'s' if episodes != 1 else ''}"]

    def warnings(self) -> str:
        items = [as_str(w) for w in as_list(self.document.get("warnings")) if as_str(w)]
        if not items:
            return ""
        return '<ul class="warnings">' + "".join(f"<li>{esc(w)}</li>" for w in items) + "</ul>"

    # ------------------------------------------------------------ timeline

    def timeline(self) -> str:
        timeline = self.day_timeline
        if timeline is None:
            why = (
                "The timeline in this report has no valid time range."
                if isinstance(self.document.get("timeline"), dict)
                else "No timeline in this report: it was made by an mlprom that did not store one. "
                "Re-run correlate for this date to get one; the tables below hold what it found."
            )
            return self.section("timeline", "Timeline", empty(why))
        day = self.day
        x_label = f"time of day, UTC ({day.isoformat() if day else '?'})"
        # Drawn over the data's span with some context (document.data_window), not the whole date: a
        # four-minute incident fills the chart, and a report of today draws nothing after it was made.
        whole = timeline
        lo, hi = data_window(timeline, self.document)
        timeline = replace(timeline, start=lo, end=hi)
        ticks = [(t, clock(t, whole.start)) for t in time_ticks(lo, hi)]
        parts = [self.prediction_charts(timeline, ticks, x_label)]
        if not timeline.series:
            parts.append(empty("No infrastructure series in the timeline: no suspect had data to draw."))
        for index, line in enumerate(timeline.series[:SUSPECT_PANELS]):
            parts.append(self.series_panel(line, index, timeline, ticks, x_label))
        if len(timeline.series) > SUSPECT_PANELS:
            parts.append(
                f'<p class="note">{len(timeline.series) - SUSPECT_PANELS} more series are in the report\'s JSON '
                "(timeline.series); the suspects table lists them all.</p>"
            )
        periods = timeline.slow_periods
        shaded = (
            f"Shaded: slow periods ({len(periods)}), "
            + ", ".join(span_text(a, b) for a, b in periods[:8])
            + (" …" if len(periods) > 8 else "")
            + "."
            if periods
            else "No slow periods on this date."
        )
        intro = (
            f'<p class="note" id="timeline-range" data-start="{lo:.0f}" data-end="{hi:.0f}">'
            f"{esc(self.range_text(whole, lo, hi))} {esc(shaded)} One point per {timeline.step:g} s."
            " All times UTC.</p>"
        )
        return self.section("timeline", "Timeline", intro + "".join(parts))

    def range_text(self, whole: Timeline, lo: float, hi: float) -> str:
        """What stretch of the date the charts show, and why not all of it."""
        generated = parse_unix(self.document.get("generated_at"))
        made = " (the report was made then)" if generated is not None and abs(hi - generated) < 1 else ""
        shown = f"Drawn {span_text(lo, hi)}{made}"
        span = data_span(whole)
        if span is None:
            return f"{shown}: no data on this date."
        if lo <= whole.start and hi >= whole.end:
            return f"{shown}: the whole date."
        return (
            f"{shown}: the data's span, {span_text(*span)}, with context each side;"
            " the rest of the date has no data."
        )

    def _time_chart(self, title: str, description: str, y_label: str, x_label: str, height: int) -> Chart:
        return Chart(title, description, y_label, x_label, height=height, ident=self.ids())

    def _frame(self, chart: Chart, timeline: Timeline, ticks: Sequence[tuple[float, str]]) -> None:
        chart.set_x(timeline.start, timeline.end, ticks)
        chart.attrs.update({"data-start": f"{timeline.start:.0f}", "data-end": f"{timeline.end:.0f}"})
        for a, b in timeline.slow_periods:
            chart.band(a, max(b, a + timeline.step), svg.BLACK, 0.09, f"slow period {span_text(a, b)} UTC")

    @staticmethod
    def _gaps(
        xs: Sequence[float], ys: Sequence[float | None], timeline: Timeline
    ) -> list[tuple[float, float]]:
        """Stretches of the timeline longer than GAP_SECONDS with no value."""
        step, start, end = timeline.step, timeline.start, timeline.end
        present = [t for t, v in zip(xs, ys, strict=False) if v is not None and start - step < t < end]
        out = []
        previous = start - step
        for t in [*present, end]:
            if t - (previous + step) >= GAP_SECONDS:
                out.append((max(previous + step, start), min(t, end)))
            previous = t
        return out

    def _draw_gaps(self, chart: Chart, gaps: Sequence[tuple[float, float]], what: str) -> str:
        for a, b in gaps:
            chart.gap(a, b, f"no {what} for {span_text(a, b)}")
        if not gaps:
            return ""
        listed = ", ".join(span_text(a, b) for a, b in gaps[:GAPS_LISTED])
        more = f" and {len(gaps) - GAPS_LISTED} more" if len(gaps) > GAPS_LISTED else ""
        return f'<p class="note">No {esc(what)} for {esc(listed)}{more} (UTC).</p>'

    def prediction_charts(self, timeline: Timeline, ticks: Sequence[tuple[float, str]], x_label: str) -> str:
        xs = timeline.t
        if not xs:
            return (
                '<div class="panel" id="prediction-panel"><h3>Prediction time</h3>'
                + empty("No events on this date: nothing to draw for prediction time.")
                + "</div>"
            )
        p50, p95 = timeline.p50, timeline.p95
        threshold = prediction_threshold(self.document)
        chart = self._time_chart(
            "Prediction time per minute",
            "Median and 95th percentile of recorded prediction times per minute, slow periods shaded.",
            "prediction time (seconds)",
            x_label,
            210,
        )
        chart.set_y(
            svg.y_domain(
                [v for v in (*p95, *p50) if v is not None], [threshold] if threshold is not None else []
            )
        )
        self._frame(chart, timeline, ticks)
        gap_note = self._draw_gaps(chart, self._gaps(xs, p50, timeline), "events")
        if threshold is not None:
            chart.hline(threshold, svg.VERMILLION, "2 3", f"prediction_time threshold {threshold:g} s")
        chart.line(xs, p95, svg.VERMILLION, max_gap=GAP_SECONDS, label="p95 prediction time")
        chart.line(xs, p50, svg.BLUE, dash="5 3", max_gap=GAP_SECONDS, label="p50 prediction time")
        self.markers(chart, "prediction_time", {}, None)
        items = [
            ("line", svg.VERMILLION, "", "p95"),
            ("line", svg.BLUE, "5 3", "p50 (median)"),
            ("band", svg.BLACK, "", "slow period"),
        ]
        if threshold is not None:
            items.append(("line", svg.VERMILLION, "2 3", "prediction_time threshold"))
        every = timeline.prediction_source == "sketches"
        what = "predictions" if every else "recorded events"
        counts = self._time_chart(
            f"{what.capitalize()} per minute",
            f"{what.capitalize()} per minute, and of them the slow ones.",
            f"{what} per minute (count)",
            x_label,
            150,
        )
        counts.set_y(svg.y_domain([v for v in timeline.count if v is not None]))
        self._frame(counts, timeline, ticks)
        counts.bars(xs, timeline.count, timeline.step, svg.SKY_BLUE, f"{what} per minute")
        counts.bars(xs, timeline.slow, timeline.step, svg.VERMILLION, "slow predictions per minute")
        legend2 = legend_html([("bar", svg.SKY_BLUE, "", what), ("bar", svg.VERMILLION, "", "slow")])
        note = (
            '<p class="note">Every prediction counted, from the latency sketches.</p>'
            if every
            else '<p class="note">From recorded events: every slow prediction is recorded, fast ones at the '
            "configured sample rate, so the counts are of recorded events, not of all traffic.</p>"
        )
        return (
            '<div class="panel" id="prediction-panel"><h3>Prediction time</h3>'
            f"{legend_html(items)}{chart.svg()}{gap_note}{legend2}{counts.svg()}{note}</div>"
        )

    def markers(
        self, chart: Chart, metric: str, labels: Mapping[str, str], line: TimelineSeries | None
    ) -> list[str]:
        """First / last seen of the findings on this series, as vertical lines; returns their text."""
        spans = finding_spans(self.document, metric, labels)
        if not spans and line is not None and line.first_seen is not None and line.last_seen is not None:
            spans = [(line.first_seen, line.last_seen, "finding")]
        texts = []
        for first, last, severity in spans[:1]:
            chart.vline(first, svg.BLACK, "4 2", f"{severity} first seen {hhmm(first)}", row=0)
            if last != first:
                chart.vline(last, svg.BLACK, "1 2", f"last seen {hhmm(last)}", row=1)
            texts.append(f"{severity} from {fmt_time(first)} to {fmt_time(last)} UTC")
        return texts

    def suspect_for(self, metric: str, labels: Mapping[str, str]) -> dict[str, Any] | None:
        wanted = identity(metric, labels)
        for suspect in self.suspects():
            if identity(suspect.get("metric"), suspect.get("labels")) == wanted:
                return suspect
        return None

    def series_panel(
        self,
        line: TimelineSeries,
        index: int,
        timeline: Timeline,
        ticks: Sequence[tuple[float, str]],
        x_label: str,
    ) -> str:
        source = line.source or "unknown source"
        suspect = self.suspect_for(line.metric, line.labels)
        name = line.metric + (" " + label_text(line.labels) if line.labels else "")
        rank = num(suspect.get("rank")) if suspect else None
        heading = (f"#{int(rank)} " if rank is not None else "") + name
        facts = []
        if suspect:
            facts.append(f"effect {fmt_effect(num(suspect.get('effect')))} robust σ")
            if "q_value" in suspect:
                facts.append(f"q = {fmt_q(suspect.get('q_value'))}")
            if "significant" in suspect:
                significant = suspect.get("significant") is True
                note = suspect.get("note")
                # Say why a small q is still not significant (the median moved too little).
                reason = f" ({note})" if not significant and isinstance(note, str) and note else ""
                facts.append(("significant" if significant else "not significant") + reason)
            lag = num(suspect.get("lag_seconds"))
            if lag:
                facts.append(f"lag {lag:g} s")
            moved = MOVED.get(as_str(suspect.get("direction")))
            if moved:
                against = suspect.get("role") == "consequence"
                facts.append(
                    f"{moved} on slow steps"
                    + (", against its query: likely a consequence" if against else "")
                )
        facts.append(f"source: {source}")
        chart = self._time_chart(
            f"{name} over the day",
            f"{name} from {source}, with its thresholds and the slow periods shaded.",
            f"{line.metric} ({line.unit})" if line.unit else f"{line.metric} (unit not configured)",
            x_label,
            170,
        )
        levels = [("warning", line.warning), ("critical", line.critical)]
        chart.set_y(
            svg.y_domain([v for v in line.v if v is not None], [v for _, v in levels if v is not None])
        )
        self._frame(chart, timeline, ticks)
        what = {"snapshots": "snapshots", "prometheus": "Prometheus samples"}.get(line.source, "values")
        if any(v is not None for v in line.v):
            gap_note = self._draw_gaps(chart, self._gaps(line.t, line.v, timeline), what)
        else:
            chart.note(f"no {what} for this series on this date")
            gap_note = ""
        op = "≤" if line.direction == "below" else "≥"
        for level, value in levels:
            if value is not None:
                colour, dash = (svg.ORANGE, "7 4") if level == "warning" else (svg.VERMILLION, "2 3")
                chart.hline(value, colour, dash, f"{level} {op} {format_number(value)}")
        chart.line(line.t, line.v, svg.BLUISH_GREEN, max_gap=GAP_SECONDS, label=name)
        seen = self.markers(chart, line.metric, line.labels, line)
        seen_note = f'<p class="note">Finding: {esc("; ".join(seen))}.</p>' if seen else ""
        return (
            f'<div class="panel suspect-panel" data-metric="{esc(line.metric)}"'
            f' data-labels="{esc(label_text(line.labels))}"'
            f' data-rank="{int(rank) if rank is not None else ""}" data-position="{index + 1}">'
            f'<h3>{esc(heading)}</h3><p class="facts">{esc(" · ".join(facts))}</p>'
            f"{chart.svg()}{gap_note}{seen_note}</div>"
        )

    # ------------------------------------------------------------ drift

    def drift(self) -> str:
        drift = self.document.get("drift")
        if not isinstance(drift, dict):
            return self.section("drift", "Drift", empty("No drift section in this report."))
        reference = as_dict(drift.get("reference"))
        ref_text = (
            f"{as_str(reference.get('start'))}..{as_str(reference.get('end'))}"
            if reference
            else "the reference days"
        )
        distributions = as_dict(drift.get("distributions"))
        histograms = drift.get("histograms")
        intro = (
            f'<p class="note">This date against {esc(ref_text)}: status {esc(as_str(drift.get("status")) or "unknown")}'
            f" ({esc(as_str(drift.get('rule')) or 'default')} rule). Histograms show the share of each side's"
            " sampled values per bin, on the same bins.</p>"
        )
        if not distributions:
            return self.section("drift", "Drift", intro + empty("No distributions were compared."))
        cards = []
        for name, stats in distributions.items():
            cards.append(self.drift_card(as_str(name), as_dict(stats), histograms, drift, ref_text))
        return self.section("drift", "Drift", intro + '<div class="cards">' + "".join(cards) + "</div>")

    def drift_card(
        self, name: str, stats: dict[str, Any], histograms: Any, drift: dict[str, Any], ref_text: str
    ) -> str:
        status = as_str(stats.get("status")) or "unknown"
        n_cur, n_ref = stats.get("n_current"), stats.get("n_reference")
        facts = [
            f"status {status}",
            f"PSI {fmt(stats.get('psi'), '.3g')}",
            f"KS D {fmt(stats.get('ks_statistic'), '.3g')}, p = {fmt_q(stats.get('ks_pvalue'))}",
            f"n {fmt_count(n_cur)} current / {fmt_count(n_ref)} reference",
        ]
        title = f'<h3>{esc(name)}</h3><p class="facts">{esc(" · ".join(facts))}</p>'
        if status.startswith("insufficient"):
            need = fmt_count(drift.get("min_samples"))
            why = f"Not compared: too few values (need {need} on each side)."
            return f'<div class="card">{title}{empty(why)}</div>'
        if not isinstance(histograms, dict):
            return f'<div class="card">{title}{empty("No histograms in this report (made by an older mlprom).")}</div>'
        histogram = as_dict(histograms.get(name))
        edges = nums(histogram.get("edges"))
        ref, cur = nums(histogram.get("reference")), nums(histogram.get("current"))
        if len(edges) < 2 or len(ref) != len(edges) - 1 or len(cur) != len(edges) - 1 or None in edges:
            return f'<div class="card">{title}{empty(f"No histogram of {name} in this report.")}</div>'
        ref_total = sum(v or 0 for v in ref) or 1.0
        cur_total = sum(v or 0 for v in cur) or 1.0
        ref_share = [100 * (v or 0) / ref_total for v in ref]
        cur_share = [100 * (v or 0) / cur_total for v in cur]
        x_edges = [e for e in edges if e is not None]
        log = histogram.get("scale") == "log" and x_edges[0] > 0
        unit = DISTRIBUTION_UNITS.get(name, f"{name} (units of the values)")
        chart = Chart(
            f"{name}: reference vs current",
            f"Share of sampled values of {name} per bin, reference days {ref_text} against this date.",
            "share of values (%)",
            unit.replace(")", ", log scale)") if log and unit.endswith(")") else unit,
            height=190,
            ident=self.ids(),
        )
        if log:
            # Drawn in log10 space; ticks at 1, 2 and 5 times the powers of ten inside the range.
            x_edges = [math.log10(e) for e in x_edges]
            lo, hi = x_edges[0], x_edges[-1]
            marks = [
                m * 10.0**k
                for k in range(math.floor(lo) - 1, math.ceil(hi) + 1)
                for m in (1, 2, 5)
                if lo <= math.log10(m * 10.0**k) <= hi
            ]
            if len(marks) > 9:
                marks = [m for m in marks if f"{m:.0e}".startswith("1")]
            chart.set_x(lo, hi, [(math.log10(m), format_number(m)) for m in marks])
        else:
            lo, hi = x_edges[0], x_edges[-1]
            if hi <= lo:
                hi = lo + 1.0
            x_ticks = svg.value_ticks(lo, hi, 5)
            step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else None
            chart.set_x(lo, hi, [(t, format_number(t, step)) for t in x_ticks if lo <= t <= hi])
        chart.set_y(svg.y_domain([*ref_share, *cur_share]))
        chart.raw(_step_area(chart, x_edges, ref_share, svg.SKY_BLUE, f"reference {ref_text}"))
        chart.raw(_step_line(chart, x_edges, cur_share, svg.VERMILLION, "this date"))
        legend = legend_html(
            [("bar", svg.SKY_BLUE, "", f"reference ({ref_text})"), ("line", svg.VERMILLION, "", "this date")]
        )
        return f'<div class="card">{title}{legend}{chart.svg()}</div>'

    # ------------------------------------------------------------ profile

    def profile(self) -> str:
        profile = self.document.get("profile")
        if not isinstance(profile, dict):
            return self.section(
                "profile",
                "Hour-of-day profile",
                empty("No profile in this report (made by an older mlprom)."),
            )
        hours = [
            h for h in as_list(profile.get("hours")) if isinstance(h, dict) and num(h.get("hour")) is not None
        ]
        by_hour = {int(num(h.get("hour")) or 0): h for h in hours}
        peaks = {int(p) for p in nums(profile.get("peak_hours")) if p is not None}
        xs = [float(h) for h in range(24)]
        share = [
            None
            if num(by_hour.get(h, {}).get("slow_share")) is None
            else 100 * (num(by_hour[h].get("slow_share")) or 0.0)
            for h in range(24)
        ]
        p95 = [num(by_hour.get(h, {}).get("p95")) for h in range(24)]
        ticks = [(h + 0.5, f"{h:02d}") for h in range(24)]
        chart = Chart(
            "Slow share per hour of day",
            "Estimated share of the hour's batches that were slow (sampled fast ones weighted), per UTC hour;"
            " peak hours marked.",
            "slow batches (% of all, estimated)",
            "hour of day (UTC)",
            height=190,
            ident=self.ids(),
        )
        chart.set_x(0.0, 24.0, ticks)
        chart.set_y(svg.y_domain([v for v in share if v is not None]))
        normal = [None if h in peaks else share[h] for h in range(24)]
        peak = [share[h] if h in peaks else None for h in range(24)]
        chart.bars(xs, normal, 1.0, svg.SKY_BLUE, "slow share", pad=3)
        chart.bars(xs, peak, 1.0, svg.VERMILLION, "slow share, peak hour", pad=3)
        for h in sorted(peaks):
            if 0 <= h < 24 and share[h] is not None:
                chart.label(h + 0.5, share[h] or 0.0, "peak")
        p95_chart = Chart(
            "p95 prediction time per hour of day",
            "95th percentile of prediction time per UTC hour.",
            "p95 prediction time (seconds)",
            "hour of day (UTC)",
            height=170,
            ident=self.ids(),
        )
        p95_chart.set_x(0.0, 24.0, ticks)
        p95_chart.set_y(svg.y_domain([v for v in p95 if v is not None]))
        p95_chart.line([h + 0.5 for h in xs], p95, svg.VERMILLION, dots=True, label="p95 prediction time")
        share_why = self.empty_hours(chart, share, len(by_hour))
        p95_why = self.empty_hours(p95_chart, p95, len(by_hour))
        peak_text = ", ".join(f"{h:02d}:00" for h in sorted(peaks)) or "none"
        method = as_str(profile.get("method"))
        intro = (
            f'<p class="note">Peak hours (UTC): {esc(peak_text)}.'
            + (f" Method: {esc(method)}" if method else "")
            + (
                f" Only the {len(by_hour)} hour(s) that had ended when the report was made are counted."
                if 0 < len(by_hour) < 24
                else ""
            )
            + "</p>"
        )
        legend = legend_html(
            [("bar", svg.SKY_BLUE, "", "slow share"), ("bar", svg.VERMILLION, "", "slow share, peak hour")]
        )
        table = self.profile_table(by_hour)
        return self.section(
            "profile",
            "Hour-of-day profile",
            intro + legend + chart.svg() + share_why + p95_chart.svg() + p95_why + table,
        )

    def empty_hours(self, chart: Chart, values: Sequence[float | None], finished: int) -> str:
        """For an hour-of-day chart with nothing to draw: a note in it and the reason under it. Only
        hours of the date that had ended when the report was made are in the profile."""
        if any(v is not None for v in values):
            return ""
        generated = parse_unix(self.document.get("generated_at"))
        at = f" at {fmt_time(generated)} UTC, when this report was made" if generated is not None else ""
        if finished == 0:
            chart.note("no finished hour yet")
            why = f"No finished hour yet{at}: hours count once they end (UTC), the first at 01:00."
        else:
            chart.note("no events in the finished hours")
            plural = "s" if finished != 1 else ""
            why = (
                f"No events in the {finished} finished hour{plural} of the date{at}: nothing to draw."
                " Hours count once they end (UTC)."
            )
        chart.attrs["data-empty"] = "true"
        return f'<p class="note empty-chart">{esc(why)}</p>'

    def profile_table(self, by_hour: Mapping[int, Mapping[str, Any]]) -> str:
        resources = sorted({str(k) for h in by_hour.values() for k in as_dict(h.get("resources"))})
        head = [
            "hour (UTC)",
            "events",
            "slow",
            "slow share",
            "p95 (s)",
            "peak",
            *(f"{r} (median)" for r in resources),
        ]
        rows = []
        for hour in sorted(by_hour):
            h = by_hour[hour]
            share = num(h.get("slow_share"))
            res = as_dict(h.get("resources"))
            rows.append(
                [
                    f"{hour:02d}:00",
                    fmt_count(h.get("events")),
                    fmt_count(h.get("slow")),
                    "–" if share is None else f"{share:.1%}",
                    fmt(h.get("p95")),
                    "yes" if h.get("peak") is True else "",
                    *(fmt(res.get(r)) for r in resources),
                ]
            )
        return "<details><summary>Per-hour table</summary>" + table_html(head, rows) + "</details>"

    # ------------------------------------------------------------ tables

    def findings(self) -> str:
        findings = [f for f in as_list(self.document.get("findings")) if isinstance(f, dict)]
        if not findings:
            return self.section(
                "findings", "Findings", empty("No findings: no threshold crossed, no drift found.")
            )
        head = [
            "severity",
            "kind",
            "metric",
            "labels",
            "value",
            "threshold",
            "slow events",
            "first seen (UTC)",
            "last seen (UTC)",
            "links",
        ]
        rows: list[list[Any]] = []
        for f in findings:
            detail = as_dict(f.get("detail"))
            op = "≤" if f.get("direction") == "below" else "≥"
            expr = as_str(detail.get("expr")) or self.links.queries.get(as_str(f.get("metric")), "")
            link = self.links.prometheus_graph(expr, self.day) if detail.get("source") == "infra" else ""
            run_id = as_str(detail.get("mlflow_run_id"))
            rows.append(
                [
                    as_str(f.get("severity")),
                    as_str(f.get("kind")) or "threshold",
                    as_str(f.get("metric")),
                    label_text(labels_of(f.get("labels"))),
                    with_unit(fmt_value(f.get("value")), self.links.units.get(as_str(f.get("metric")), ""))
                    + (f" over {fmt_count(f.get('rows'))} rows" if "rows" in f else ""),  # a quality window
                    with_unit(
                        f"{op} {fmt_value(f.get('threshold'))}",
                        self.links.units.get(as_str(f.get("metric")), ""),
                    ),
                    fmt_count(f.get("slow_events") if "rows" not in f else None),
                    fmt_time(f.get("first_seen")),
                    fmt_time(f.get("last_seen")),
                    [Link(link, "Prometheus graph"), Link(self.links.mlflow_run(run_id), "MLflow run")],
                ]
            )
        return self.section("findings", "Findings", table_html(head, rows, row_class=lambda r: as_str(r[0])))

    def suspects_table(self) -> str:
        suspects = sorted(self.suspects(), key=lambda s: num(s.get("rank")) or math.inf)
        if not suspects:
            slow = as_dict(self.document.get("events")).get("slow")
            why = (
                "no slow predictions on this date"
                if slow == 0
                else "too few observations on a side to compare"
            )
            return self.section("suspects", "Suspects", empty(f"No suspects: {why}."))
        tested = self.has_significance()
        # Columns a report from an older mlprom does not have are left out, not shown as dashes.
        optional = {
            "q": "q_value",
            "significant": "significant",
            "lag (s)": "lag_seconds",
            "moved": "direction",
            "source": "source",
        }
        present = {column for column, key in optional.items() if any(key in s for s in suspects)}
        columns = [
            "#",
            "metric",
            "labels",
            "effect (robust σ)",
            "q",
            "significant",
            "lag (s)",
            "moved",
            "source",
            "median slow",
            "median baseline",
            "slow n",
            "baseline n",
            "links",
        ]
        head = [c for c in columns if c not in optional or c in present]

        def row(s: dict[str, Any]) -> list[Any]:
            metric = as_str(s.get("metric"))
            expr = self.links.queries.get(metric, "")
            source = as_str(s.get("source"))
            unit = as_str(s.get("unit")) or self.links.units.get(metric, "")
            link = self.links.prometheus_graph(expr, self.day) if expr and source != "model" else ""
            significant = s.get("significant")
            cells = {
                "#": fmt_count(s.get("rank")),
                "metric": metric,
                "labels": label_text(labels_of(s.get("labels"))),
                "effect (robust σ)": fmt_effect(num(s.get("effect"))),
                "q": fmt_q(s.get("q_value")),
                "significant": "yes" if significant is True else "no" if significant is False else "–",
                "lag (s)": fmt(s.get("lag_seconds"), "g"),
                "moved": MOVED.get(as_str(s.get("direction")), as_str(s.get("direction")) or "–"),
                "source": source or "–",
                "median slow": with_unit(fmt_value(s.get("median_slow")), unit),
                "median baseline": with_unit(fmt_value(s.get("median_baseline")), unit),
                "slow n": fmt_count(s.get("slow_count")),
                "baseline n": fmt_count(s.get("baseline_count")),
                "links": Link(link, "Prometheus graph"),
            }
            return [cells[c] for c in head]

        # A series that moved against its query's causal direction is the slowness showing, not its
        # cause (analysis/suspects.py `role`): listed apart, after the candidates.
        consequences = [s for s in suspects if s.get("role") == "consequence"]
        suspects = [s for s in suspects if s not in consequences]
        sig = as_dict(self.document.get("significance"))
        if tested:
            shown = [s for s in suspects if s.get("significant") is True][:SUSPECT_ROWS]
            rest = [s for s in suspects if s not in shown]
            method = (
                f"{as_str(sig.get('test')) or 'a rank test'} with {as_str(sig.get('correction')) or 'a correction'}"
                f" at FDR {fmt(sig.get('fdr'), 'g')} over {fmt_count(sig.get('hypotheses'))} hypotheses"
            )
            intro = f'<p class="note">Significant suspects ({len(shown)}), by {esc(method)}.</p>'
            body = table_html(head, [row(s) for s in shown]) if shown else empty("No suspect is significant.")
            if rest:
                more = f"{len(rest)} more, not significant (or past the first {SUSPECT_ROWS})"
                body += f"<details><summary>{more}</summary>"
                body += table_html(head, [row(s) for s in rest]) + "</details>"
        else:
            intro = '<p class="note">This report has no significance test: suspects are ranked by effect size only.</p>'
            body = table_html(head, [row(s) for s in suspects[:SUSPECT_ROWS]])
        if consequences:
            body += (
                '<h3 id="consequences">Moved the other way (likely consequences)</h3>'
                f'<p class="note">{len(consequences)} series moved against their query\'s causal direction'
                " while predictions were slow: the slowness showing in them rather than its cause, so they"
                " are not tested as causes.</p>"
                + table_html(head, [row(s) for s in consequences[:SUSPECT_ROWS]])
            )
        explain = (
            '<p class="note">Effect: (median during slow predictions − median baseline) / (1.4826 × baseline MAD).'
            " See docs/correlation.md.</p>"
        )
        return self.section("suspects", "Suspects", intro + body + explain)

    def infra(self) -> str:
        infra = self.document.get("infra")
        if not isinstance(infra, dict):
            return ""
        queries = as_dict(infra.get("queries"))
        rows = [
            [
                as_str(name),
                as_str(as_dict(q).get("source")),
                fmt_count(as_dict(q).get("points")),
                as_str(as_dict(q).get("error")),
            ]
            for name, q in sorted(queries.items())
        ]
        intro = (
            f'<p class="note">Infra source setting: {esc(as_str(infra.get("source_setting")) or "–")};'
            f" step {esc(fmt(infra.get('step_seconds'), 'g'))} s.</p>"
        )
        return self.section(
            "infra", "Infrastructure data", intro + table_html(["query", "source", "points", "error"], rows)
        )

    # ------------------------------------------------------------ assembly

    def section(self, ident: str, title: str, body: str) -> str:
        return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{body}</section>'

    def render(self) -> str:
        d = self.document
        model = as_str(d.get("model")) or "model"
        day = as_str(d.get("date")) or "?"
        title = f"mlprom report: {model} on {day} (UTC)"
        url = self.url
        sections = [
            self.timeline(),
            self.findings(),
            self.suspects_table(),
            self.drift(),
            self.profile(),
            self.infra(),
        ]
        nav = "".join(
            f'<a href="#{i}">{esc(t)}</a>'
            for i, t in (
                ("timeline", "Timeline"),
                ("findings", "Findings"),
                ("suspects", "Suspects"),
                ("drift", "Drift"),
                ("profile", "Profile"),
            )
        )
        footer = (
            f"Generated {esc(fmt_time(d.get('generated_at')))} UTC by mlprom {esc(self.version)}"
            + (f" from {esc(url)}" if url else "")
            + ". All times are UTC. Colours follow the Okabe–Ito palette; lines also differ by dash pattern."
        )
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; base-uri 'none'; form-action 'none'\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><nav>{nav}</nav></header><main>"
            f"{self.headline()}{self.warnings()}{''.join(sections)}</main>"
            f'<footer><p class="note">{footer}</p></footer></body></html>\n'
        )


# ---------------------------------------------------------------- small pieces


@dataclass(frozen=True)
class Link:
    href: str
    text: str


def empty(text: str) -> str:
    return f'<p class="empty-state">{esc(text)}</p>'


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(c for c in (_cell(v) for v in value) if c)
    if isinstance(value, Link):
        href = safe_href(value.href)
        return f'<a href="{esc(href)}" rel="noopener noreferrer">{esc(value.text)}</a>' if href else ""
    return esc(value)


def _wrap(cell: Any) -> str:
    """How a cell may break, so the table fits the page instead of hiding columns behind a scroll bar:
    a short value (a number, a q-value) never (1.3e-44, not 1.3e- / 44); a few short words (a time, a
    value with its unit) at a space only; anything else (labels, long names from data) anywhere."""
    if not isinstance(cell, str):
        return ""
    if len(cell) <= 12:
        return "n"
    words = cell.split()
    return "w" if len(words) > 1 and len(cell) <= 40 and max(map(len, words)) <= 20 else ""


def table_html(head: Sequence[str], rows: Sequence[Sequence[Any]], row_class: Any = None) -> str:
    out = ['<div class="scroll"><table><thead><tr>']
    # Headers break between words; one holding a long name from data (a resource column) anywhere.
    out += [
        f'<th scope="col" class="t">{esc(h)}</th>'
        if max(map(len, h.split()), default=0) > 20
        else f'<th scope="col">{esc(h)}</th>'
        for h in head
    ]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cls = f' class="{esc(row_class(row))}"' if row_class else ""
        cells = []
        for c in row:
            cells.append(f'<td class="{_wrap(c)}">{_cell(c)}</td>' if _wrap(c) else f"<td>{_cell(c)}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def legend_html(items: Sequence[tuple[str, str, str, str]]) -> str:
    """(kind line|bar|band, colour, dash, text) -> an inline legend of small SVG swatches."""
    out = ['<ul class="legend">']
    for kind, colour, dash, text in items:
        if kind == "line":
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            swatch = f'<line x1="0" y1="6" x2="22" y2="6" stroke="{colour}" stroke-width="2"{dash_attr}/>'
        elif kind == "band":
            swatch = f'<rect x="0" y="0" width="22" height="12" fill="{colour}" fill-opacity="0.12"/>'
        else:
            swatch = f'<rect x="4" y="1" width="14" height="10" fill="{colour}" fill-opacity="0.8"/>'
        out.append(f'<li><svg width="22" height="12" aria-hidden="true">{swatch}</svg>{esc(text)}</li>')
    out.append("</ul>")
    return "".join(out)


def _step_points(chart: Chart, edges: Sequence[float], shares: Sequence[float]) -> list[str]:
    points = []
    for i, share in enumerate(shares):
        x0, x1, y = chart.x(edges[i]), chart.x(edges[i + 1]), chart.y(share)
        points.append(f"L{x0:.1f} {y:.1f}L{x1:.1f} {y:.1f}")
    return points


def _step_area(chart: Chart, edges: Sequence[float], shares: Sequence[float], colour: str, label: str) -> str:
    zero = chart.y(0.0)
    points = _step_points(chart, edges, shares)
    d = f"M{chart.x(edges[0]):.1f} {zero:.1f}" + "".join(points) + f"L{chart.x(edges[-1]):.1f} {zero:.1f}z"
    return f'<path d="{d}" fill="{colour}" fill-opacity="0.45" stroke="{colour}"><title>{esc(label)}</title></path>'


def _step_line(chart: Chart, edges: Sequence[float], shares: Sequence[float], colour: str, label: str) -> str:
    zero = chart.y(0.0)
    points = _step_points(chart, edges, shares)
    d = f"M{chart.x(edges[0]):.1f} {zero:.1f}" + "".join(points) + f"L{chart.x(edges[-1]):.1f} {zero:.1f}"
    return f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"><title>{esc(label)}</title></path>'


CSS = """
:root{color-scheme:light;--fg:#1a1a1a;--muted:#555;--line:#d0d0d0}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1040px;padding:16px 24px 40px;color:var(--fg);background:#fff;
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
h1{font-size:1.45rem;margin:.2em 0}
h2{font-size:1.2rem;margin:1.6em 0 .4em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1rem;margin:1em 0 .2em;overflow-wrap:anywhere}
nav a{margin-right:1em;color:#0a4f85}
.status{font-size:1.05rem;margin:.8em 0 .2em}
.report-headline{font-size:1.3rem;font-weight:700;margin:.6em 0 .3em;padding:.35em .7em;
border-left:6px solid #0072B2;background:#eef5fb;overflow-wrap:anywhere}
.headline{font-size:1.15rem;font-weight:600;margin:.2em 0 .8em;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05em .55em;border-radius:.3em;font-weight:700;
text-transform:uppercase;border:2px solid #000}
.badge.critical{background:#D55E00;color:#fff}.badge.warning{background:#E69F00;color:#000}
.badge.ok{background:#fff;color:#006b4f;border-color:#009E73}
.badge.no_data,.badge.no_infra{background:#eee;color:#000}
.warnings{background:#fff7e0;border-left:4px solid #E69F00;padding:.5em 1em .5em 2em;overflow-wrap:anywhere}
.note,.facts{color:var(--muted);margin:.2em 0;font-size:.9rem;overflow-wrap:anywhere}
.empty-state{border:1px dashed #999;padding:.8em 1em;color:#333;background:#fafafa;overflow-wrap:anywhere}
svg.chart{display:block;width:100%;height:auto;font:11px system-ui,"DejaVu Sans",sans-serif;fill:#333}
svg.chart .grid{stroke:#e4e4e4}svg.chart .axis{stroke:#444}
svg.chart .ylabel{font-weight:600;fill:#111;font-size:12px}svg.chart .xlabel{fill:#444}
svg.chart .ref{font-size:10.5px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg.chart .gap{fill:#444;font-style:italic}
svg.chart .empty{fill:#444;font-size:13px}
.legend{list-style:none;padding:0;margin:.3em 0;display:flex;flex-wrap:wrap;gap:.3em 1.2em;font-size:.85rem}
.legend svg{vertical-align:middle;margin-right:.35em}
.panel{margin-bottom:.8em}.cards{display:grid;grid-template-columns:1fr;gap:.5em}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem;margin:.4em 0;width:100%}
th,td{border-bottom:1px solid var(--line);padding:.25em .5em;text-align:left;vertical-align:top}
td,th.t{overflow-wrap:anywhere}td.n{white-space:nowrap;overflow-wrap:normal}td.w{overflow-wrap:normal}
th{background:#f3f3f3}
tr.critical td:first-child{color:#a33a00;font-weight:700}tr.warning td:first-child{color:#7a5200;font-weight:700}
details{margin:.4em 0}summary{cursor:pointer;color:#0a4f85}
footer{margin-top:2em;border-top:1px solid var(--line)}
@media print{nav{display:none}details{display:block}}
"""
