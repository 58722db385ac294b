"""check reaches every configured endpoint: real Prometheus, Alertmanager, Pushgateway, moto S3."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from tests.fixtures.servers import free_port, list_s3_keys

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_ambient_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow's set_tracking_uri exports MLFLOW_TRACKING_URI process-wide; these tests configure MLflow explicitly.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_check_all_ok_against_the_real_stack(
    prometheus_stack, alertmanager, moto_s3, s3_bucket, write_config
):
    cfg = write_config(
        {
            "storage": {"url": f"s3://{s3_bucket}/x", "endpoint_url": moto_s3},
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            "pushgateway": {"url": prometheus_stack.pushgateway_url},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "-o", "json", "check"])
    assert result.exit_code == 0, result.output
    checks = {c["target"]: c for c in json.loads(result.stdout)["checks"]}
    assert set(checks) == {"config", "storage", "prometheus", "queries", "alertmanager", "pushgateway"}
    assert all(c["ok"] for c in checks.values())
    assert list_s3_keys(moto_s3, s3_bucket) == []  # the probe object was deleted


def test_check_prints_one_line_per_target_and_exits_3_on_failure(prometheus_stack, write_config):
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = write_config(
        {"prometheus": {"url": prometheus_stack.prometheus_url}, "alertmanager": {"urls": [dead]}}
    )
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 3
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 5  # config, storage, prometheus, queries, alertmanager
    assert lines[0].startswith("ok") and "config" in lines[0]
    failed = [line for line in lines if line.startswith("FAIL")]
    assert len(failed) == 1 and "alertmanager" in failed[0] and dead in failed[0]


def test_check_missing_bucket_names_the_bucket(moto_s3, write_config, prometheus_stack, alertmanager):
    cfg = write_config(
        {
            "storage": {"url": "s3://no-such-bucket-here", "endpoint_url": moto_s3},
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "-o", "json", "check"])
    assert result.exit_code == 3
    storage = next(c for c in json.loads(result.stdout)["checks"] if c["target"] == "storage")
    assert not storage["ok"] and "no-such-bucket-here" in storage["detail"]


def test_check_invalid_config_exits_2(write_config):
    cfg = write_config({"prometheus": {"url": "not a url"}})
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 2
    assert "prometheus.url" in result.stderr


def test_stage_pushes_heartbeat_to_pushgateway(prometheus_stack, write_config):
    import requests

    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "pushgateway": {"url": prometheus_stack.pushgateway_url},
            "model": {"name": "churn"},
        }
    )
    assert runner.invoke(app, ["-c", str(cfg), "capture-infra"]).exit_code == 0
    groups = requests.get(prometheus_stack.pushgateway_url + "/api/v1/metrics", timeout=5).json()["data"]
    # The Pushgateway is shared by the session's tests: pick this model's group (one group per model).
    group = next(
        g
        for g in groups
        if g["labels"].get("stage") == "capture-infra" and g["labels"].get("model") == "churn"
    )
    assert group["labels"] == {"job": "mlprom", "stage": "capture-infra", "model": "churn"}
    assert "mlprom_last_success_timestamp_seconds" in group
    assert "mlprom_last_run_duration_seconds" in group
    series = float(group["mlprom_infra_series"]["metrics"][0]["value"])
    assert series > 0


def test_heartbeat_failure_is_exit_3_after_the_work_is_stored(prometheus_stack, write_config, tmp_path):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "pushgateway": {"url": f"http://127.0.0.1:{free_port()}"},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "capture-infra"])
    assert result.exit_code == 3
    assert "heartbeat not pushed" in result.stderr and "Pushgateway" in result.stderr
    assert list((tmp_path / "data" / "infra").rglob("*.json"))


def test_check_reaches_a_sqlite_mlflow_store_and_shows_its_uri(
    write_config, tmp_path, prometheus_stack, alertmanager
):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            "mlflow": {"tracking_uri": uri},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "-o", "json", "check"])
    assert result.exit_code == 0, result.output
    mlflow = next(c for c in json.loads(result.stdout)["checks"] if c["target"] == "mlflow")
    assert mlflow == {"target": "mlflow", "endpoint": uri, "ok": True, "detail": "tracking store answers"}


def test_check_mlflow_server_down_fails_its_line(write_config, prometheus_stack, alertmanager):
    dead = f"http://user:pw-secret@127.0.0.1:{free_port()}"
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            "mlflow": {"tracking_uri": dead},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "-o", "json", "check"])
    assert result.exit_code == 3
    mlflow = next(c for c in json.loads(result.stdout)["checks"] if c["target"] == "mlflow")
    assert not mlflow["ok"] and "connection refused" in mlflow["detail"]
    assert "pw-secret" not in result.output


def test_check_names_the_query_that_does_not_parse_and_exits_2(prometheus_stack, alertmanager, write_config):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            "queries": {"load": "node_load1", "cpu_busy": "sum(rate(node_cpu_seconds_total[1m])"},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "-o", "json", "check"])
    assert result.exit_code == 2, result.output
    queries = next(c for c in json.loads(result.stdout)["checks"] if c["target"] == "queries")
    assert not queries["ok"]
    assert queries["detail"].startswith("1 query does not parse: cpu_busy: ")
    assert "unclosed left parenthesis" in queries["detail"] and "load" not in queries["detail"]


def test_check_warns_about_a_query_that_returns_no_series(prometheus_stack, alertmanager, write_config):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            "queries": {"load": "node_load1", "misspelt": "node_lod1"},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 0, result.output
    assert "check: query misspelt returned no series" in result.stderr
    line = next(line for line in result.stdout.splitlines() if " queries " in line)
    assert line.startswith("ok") and line.endswith("2 parse and run; no series now: misspelt")


def test_check_falls_back_to_the_query_where_format_query_is_missing(
    scripted_server, write_config, alertmanager
):
    # A Thanos- or VictoriaMetrics-like server: no /api/v1/format_query (404); the query says bad_data.
    bad = {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": 1:5: parse error'}
    scripted_server.script = [(404, {}), (400, bad)]
    from mlprom.config import load_config
    from mlprom.errors import ConfigError
    from mlprom.stages.check import _check_queries

    config = load_config(
        str(write_config({"prometheus": {"url": scripted_server.url}, "queries": {"q": "sum("}}))
    )
    try:
        _check_queries(config)
    except ConfigError as exc:
        assert "q: bad_data" in str(exc) and "parse error" in str(exc)
    else:
        raise AssertionError("a query that does not parse passed")
    assert [path for _, path, _ in scripted_server.requests] == ["/api/v1/format_query", "/api/v1/query"]


def test_correlate_heartbeat_has_severity_as_a_label_on_the_real_pushgateway(prometheus_stack, write_config):
    import requests

    cfg = write_config(
        {"pushgateway": {"url": prometheus_stack.pushgateway_url}, "model": {"name": "sev-label"}}
    )
    result = runner.invoke(app, ["-c", str(cfg), "correlate", "--date", "2026-11-20", "--allow-empty"])
    assert result.exit_code == 0, result.output
    groups = requests.get(prometheus_stack.pushgateway_url + "/api/v1/metrics", timeout=5).json()["data"]
    group = next(
        g for g in groups if g["labels"] == {"job": "mlprom", "stage": "correlate", "model": "sev-label"}
    )
    findings = group["mlprom_findings"]
    assert findings["help"] == "Findings in the date's report, by severity."
    assert sorted(m["labels"]["severity"] for m in findings["metrics"]) == ["critical", "warning"]
    assert "mlprom_findings_critical" not in group


def test_check_with_the_pushgateway_down_reports_it_once_and_does_not_push_a_heartbeat_to_it(
    prometheus_stack, alertmanager, write_config
):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            "pushgateway": {"url": f"http://127.0.0.1:{free_port()}"},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "-o", "json", "check"])
    assert result.exit_code == 3
    checks = {c["target"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["pushgateway"]["ok"] is False
    # The check line already says it; a heartbeat pushed to the same dead server would wait for it again.
    assert "heartbeat not pushed" not in result.stderr


# --- Rate windows against the scrape interval ---------------------------------------------------------

IDLE = 'rate(node_cpu_seconds_total{mode="idle"}'


def test_check_warns_about_a_window_shorter_than_four_scrapes_and_not_about_a_longer_one(
    prometheus_stack, alertmanager, write_config
):
    # The suite's Prometheus scrapes every second: [3s] spans three scrapes, [1m] sixty.
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            "queries": {"fast": f'{IDLE[:-1]},job="node"}}[3s])', "steady": f"{IDLE}[1m])"},
        }
    )
    prometheus_stack.wait_for(f'{IDLE[:-1]},job="node"}}[3s])')
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "window" in line]
    assert warnings == [
        "check: query fast: window [3s] spans 3 scrape(s) of 1s (job node); use [4s] or more"
    ], result.stderr
    line = next(line for line in result.stdout.splitlines() if " queries " in line)
    assert line.startswith("ok") and line.endswith("2 parse and run; window under 4 scrapes: fast")


def test_check_compares_a_window_without_a_job_with_the_largest_interval_of_all_targets(
    prometheus_stack, alertmanager, write_config
):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url]},
            # A subquery's range spans evaluated points, not scrapes: only the inner [1s] counts.
            "queries": {"spiky": f"max_over_time({IDLE}[1s])[1h:1m])"},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.stderr.splitlines() if "window" in line]
    assert warning.startswith("check: query spiky: window [1s] spans 1 scrape(s) of 1s (largest of ")
    assert warning.endswith(" active target(s)); use [4s] or more")


# --- The rule file loaded in Prometheus and alertmanager.rules_deployed -------------------------------

CPU = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))'


@pytest.fixture
def ruled_prometheus(tmp_path, write_config):
    """A Prometheus of its own with the `mlprom rules` file of a config loaded (the suite's Prometheus
    has no rule_files); yields (that Prometheus' URL, the config's document)."""
    import uuid

    import requests
    import yaml

    from tests.fixtures.servers import require_binary, start_server

    prom_bin = require_binary("prometheus")
    document = {
        "model": {"name": f"ruled-{uuid.uuid4().hex[:8]}"},
        "queries": {"cpu_usage": CPU},
        "thresholds": {"cpu_usage": 0.9, "prediction_time": "10s"},
    }
    printed = runner.invoke(app, ["-c", str(write_config(document)), "rules"])
    assert printed.exit_code == 0, printed.output
    (tmp_path / "mlprom.rules.yml").write_text(printed.stdout)
    prom_config = {
        "global": {"evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "mlprom.rules.yml")],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
    port = free_port()
    server = start_server(
        "prometheus-ruled",
        [
            prom_bin,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port,
        tmp_path,
        "/-/ready",
    )
    try:
        groups = requests.get(server.url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert f"mlprom-{document['model']['name']}-thresholds" in {g["name"] for g in groups}
        yield server.url, document
    finally:
        server.stop()


def _rules_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "rules_deployed" in line]


def test_check_warns_once_when_the_rules_are_loaded_and_rules_deployed_is_false(
    ruled_prometheus, alertmanager, write_config
):
    url, document = ruled_prometheus
    model = document["model"]["name"]
    cfg = write_config({**document, "prometheus": {"url": url}, "alertmanager": {"urls": [alertmanager.url]}})
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 0, result.output  # a warning: the exit code stays the endpoints'
    assert _rules_warnings(result.stderr) == [
        f"check: Prometheus at {url} has the rule group mlprom-{model}-thresholds loaded and "
        "alertmanager.rules_deployed is false: Alertmanager gets two alerts per series past a query "
        "threshold; set rules_deployed: true"
    ]


def test_check_is_quiet_when_the_rules_are_loaded_and_rules_deployed_is_true(
    ruled_prometheus, alertmanager, write_config
):
    url, document = ruled_prometheus
    cfg = write_config(
        {
            **document,
            "prometheus": {"url": url},
            "alertmanager": {"urls": [alertmanager.url], "rules_deployed": True},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 0, result.output
    assert _rules_warnings(result.stderr) == []


def test_check_warns_when_rules_deployed_is_true_but_prometheus_has_no_mlprom_rules(
    prometheus_stack, alertmanager, write_config
):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "alertmanager": {"urls": [alertmanager.url], "rules_deployed": True},
            "model": {"name": "unruled"},
            "queries": {"cpu_usage": CPU},
            "thresholds": {"cpu_usage": 0.9},
        }
    )
    result = runner.invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 0, result.output
    (warning,) = _rules_warnings(result.stderr)
    assert warning.startswith("check: alertmanager.rules_deployed is true but Prometheus at ")
    assert "has no rule group mlprom-unruled-thresholds: nothing alerts on the query thresholds" in warning
