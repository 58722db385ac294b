"""`mlprom rules` writes a rule file promtool accepts, whose alerts carry what `mlprom alert` sends."""

from __future__ import annotations

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
    assert "SUCCESS: 8 rules found" in checked.stdout  # 4 recording + 2 + 1 + 1 alerting
    document = yaml.safe_load(path.read_text())
    records = [r["record"] for r in document["groups"][0]["rules"]]
    assert records == [
        "mlprom_churn_v2_eu:cpu_usage",
        "mlprom_churn_v2_eu:free_disk__",
        "mlprom_churn_v2_eu:free_disk___2",
        "mlprom_churn_v2_eu:_2xx_rate",
    ]
    assert "# not here: prediction_time (a model metric" in path.read_text()


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
            severity, "memory_usage", series, 95.0, level, "above", 0, seen, seen, detail=lasted
        )
        report = CorrelationReport(
            date(2026, 11, 25), seen, severity, EventCounts(), 1, (finding,), model="churn"
        )
        (alert,) = build_alerts(config, report, seen + timedelta(minutes=1))
        expected.append(
            {
                "exp_labels": alert.labels,
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
                    {"eval_time": "4m", "alertname": "MlpromThreshold", "exp_alerts": []},  # still pending
                    {"eval_time": "10m", "alertname": "MlpromThreshold", "exp_alerts": expected},
                ],
                "promql_expr_test": [
                    {
                        "expr": "mlprom_churn:memory_usage",
                        "eval_time": "1m",
                        "exp_samples": [{"labels": f"mlprom_churn:memory_usage{labels}", "value": 95}],
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
