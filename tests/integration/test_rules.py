"""`mlprom rules` writes a rule file promtool accepts, whose alerts carry what `mlprom alert` sends."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlprom.analysis.findings import Finding
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.reports.correlation import CorrelationReport, EventCounts
from mlprom.stages.alert import build_alerts
from tests.fixtures.servers import require_binary

runner = CliRunner()
# level:metric:operations (https://prometheus.io/docs/practices/rules/): three parts, none empty.
RECORD_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+")
DEFAULT_FOR = "2m"
MEMORY = "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"


def _rules(config: Path, tmp_path: Path) -> Path:
    result = runner.invoke(app, ["-c", str(config), "rules"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "mlprom.rules.yml"
    path.write_text(result.stdout)
    return path


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_rule_file_of_the_defaults_and_odd_names_passes_promtool_check_rules(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(
        {
            "model": {"name": "churn.v2-eu"},
            "alertmanager": {
                "labels": {"team": "ml", "env": "{{ prod }}"},
                "runbook_url": "https://r.example/{{x}}",
            },
            "queries": {
                "cpu_usage": '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))',
                "free-disk %": "node_filesystem_avail_bytes / node_filesystem_size_bytes",
                "free_disk__": "node_filesystem_avail_bytes",
                "2xx_rate": 'sum(rate(http_requests_total{code=~"2.."}[5m]))',
            },
            "thresholds": {
                "cpu_usage": {"warning": 0.8, "critical": 0.95, "for": "5m"},
                "free-disk %": {"critical": 0.1, "direction": "below", "for": "1h30m"},
                "2xx_rate": 100,
                "prediction_time": {"critical": "2s", "min_events": 3},
            },
        }
    )
    path = _rules(config, tmp_path)
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # 3 recording (free_disk__ is a bare selector: alerted on directly) + 2 + 1 + 1 alerting
    assert "SUCCESS: 7 rules found" in checked.stdout
    document = yaml.safe_load(path.read_text())
    recording, alerting = document["groups"][0]["rules"], document["groups"][1]["rules"]
    assert [r["record"] for r in recording] == [
        "instance:cpu_usage:avg_rate1m",
        "instance:free_disk__:ratio",
        "model:_2xx_rate:rate5m",
    ]
    for rule in recording:
        assert RECORD_NAME.fullmatch(rule["record"]), rule["record"]
        assert rule["labels"] == {"model": "churn.v2-eu"}
    assert [(r["alert"], r["for"], r["expr"]) for r in alerting] == [
        ("MlpromCpuUsageHigh", "5m", 'instance:cpu_usage:avg_rate1m{model="churn.v2-eu"} >= 0.8'),
        ("MlpromCpuUsageHigh", "5m", 'instance:cpu_usage:avg_rate1m{model="churn.v2-eu"} >= 0.95'),
        ("MlpromFreeDiskLow", "1h30m", 'instance:free_disk__:ratio{model="churn.v2-eu"} <= 0.1'),
        ("Mlprom2xxRateHigh", DEFAULT_FOR, 'model:_2xx_rate:rate5m{model="churn.v2-eu"} >= 100.0'),
    ]
    assert "# not here: prediction_time (a model metric" in path.read_text()


def test_every_default_query_records_under_level_metric_operations_and_every_alert_waits(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    # The built-in queries and thresholds, as a config without queries gets them.
    path = _rules(write_config({"model": {"name": "churn"}}), tmp_path)
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    document = yaml.safe_load(path.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    records = {r["record"]: r for r in rules if "record" in r}
    assert records and all(RECORD_NAME.fullmatch(name) for name in records), list(records)
    assert not any("churn" in name for name in records)  # the model is a label, never in the name
    assert "instance:http_latency:p95_rate5m" in records
    # http_latency groups by the series' own model label: a rule label would merge two models' series.
    assert "labels" not in records["instance:http_latency:p95_rate5m"]
    assert all(r["labels"] == {"model": "churn"} for n, r in records.items() if "http_latency" not in n)
    alerts = [r for r in rules if "alert" in r]
    assert alerts and all(r["for"] == DEFAULT_FOR for r in alerts)  # the defaults have no `for`
    assert {r["alert"] for r in alerts} == {"MlpromCpuUsageHigh", "MlpromMemoryUsageHigh"}


def test_promtool_unit_test_fires_after_for_with_the_labels_and_summary_alert_sends(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config_path = write_config(
        {
            "model": {"name": "churn"},
            "alertmanager": {"labels": {"team": "ml"}, "runbook_url": "https://runbooks.example/mlprom"},
            "queries": {"memory_usage": MEMORY},
            "thresholds": {"memory_usage": {"warning": 75, "critical": 90, "for": "5m"}},
        }
    )
    rules = _rules(config_path, tmp_path)

    # What `mlprom alert` sends for the same series at the same value: the rule's alerts must match it.
    config = load_config(str(config_path))
    seen = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    series = {"instance": "a:9100", "job": "node"}
    expected = []
    for severity, level in (("warning", 75.0), ("critical", 90.0)):
        lasted = {"source": "infra", "observations": 11, "longest_seconds": 600.0}
        finding = Finding(
            severity, "memory_usage", series, 95.0, level, "above", 3, seen, seen, detail=lasted
        )
        report = CorrelationReport(
            date(2026, 11, 25), seen, severity, EventCounts(), 1, (finding,), model="churn"
        )
        (alert,) = build_alerts(config, report, seen + timedelta(minutes=1))
        expected.append(
            {
                # The alert's name says what it alerts on; every other label is the one `alert` sends.
                "exp_labels": {**alert.labels, "alertname": "MlpromMemoryUsageHigh"},
                "exp_annotations": {
                    "summary": alert.annotations["summary"],
                    "value": alert.annotations["value"],
                    "threshold": alert.annotations["threshold"],
                    "runbook_url": alert.annotations["runbook_url"],
                    "description": (
                        f"memory_usage has been above {level:g} for at least 5m, now 95. Evaluated by "
                        "Prometheus from `mlprom rules`; `mlprom correlate` relates it to the predictions "
                        "of model churn."
                    ),
                },
            }
        )
    assert (
        expected[1]["exp_annotations"]["summary"]
        == "memory_usage 95 is above the critical level 90 on a:9100"
    )

    labels = '{instance="a:9100", job="node"}'
    unit = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"node_memory_MemAvailable_bytes{labels}", "values": "5+0x20"},
                    {"series": f"node_memory_MemTotal_bytes{labels}", "values": "100+0x20"},
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "MlpromMemoryUsageHigh", "exp_alerts": []},  # pending
                    {"eval_time": "10m", "alertname": "MlpromMemoryUsageHigh", "exp_alerts": expected},
                ],
                "promql_expr_test": [
                    {
                        "expr": "instance:memory_usage:ratio",
                        "eval_time": "1m",
                        "exp_samples": [
                            {
                                "labels": 'instance:memory_usage:ratio{instance="a:9100", job="node", '
                                'model="churn"}',
                                "value": 95,
                            }
                        ],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "mlprom.stages.rules.test.yml"
    test_file.write_text(yaml.safe_dump(unit, sort_keys=False))
    tested = _promtool("test", "rules", str(test_file))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_unit_test_one_high_sample_does_not_fire_a_sustained_one_fires_after_the_default_for(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(
        {
            "model": {"name": "churn"},
            "queries": {"memory_usage": MEMORY},
            "thresholds": {"memory_usage": {"critical": 90}},  # no `for`: the rule waits 2m
        }
    )
    rules = _rules(config, tmp_path)
    labels = '{instance="a:9100", job="node"}'
    firing = {
        "exp_labels": {
            "alertname": "MlpromMemoryUsageHigh",
            "severity": "critical",
            "model": "churn",
            "metric": "memory_usage",
            "instance": "a:9100",
            "job": "node",
        },
        "exp_annotations": {
            "summary": "memory_usage 95 is above the critical level 90 on a:9100",
            "description": (
                "memory_usage has been above 90 for at least 2m, now 95. Evaluated by Prometheus from "
                "`mlprom rules`; `mlprom correlate` relates it to the predictions of model churn."
            ),
            "value": "95",
            "threshold": "90",
        },
    }
    # 95 % used at minute 3 only, then from minute 10 on.
    available = "50 50 50 5 50 50 50 50 50 50 5 5 5 5 5 5"
    unit = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"node_memory_MemAvailable_bytes{labels}", "values": available},
                    {"series": f"node_memory_MemTotal_bytes{labels}", "values": "100+0x15"},
                ],
                "alert_rule_test": [
                    {"eval_time": f"{minute}m", "alertname": "MlpromMemoryUsageHigh", "exp_alerts": []}
                    for minute in (3, 4, 5, 8, 11)  # the lone sample pends, then never fires
                ]
                + [
                    {"eval_time": f"{minute}m", "alertname": "MlpromMemoryUsageHigh", "exp_alerts": [firing]}
                    # 2m after the alerting group first saw the recorded rise: it reads the series
                    # that the recording group wrote at the previous evaluation.
                    for minute in (13, 15)
                ],
            }
        ],
    }
    test_file = tmp_path / "mlprom.default-for.test.yml"
    test_file.write_text(yaml.safe_dump(unit, sort_keys=False))
    tested = _promtool("test", "rules", str(test_file))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_unit_test_a_bare_selector_alerts_on_itself_with_the_series_name_alert_sends(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config_path = write_config(
        {
            "model": {"name": "churn"},
            "queries": {"system_load": "node_load1"},
            "thresholds": {"system_load": {"critical": 4}},
        }
    )
    rules = _rules(config_path, tmp_path)
    document = yaml.safe_load(rules.read_text())
    assert [g["name"] for g in document["groups"]] == ["mlprom-churn-thresholds"]  # nothing to record
    assert document["groups"][0]["rules"][0]["expr"] == "node_load1 >= 4.0"

    config = load_config(str(config_path))
    seen = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    series = {"__name__": "node_load1", "instance": "a:9100", "job": "node"}
    lasted = {"source": "infra", "observations": 5, "longest_seconds": 300.0}
    finding = Finding("critical", "system_load", series, 6.0, 4.0, "above", 3, seen, seen, detail=lasted)
    report = CorrelationReport(
        date(2026, 11, 25), seen, "critical", EventCounts(), 1, (finding,), model="churn"
    )
    (alert,) = build_alerts(config, report, seen + timedelta(minutes=1))
    assert alert.labels["series_name"] == "node_load1"
    firing = {
        "exp_labels": {**alert.labels, "alertname": "MlpromSystemLoadHigh"},
        "exp_annotations": {
            "summary": alert.annotations["summary"],
            "value": alert.annotations["value"],
            "threshold": alert.annotations["threshold"],
            "description": (
                "system_load has been above 4 for at least 2m, now 6. Evaluated by Prometheus from "
                "`mlprom rules`; `mlprom correlate` relates it to the predictions of model churn."
            ),
        },
    }
    unit = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": 'node_load1{instance="a:9100", job="node"}', "values": "1 6x10"}],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "MlpromSystemLoadHigh", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "MlpromSystemLoadHigh", "exp_alerts": [firing]},
                ],
            }
        ],
    }
    test_file = tmp_path / "mlprom.bare.test.yml"
    test_file.write_text(yaml.safe_dump(unit, sort_keys=False))
    tested = _promtool("test", "rules", str(test_file))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_json_is_the_same_document(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    as_yaml = yaml.safe_load(runner.invoke(app, ["-c", str(config), "rules"]).stdout)
    result = runner.invoke(app, ["rules", "-o", "json", "-c", str(config)])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout) == as_yaml
    path = tmp_path / "rules.json"
    path.write_text(result.stdout)
    assert _promtool("check", "rules", str(path)).returncode == 0


@pytest.mark.parametrize("argv", [["-q", "rules"], ["rules", "-q"]])
def test_rules_quiet_prints_nothing(argv: list[str], write_config: Callable[..., Path]) -> None:
    result = runner.invoke(app, ["-c", str(write_config()), *argv])
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
