"""alert and its Alertmanagers misbehaving: every fault ends within alertmanager.timeout (replicas are posted
to concurrently), one bad alert never spoils the others, and a partial failure is exit 3 with the state
holding what was delivered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlprom import layout
from tests.faults.harness import DAY, alert_document, assert_handled, run_cli, seed_report
from tests.fixtures.hostile import BASE_FAULTS, Behaviour, HostileServer, running_hostile_server

TIMEOUT = 0.5  # the configured timeout: the documented deadline of one call
ALERTMANAGER = Behaviour("alertmanager")
# What an Alertmanager POST answer may be and still count as taken (it has no body to speak of).
TAKEN = {"malformed-json"}


def _state(tmp_path: Path) -> dict | None:
    path = tmp_path / "data" / layout.alert_state_key("m")
    return json.loads(path.read_text()) if path.exists() else None


def _runs(tmp_path: Path) -> list[dict]:
    return [
        json.loads(p.read_text()) for p in sorted((tmp_path / "data" / "alerts").glob("dt=*/model=m/*.json"))
    ]


@pytest.mark.parametrize("fault", sorted(BASE_FAULTS))
def test_alert_ends_within_the_deadline_and_keeps_the_state_when_nothing_was_taken(
    fault: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(BASE_FAULTS[fault])
    path = write_config(alert_document([hostile_server.url_with("bob:am-secret-4")], TIMEOUT))
    seed_report(path, [{"instance": "a:9100"}])
    outcome = run_cli(["-c", str(path), "alert", "--date", DAY], deadline=TIMEOUT)
    if fault in TAKEN:
        assert_handled(outcome, {0}, "Alertmanager")
        return
    assert_handled(outcome, {3}, f"Alertmanager at {hostile_server.url}/api/v2/alerts")
    assert _state(tmp_path) is None  # not advanced: the next run sends the same alerts again


def test_a_label_name_alertmanager_refuses_is_made_valid_and_delivered(
    hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(ALERTMANAGER)
    path = write_config(alert_document([hostile_server.url], TIMEOUT))
    seed_report(path, [{"instance": "a:9100", "bad-name": "x", "0day": "y"}])
    outcome = run_cli(["-c", str(path), "-o", "json", "alert", "--date", DAY], deadline=TIMEOUT)
    assert_handled(outcome, {0}, "Alertmanager")
    (alert,) = hostile_server.accepted
    assert alert["labels"]["bad_name"] == "x" and alert["labels"]["_0day"] == "y"
    assert "bad-name" not in alert["labels"]


def test_one_refused_alert_does_not_spoil_the_batch(
    hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(ALERTMANAGER)
    path = write_config(alert_document([hostile_server.url], TIMEOUT))
    good = [{"instance": f"good-{i}:9100"} for i in range(6)]
    seed_report(path, [*good, {"instance": "REJECT-ME:9100"}])
    outcome = run_cli(["-c", str(path), "-o", "json", "alert", "--date", DAY], deadline=TIMEOUT)
    # Partial failure: what was taken is stored, the refused alert is named with the reason, exit 3.
    assert_handled(outcome, {3}, f"Alertmanager at {hostile_server.url}/api/v2/alerts")
    assert (
        'instance="REJECT-ME:9100"' in outcome.stderr
        and "start time must be before end time" in outcome.stderr
    )
    taken = {a["labels"]["instance"] for a in hostile_server.accepted}
    assert taken == {g["instance"] for g in good}
    result = json.loads(outcome.stdout)
    refused = [a for a in result["alerts"] if a["rejected"]]
    assert len(refused) == 1 and refused[0]["delivered"] == 0
    assert "start time must be before end time" in refused[0]["rejected"][0]["reason"]
    (record,) = _runs(tmp_path)
    assert [a["rejected"] for a in record["alerts"]].count([]) == 6
    state = _state(tmp_path)
    assert state is not None and len(state["alerts"]) == 6  # the refused alert is not recorded as firing
    assert all(a["labels"]["instance"] != "REJECT-ME:9100" for a in state["alerts"])


def test_every_alert_refused_is_exit_1(
    hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(ALERTMANAGER)
    path = write_config(alert_document([hostile_server.url], TIMEOUT))
    seed_report(path, [{"instance": "REJECT-ME-1"}, {"instance": "REJECT-ME-2"}])
    outcome = run_cli(["-c", str(path), "alert", "--date", DAY], deadline=TIMEOUT)
    assert_handled(outcome, {1}, "Alertmanager")
    assert _state(tmp_path) is None


@pytest.mark.parametrize("fault", ["hang", "trickle", "503-retry-after-3600"])
def test_one_replica_failing_while_another_takes_the_alerts_is_exit_3_with_the_state_advanced(
    fault: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(ALERTMANAGER)
    with running_hostile_server(BASE_FAULTS[fault]) as broken:
        path = write_config(alert_document([hostile_server.url, broken.url], TIMEOUT))
        seed_report(path, [{"instance": "a:9100"}])
        outcome = run_cli(["-c", str(path), "alert", "--date", DAY], deadline=TIMEOUT)
    assert_handled(outcome, {3}, f"alerts not delivered to {broken.url}/api/v2/alerts")
    assert len(hostile_server.accepted) == 1
    state = _state(tmp_path)
    assert state is not None and len(state["alerts"]) == 1
