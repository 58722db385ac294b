"""build_alerts: static labels, persistence (min_events, for), and the links an on-call person clicks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlprom.analysis.findings import Finding
from mlprom.analysis.thresholds import BreachTracker, ThresholdLevels
from mlprom.config import load_config_text
from mlprom.errors import ConfigError
from mlprom.reports.alert_state import AlertState, fingerprint, next_step
from mlprom.reports.correlation import CorrelationReport, EventCounts
from mlprom.stages.alert import build_alerts, graph_url, mlflow_run_url, report_link

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
KEY = "reports/dt=2026-11-25/correlation.json"


def _finding(
    metric: str = "cpu_usage",
    labels: dict[str, str] | None = None,
    minutes: float = 10,
    detail: dict[str, Any] | None = None,
    kind: str = "threshold",
) -> Finding:
    last = NOW - timedelta(minutes=1)
    return Finding(
        "critical",
        metric,
        {"instance": "a:9100"} if labels is None else labels,
        0.97,
        0.9,
        "above",
        3,
        last - timedelta(minutes=minutes),
        last,
        kind=kind,
        detail={"observations": 11, "longest_seconds": minutes * 60, **(detail or {})},
    )


def _report(*findings: Finding) -> CorrelationReport:
    return CorrelationReport(
        DAY, NOW, "critical", EventCounts(10, 3), 5, findings, model="m", key=KEY, url="s3://b/p/" + KEY
    )


def _config(text: str = "", env: dict[str, str] | None = None) -> Any:
    return load_config_text(text, env=env or {})


def test_static_labels_are_on_every_alert_and_a_clashing_series_label_is_exported() -> None:
    config = _config("alertmanager: {labels: {team: ml, env: prod}}\n")
    finding = _finding(labels={"instance": "a:9100", "team": "web", "severity": "x"})
    (alert,) = build_alerts(config, _report(finding), NOW)
    assert alert.labels == {
        "alertname": "MlpromThreshold",
        "severity": "critical",
        "model": "m",
        "metric": "cpu_usage",
        "team": "ml",
        "env": "prod",
        "instance": "a:9100",
        "exported_team": "web",
        "exported_severity": "x",
    }


@pytest.mark.parametrize("name", ["severity", "__x", "1abc", "a-b"])
def test_static_labels_may_not_replace_mlproms_own_or_be_invalid(name: str) -> None:
    with pytest.raises(ConfigError, match="alertmanager.labels"):
        _config(f"alertmanager: {{labels: {{'{name}': v}}}}\n")


def test_one_slow_batch_does_not_page_with_min_events() -> None:
    config = _config("thresholds:\n  prediction_time: {critical: 10s, min_events: 3}\n")
    one = _finding("prediction_time", {}, 0, {"observations": 1, "source": "model"})
    three = _finding("prediction_time", {}, 5, {"observations": 3, "source": "model"})
    assert build_alerts(config, _report(one), NOW) == []
    assert [a.labels["metric"] for a in build_alerts(config, _report(three), NOW)] == ["prediction_time"]


def test_for_counts_the_longest_unbroken_breach_not_the_span() -> None:
    config = _config("thresholds:\n  cpu_usage: {critical: 0.9, for: 5m}\n")
    # Past the level at 03:00 and at 15:00, one minute each: the span is 12 hours, the breach 1 minute.
    spiky = _finding(minutes=720, detail={"longest_seconds": 60.0})
    lasting = _finding(minutes=720, detail={"longest_seconds": 300.0})
    assert build_alerts(config, _report(spiky), NOW) == []
    assert len(build_alerts(config, _report(lasting), NOW)) == 1


def test_for_falls_back_to_the_span_for_reports_without_longest_seconds() -> None:
    config = _config("thresholds:\n  cpu_usage: {critical: 0.9, for: 5m}\n")
    old = _finding(minutes=4)
    old.detail.pop("longest_seconds")
    assert build_alerts(config, _report(old), NOW) == []
    longer = _finding(minutes=6)
    longer.detail.pop("longest_seconds")
    assert len(build_alerts(config, _report(longer), NOW)) == 1


def test_a_firing_alert_keeps_firing_while_its_new_days_finding_has_not_lasted_yet() -> None:
    config = _config("thresholds:\n  cpu_usage: {critical: 0.9, for: 5m}\n")
    yesterday = build_alerts(config, _report(_finding(minutes=60)), NOW - timedelta(hours=1))
    state = next_step(AlertState(None), DAY, yesterday, NOW - timedelta(hours=1)).state
    just_started = _finding(minutes=1, detail={"longest_seconds": 60.0})
    firing = {a.fingerprint for a in state.alerts if a.status == "firing"}
    alerts = build_alerts(config, _report(just_started), NOW, firing)
    assert [a.fingerprint for a in alerts] == [fingerprint(yesterday[0].labels)]
    assert next_step(state, DAY, alerts, NOW).resolved == ()


def test_breach_tracker_measures_the_longest_unbroken_run_and_keeps_the_worst_values_tag() -> None:
    tracker = BreachTracker(ThresholdLevels(critical=0.9))
    values = [0.95, 0.96, 0.5, 0.91, 0.99, None, 0.97, 0.98, 0.92, 0.93, 0.1]
    for minute, value in enumerate(values):
        tracker.add(value, 60.0 * minute, ref=f"run-{minute}")
    breach = tracker.breach()
    assert breach is not None
    # Minutes 6-9 past the level without a break: 3 minutes. The None at minute 5 breaks a run.
    assert breach.longest == 180.0
    assert (breach.value, breach.ref) == (0.99, "run-4")


def test_generator_url_graphs_the_findings_window_in_utc() -> None:
    start = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    url = graph_url("http://user:pw@prom:9090", "up == 0", start, start + timedelta(minutes=30))
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("prom:9090", "/graph")
    query = parse_qs(parts.query)
    assert query == {
        "g0.expr": ["up == 0"],
        "g0.tab": ["0"],
        "g0.range_input": ["1h"],  # 15 minutes of context either side of the 30-minute window
        "g0.end_input": ["2026-11-25 10:45:00"],
        "g0.moment_input": ["2026-11-25 10:45:00"],
    }


def test_query_findings_link_their_window_and_model_findings_link_their_mlflow_run() -> None:
    config = _config(
        "mlflow: {tracking_uri: 'http://mlflow.internal:5000'}\nstorage: {public_url: 'https://files.example/mlprom'}\n"
    )
    infra = _finding(detail={"source": "infra"})
    model = _finding("prediction_time", {}, detail={"source": "model", "mlflow_run_id": "abc123"})
    by_metric = {a.labels["metric"]: a for a in build_alerts(config, _report(infra, model), NOW)}
    assert "g0.range_input=" in by_metric["cpu_usage"].generator_url
    assert "mlflow_run_url" not in by_metric["cpu_usage"].annotations
    assert by_metric["prediction_time"].generator_url == ""
    assert (
        by_metric["prediction_time"].annotations["mlflow_run_url"]
        == "http://mlflow.internal:5000/#/runs/abc123"
    )
    for alert in by_metric.values():
        assert alert.annotations["report_url"] == "https://files.example/mlprom/" + KEY
        assert alert.annotations["report"] == "s3://b/p/" + KEY


def test_mlflow_run_url_needs_a_web_address_and_never_carries_credentials() -> None:
    assert mlflow_run_url(_config("mlflow: {tracking_uri: 'sqlite:///m.db'}\n"), "r1") is None
    with_ui = _config("mlflow: {tracking_uri: 'sqlite:///m.db', ui_url: 'https://mlflow.example/'}\n")
    assert mlflow_run_url(with_ui, "r1") == "https://mlflow.example/#/runs/r1"
    secret = _config("mlflow: {tracking_uri: 'https://u:tok3n@mlflow.example'}\n")
    assert mlflow_run_url(secret, "r1") == "https://mlflow.example/#/runs/r1"


def test_report_link_appends_the_key_or_fills_a_template() -> None:
    prefix = _config("storage: {public_url: 'https://minio.example/browser/b/'}\n")
    template = _config(
        "storage: {public_url: 'https://s3.console.aws.amazon.com/s3/object/b?prefix=mlprom/{key}'}\n"
    )
    assert report_link(prefix, KEY) == "https://minio.example/browser/b/" + KEY
    assert report_link(template, KEY) == "https://s3.console.aws.amazon.com/s3/object/b?prefix=mlprom/" + KEY
    assert report_link(_config(), KEY) is None


def test_a_quality_alert_says_its_rows_and_no_slow_predictions() -> None:
    config = _config("thresholds: {accuracy: {warning: 0.95, direction: below, min_events: 5}}\n")
    first = NOW - timedelta(hours=2)
    quality = Finding(
        "warning",
        "accuracy",
        {},
        0.92,
        0.95,
        "below",
        0,
        first,
        NOW - timedelta(minutes=1),
        detail={"source": "model", "window": "date", "observations": 10},
        rows=50,
    )
    (alert,) = build_alerts(config, _report(quality), NOW)
    assert alert.annotations["description"] == (
        "accuracy (model metric) was 0.92 over 50 rows of model m on 2026-11-25 "
        "(events from 2026-11-25T13:00:00.000Z to 2026-11-25T14:59:00.000Z), below 0.95."
    )
    # min_events counts the events of the window: 4 of them do not page.
    few = Finding(**{**quality.__dict__, "detail": {**quality.detail, "observations": 4}})
    assert build_alerts(config, _report(few), NOW) == []


def test_an_infra_breach_without_slow_predictions_is_not_this_models_alert() -> None:
    import dataclasses

    fast = dataclasses.replace(_finding(), slow_events=0)
    slow = _finding(labels={"instance": "b:9100"})
    sent = build_alerts(_config(), _report(fast, slow), NOW)
    assert [a.labels["instance"] for a in sent] == ["b:9100"]
    # "always" keeps every breach of the date, slow or not.
    sent = build_alerts(_config("alertmanager: {infra_alerts: always}\n"), _report(fast, slow), NOW)
    assert sorted(a.labels["instance"] for a in sent) == ["a:9100", "b:9100"]
    # Drift has no slow predictions by nature and is sent as ever.
    drift = dataclasses.replace(_finding(metric="outputs", labels={}, kind="drift"), slow_events=0)
    (alert,) = build_alerts(_config(), _report(drift), NOW)
    assert alert.labels["metric"] == "outputs"


def test_one_instance_past_its_level_pages_only_the_models_that_were_slow() -> None:
    import dataclasses

    breach = _finding()
    reports = {
        "churn": dataclasses.replace(_report(breach), model="churn"),
        "fraud": dataclasses.replace(_report(dataclasses.replace(breach, slow_events=0)), model="fraud"),
    }
    sent = {model: build_alerts(_config(), report, NOW) for model, report in reports.items()}
    assert [a.labels["model"] for a in sent["churn"]] == ["churn"] and sent["fraud"] == []
    # Once fraud is slow during the breach too, each model has its own alert, naming it.
    reports["fraud"] = dataclasses.replace(_report(breach), model="fraud")
    names = [a.labels["model"] for report in reports.values() for a in build_alerts(_config(), report, NOW)]
    assert names == ["churn", "fraud"]


def test_a_firing_infra_alert_whose_model_was_not_slow_is_resolved() -> None:
    import dataclasses

    config = _config()
    earlier = build_alerts(config, _report(_finding()), NOW - timedelta(hours=1))
    state = next_step(AlertState(None), DAY, earlier, NOW - timedelta(hours=1)).state
    firing = {a.fingerprint for a in state.alerts if a.status == "firing"}
    assert firing == {fingerprint(earlier[0].labels)}
    # A report where the model was fast all along (a re-run with a higher latency_threshold, say).
    later = build_alerts(config, _report(dataclasses.replace(_finding(), slow_events=0)), NOW, firing)
    assert later == []
    assert [a.fingerprint for a in next_step(state, DAY, later, NOW).resolved] == list(firing)
