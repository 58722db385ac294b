"""What a model finding's alert says about the report's suspects, and what an alert's identity is made of."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mlprom.analysis.findings import Finding
from mlprom.analysis.suspects import Suspect
from mlprom.clients.alertmanager import annotation_text
from mlprom.config import load_config_text
from mlprom.reports.alert_state import AlertState, next_step
from mlprom.reports.correlation import CorrelationReport, EventCounts
from mlprom.stages.alert import build_alerts, firing_fingerprints

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
KEY = "reports/dt=2026-11-25/correlation.json"
CONFIG = """
queries: {cpu_usage: 'cpu', io_pressure: 'io'}
thresholds:
  cpu_usage: 0.9
  prediction_time: {critical: 10s, min_events: 3}
  accuracy: {critical: 0.8, direction: below}
"""
# Control and bidi characters a label value may carry, and the text a person must not read raw.
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE = "node-\u202eb\u2066\x1b[31m\x85\nx\u2069\u202c"


def finding(metric: str, labels: dict[str, str] | None = None, observations: int = 5) -> Finding:
    source = "infra" if metric in ("cpu_usage", "io_pressure") else "model"
    last = NOW - timedelta(minutes=1)
    value, threshold, direction = (0.7, 0.8, "below") if metric == "accuracy" else (12.0, 10.0, "above")
    return Finding(
        "critical",
        metric,
        labels if labels is not None else ({"instance": "node-a"} if source == "infra" else {}),
        value,
        threshold,
        direction,
        3,
        last - timedelta(minutes=10),
        last,
        detail={"observations": observations, "source": source},
    )


def suspect(metric: str, labels: dict[str, str], **fields: Any) -> Suspect:
    values: dict[str, Any] = {"significant": True, "q_value": 0.002, "direction": "rise", **fields}
    return Suspect(metric, labels, values.pop("effect", 4.1), 1.0, 0.2, 0.1, 20, 200, 5, 50, **values)


def report(findings: list[Finding], suspects: list[Suspect]) -> CorrelationReport:
    return CorrelationReport(
        DAY, NOW, "critical", EventCounts(10, 3), 5, tuple(findings), tuple(suspects),
        model="m", key=KEY, url="s3://b/p/" + KEY,
    )  # fmt: skip


def by_metric(alerts: list[Any]) -> dict[str, Any]:
    return {a.labels["metric"]: a for a in alerts}


def test_model_findings_carry_the_top_cause_and_infra_findings_do_not() -> None:
    config = load_config_text(CONFIG, env={})
    causes = [
        suspect("io_pressure", {"instance": "node-b"}),
        suspect("cpu_usage", {"instance": "node-a"}, lag_seconds=30.0, effect=2.0, q_value=0.01),
    ]
    findings = [finding("prediction_time"), finding("accuracy"), finding("cpu_usage")]
    alerts = by_metric(build_alerts(config, report(findings, causes), NOW))
    slow, quality, infra = alerts["prediction_time"], alerts["accuracy"], alerts["cpu_usage"]
    text = (
        "io_pressure{instance=node-b} rising 0 s before (+4.1 σ, q = 0.002); "
        "cpu_usage{instance=node-a} rising 30 s before (+2.0 σ, q = 0.01)"
    )
    for alert in (slow, quality):
        assert alert.labels["suspect"] == "io_pressure"
        assert alert.annotations["suspects"] == text
        assert alert.annotations["summary"].endswith(
            ": slow predictions, with io_pressure on instance=node-b rising 0 s before"
        )
        assert "top suspect" in alert.annotations["description"]
    assert slow.annotations["summary"].startswith("prediction_time 12 is above the critical level 10")
    assert "suspect" not in infra.labels and "suspects" not in infra.annotations
    assert "slow predictions, with" not in infra.annotations["summary"]


@pytest.mark.parametrize(
    "fields", [{"significant": False, "q_value": 0.4}, {"role": "consequence"}, {"kind": "model"}]
)
def test_no_significant_infra_cause_means_no_suspect_label_or_annotation(fields: dict[str, Any]) -> None:
    config = load_config_text(CONFIG, env={})
    rejected = suspect("io_pressure", {"instance": "node-b"}, **fields)
    (alert,) = build_alerts(config, report([finding("prediction_time")], [rejected]), NOW)
    assert "suspect" not in alert.labels and "suspects" not in alert.annotations
    assert "slow predictions, with" not in alert.annotations["summary"]


def test_a_new_top_suspect_resolves_the_old_alert_and_fires_a_new_one() -> None:
    config = load_config_text(CONFIG, env={})
    findings = [finding("prediction_time")]
    first = build_alerts(config, report(findings, [suspect("io_pressure", {"instance": "node-b"})]), NOW)
    state = next_step(AlertState(None), DAY, first, NOW).state
    later = NOW + timedelta(minutes=5)
    second = build_alerts(config, report(findings, [suspect("cpu_usage", {"instance": "node-a"})]), later)
    step = next_step(state, DAY, second, later)
    (fired,) = step.firing
    (resolved,) = step.resolved
    assert (fired.labels["suspect"], resolved.labels["suspect"]) == ("cpu_usage", "io_pressure")
    assert resolved.ends_at == later and fired.fingerprint != resolved.fingerprint
    assert {(a.labels["suspect"], a.status) for a in step.state.alerts} == {
        ("cpu_usage", "firing"),
        ("io_pressure", "resolved"),
    }
    # A report that names no suspect any more: the alert without the label fires, the last one resolves.
    third = build_alerts(config, report(findings, []), later + timedelta(minutes=5))
    after = next_step(step.state, DAY, third, later + timedelta(minutes=5))
    assert [a.labels.get("suspect") for a in after.firing] == [None]
    # cpu_usage's alert resolves now; io_pressure's, resolved 5 minutes ago, is re-sent as resolved.
    assert sorted((a.labels["suspect"], a.resolved_at) for a in after.resolved) == [
        ("cpu_usage", later + timedelta(minutes=5)),
        ("io_pressure", later),
    ]


def test_a_firing_alert_that_has_not_lasted_today_keeps_firing_under_its_new_suspect() -> None:
    config = load_config_text(CONFIG, env={})
    lasted = report([finding("prediction_time")], [suspect("io_pressure", {"instance": "node-b"})])
    state = next_step(AlertState(None), DAY, build_alerts(config, lasted, NOW), NOW).state
    # A new day's report: one slow event so far (below min_events 3), and another top suspect.
    tomorrow = DAY + timedelta(days=1)
    fresh = report([finding("prediction_time", observations=1)], [suspect("cpu_usage", {})])
    fresh = CorrelationReport(tomorrow, NOW, "critical", EventCounts(1, 1), 1, fresh.findings, fresh.suspects,
                              model="m", key=KEY)  # fmt: skip
    assert build_alerts(config, fresh, NOW) == []  # not lasted, and not known to be firing
    (alert,) = build_alerts(config, fresh, NOW, firing_fingerprints(state))
    assert alert.labels["suspect"] == "cpu_usage"


def test_series_that_differ_only_in_their_name_are_distinct_alerts() -> None:
    config = load_config_text(
        "queries: {disk: '{__name__=~\"node_disk_.+\"}'}\nthresholds: {disk: 1}\n", env={}
    )
    read = finding("disk", {"__name__": "node_disk_read_bytes_total", "instance": "a"})
    written = finding("disk", {"__name__": "node_disk_written_bytes_total", "instance": "a"})
    clashing = finding("disk", {"series_name": "x", "instance": "b", "__tmp": "y"})
    alerts = build_alerts(config, report([read, written, clashing], []), NOW)
    assert len({a.fingerprint for a in alerts}) == 3
    assert [a.labels.get("series_name") for a in alerts] == [
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
        None,
    ]
    assert alerts[2].labels["exported_series_name"] == "x" and "__tmp" not in alerts[2].labels
    step = next_step(AlertState(None), DAY, alerts, NOW)
    assert len(step.firing) == 3  # none dropped as a duplicate identity


def test_no_control_or_bidi_character_from_data_reaches_an_annotation() -> None:
    config = load_config_text(CONFIG, env={})
    findings = [finding("prediction_time"), finding("cpu_usage", {"instance": HOSTILE, "job": HOSTILE})]
    causes = [suspect(f"io{HOSTILE}", {"instance": HOSTILE})]
    alerts = by_metric(build_alerts(config, report(findings, causes), NOW))
    for alert in alerts.values():
        for name, value in alert.annotations.items():
            assert not UNSAFE.search(value), (name, value)
        for value in alert.payload()["annotations"].values():
            assert not UNSAFE.search(value)
    # Shown as visible escapes, and label values are sent as they are (they are the alert's identity).
    assert (
        "node-\\u202eb\\u2066\\x1b[31m\\x85\\nx\\u2069\\u202c" in alerts["cpu_usage"].annotations["summary"]
    )
    assert alerts["cpu_usage"].labels["instance"] == HOSTILE
    assert alerts["prediction_time"].labels["suspect"] == f"io{HOSTILE}"
    assert HOSTILE not in alerts["prediction_time"].annotations["suspects"]


def test_annotations_escape_what_the_table_escapes() -> None:
    from mlprom.render.literal import literal

    every = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F),
                                      *range(0x2066, 0x206A)])  # fmt: skip
    assert annotation_text(every) == literal(every)
    assert annotation_text("plain é ✓ 東京") == "plain é ✓ 東京"
