"""Many models in one store: each model's correlate writes its own report, each model's alert resolves
only its own alerts (a real Alertmanager), and a store written in the previous layout (one report, drift
sample and alert state per store) keeps working for the model it belongs to."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events
from mlprom.infra.snapshot import write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.storage import open_storage
from tests.fixtures.servers import Server, active_alerts

pytestmark = pytest.mark.integration

CPU = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))'
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
runner = CliRunner()


def _config(
    tmp_path: Path, model: str, am: str, threshold: float = 0.9, storage: dict[str, Any] | None = None
) -> Path:
    path = tmp_path / f"{model}.yaml"
    document = {
        "storage": storage or {"url": str(tmp_path / "shared")},
        "correlate": {"infra_source": "snapshots"},
        "alertmanager": {"urls": [am]},
        "model": {"name": model},
        "queries": {"cpu_usage": CPU},
        "thresholds": {"cpu_usage": threshold},
    }
    path.write_text(yaml.safe_dump(document))
    return path


def _invoke(path: Path, *args: str) -> Any:
    return runner.invoke(app, ["-c", str(path), *args])


def test_two_models_in_one_store_keep_their_own_reports_and_alerts(
    tmp_path: Path, alertmanager: Server, shared_store: dict[str, Any]
) -> None:
    """On a local directory and on S3 (moto_server)."""
    first, second = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("churn", "fraud"))
    one, two = (_config(tmp_path, m, alertmanager.url, storage=shared_store) for m in (first, second))
    storage = open_storage(load_config(str(one)))
    hot = QueryResult(CPU, "vector", (Series({"instance": "host-a:9100"}, 0.95),))
    write_snapshot(storage, Snapshot(START, "http://prometheus.test", {"cpu_usage": hot}))
    write_events(storage, [Event(START, first, 12.0, True, 10), Event(START, second, 12.0, True, 10)])

    for path in (one, two):
        done = _invoke(path, "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
        assert done.exit_code == 0, done.output
    for model in (first, second):
        report = orjson.loads(storage.get_bytes(layout.report_key(DAY, model)))
        assert report["model"] == model and report["events"]["total"] == 1
    assert _invoke(one, "alert", "--date", DAY.isoformat()).exit_code == 0
    assert len(active_alerts(alertmanager.url, first, 1)) == 1

    # The second model's findings clear: its alert run must not resolve the first model's alerts.
    cleared = _config(tmp_path, second, alertmanager.url, threshold=1000, storage=shared_store)
    assert _invoke(cleared, "correlate", "--date", DAY.isoformat()).exit_code == 0
    done = _invoke(cleared, "-o", "json", "alert", "--date", DAY.isoformat())
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["resolved"] == 0
    assert len(active_alerts(alertmanager.url, first, 1)) == 1
    assert storage.exists(layout.alert_state_key(first)) and not storage.exists(layout.LEGACY_ALERT_STATE_KEY)
    state = orjson.loads(storage.get_bytes(layout.alert_state_key(first)))
    assert {a["labels"]["model"] for a in state["alerts"]} == {first}


def test_a_store_of_the_previous_layout_keeps_working_for_its_model(
    tmp_path: Path, alertmanager: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprom.reports import legacy

    monkeypatch.setattr(legacy, "_told", set())  # the line is said once per process: forget earlier tests
    model = f"old-{uuid.uuid4().hex[:6]}"
    path = _config(tmp_path, model, alertmanager.url)
    storage = open_storage(load_config(str(path)))
    hot = QueryResult(CPU, "vector", (Series({"instance": "host-a:9100"}, 0.95),))
    write_snapshot(storage, Snapshot(START, "http://prometheus.test", {"cpu_usage": hot}))
    write_events(storage, [Event(START, model, 12.0, True, 10)])
    assert _invoke(path, "correlate", "--date", DAY.isoformat(), "--fail-on", "never").exit_code == 0
    assert _invoke(path, "alert", "--date", DAY.isoformat()).exit_code == 0
    # Move what this release wrote to where the previous one wrote it, the report's hour 10 and the drift
    # sample's prediction times changed so that values read from these old objects can be told apart
    # from values the date's events would give (one event, 12 s).
    report = orjson.loads(storage.get_bytes(layout.report_key(DAY, model)))
    (ten,) = (h for h in report["profile"]["hours"] if h["hour"] == 10)
    assert (ten["events"], ten["slow"]) == (1, 1)
    ten.update(events=7, slow=3, p95=4.5)
    sample = orjson.loads(storage.get_bytes(layout.drift_sample_key(DAY, model)))
    assert sample["distributions"]["prediction_time"]["values"] == [12.0]
    sample["distributions"]["prediction_time"] = {"seen": 3, "sum": 21.0, "mean": 7.0, "values": [7.0] * 3}
    for new, old, body in (
        (layout.report_key(DAY, model), layout.legacy_report_key(DAY), orjson.dumps(report)),
        (layout.drift_sample_key(DAY, model), layout.legacy_drift_sample_key(DAY), orjson.dumps(sample)),
        (layout.alert_state_key(model), layout.LEGACY_ALERT_STATE_KEY, None),
    ):
        storage.put_bytes(old, body or storage.get_bytes(new))
        storage.delete_many([new])

    shown = _invoke(path, "-o", "json", "report", "--date", DAY.isoformat())
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.stdout)["model"] == model
    assert "previous layout" in shown.stderr and shown.stderr.count("previous layout") == 1
    # Another model of the store finds no report of its own in the old one.
    other = _config(tmp_path, "someone-else", alertmanager.url)
    assert _invoke(other, "report", "--date", DAY.isoformat()).exit_code == 4

    # profile over the old report: the forecast's hour 10 is the old object's.
    profiled = _invoke(path, "-o", "json", "profile", "--from", DAY.isoformat(), "--to", DAY.isoformat())
    assert profiled.exit_code == 0, profiled.output
    forecast = orjson.loads(profiled.stdout)
    assert forecast["days_used"] == [DAY.isoformat()] and forecast["missing"] == []
    (slot,) = (s for s in forecast["forecast"]["slots"] if s["hour"] == 10)
    assert (slot["events"], slot["slow"], slot["p95"]) == (7.0, 3.0, 4.5)

    # The next date's drift reference: DAY from the old drift sample, not from DAY's events; another
    # model does not take the old sample for its own.
    later = START + timedelta(days=1)
    write_snapshot(storage, Snapshot(later, "http://prometheus.test", {"cpu_usage": hot}))
    write_events(storage, [Event(later, model, 12.0, True, 10), Event(later, "someone-else", 12.0, True, 10)])
    for config, n_reference, mean_reference in ((path, 3, 7.0), (other, 0, None)):
        done = _invoke(
            config, "-o", "json", "correlate", "--date", later.date().isoformat(), "--fail-on", "never"
        )
        assert done.exit_code == 0, done.output
        assert "unusable drift sample" not in done.stderr
        drift = orjson.loads(done.stdout)["drift"]["distributions"]["prediction_time"]
        assert (drift["n_reference"], drift["mean_reference"]) == (n_reference, mean_reference)

    # The alert state: the old one's alerts of this model are taken over, nothing is resolved or resent
    # as new, and the model's own state is written from then on.
    done = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat())
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["resolved"] == 0
    assert storage.exists(layout.alert_state_key(model))
    assert len(active_alerts(alertmanager.url, model, 1)) == 1


def test_one_instance_past_its_level_alerts_only_the_models_that_were_slow_during_it(
    tmp_path: Path, alertmanager: Server
) -> None:
    """Two models, one Prometheus: the same cpu_usage series is past its level for both, but only the
    model whose predictions were slow meanwhile gets an alert; once the other is slow too, each model has
    its own alert naming it. `--all-models` sends both in one run."""
    slow, fast = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("churn", "fraud"))
    one, two = _config(tmp_path, slow, alertmanager.url), _config(tmp_path, fast, alertmanager.url)
    storage = open_storage(load_config(str(one)))
    hot = QueryResult(CPU, "vector", (Series({"instance": "host-a:9100"}, 0.95),))
    write_snapshot(storage, Snapshot(START, "http://prometheus.test", {"cpu_usage": hot}))
    write_events(storage, [Event(START, slow, 12.0, True, 10), Event(START, fast, 0.05, False, 10)])
    for path in (one, two):
        done = _invoke(path, "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
        assert done.exit_code == 0, done.output
    # Both reports record the breach; only the slow model's alert run sends it.
    for model, slow_events in ((slow, 1), (fast, 0)):
        (finding,) = orjson.loads(storage.get_bytes(layout.report_key(DAY, model)))["findings"]
        assert finding["metric"] == "cpu_usage" and finding["slow_events"] == slow_events
    sent = {}
    for path in (one, two):
        done = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat())
        assert done.exit_code == 0, done.output
        sent[path] = orjson.loads(done.stdout)["firing"]
    assert sent == {one: 1, two: 0}
    (alert,) = active_alerts(alertmanager.url, slow, 1)
    assert alert["labels"]["model"] == slow and alert["labels"]["instance"] == "host-a:9100"
    assert active_alerts(alertmanager.url, fast, 0) == []

    # The second model is slow during the breach too: now it has its own alert, naming it.
    write_events(storage, [Event(START, fast, 12.0, True, 10)])
    done = _invoke(two, "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
    assert done.exit_code == 0, done.output
    done = _invoke(one, "alert", "--date", DAY.isoformat(), "--all-models")
    assert done.exit_code == 0, done.output
    for model in (slow, fast):
        (alert,) = active_alerts(alertmanager.url, model, 1)
        assert alert["labels"]["model"] == model and alert["labels"]["metric"] == "cpu_usage"
