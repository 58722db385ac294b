"""alerts/state.json transitions: fire, keep the first start, resolve, re-send resolved 15 minutes, drop."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mlprom.reports.alert_state import AlertState, StoredAlert, fingerprint, next_step

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _alert(metric: str = "cpu_usage", day: date = DAY, starts: datetime | None = None) -> StoredAlert:
    return StoredAlert(
        labels={
            "alertname": "MlpromThreshold",
            "severity": "critical",
            "metric": metric,
            "instance": "a:9100",
        },
        annotations={"summary": "s"},
        starts_at=starts or datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        ends_at=NOW + timedelta(hours=1),
        generator_url="http://prom/graph",
        status="firing",
        date=day,
        report=f"reports/dt={day}/correlation.json",
    )


def test_fingerprint_ignores_label_order() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})


def test_new_findings_fire() -> None:
    step = next_step(AlertState(None), DAY, [_alert()], NOW)
    assert [a.status for a in step.send] == ["firing"]
    assert step.state.alerts == step.send


def test_gone_finding_is_resolved_with_ends_at_now() -> None:
    first = next_step(AlertState(None), DAY, [_alert()], NOW)
    later = NOW + timedelta(minutes=5)
    step = next_step(first.state, DAY, [], later)
    (resolved,) = step.send
    assert (resolved.status, resolved.ends_at, resolved.resolved_at) == ("resolved", later, later)


def test_resolved_is_resent_for_fifteen_minutes_then_dropped() -> None:
    state = next_step(next_step(AlertState(None), DAY, [_alert()], NOW).state, DAY, [], NOW).state
    within = next_step(state, DAY, [], NOW + timedelta(minutes=14))
    assert [a.status for a in within.send] == ["resolved"] and within.send[0].ends_at == NOW
    after = next_step(within.state, DAY, [], NOW + timedelta(minutes=16))
    assert after.send == () and after.state.alerts == ()


def test_continuing_alert_keeps_its_first_start_across_days() -> None:
    yesterday = DAY - timedelta(days=1)
    early = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    state = next_step(AlertState(None), yesterday, [_alert(day=yesterday, starts=early)], NOW).state
    step = next_step(state, DAY, [_alert(starts=datetime(2026, 11, 25, 0, 1, tzinfo=UTC))], NOW)
    assert step.send[0].starts_at == early and step.send[0].date == DAY


def test_older_date_never_resolves_alerts_of_a_later_report() -> None:
    state = next_step(AlertState(None), DAY, [_alert()], NOW).state
    step = next_step(state, DAY - timedelta(days=1), [], NOW)
    assert step.send == () and step.state.alerts == state.alerts


def test_state_document_round_trips_in_the_shared_format() -> None:
    state = next_step(AlertState(None), DAY, [_alert()], NOW).state
    document = state.to_dict()
    (entry,) = document["alerts"]
    assert set(entry) == {
        "fingerprint",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "status",
        "resolved_at",
        "date",
        "report",
    }
    assert (
        entry["date"] == "2026-11-25"
        and entry["resolved_at"] is None
        and document["updated_at"].endswith("Z")
    )
    assert AlertState.from_dict(document) == state
