"""Redirects in front of every upstream, with loopback servers: a POST, PUT or DELETE is never followed, a GET
only on its own scheme, host and port, and whatever is not followed is an upstream error naming the Location
without credentials (the contract's 2026-12-01 additions)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlprom.clients.alertmanager import AlertmanagerClient
from mlprom.clients.http import MAX_REDIRECTS, RetryPolicy, build_session, request
from mlprom.clients.mlflow_tracking import get_health
from mlprom.clients.prometheus import PrometheusClient
from mlprom.clients.pushgateway import push_heartbeat
from mlprom.config import HTTPEndpoint, load_config_text
from mlprom.errors import UpstreamError
from tests.faults.harness import DAY, alert_document, assert_handled, run_cli, seed_report
from tests.fixtures.hostile import PROMETHEUS_OK, Behaviour, HostileServer, ok, running_hostile_server

CODES = (301, 302, 303, 307, 308)
SECRET = "redirect-secret-7"


def moved(code: int, location: str) -> Behaviour:
    return Behaviour("normal", code, b"", (("Location", location),))


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """Another host:port, answering 200 to anything: where a followed redirect would land."""
    with running_hostile_server(
        ok({"status": "success", "data": {"resultType": "vector", "result": []}})
    ) as server:
        yield server


def _landing(server: HostileServer, path: str = "/landing") -> str:
    """A Location on `server` carrying credentials in userinfo and query, which no message may show."""
    return server.url.replace("http://", f"http://eve:{SECRET}@") + f"{path}?token={SECRET}"


def _assert_names_location(message: str, server: HostileServer, path: str = "/landing") -> None:
    assert "redirected (HTTP" in message, message
    assert f"{server.url}{path}" in message, message
    assert SECRET not in message, message


# ---------------------------------------------------------------- each client, each code


@pytest.mark.parametrize("code", CODES)
def test_alertmanager_post_is_not_followed_to_a_redirect(
    code: int, hostile_server: HostileServer, elsewhere: HostileServer
) -> None:
    hostile_server.set(moved(code, _landing(elsewhere)))
    client = AlertmanagerClient(build_session(HTTPEndpoint(), "alertmanager"), [hostile_server.url], 2.0)
    (delivery,) = client.post_alerts([{"labels": {"alertname": "x"}}])
    assert not delivery.accepted
    _assert_names_location(delivery.error or "", elsewhere)
    assert elsewhere.requests == []


@pytest.mark.parametrize("code", CODES)
def test_pushgateway_put_is_not_followed_to_a_redirect(
    code: int, hostile_server: HostileServer, elsewhere: HostileServer
) -> None:
    hostile_server.set(moved(code, _landing(elsewhere)))
    config = load_config_text(json.dumps({"pushgateway": {"url": hostile_server.url, "timeout": "2s"}}))
    with pytest.raises(UpstreamError) as caught:
        push_heartbeat(config, "capture-infra", 0.1, {})
    _assert_names_location(str(caught.value), elsewhere)
    assert "Pushgateway at" in str(caught.value)
    assert elsewhere.requests == []


@pytest.mark.parametrize("code", CODES)
def test_prometheus_query_is_not_followed_to_a_redirect(
    code: int, hostile_server: HostileServer, elsewhere: HostileServer
) -> None:
    hostile_server.set(moved(code, _landing(elsewhere)))
    client = PrometheusClient(hostile_server.url, build_session(HTTPEndpoint(), "prometheus"), 2.0)
    with pytest.raises(UpstreamError) as caught:
        client.query("up", datetime(2026, 11, 20, tzinfo=UTC))
    _assert_names_location(str(caught.value), elsewhere)
    assert elsewhere.requests == []


@pytest.mark.parametrize("code", CODES)
def test_mlflow_health_get_is_not_followed_to_another_port(
    code: int, hostile_server: HostileServer, elsewhere: HostileServer
) -> None:
    hostile_server.set(moved(code, _landing(elsewhere)))
    with pytest.raises(UpstreamError) as caught:
        get_health(hostile_server.url, 2.0, RetryPolicy(total=0))
    _assert_names_location(str(caught.value), elsewhere)
    assert "another scheme, host or port" in str(caught.value)
    assert elsewhere.requests == []


@pytest.mark.parametrize("code", CODES)
def test_mlflow_health_get_follows_a_redirect_on_its_own_host(
    code: int, hostile_server: HostileServer
) -> None:
    hostile_server.set(ok({"status": "OK"}), [("/health", moved(code, "/moved/health"))])
    answer = get_health(hostile_server.url, 2.0, RetryPolicy(total=0))
    assert answer.status_code == 200
    assert [(method, path) for method, path, _ in hostile_server.requests] == [
        ("GET", "/health"),
        ("GET", "/moved/health"),
    ]


# ---------------------------------------------------------------- the policy's edges


def test_configured_headers_never_reach_another_host(
    hostile_server: HostileServer, elsewhere: HostileServer
) -> None:
    hostile_server.set(moved(302, elsewhere.url + "/api"))
    session = build_session(
        HTTPEndpoint(headers={"X-Api-Key": SECRET, "X-Scope-OrgID": "team-a"}), "prometheus"
    )
    with pytest.raises(UpstreamError):
        request(session, "GET", hostile_server.url + "/api", "Prometheus", 2.0)
    assert elsewhere.requests == []


def test_the_default_port_of_a_scheme_is_the_same_port(hostile_server: HostileServer) -> None:
    # http://127.0.0.1:PORT and http://127.0.0.1:80 differ; a Location without a port means 80.
    hostile_server.set(moved(302, "http://127.0.0.1/elsewhere"))
    with pytest.raises(UpstreamError, match="another scheme, host or port"):
        request(build_session(HTTPEndpoint(), "x"), "GET", hostile_server.url + "/a", "X", 2.0)


def test_a_redirect_loop_on_one_host_ends_after_the_bounded_hops(hostile_server: HostileServer) -> None:
    hostile_server.set(moved(302, "/again"))
    with pytest.raises(UpstreamError, match=f"more than {MAX_REDIRECTS} redirects"):
        request(build_session(HTTPEndpoint(), "x"), "GET", hostile_server.url + "/start", "X", 5.0)
    assert len(hostile_server.requests) == MAX_REDIRECTS + 1


def test_a_redirect_without_location_is_handed_back_as_an_answer(hostile_server: HostileServer) -> None:
    hostile_server.set(Behaviour("normal", 302, b"moved", (("Content-Type", "text/plain"),)))
    answer = request(build_session(HTTPEndpoint(), "x"), "GET", hostile_server.url + "/a", "X", 2.0)
    assert answer.status_code == 302 and not answer.ok


# ---------------------------------------------------------------- the commands an operator runs


@pytest.mark.parametrize("code", (301, 302))
def test_alert_behind_a_redirect_exits_3_and_keeps_the_state(
    code: int,
    hostile_server: HostileServer,
    elsewhere: HostileServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    # Before: requests turned the POST into a bodyless GET that "succeeded", and alert exited 0.
    hostile_server.set(moved(code, _landing(elsewhere, "/api/v2/alerts")))
    path = write_config(alert_document([hostile_server.url], 1.0))
    seed_report(path, [{"instance": "a:9100"}])
    outcome = run_cli(["-c", str(path), "alert", "--date", DAY], deadline=1.0)
    assert_handled(outcome, {3}, f"{elsewhere.url}/api/v2/alerts", secrets=(SECRET,))
    assert not list((tmp_path / "data" / "alerts").rglob("state.json"))
    assert elsewhere.requests == []


def test_a_redirected_heartbeat_exits_3_and_the_snapshot_is_kept(
    hostile_server: HostileServer, elsewhere: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(PROMETHEUS_OK)
    with running_hostile_server(moved(302, _landing(elsewhere))) as pushgateway:
        path = write_config(
            {
                "prometheus": {"url": hostile_server.url, "timeout": "1s"},
                "pushgateway": {"url": pushgateway.url, "timeout": "1s"},
                "queries": {"cpu_usage": "up"},
            }
        )
        outcome = run_cli(["-c", str(path), "capture-infra"], deadline=2.0)
    assert_handled(outcome, {3}, f"{elsewhere.url}/landing", secrets=(SECRET,))
    assert len(list((tmp_path / "data").rglob("infra/**/*.json"))) == 1
    assert elsewhere.requests == []
