"""Storage keys: the contract's layout, unique ids, parsing, the drift sample's key."""

from __future__ import annotations

from datetime import UTC, date, datetime

from mlprom import layout

AT = datetime(2026, 11, 25, 9, 8, 7, tzinfo=UTC)
DAY = date(2026, 11, 25)


def test_keys_follow_the_contract_layout() -> None:
    assert layout.event_key(DAY, "churn", AT, object_id="0" * 16) == (
        "model/dt=2026-11-25/model=churn/090807-0000000000000000.jsonl"
    )
    assert layout.snapshot_key(DAY, AT, "a" * 16) == "infra/dt=2026-11-25/090807-aaaaaaaaaaaaaaaa.json"
    assert layout.report_key(DAY, "churn") == "reports/dt=2026-11-25/model=churn/correlation.json"
    assert layout.alert_run_key(DAY, "churn", AT, "b" * 16) == (
        "alerts/dt=2026-11-25/model=churn/090807-bbbbbbbbbbbbbbbb.json"
    )
    assert layout.alert_state_key("churn") == "alerts/model=churn/state.json"
    # The previous layout's keys: still read, never written.
    assert layout.legacy_report_key(DAY) == "reports/dt=2026-11-25/correlation.json"
    assert layout.legacy_drift_sample_key(DAY) == "reports/dt=2026-11-25/drift-sample.json"
    assert layout.LEGACY_ALERT_STATE_KEY == "alerts/state.json"


def test_keys_are_unique_per_write() -> None:
    assert len({layout.snapshot_key(DAY, AT) for _ in range(1000)}) == 1000


def test_parse_key_round_trips_and_rejects_strangers() -> None:
    key = layout.event_key(DAY, "churn", AT, gzip=True)
    parsed = layout.parse_key(key)
    assert parsed == layout.ParsedKey("model", DAY, "churn", "event")
    assert layout.parse_key(layout.report_key(DAY, "churn")) == layout.ParsedKey(
        "reports", DAY, "churn", "report"
    )
    assert layout.parse_key(layout.legacy_report_key(DAY)) == layout.ParsedKey("reports", DAY, None, "report")
    run = layout.alert_run_key(DAY, "churn", AT)
    assert layout.parse_key(run) == layout.ParsedKey("alerts", DAY, "churn", "alert_run")
    old_run = "alerts/dt=2026-11-25/090807-bbbbbbbbbbbbbbbb.json"
    assert layout.parse_key(old_run) == layout.ParsedKey("alerts", DAY, None, "alert_run")
    for stranger in (
        "notes.txt",
        "infra/dt=2026-13-01/000000-0000000000000000.json",
        "model/dt=2026-11-25/x.json",
        "reports/dt=2026-11-25/model=a/b/correlation.json",
        layout.LEGACY_ALERT_STATE_KEY,
        layout.alert_state_key("churn"),
    ):
        assert layout.parse_key(stranger) is None
    assert layout.is_alert_state_key(layout.alert_state_key("churn"))
    assert layout.is_alert_state_key(layout.LEGACY_ALERT_STATE_KEY)
    assert not layout.is_alert_state_key("alerts/model=churn/other.json")
    assert layout.alert_state_model(layout.alert_state_key("churn")) == "churn"
    assert layout.parse_partition(layout.alert_state_key("churn")) is None  # never in a date partition
    assert layout.parse_partition("infra/dt=2026-11-25/whatever") == ("infra", DAY)
    assert layout.parse_partition("infra/2026-11-25/whatever") is None


def test_drift_sample_key_lies_in_the_reports_partition() -> None:
    key = layout.drift_sample_key(DAY, "churn")
    assert key == "reports/dt=2026-11-25/model=churn/drift-sample.json"
    assert layout.parse_key(key) == layout.ParsedKey("reports", DAY, "churn", "drift_sample")
    assert layout.parse_partition(key) == ("reports", DAY)
    assert layout.parse_key("reports/dt=2026-11-25/drift-sample.json.tmp") is None
