"""alertmanager.clear_after: findings not seen for that long are resolved instead of firing all day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mlprom.analysis.findings import Finding
from mlprom.config import load_config_text
from mlprom.reports.alert_state import AlertState, next_step
from mlprom.reports.correlation import CorrelationReport, EventCounts
from mlprom.stages.alert import build_alerts

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _finding(metric: str, last_seen: datetime, kind: str = "threshold") -> Finding:
    return Finding(
        "critical",
        metric,
        {"instance": "a:9100"},
        0.97,
        0.9,
        "above",
        3,
        last_seen - timedelta(minutes=5),
        last_seen,
        kind=kind,
    )


def _report(*findings: Finding) -> CorrelationReport:
    return CorrelationReport(DAY, NOW, "critical", EventCounts(10, 3), 5, findings, model="m")


def test_without_clear_after_every_finding_fires() -> None:
    config = load_config_text("", env={})
    old = _finding("cpu_usage", NOW - timedelta(hours=12))
    assert [a.labels["metric"] for a in build_alerts(config, _report(old), NOW)] == ["cpu_usage"]


def test_findings_older_than_clear_after_do_not_fire_and_resolve() -> None:
    config = load_config_text("alertmanager: {clear_after: 30m}\n", env={})
    old = _finding("cpu_usage", NOW - timedelta(hours=12))
    recent = _finding("memory_usage", NOW - timedelta(minutes=10))
    drift = _finding("drift_psi", NOW - timedelta(hours=12), kind="drift")

    firing = build_alerts(config, _report(old, recent, drift), NOW)
    assert sorted(a.labels["metric"] for a in firing) == ["drift_psi", "memory_usage"]

    # The 03:00 spike that fired earlier is now resolved by the next run.
    earlier = build_alerts(config, _report(old), NOW - timedelta(hours=12))
    state = next_step(AlertState(None), DAY, earlier, NOW - timedelta(hours=12)).state
    step = next_step(state, DAY, firing, NOW)
    assert [a.labels["metric"] for a in step.resolved] == ["cpu_usage"]
    assert sorted(a.labels["metric"] for a in step.firing) == ["drift_psi", "memory_usage"]
