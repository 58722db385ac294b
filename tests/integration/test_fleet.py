"""One command for the fleet: --all-models and --model run a stage once per model of a shared store,
each with its own config overrides, reports, alerts (a real Alertmanager) and heartbeats (a real
Pushgateway), one summary line each and the worst exit code."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
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
from tests.integration.test_cron import pushed

pytestmark = pytest.mark.integration

CPU = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))'
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
runner = CliRunner()


def _fleet(tag: str) -> list[str]:
    suffix = uuid.uuid4().hex[:6]
    return [f"{name}-{tag}-{suffix}" for name in ("churn", "fraud", "search")]


def _write_config(tmp_path: Path, models: dict[str, Any] | None = None, **sections: Any) -> Path:
    path = tmp_path / f"mlprom-{uuid.uuid4().hex[:6]}.yaml"
    document: dict[str, Any] = {
        "storage": {"url": str(tmp_path / "shared")},
        "correlate": {"infra_source": "snapshots"},
        "queries": {"cpu_usage": CPU},
        "thresholds": {"cpu_usage": 0.9},  # the snapshot's 0.95 is critical for every model but overrides
        **sections,
    }
    if models is not None:
        document["models"] = models
    path.write_text(yaml.safe_dump(document))
    return path


def _store(path: Path, models: list[str]) -> Any:
    """A hot CPU snapshot and one slow event of each model, on DAY."""
    storage = open_storage(load_config(str(path)))
    hot = QueryResult(CPU, "vector", (Series({"instance": "host-a:9100"}, 0.95),))
    write_snapshot(storage, Snapshot(START, "http://prometheus.test", {"cpu_usage": hot}))
    write_events(storage, [Event(START, model, 12.0, True, 10) for model in models])
    return storage


def _invoke(path: Path, *args: str) -> Any:
    return runner.invoke(app, ["-c", str(path), *args])


def _rows(stdout: str, models: list[str]) -> dict[str, str]:
    """The summary line of each model in a fleet table (each model on exactly one line)."""
    rows: dict[str, str] = {}
    for model in models:
        lines = [line for line in stdout.splitlines() if model in line]
        assert len(lines) == 1, stdout
        rows[model] = lines[0]
    return rows


def _critical_findings(pushgateway_url: str, model: str) -> float | None:
    text = requests.get(pushgateway_url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if (
            line.startswith("mlprom_findings{")
            and f'model="{model}"' in line
            and 'severity="critical"' in line
        ):
            return float(line.rpartition(" ")[2])
    return None


def test_correlate_all_models_writes_each_models_report_and_exits_with_the_worst(tmp_path: Path) -> None:
    quiet, *hot = models = _fleet("corr")
    # One model's override lifts its threshold: only its findings change.
    path = _write_config(tmp_path, {quiet: {"thresholds": {"cpu_usage": 1000}}})
    storage = _store(path, models)

    done = _invoke(path, "correlate", "--date", DAY.isoformat(), "--all-models", "--jobs", "2")

    assert done.exit_code == 1, done.output  # two models critical at --fail-on critical, one clean
    rows = _rows(done.stdout, models)
    assert " ok " in rows[quiet] and " 0 " in rows[quiet]
    for model in hot:
        assert "critical" in rows[model] and " 1 " in rows[model]
    for model in models:
        report = orjson.loads(storage.get_bytes(layout.report_key(DAY, model)))
        assert report["model"] == model and report["events"]["total"] == 1
        assert len(report["findings"]) == (0 if model == quiet else 1)

    as_json = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat(), "--all-models")
    assert as_json.exit_code == 1
    documents = orjson.loads(as_json.stdout)
    assert [d["model"] for d in documents] == sorted(models)
    by_model = {d["model"]: d for d in documents}
    assert by_model[quiet]["exit_code"] == 0 and by_model[quiet]["status"] == "ok"
    assert all(by_model[m]["exit_code"] == 1 and by_model[m]["findings"] for m in hot)


def test_correlate_fleet_with_fail_on_never_and_a_model_without_events_exits_zero(tmp_path: Path) -> None:
    models = _fleet("never")
    path = _write_config(tmp_path)
    _store(path, models[:2])
    done = _invoke(
        path,
        "correlate",
        "--date",
        DAY.isoformat(),
        "--fail-on",
        "never",
        "--model",
        models[0],
        "--model",
        models[2],
    )
    # The date has a snapshot, so a model without events is not "no data" (the contract's definition).
    assert done.exit_code == 0, done.output
    rows = _rows(done.stdout, [models[0], models[2]])
    assert "1 events" in rows[models[0]] and "0 events" in rows[models[2]]
    assert models[1] not in done.stdout


def test_alert_all_models_labels_each_models_alerts_and_resolves_only_its_own(
    tmp_path: Path, alertmanager: Server, shared_store: dict[str, Any]
) -> None:
    """On a local directory and on S3 (moto_server)."""
    first, second, third = models = _fleet("alert")
    routing = {
        "storage": shared_store,
        "alertmanager": {"urls": [alertmanager.url], "labels": {"env": "test"}},
    }
    team = {"labels": {"team": "fraud-desk"}}
    path = _write_config(tmp_path, {second: team}, **routing)
    storage = _store(path, models)
    assert _invoke(path, "correlate", "--date", DAY.isoformat(), "--all-models").exit_code == 1

    sent = _invoke(path, "-o", "json", "alert", "--date", DAY.isoformat(), "--all-models")
    assert sent.exit_code == 0, sent.output
    assert {d["model"]: d["firing"] for d in orjson.loads(sent.stdout)} == dict.fromkeys(models, 1)
    for model in models:
        (active,) = active_alerts(alertmanager.url, model, 1)
        assert active["labels"]["model"] == model and active["labels"]["env"] == "test"
        assert active["labels"].get("team") == ("fraud-desk" if model == second else None)

    # The first model's findings clear (its own override); the others' do not.
    cleared = _write_config(tmp_path, {first: {"thresholds": {"cpu_usage": 1000}}, second: team}, **routing)
    assert _invoke(cleared, "correlate", "--date", DAY.isoformat(), "--all-models").exit_code == 1
    again = _invoke(cleared, "-o", "json", "alert", "--date", DAY.isoformat(), "--all-models")
    assert again.exit_code == 0, again.output
    resolved = {d["model"]: d["resolved"] for d in orjson.loads(again.stdout)}
    assert resolved == {first: 1, second: 0, third: 0}
    assert active_alerts(alertmanager.url, first, 0) == []
    assert (
        len(active_alerts(alertmanager.url, second, 1)) == 1
        and len(active_alerts(alertmanager.url, third, 1)) == 1
    )
    # Each model's state in the store holds its own alerts only, the first one's resolved.
    for model in models:
        state = orjson.loads(storage.get_bytes(layout.alert_state_key(model)))
        assert [(a["labels"]["model"], a["status"]) for a in state["alerts"]] == [
            (model, "resolved" if model == first else "firing")
        ]
    assert not storage.exists(layout.LEGACY_ALERT_STATE_KEY)


def test_model_flags_run_exactly_those_models_and_push_a_heartbeat_for_each(
    tmp_path: Path, prometheus_stack: Any
) -> None:
    models = _fleet("beat")
    overrides = {models[0]: {"thresholds": {"cpu_usage": 1000}}}
    path = _write_config(tmp_path, overrides, pushgateway={"url": prometheus_stack.pushgateway_url})
    storage = _store(path, models)
    chosen, left_out = models[:2], models[2]
    flags = [arg for model in chosen for arg in ("--model", model)]

    done = _invoke(path, "correlate", "--date", DAY.isoformat(), "--fail-on", "never", *flags)

    assert done.exit_code == 0, done.output
    assert set(_rows(done.stdout, chosen)) == set(chosen) and left_out not in done.stdout
    assert not storage.exists(layout.report_key(DAY, left_out))
    for model, critical in zip(chosen, (0.0, 1.0), strict=True):
        assert storage.exists(layout.report_key(DAY, model))
        beat = pushed(prometheus_stack.pushgateway_url, model, "correlate")
        assert beat["mlprom_last_success_timestamp_seconds"] > time.time() - 600
        # Each group holds its own model's report: one critical finding for the second model only.
        assert _critical_findings(prometheus_stack.pushgateway_url, model) == critical
    assert pushed(prometheus_stack.pushgateway_url, left_out, "correlate") == {}


def test_one_model_flag_is_that_models_usual_run_with_its_overrides(tmp_path: Path) -> None:
    model, other, _ = models = _fleet("one")
    path = _write_config(tmp_path, {model: {"thresholds": {"cpu_usage": 1000}}})
    _store(path, models)
    done = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat(), "--model", model)
    assert done.exit_code == 0, done.output
    document = orjson.loads(done.stdout)  # the usual document, not a list
    assert document["model"] == model and document["findings"] == []
    assert _invoke(path, "correlate", "--date", DAY.isoformat(), "--model", other).exit_code == 1
    shown = _invoke(
        path, "report", "--date", DAY.isoformat(), "--model", model, "--out", str(tmp_path / "r.html")
    )
    assert shown.exit_code == 0, shown.output
    assert model in (tmp_path / "r.html").read_text()


def test_report_and_profile_run_for_every_model_with_a_report(tmp_path: Path) -> None:
    models = _fleet("read")
    path = _write_config(tmp_path)
    _store(path, models)
    assert _invoke(path, "correlate", "--date", DAY.isoformat(), "--all-models").exit_code == 1
    shown = _invoke(path, "-o", "json", "report", "--date", DAY.isoformat(), "--all-models")
    assert shown.exit_code == 0, shown.output
    assert [(d["model"], d["status"]) for d in orjson.loads(shown.stdout)] == [
        (m, "critical") for m in sorted(models)
    ]
    profiled = _invoke(path, "profile", "--from", DAY.isoformat(), "--to", DAY.isoformat(), "--all-models")
    assert profiled.exit_code == 0, profiled.output
    assert all("1 days used" in row for row in _rows(profiled.stdout, models).values())


def test_a_bad_override_key_is_exit_2_on_one_line_naming_it(tmp_path: Path) -> None:
    models = _fleet("bad")
    path = _write_config(tmp_path, {models[0]: {"latency": "2s"}})
    done = _invoke(path, "correlate", "--date", DAY.isoformat(), "--all-models")
    assert done.exit_code == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"models.{models[0]}.latency: unknown key" in line and "Traceback" not in done.stderr


def test_a_bad_model_name_in_the_map_or_a_flag_is_exit_2(tmp_path: Path) -> None:
    bad_map = _write_config(tmp_path, {"no/slash": {}})
    done = _invoke(bad_map, "correlate", "--date", DAY.isoformat(), "--all-models")
    assert done.exit_code == 2 and "no/slash" in done.stderr and len(done.stderr.splitlines()) == 1
    path = _write_config(tmp_path)
    flagged = _invoke(path, "alert", "--date", DAY.isoformat(), "--model", "a b", "--model", "ok")
    assert flagged.exit_code == 2 and "--model" in flagged.stderr and "'a b'" in flagged.stderr


def test_html_for_several_models_is_refused_before_anything_runs(tmp_path: Path) -> None:
    models = _fleet("html")
    path = _write_config(tmp_path)
    storage = _store(path, models)
    done = _invoke(path, "-o", "html", "correlate", "--date", DAY.isoformat(), "--all-models")
    assert done.exit_code == 2 and "one --model" in done.stderr and done.stdout == ""
    assert not any(storage.exists(layout.report_key(DAY, m)) for m in models)


def test_all_models_on_a_date_without_models_is_no_data(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    empty = _invoke(path, "correlate", "--date", "2026-11-01", "--all-models")
    assert empty.exit_code == 4 and "no model has data for 2026-11-01" in empty.stderr
    allowed = _invoke(path, "correlate", "--date", "2026-11-01", "--all-models", "--allow-empty")
    assert allowed.exit_code == 0 and allowed.stdout == ""


def test_an_upstream_failure_outranks_a_model_without_a_report(tmp_path: Path) -> None:
    from tests.fixtures.servers import free_port

    model, ghost, _ = _fleet("worst")
    down = {"alertmanager": {"urls": [f"http://127.0.0.1:{free_port()}"], "timeout": "2s"}}
    path = _write_config(tmp_path, **down)
    _store(path, [model])
    assert _invoke(path, "correlate", "--date", DAY.isoformat(), "--model", model).exit_code == 1

    shown = _invoke(path, "report", "--date", DAY.isoformat(), "--model", model, "--model", ghost)
    assert shown.exit_code == 4, shown.output  # one model rendered, the other has no report
    assert f"model {ghost}: no report for {DAY}" in shown.stderr
    sent = _invoke(path, "alert", "--date", DAY.isoformat(), "--model", ghost, "--model", model)
    assert sent.exit_code == 3, (
        sent.output
    )  # Alertmanager unreachable (3) for one, no report (4) for the other
    rows = _rows(sent.stdout, [model, ghost])
    assert " 3 │ error " in rows[model] and " 4 │ no_data " in rows[ghost]
    errors = [line for line in sent.stderr.splitlines() if line.startswith("mlprom: error: model ")]
    assert {line.split()[3].rstrip(":") for line in errors} == {model, ghost}


def test_sigterm_mid_fleet_exits_143_and_starts_no_further_model(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    from datetime import timedelta

    models = [f"m{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    path = _write_config(tmp_path)
    storage = _store(path, models)
    # A few hundred snapshots, so that each model's run takes a while to join them.
    for minute in range(1, 300):
        hot = QueryResult(CPU, "vector", (Series({"instance": "host-a:9100"}, 0.5),))
        write_snapshot(
            storage, Snapshot(START + timedelta(minutes=minute), "http://prometheus.test", {"cpu_usage": hot})
        )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p),
    }
    argv = [
        sys.executable,
        "-m",
        "mlprom",
        "-c",
        str(path),
        "correlate",
        "--date",
        DAY.isoformat(),
        "--all-models",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = sorted(models)[0]
    deadline = time.monotonic() + 120  # a guard against a hung child, never a measurement
    while not storage.exists(layout.report_key(DAY, first)) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)

    assert process.returncode == 143, err
    assert "interrupted by SIGTERM" in err.decode() and b"Traceback" not in err
    written = [m for m in models if storage.exists(layout.report_key(DAY, m))]
    assert first in written and len(written) < len(models), written
    for model in written:  # whole documents only
        assert orjson.loads(storage.get_bytes(layout.report_key(DAY, model)))["model"] == model
