"""Heartbeat exposition: prometheus_client's text format with HELP and TYPE, promtool-clean, labelled severity."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime

import pytest

from mlprom.analysis.findings import Finding
from mlprom.clients.pushgateway import heartbeat_body, parse_sample
from mlprom.reports.correlation import CorrelationReport, EventCounts
from tests.fixtures.servers import require_binary

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _report() -> CorrelationReport:
    finding = Finding("critical", "cpu_usage", {"instance": "a"}, 0.97, 0.9, "above", 1, AT, AT)
    return CorrelationReport(date(2026, 11, 25), AT, "critical", EventCounts(3, 1), 2, (finding,))


def test_sample_keys_carry_labels_in_exposition_syntax() -> None:
    assert parse_sample('mlprom_findings{severity="critical"}') == (
        "mlprom_findings",
        {"severity": "critical"},
    )
    assert parse_sample("rows") == ("rows", {})
    with pytest.raises(ValueError):
        parse_sample("mlprom findings")


def test_findings_are_one_family_with_severity_as_a_label() -> None:
    body = heartbeat_body("correlate", 2.5, _report().heartbeat(), now=1_764_064_800.0).decode()
    assert 'mlprom_findings{severity="critical"} 1.0' in body
    assert 'mlprom_findings{severity="warning"} 0.0' in body
    assert body.count("# TYPE mlprom_findings gauge") == 1
    assert "mlprom_findings_critical" not in body


def test_bare_stage_counters_get_the_mlprom_and_stage_prefix() -> None:
    body = heartbeat_body("capture-model", 1.0, {"rows": 10.0, "events": 2.0}).decode()
    assert "\nmlprom_capture_model_rows 10.0\n" in body
    assert "# HELP mlprom_capture_model_events " in body


@pytest.mark.parametrize(
    ("stage", "extra"),
    [
        ("correlate", _report().heartbeat()),
        (
            "capture-model",
            {"rows": 10.0, "batches": 1.0, "slow_batches": 0.0, "events": 1.0, "accuracy": 0.9},
        ),
        ("capture-infra", {"mlprom_infra_series": 16.0}),
        ("alert", {"mlprom_alerts_firing": 1.0, "mlprom_alerts_resolved": 0.0}),
        ("prune", {"mlprom_prune_deleted_objects": 4.0, "mlprom_prune_deleted_bytes": 1e6}),
        ("check", {"mlprom_check_failures": 0.0}),
        ("unknown-stage", {"something_new_seconds": 1.0}),
    ],
)
def test_every_stages_heartbeat_passes_promtool_check_metrics(stage: str, extra: dict[str, float]) -> None:
    body = heartbeat_body(stage, 1.25, extra)
    checked = subprocess.run(
        [require_binary("promtool"), "check", "metrics"],
        input=body,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
    assert checked.stdout + checked.stderr == b""  # no lint warning either
    assert b"# HELP mlprom_last_success_timestamp_seconds " in body
