"""Every command's real `-o json` document, and the stored report, validate against their schema in schemas/.

The commands run through the CLI (CliRunner) against a local store of synthetic events and snapshots, and
against the real Prometheus, Alertmanager and MLflow store the suite starts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.reports.results import SCHEMA_VERSION
from mlprom.storage import open_storage
from tests.fixtures.json_schemas import validate
from tests.fixtures.report_documents import minimal_document
from tests.fixtures.servers import PrometheusStack

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
QUERIES = {
    "cpu_usage": '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))',
    "system_load": "node_load1",
}
MODEL_REF = "tests.fixtures.mlflow_server:sum_rule_predict"

runner = CliRunner()


def _store(write_config: Callable[..., Path], **sections: Any) -> Path:
    """Six hours of per-minute snapshots and batches; cpu_usage climbs during two slow episodes."""
    document: dict[str, Any] = {
        "queries": QUERIES,
        "thresholds": {"cpu_usage": {"warning": 0.7, "critical": 0.9}, "prediction_time": "10s"},
        # Nothing listens on port 9: check reports both as unreachable.
        "prometheus": {"url": "http://127.0.0.1:9"},
        "alertmanager": {"urls": ["http://127.0.0.1:9"]},
        **sections,
    }
    path = write_config(document)
    storage = open_storage(load_config(str(path)))
    rng = random.Random(11)
    events = []
    for minute in range(6 * 60):
        at = START + timedelta(hours=8, minutes=minute)
        slow = minute // 20 in (4, 11)
        cpu = (0.95 if slow else 0.3) + rng.uniform(-0.02, 0.02)
        series = (Series({"instance": "host-a:9100", "job": "node"}, cpu),)
        load = (Series({"instance": "host-a:9100", "job": "node"}, rng.uniform(1, 2)),)
        write_snapshot(
            storage,
            Snapshot(
                at,
                "http://prometheus.test",
                {
                    "cpu_usage": QueryResult(QUERIES["cpu_usage"], "vector", series),
                    "system_load": QueryResult(QUERIES["system_load"], "vector", load),
                },
            ),
        )
        events.append(
            Event(
                ts=at + timedelta(seconds=30),
                model="default",
                prediction_time_seconds=12.0 if slow else rng.uniform(0.1, 0.4),
                slow=slow,
                rows=100,
                sampled=not slow,
                accuracy=0.9,
                metrics={"accuracy": 0.9},
                outputs=tuple(rng.random() for _ in range(5)),
            )
        )
    write_events(storage, events)
    return path


def _json(path: Path, *args: str, codes: tuple[int, ...] = (0,)) -> Any:
    result = runner.invoke(app, ["-c", str(path), "-o", "json", *args])
    assert result.exit_code in codes, result.output
    return orjson.loads(result.stdout)


def test_correlate_report_and_stored_report_validate(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    path = _store(write_config)
    printed = _json(path, "correlate", "--date", DAY.isoformat(), codes=(1,))
    assert printed["schema_version"] == SCHEMA_VERSION and printed["findings"] and printed["suspects"]
    validate("report", printed)
    stored = orjson.loads((tmp_path / "data" / layout.report_key(DAY, "default")).read_bytes())
    assert stored["schema_version"] == SCHEMA_VERSION
    validate("report", stored)
    again = _json(path, "report", "--date", DAY.isoformat())
    validate("report", again)
    assert again["findings"] == printed["findings"]


def test_report_of_a_report_stored_before_schema_version_validates(write_config: Callable[..., Path]) -> None:
    path = write_config()
    stored = minimal_document()
    assert "schema_version" not in stored
    open_storage(load_config(str(path))).put_bytes(layout.report_key(DAY, "default"), orjson.dumps(stored))
    printed = _json(path, "report", "--date", DAY.isoformat())
    assert printed == {**stored, "schema_version": SCHEMA_VERSION}
    validate("report", printed)


def test_report_keeps_the_schema_version_a_report_was_stored_with(write_config: Callable[..., Path]) -> None:
    path = write_config()
    stored = {**minimal_document(), "schema_version": SCHEMA_VERSION + 1}
    open_storage(load_config(str(path))).put_bytes(layout.report_key(DAY, "default"), orjson.dumps(stored))
    assert _json(path, "report", "--date", DAY.isoformat())["schema_version"] == SCHEMA_VERSION + 1


def test_alert_dry_run_and_prune_validate(write_config: Callable[..., Path]) -> None:
    path = _store(write_config)
    _json(path, "correlate", "--date", DAY.isoformat(), codes=(1,))
    sent = _json(path, "alert", "--date", DAY.isoformat(), "--dry-run")
    assert sent["payload"] and sent["dry_run"] is True
    validate("alert", sent)
    pruned = _json(path, "prune", "--keep-days", "1", "--dry-run")
    assert pruned["partitions"] and pruned["status"] == "dry_run"
    validate("prune", pruned)


def test_alert_sent_to_alertmanager_validates(write_config: Callable[..., Path], alertmanager: Any) -> None:
    # The events are model "default"'s: this model has only the snapshots, so its query threshold findings
    # had no slow prediction of its own and are sent only with infra_alerts: always.
    sections = {
        "alertmanager": {"urls": [alertmanager.url], "infra_alerts": "always"},
        "model": {"name": "schemas"},
    }
    path = _store(write_config, **sections)
    _json(path, "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
    sent = _json(path, "alert", "--date", DAY.isoformat())
    assert sent["deliveries"] and sent["deliveries"][0]["accepted"] is True and sent["alerts"]
    validate("alert", sent)


def test_profile_check_and_rules_validate(write_config: Callable[..., Path]) -> None:
    path = _store(write_config)
    _json(path, "correlate", "--date", DAY.isoformat(), codes=(1,))
    profiled = _json(
        path, "profile", "--from", (DAY - timedelta(days=2)).isoformat(), "--to", DAY.isoformat()
    )
    assert profiled["days_used"] == [DAY.isoformat()] and profiled["missing"]
    validate("profile", profiled)
    # check still prints its document when targets are down, and exits 3.
    checked = _json(path, "check", codes=(3,))
    assert checked["ok"] is False and checked["checks"]
    validate("check", checked)
    rules = _json(path, "rules")
    assert "schema_version" not in rules  # a Prometheus rule file, which refuses unknown fields
    validate("rules", rules)


def test_capture_infra_snapshot_and_range_validate(
    write_config: Callable[..., Path], prometheus_stack: PrometheusStack
) -> None:
    # A sample 15 s old: the range archived below (the last 30 s) has points.
    prometheus_stack.wait_for("up offset 15s", timeout=60)
    path = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "queries": {"up": "up", "bad": "rate(up[1m]"},
        }
    )
    snapshot = _json(path, "capture-infra", codes=(3,))
    assert snapshot["queries"]["up"]["series"] >= 1 and snapshot["queries"]["bad"]["error"]
    validate("capture-infra", snapshot)
    path = write_config({"prometheus": {"url": prometheus_stack.prometheus_url}, "queries": {"up": "up"}})
    now = datetime.now(UTC).replace(microsecond=0)
    archived = _json(
        path,
        "capture-infra",
        "--from",
        (now - timedelta(seconds=30)).isoformat(),
        "--to",
        now.isoformat(),
        "--step",
        "5s",
    )
    assert archived["stored"] and archived["points"] > 0
    validate("capture-infra-range", archived)


def test_capture_model_validates(
    write_config: Callable[..., Path], tmp_path: Path, mlflow_sqlite_uri: str
) -> None:
    lines = ["x1,x2,delay_ms,label"] + [f"0.{i},0.{9 - i},0,{int(i > 4)}" for i in range(10)]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    path = write_config(
        {
            "mlflow": {"tracking_uri": mlflow_sqlite_uri, "experiment": "json-schemas"},
            "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 1.0},
        }
    )
    captured = _json(
        path,
        "capture-model",
        "--model",
        MODEL_REF,
        "--input",
        str(tmp_path / "in.csv"),
        "--label-column",
        "label",
        "--batch-size",
        "5",
    )
    assert captured["rows"] == 10 and captured["quality"] and captured["mlflow_run_id"]
    validate("capture-model", captured)


def test_a_fleet_run_validates_and_each_model_keeps_its_document(write_config: Callable[..., Path]) -> None:
    path = _store(write_config)
    storage = open_storage(load_config(str(path)))
    write_events(storage, [Event(START + timedelta(hours=3), "second", 12.0, True, 10)])
    printed = _json(path, "correlate", "--date", DAY.isoformat(), "--all-models", codes=(1,))
    validate("fleet", printed)
    assert [m["model"] for m in printed] == sorted(m["model"] for m in printed) and len(printed) == 2
    for member in printed:
        validate("report", {k: v for k, v in member.items() if k != "exit_code"})
    site = path.parent / "site"
    site.mkdir()
    shown = _json(path, "report", "--date", DAY.isoformat(), "--all-models", "--out", str(site))
    validate("fleet", shown)
    assert [m["out"] for m in shown] == [str(site / f"{m['model']}.json") for m in printed]
