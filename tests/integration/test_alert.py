"""alert against a real Alertmanager 0.25 (and Prometheus, moto S3): fire, resolve, faults, dry run."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import responses
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events, write_snapshot
from mlprom.infra.snapshot import capture_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.storage import open_storage
from tests.fixtures.recent import clear_of_midnight
from tests.fixtures.servers import PrometheusStack, Server, free_port

pytestmark = pytest.mark.integration

CPU = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))'
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
runner = CliRunner()


def _invoke(path: Path, *args: str) -> Any:
    return runner.invoke(app, ["-c", str(path), *args])


def _active_alerts(am_url: str, model: str) -> list[dict[str, Any]]:
    response = requests.get(am_url + "/api/v2/alerts", params={"filter": f'model="{model}"'}, timeout=10)
    response.raise_for_status()
    return list(response.json())


def _wait_for_alerts(am_url: str, model: str, count: int) -> list[dict[str, Any]]:
    # Alertmanager stores a POSTed alert asynchronously; poll until it settles (not a timing assertion).
    deadline = time.monotonic() + 20
    alerts = _active_alerts(am_url, model)
    while len(alerts) != count and time.monotonic() < deadline:
        time.sleep(0.2)
        alerts = _active_alerts(am_url, model)
    return alerts


def _synthetic_setup(
    write_config: Callable[..., Path], urls: list[str], cpu: float = 0.95, **sections: Any
) -> tuple[Path, Any, str]:
    model = f"m-{uuid.uuid4().hex[:8]}"
    document = {
        "alertmanager": {"urls": urls, "runbook_url": "https://runbooks.example/mlprom"},
        "model": {"name": model},
        "queries": {"cpu_usage": CPU},
        "thresholds": {"cpu_usage": 0.9},
    }
    document.update(sections)
    path = write_config(document)
    config = load_config(str(path))
    storage = open_storage(config)
    write_snapshot(
        storage,
        Snapshot(
            START,
            "http://prometheus.test",
            {"cpu_usage": QueryResult(CPU, "vector", (Series({"instance": "host-a:9100"}, cpu),))},
        ),
    )
    write_events(storage, [Event(START, model, 12.0, True, 10)])
    return path, config, model


def _raise_threshold(write_config: Callable[..., Path], path: Path, model: str, urls: list[str]) -> Path:
    import yaml

    document = yaml.safe_load(path.read_text())
    document["thresholds"] = {"cpu_usage": 1000}
    document["alertmanager"]["urls"] = urls
    document.pop("storage", None)
    return write_config(document)


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_live_finding_fires_in_alertmanager_then_resolves(
    prometheus_stack: PrometheusStack,
    alertmanager: Server,
    moto_s3: str,
    s3_bucket: str,
    write_config: Callable[..., Path],
) -> None:
    # rate() needs two scrapes inside its window: wait until the query answers, then snapshot "now".
    prometheus_stack.wait_for(CPU)
    at = datetime.now(UTC)
    day = at.date()
    model = f"live-{uuid.uuid4().hex[:8]}"
    document: dict[str, Any] = {
        "storage": {"url": f"s3://{s3_bucket}/mlprom", "endpoint_url": moto_s3, "region": "us-east-1"},
        "prometheus": {"url": prometheus_stack.prometheus_url},
        "alertmanager": {"urls": [alertmanager.url]},
        "model": {"name": model},
        "queries": {"cpu_usage": CPU},
        "thresholds": {"cpu_usage": -1},  # below any live value: always critical
    }
    path = write_config(document)
    config = load_config(str(path))
    storage = open_storage(config)
    snapshot, _ = capture_snapshot(config, storage, at)  # a real instant query, stored as capture-infra does
    assert snapshot.queries["cpu_usage"].series, "Prometheus returned no cpu_usage series"
    write_events(storage, [Event(at, model, 12.0, True, 10)])

    correlated = _invoke(path, "-o", "json", "correlate", "--date", day.isoformat())
    assert correlated.exit_code == 1, correlated.output
    report = orjson.loads(correlated.stdout)
    (finding,) = report["findings"]
    assert (finding["metric"], finding["severity"], finding["slow_events"]) == ("cpu_usage", "critical", 1)
    instance = finding["labels"]["instance"]

    sent = _invoke(path, "-o", "json", "alert", "--date", day.isoformat())
    assert sent.exit_code == 0, sent.output
    assert orjson.loads(sent.stdout)["deliveries"][0]["accepted"] is True

    (alert,) = _wait_for_alerts(alertmanager.url, model, 1)
    assert alert["labels"] == {
        "alertname": "MlpromThreshold",
        "severity": "critical",
        "model": model,
        "metric": "cpu_usage",
        "instance": instance,
    }
    annotations = alert["annotations"]
    assert annotations["report"] == storage.url_for(layout.report_key(day, model))
    assert annotations["threshold"] == "-1" and float(annotations["value"]) > -1
    assert alert["generatorURL"].startswith(prometheus_stack.prometheus_url + "/graph?g0.expr=")
    assert alert["status"]["state"] == "active"
    assert alert["startsAt"].startswith(at.strftime("%Y-%m-%dT%H:%M:%S"))

    document["thresholds"] = {"cpu_usage": 1000}
    path = write_config(document)
    assert _invoke(path, "-o", "json", "correlate", "--date", day.isoformat()).exit_code == 0
    resolved = _invoke(path, "-o", "json", "alert", "--date", day.isoformat())
    assert resolved.exit_code == 0, resolved.output
    result = orjson.loads(resolved.stdout)
    assert (result["firing"], result["resolved"]) == (0, 1)
    # Alertmanager's GET lists only active alerts: a resolved one (endsAt <= now) is gone.
    assert _wait_for_alerts(alertmanager.url, model, 0) == []
    state = orjson.loads(storage.get_bytes(layout.alert_state_key(model)))
    (entry,) = [a for a in state["alerts"] if a["labels"]["model"] == model]
    assert entry["status"] == "resolved" and entry["resolved_at"] is not None
    assert entry["date"] == day.isoformat() and entry["report"] == layout.report_key(day, model)
    runs = [i.key for i in storage.list(layout.partition_prefix("alerts", day))]
    assert len(runs) == 2


def test_alertmanager_down_exits_3_and_the_next_run_resends(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    path, config, model = _synthetic_setup(write_config, [alertmanager.url])
    storage = open_storage(config)
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 1
    assert _invoke(path, "alert", "--date", DAY.isoformat()).exit_code == 0
    assert len(_wait_for_alerts(alertmanager.url, model, 1)) == 1

    path = _raise_threshold(write_config, path, model, [_dead_url()])
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 0
    before = storage.get_bytes(layout.alert_state_key(model))
    down = _invoke(path, "alert", "--date", DAY.isoformat())
    assert down.exit_code == 3
    assert "no Alertmanager reachable" in down.stderr and "connection refused" in down.stderr
    assert "Traceback" not in down.output
    assert storage.get_bytes(layout.alert_state_key(model)) == before  # not advanced

    path = _raise_threshold(write_config, path, model, [alertmanager.url])
    again = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat())
    assert again.exit_code == 0, again.output
    assert orjson.loads(again.stdout)["resolved"] == 1
    assert _wait_for_alerts(alertmanager.url, model, 0) == []


def test_one_of_two_alertmanagers_down_is_a_partial_failure_exit_3_with_the_state_advanced(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    dead = _dead_url()
    path, config, model = _synthetic_setup(write_config, [alertmanager.url, dead])
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 1
    result = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat())
    # Partial failure: stored what succeeded (the state), warned naming the dead replica, exit 3.
    assert result.exit_code == 3, result.output
    assert open_storage(config).exists(layout.alert_state_key(model))
    deliveries = {d["url"]: d for d in orjson.loads(result.stdout)["deliveries"]}
    assert deliveries[alertmanager.url + "/api/v2/alerts"]["accepted"] is True
    failed = deliveries[dead + "/api/v2/alerts"]
    assert failed["accepted"] is False and "connection refused" in failed["error"]
    assert dead in result.stderr
    assert len(_wait_for_alerts(alertmanager.url, model, 1)) == 1


@responses.activate
def test_alertmanager_400_is_shown_and_exit_1(write_config: Callable[..., Path]) -> None:
    url = "http://alertmanager.test:9093"
    path, config, _ = _synthetic_setup(write_config, [url])
    responses.add(
        responses.POST, url + "/api/v2/alerts", status=400, json={"code": 400, "message": "bad label name"}
    )
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 1
    result = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat())
    assert result.exit_code == 1
    (delivery,) = orjson.loads(result.stdout)["deliveries"]
    assert delivery["status"] == 400 and "bad label name" in delivery["error"]
    assert "bad label name" in result.stderr
    assert not open_storage(config).exists(layout.alert_state_key(config.model.name))


def test_dry_run_prints_the_payload_and_sends_nothing(write_config: Callable[..., Path]) -> None:
    path, config, model = _synthetic_setup(
        write_config, [_dead_url()], thresholds={"cpu_usage": 0.9, "prediction_time": "10s"}
    )
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 1
    result = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat(), "--dry-run")
    assert result.exit_code == 0, result.output
    payload = {a["labels"]["metric"]: a for a in orjson.loads(result.stdout)["payload"]}
    cpu = payload["cpu_usage"]
    assert cpu["labels"] == {
        "alertname": "MlpromThreshold",
        "severity": "critical",
        "model": model,
        "metric": "cpu_usage",
        "instance": "host-a:9100",
    }
    assert cpu["startsAt"] == "2026-11-20T10:00:00.000Z"
    assert cpu["annotations"]["runbook_url"] == "https://runbooks.example/mlprom"
    assert "generatorURL" in cpu and "generatorURL" not in payload["prediction_time"]
    storage = open_storage(config)
    assert not storage.exists(layout.alert_state_key(model))
    assert list(storage.list(layout.partition_prefix("alerts", DAY))) == []
    table = _invoke(path, "-o", "table", "alert", "--date", DAY.isoformat(), "--dry-run")
    assert table.exit_code == 0 and '"alertname": "MlpromThreshold"' in table.stdout
    markdown = _invoke(path, "-o", "markdown", "alert", "--date", DAY.isoformat(), "--dry-run")
    assert markdown.exit_code == 0 and "```json" in markdown.stdout


def test_missing_report_exits_4_unless_allow_empty(write_config: Callable[..., Path]) -> None:
    path = write_config({"alertmanager": {"urls": [_dead_url()]}})
    missing = _invoke(path, "alert", "--date", "2026-01-02")
    assert missing.exit_code == 4 and "no report for 2026-01-02" in missing.stderr
    assert "Traceback" not in missing.output
    assert _invoke(path, "alert", "--date", "2026-01-02", "--allow-empty").exit_code == 0


def test_resolved_alert_is_dropped_after_fifteen_minutes(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    from mlprom.stages import alert

    path, config, model = _synthetic_setup(write_config, [alertmanager.url])
    _invoke(path, "correlate", "--date", DAY.isoformat())
    now = datetime.now(UTC)
    assert alert.run(config, DAY, now=now).firing == 1
    cleared = load_config(str(_raise_threshold(write_config, path, model, [alertmanager.url])))
    _invoke(path, "correlate", "--date", DAY.isoformat())
    assert alert.run(cleared, DAY, now=now + timedelta(minutes=1)).resolved == 1
    assert alert.run(cleared, DAY, now=now + timedelta(minutes=10)).resolved == 1
    last = alert.run(cleared, DAY, now=now + timedelta(minutes=17))
    assert (last.firing, last.resolved, last.payload) == (0, 0, ())
    state = orjson.loads(open_storage(config).get_bytes(layout.alert_state_key(model)))
    assert state["alerts"] == []


@responses.activate
def test_alertmanager_5xx_after_retries_is_exit_3(write_config: Callable[..., Path]) -> None:
    url = "http://alertmanager.test:9093"
    path, config, _ = _synthetic_setup(write_config, [url])
    endpoint = responses.add(responses.POST, url + "/api/v2/alerts", status=503, body="overloaded")
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 1
    result = _invoke(path, "alert", "--date", DAY.isoformat())
    assert result.exit_code == 3 and "answered 503" in result.stderr
    assert endpoint.call_count > 1  # retried before giving up
    assert not open_storage(config).exists(layout.alert_state_key(config.model.name))


def test_sent_alerts_render_as_table_and_markdown(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    path, _, _ = _synthetic_setup(write_config, [alertmanager.url])
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 1
    table = _invoke(path, "-o", "table", "alert", "--date", DAY.isoformat())
    assert table.exit_code == 0, table.output
    assert "1 firing, 0 resolved" in table.stdout and "Alertmanagers" in table.stdout
    markdown = _invoke(path, "-o", "markdown", "alert", "--date", DAY.isoformat())
    assert markdown.exit_code == 0
    assert "| firing | MlpromThreshold | critical | cpu_usage | instance=host-a:9100 |" in markdown.stdout


def test_static_labels_persistence_and_links_reach_a_real_alertmanager(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    model = f"links-{uuid.uuid4().hex[:8]}"
    path = write_config(
        {
            "alertmanager": {"urls": [alertmanager.url], "labels": {"team": "ml", "env": "prod"}},
            "storage": {"public_url": "https://files.example/mlprom"},
            "mlflow": {"tracking_uri": "http://mlflow.example:5000"},
            "model": {"name": model},
            "queries": {"cpu_usage": CPU},
            "thresholds": {
                "cpu_usage": {"critical": 0.9, "for": "5m"},
                "prediction_time": {"critical": "10s", "min_events": 2},
            },
        }
    )
    storage = open_storage(load_config(str(path)))
    # host-a past 0.9 for 6 minutes without a break, host-b for 3 minutes twice: only host-a has lasted.
    a = [0.95] * 7 + [0.2] * 3
    b = [0.95] * 4 + [0.2] + [0.95] * 4 + [0.2]
    for minute in range(10):
        series = (
            Series({"instance": "host-a:9100"}, a[minute]),
            Series({"instance": "host-b:9100"}, b[minute]),
        )
        at = START + timedelta(minutes=minute)
        write_snapshot(
            storage, Snapshot(at, "http://prometheus.test", {"cpu_usage": QueryResult(CPU, "vector", series)})
        )
    # One slow event of one run: below min_events 2, so prediction_time does not page.
    write_events(storage, [Event(START, model, 12.0, True, 40, mlflow_run_id="run-1")])

    correlated = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat())
    assert correlated.exit_code == 1, correlated.output
    findings = {
        (f["metric"], f["labels"].get("instance")): f for f in orjson.loads(correlated.stdout)["findings"]
    }
    assert findings[("cpu_usage", "host-a:9100")]["detail"]["longest_seconds"] == 360.0
    assert findings[("cpu_usage", "host-b:9100")]["detail"]["longest_seconds"] == 180.0
    assert findings[("prediction_time", None)]["detail"]["mlflow_run_id"] == "run-1"

    sent = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat())
    assert sent.exit_code == 0, sent.output
    (alert,) = _wait_for_alerts(alertmanager.url, model, 1)
    assert alert["labels"] == {
        "alertname": "MlpromThreshold",
        "severity": "critical",
        "model": model,
        "metric": "cpu_usage",
        "team": "ml",
        "env": "prod",
        "instance": "host-a:9100",
    }
    assert alert["annotations"]["report_url"] == "https://files.example/mlprom/" + layout.report_key(
        DAY, model
    )
    generator = alert["generatorURL"]
    assert "g0.range_input=36m" in generator and "g0.end_input=2026-11-20%2010%3A21%3A00" in generator


def test_a_label_name_alertmanager_refuses_is_delivered_under_a_valid_name(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    # A series label such as `bad-name` made the real Alertmanager refuse the whole batch (400, exit 1).
    model = f"m-{uuid.uuid4().hex[:8]}"
    path = write_config(
        {
            "alertmanager": {"urls": [alertmanager.url]},
            "model": {"name": model},
            "queries": {"cpu_usage": CPU},
            "thresholds": {"cpu_usage": 0.9},
        }
    )
    storage = open_storage(load_config(str(path)))
    labels = {"instance": "host-a:9100", "bad-name": "x", "0day": "y"}
    write_snapshot(
        storage,
        Snapshot(START, "http://p", {"cpu_usage": QueryResult(CPU, "vector", (Series(labels, 0.95),))}),
    )
    write_events(storage, [Event(START, model, 12.0, True, 10)])
    assert _invoke(path, "correlate", "--date", DAY.isoformat()).exit_code == 1
    result = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat())
    assert result.exit_code == 0, result.output
    (alert,) = _wait_for_alerts(alertmanager.url, model, 1)
    assert alert["labels"]["bad_name"] == "x" and alert["labels"]["_0day"] == "y"


def test_one_alert_alertmanager_refuses_does_not_spoil_the_others(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    # Alertmanager refuses an alert whose startsAt is after its endsAt: a finding first seen after
    # now + resend_ttl. It answers 400 for the batch; mlprom splits it and names the refused alert.
    clear_of_midnight(70)  # both findings must fall on one date partition
    now = datetime.now(UTC)
    day = now.date()
    early = max(datetime.combine(day, datetime.min.time(), UTC), now - timedelta(minutes=10))
    late = now + timedelta(seconds=60)  # after the alert run's now + resend_ttl (20 s)
    model = f"m-{uuid.uuid4().hex[:8]}"
    path = write_config(
        {
            "alertmanager": {"urls": [alertmanager.url], "resend_ttl": "20s"},
            "model": {"name": model},
            "queries": {"cpu_usage": CPU},
            "thresholds": {"cpu_usage": 0.9},
        }
    )
    storage = open_storage(load_config(str(path)))
    for at, host in ((early, "host-early:9100"), (late, "host-late:9100")):
        series = (Series({"instance": host}, 0.95),)
        write_snapshot(storage, Snapshot(at, "http://p", {"cpu_usage": QueryResult(CPU, "vector", series)}))
        write_events(storage, [Event(at, model, 12.0, True, 10)])
    assert _invoke(path, "correlate", "--date", day.isoformat()).exit_code == 1
    result = _invoke(path, "-o", "json", "alert", "--date", day.isoformat())
    assert result.exit_code == 3, result.output  # partial: stored what succeeded, warned about the rest
    assert "host-late:9100" in result.stderr and "start time must be before end time" in result.stderr
    outcome = orjson.loads(result.stdout)
    by_instance = {
        p["labels"]["instance"]: a for p, a in zip(outcome["payload"], outcome["alerts"], strict=True)
    }
    assert (
        by_instance["host-early:9100"]["delivered"] == 1 and by_instance["host-early:9100"]["rejected"] == []
    )
    assert by_instance["host-late:9100"]["delivered"] == 0
    assert "start time must be before end time" in by_instance["host-late:9100"]["rejected"][0]["reason"]
    (active,) = _wait_for_alerts(alertmanager.url, model, 1)
    assert active["labels"]["instance"] == "host-early:9100"
    state = orjson.loads(storage.get_bytes(layout.alert_state_key(model)))
    assert [a["labels"]["instance"] for a in state["alerts"]] == ["host-early:9100"]
    (record,) = [
        orjson.loads(storage.get_bytes(i.key)) for i in storage.list(layout.partition_prefix("alerts", day))
    ]
    assert sorted(len(a["rejected"]) for a in record["alerts"]) == [0, 1]


# --- Suspects, identities and the text a person reads, from stored reports ----------------------------


def _suspect(metric: str, labels: dict[str, str], **fields: Any) -> Any:
    from mlprom.analysis.suspects import Suspect

    values: dict[str, Any] = {"significant": True, "q_value": 0.002, "direction": "rise", **fields}
    return Suspect(metric, labels, values.pop("effect", 4.1), 1.0, 0.2, 0.1, 20, 200, 5, 50, **values)


def _store_report(config: Any, findings: list[Any], suspects: list[Any]) -> date:
    """A report for today (alert resolves only alerts of the report's date or earlier) written by
    correlate's own writer, as `correlate` would have stored it."""
    from mlprom.reports.correlation import CorrelationReport, EventCounts
    from mlprom.stages.correlate import write_report

    now = datetime.now(UTC)
    report = CorrelationReport(
        now.date(), now, "critical", EventCounts(20, 4), 10, tuple(findings), tuple(suspects),
        model=config.model.name,
    )  # fmt: skip
    write_report(open_storage(config), report)
    return now.date()


def _model_finding(metric: str = "prediction_time", labels: dict[str, str] | None = None) -> Any:
    from mlprom.analysis.findings import Finding

    last = datetime.now(UTC) - timedelta(seconds=30)
    source = "model" if metric == "prediction_time" else "infra"
    return Finding(
        "critical", metric, labels or {}, 12.0, 10.0, "above", 4, last - timedelta(minutes=10), last,
        detail={"observations": 4, "source": source},
    )  # fmt: skip


def _suspects_config(write_config: Callable[..., Path], urls: list[str], **extra: Any) -> tuple[Path, Any]:
    model = f"sus-{uuid.uuid4().hex[:8]}"
    path = write_config(
        {
            "alertmanager": {"urls": urls},
            "model": {"name": model},
            "queries": {"cpu_usage": CPU, "io_pressure": "rate(node_pressure_io_waiting_seconds_total[1m])"},
            "thresholds": {"cpu_usage": 0.9, "prediction_time": "10s"},
            **extra,
        }
    )
    return path, load_config(str(path))


def test_a_significant_infra_cause_reaches_alertmanager_as_annotation_and_label(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    clear_of_midnight(30)
    path, config = _suspects_config(write_config, [alertmanager.url])
    cause = _suspect("io_pressure", {"instance": "node-b"})
    day = _store_report(
        config, [_model_finding(), _model_finding("cpu_usage", {"instance": "node-b"})], [cause]
    )

    sent = _invoke(path, "alert", "--date", day.isoformat())
    assert sent.exit_code == 0, sent.output

    alerts = {a["labels"]["metric"]: a for a in _wait_for_alerts(alertmanager.url, config.model.name, 2)}
    slow = alerts["prediction_time"]
    assert slow["labels"]["suspect"] == "io_pressure"
    assert (
        slow["annotations"]["suspects"]
        == "io_pressure{instance=node-b} rising 0 s before (+4.1 σ, q = 0.002)"
    )
    assert slow["annotations"]["summary"].endswith(
        ": slow predictions, with io_pressure on instance=node-b rising 0 s before"
    )
    # The infra series past its own level is not explained by the suspects.
    assert "suspect" not in alerts["cpu_usage"]["labels"]
    assert "suspects" not in alerts["cpu_usage"]["annotations"]


def test_nothing_significant_sends_neither_annotation_nor_label(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    clear_of_midnight(30)
    path, config = _suspects_config(write_config, [alertmanager.url])
    rejected = [
        _suspect("io_pressure", {"instance": "node-b"}, significant=False, q_value=0.4),
        _suspect("cpu_usage", {"instance": "node-b"}, role="consequence"),
    ]
    day = _store_report(config, [_model_finding()], rejected)

    assert _invoke(path, "alert", "--date", day.isoformat()).exit_code == 0
    (alert,) = _wait_for_alerts(alertmanager.url, config.model.name, 1)
    assert "suspect" not in alert["labels"] and "suspects" not in alert["annotations"]
    assert "slow predictions, with" not in alert["annotations"]["summary"]


def test_a_changed_top_suspect_resolves_the_old_alert_and_fires_the_new_one(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    clear_of_midnight(60)
    path, config = _suspects_config(write_config, [alertmanager.url])
    day = _store_report(config, [_model_finding()], [_suspect("io_pressure", {"instance": "node-b"})])
    assert _invoke(path, "alert", "--date", day.isoformat()).exit_code == 0
    (first,) = _wait_for_alerts(alertmanager.url, config.model.name, 1)
    assert first["labels"]["suspect"] == "io_pressure"

    _store_report(config, [_model_finding()], [_suspect("cpu_usage", {"instance": "node-a"})])
    second = _invoke(path, "-o", "json", "alert", "--date", day.isoformat())
    assert second.exit_code == 0, second.output
    assert (orjson.loads(second.stdout)["firing"], orjson.loads(second.stdout)["resolved"]) == (1, 1)

    # Alertmanager lists active alerts only: the io_pressure one has ended, the cpu_usage one fires.
    deadline = time.monotonic() + 20
    active = _active_alerts(alertmanager.url, config.model.name)
    while [a["labels"].get("suspect") for a in active] != ["cpu_usage"] and time.monotonic() < deadline:
        time.sleep(0.2)
        active = _active_alerts(alertmanager.url, config.model.name)
    assert [a["labels"].get("suspect") for a in active] == ["cpu_usage"]
    state = orjson.loads(open_storage(config).get_bytes(layout.alert_state_key(config.model.name)))
    mine = [a for a in state["alerts"] if a["labels"]["model"] == config.model.name]
    assert sorted((a["labels"]["suspect"], a["status"]) for a in mine) == [
        ("cpu_usage", "firing"),
        ("io_pressure", "resolved"),
    ]


def test_series_differing_only_in_their_name_are_separate_alerts_in_alertmanager(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    clear_of_midnight(30)
    path, config = _suspects_config(
        write_config, [alertmanager.url], queries={"disk": '{__name__=~"node_disk_.+_bytes_total"}'},
        thresholds={"disk": 1},
    )  # fmt: skip
    names = ["node_disk_read_bytes_total", "node_disk_written_bytes_total"]
    findings = [_model_finding("disk", {"__name__": name, "instance": "a:9100"}) for name in names]
    day = _store_report(config, findings, [])

    sent = _invoke(path, "-o", "json", "alert", "--date", day.isoformat())
    assert sent.exit_code == 0, sent.output
    assert orjson.loads(sent.stdout)["firing"] == 2
    alerts = _wait_for_alerts(alertmanager.url, config.model.name, 2)
    assert sorted(a["labels"]["series_name"] for a in alerts) == names
    assert len({a["fingerprint"] for a in alerts}) == 2


HOSTILE_VALUE = "node-\u202eb\u2066\x1b[2J\x85x\u2069\u202c"
UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_hostile_labels_reach_no_annotation_and_the_dry_run_shows_them_escaped(
    alertmanager: Server, write_config: Callable[..., Path]
) -> None:
    clear_of_midnight(30)
    path, config = _suspects_config(write_config, [alertmanager.url])
    findings = [_model_finding(), _model_finding("cpu_usage", {"instance": HOSTILE_VALUE})]
    day = _store_report(config, findings, [_suspect("io_pressure", {"instance": HOSTILE_VALUE})])

    as_json = _invoke(path, "-o", "json", "alert", "--date", day.isoformat(), "--dry-run")
    markdown = _invoke(path, "-o", "markdown", "alert", "--date", day.isoformat(), "--dry-run")
    assert as_json.exit_code == 0 and markdown.exit_code == 0, as_json.output + markdown.output
    for shown in (as_json.stdout, markdown.stdout):
        assert not UNSAFE_TEXT.search(shown.replace("\n", "")), repr(shown)
    # The label value parses back as it is; the annotations hold visible escapes.
    payload = {a["labels"]["metric"]: a for a in orjson.loads(as_json.stdout)["payload"]}
    assert payload["cpu_usage"]["labels"]["instance"] == HOSTILE_VALUE
    assert "\\u202eb\\u2066\\x1b[2J\\x85x\\u2069\\u202c" in payload["cpu_usage"]["annotations"]["summary"]
    assert "\\u202e" in markdown.stdout and "\\u202e" in as_json.stdout

    assert _invoke(path, "alert", "--date", day.isoformat()).exit_code == 0
    alerts = _wait_for_alerts(alertmanager.url, config.model.name, 2)
    for alert in alerts:
        for name, value in alert["annotations"].items():
            assert not UNSAFE_TEXT.search(value), (name, value)
    assert {a["labels"].get("instance") for a in alerts} == {HOSTILE_VALUE, None}


def test_a_runbook_url_that_is_not_http_is_a_config_error(write_config: Callable[..., Path]) -> None:
    path = write_config({"alertmanager": {"urls": [_dead_url()], "runbook_url": "javascript:alert(1)"}})
    result = _invoke(path, "alert", "--date", DAY.isoformat(), "--dry-run")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "alertmanager.runbook_url" in line and "Traceback" not in result.output


def test_a_state_write_failing_after_delivery_says_the_alerts_were_accepted(
    alertmanager: Server, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprom.errors import StorageError
    from mlprom.storage.local import LocalStorage

    clear_of_midnight(30)
    path, config = _suspects_config(write_config, [alertmanager.url])
    day = _store_report(config, [_model_finding()], [])

    def full_disk(self: Any, key: str, data: bytes, version: str | None, content_type: str = "") -> bool:
        raise StorageError(f"{self.location}: cannot write {key}: No space left on device")

    # Fault injection: the disk fills between the POST and the state write.
    monkeypatch.setattr(LocalStorage, "put_if", full_disk)
    result = _invoke(path, "alert", "--date", day.isoformat())

    assert result.exit_code == 3, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert "Alertmanager accepted 1 of 1 alert(s)" in message and alertmanager.url in message
    assert "state.json could not be written" in message and "No space left on device" in message
    assert "Traceback" not in result.output
    (alert,) = _wait_for_alerts(alertmanager.url, config.model.name, 1)
    assert alert["labels"]["metric"] == "prediction_time"
    assert not open_storage(config).exists(layout.alert_state_key(config.model.name))
