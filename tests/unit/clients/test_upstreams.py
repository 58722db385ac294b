"""Deadlines, retries, redaction, label names, per-alert outcomes and storage CAS/permissions, without servers."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from mlprom.clients.alertmanager import Delivery, Rejection, clean_label_name, sanitize_label_names
from mlprom.clients.deadline import Deadline, is_watched, scope
from mlprom.clients.http import (
    Answer,
    RetryPolicy,
    _retry_after,
    build_session,
    request,
    split_credentials,
)
from mlprom.config import HTTPEndpoint
from mlprom.errors import UpstreamError
from mlprom.redact import redact_text, redact_url
from mlprom.reports.alert_state import AlertState, StoredAlert, keep_undelivered_as_before
from mlprom.reports.results import AlertOutcome, AlertRun
from mlprom.storage.local import LocalStorage, current_umask

# ---------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:pw@host:9090/path?token=abc#frag", "http://host:9090/path"),
        ("https://host/api", "https://host/api"),
        ("http://u:p@[::1]:9090/x", "http://[::1]:9090/x"),
        ("http://u:pw@host:99999/x", "http://host:99999/x"),  # invalid port: urlsplit would raise
        ("http://u:pa/ss@host/x", "http://host/x"),  # a "/" in the password
        ("http://u:p@ss@host/x", "http://host/x"),  # an "@" in the password
        ("s3://KEY:SECRET@bad_bucket!/x", "s3://bad_bucket!/x"),
        ("http://MixedCase.example:80/P", "http://MixedCase.example:80/P"),
        ("https://host/pkg/@scope/name", "https://host/pkg/@scope/name"),  # "@" in a path stays
    ],
)
def test_redact_url_drops_userinfo_query_and_fragment_valid_url_or_not(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_of_text_that_is_no_url_still_hides_credentials() -> None:
    assert "pw" not in redact_url("user:pw@host:5000/x")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("cannot reach http://alice:s3cr3t@prom:9090/api: refused", "s3cr3t"),
        ("storage.url 's3://AKIAKEY:wJalrSECRET@bad_bucket!/x' is invalid", "wJalrSECRET"),
        ("GET https://h/x?token=t0k3n&page=2 failed", "t0k3n"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Signature=abcdef0123&X-Amz-Credential=AKIA/x", "abcdef0123"),
        ("headers {'Authorization': 'Bearer eyJhbGciOi.payload.sig'}", "eyJhbGciOi"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("sent Bearer abcdefghijkl to the server", "abcdefghijkl"),
        ("dsn user:hunter2@db.internal:5432/x", "hunter2"),
        ("password=hunter2 api_key=k-123456", "hunter2"),
    ],
)
def test_redact_text_hides_userinfo_tokens_and_authorization(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert "***" in redacted


def test_redact_text_keeps_ordinary_text() -> None:
    text = "Prometheus at http://prom:9090/api/v1/query: HTTP 503 (4 attempts): basic auth failed"
    assert redact_text(text) == text


def test_split_credentials_moves_userinfo_to_auth_decoded() -> None:
    assert split_credentials("http://a%40b:p%2Fw@host:1/x?q=1") == ("http://host:1/x?q=1", ("a@b", "p/w"))
    assert split_credentials("http://host/x") == ("http://host/x", None)


# ---------------------------------------------------------------- deadlines and retries


def test_a_scope_bounds_the_deadlines_inside_it() -> None:
    with scope(0.5) as outer:
        assert Deadline.after(30).end == outer.end
        inner = Deadline.after(0.1)
        assert inner.end < outer.end and inner.seconds == 0.1
    assert Deadline.after(30).seconds == 30


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3600", 3600.0), ("1.5", 1.5), ("", None), ("soon", None)],
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert _retry_after({"Retry-After": value}) == expected


def test_retry_after_http_date() -> None:
    when = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    waited = _retry_after({"Retry-After": when})
    assert waited is not None and 100 < waited <= 120


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(total=5, backoff_factor=0.5, backoff_max=3)
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr("mlprom.clients.http.time.sleep", waited.append)
    return waited


URL = "http://upstream.test/api"


@responses.activate
def test_a_retry_after_past_the_deadline_is_not_waited_for(sleeps: list[float]) -> None:
    responses.add(responses.GET, "http://upstream.test/api", status=429, headers={"Retry-After": "3600"})
    answer = request(build_session(HTTPEndpoint(), "x"), "GET", URL, "Upstream", 10)
    assert answer.status_code == 429 and sleeps == []
    assert "asked to retry after 3600 s, past the 10 s deadline" in answer.describe()


@responses.activate
def test_a_retry_after_is_honoured_up_to_the_cap(sleeps: list[float]) -> None:
    responses.add(responses.GET, "http://upstream.test/api", status=503, headers={"Retry-After": "20"})
    responses.add(responses.GET, "http://upstream.test/api", status=200, body=b"ok")
    session = build_session(HTTPEndpoint(), "x", RetryPolicy(retry_after_cap=2))
    answer = request(session, "GET", URL, "Upstream", 10)
    assert answer.status_code == 200 and answer.text == "ok" and sleeps == [2]


@responses.activate
def test_5xx_are_retried_with_backoff_then_the_last_answer_returned(sleeps: list[float]) -> None:
    responses.add(responses.GET, "http://upstream.test/api", status=502, body=b"bad gateway")
    answer = request(build_session(HTTPEndpoint(), "x"), "GET", URL, "Upstream", 30)
    assert answer.status_code == 502 and answer.attempts == 4 and sleeps == [0.5, 1.0, 2.0]
    assert answer.describe() == "HTTP 502 (4 attempts)"


@responses.activate
def test_no_backoff_is_slept_past_the_deadline(sleeps: list[float]) -> None:
    responses.add(responses.GET, "http://upstream.test/api", status=503)
    answer = request(build_session(HTTPEndpoint(), "x", RetryPolicy(backoff_factor=5)), "GET", URL, "U", 2)
    assert answer.status_code == 503 and sleeps == []
    assert "no time left to retry within the 2 s deadline" in answer.describe()


@responses.activate
def test_an_oversized_answer_is_refused_naming_the_server() -> None:
    responses.add(responses.GET, "http://upstream.test/api", status=200, body=b"x" * 2048)
    with pytest.raises(
        UpstreamError, match=r"Upstream at http://upstream.test/api: answer larger than 1,024"
    ):
        request(build_session(HTTPEndpoint(), "x"), "GET", URL, "Upstream", 5, max_bytes=1024)


@responses.activate
def test_connection_errors_are_retried_then_raised(sleeps: list[float]) -> None:
    import requests

    responses.add(
        responses.GET, "http://upstream.test/api", body=requests.exceptions.ConnectionError("refused")
    )
    with pytest.raises(UpstreamError) as caught:
        request(build_session(HTTPEndpoint(), "x"), "GET", URL, "Upstream", 30)
    assert str(caught.value) == "Upstream at http://upstream.test/api: connection failed (4 attempts)"
    assert sleeps == [0.5, 1.0, 2.0]


def test_an_expired_scope_fails_at_once() -> None:
    with scope(0), pytest.raises(UpstreamError, match="no answer within the 0 s deadline"):
        request(build_session(HTTPEndpoint(), "x"), "GET", "http://upstream.test/", "Upstream", 30)


def test_html_answers_are_recognised() -> None:
    page = Answer(200, "OK", {"Content-Type": "text/html; charset=utf-8"}, b"<p>login</p>", "u")
    assert page.is_html and page.snippet() == "an HTML page"
    bare = Answer(200, "OK", {}, b"  <!DOCTYPE html><html>", "u")
    assert bare.is_html
    api = Answer(400, "Bad Request", {"Content-Type": "application/json"}, b'"bad\\nthing\x1b[31m"', "u")
    assert not api.is_html and "\x1b" not in api.snippet()


def test_http_sessions_and_s3_clients_use_watched_connections() -> None:
    # botocore offers no public hook for its connection classes: this fails loudly if the private one moves.
    from mlprom.storage.s3 import S3Storage

    session = build_session(HTTPEndpoint(), "x")
    assert is_watched(session.get_adapter("http://x").poolmanager.pool_classes_by_scheme)
    storage = S3Storage("bucket-name", endpoint_url="http://127.0.0.1:1", region="us-east-1")
    http = storage.client._endpoint.http_session
    assert is_watched(http._manager.pool_classes_by_scheme) and is_watched(http._pool_classes_by_scheme)


# ---------------------------------------------------------------- label names


def test_label_names_are_made_valid_and_values_kept() -> None:
    labels = sanitize_label_names({"bad-name": "a b/ü", "0day": "x", "ok_1": "y", "": "e", "é": "z"})
    assert labels == {"ok_1": "y", "bad_name": "a b/ü", "_0day": "x", "_": "e", "_2": "z"}
    assert clean_label_name("a.b:c") == "a_b_c"
    assert clean_label_name("--x") == "_x"  # never the __ prefix Prometheus reserves


def test_colliding_names_are_numbered_in_sorted_order_whatever_the_input_order() -> None:
    forward = sanitize_label_names({"a-b": "1", "a_b": "2", "a.b": "3"})
    backward = sanitize_label_names({"a.b": "3", "a_b": "2", "a-b": "1"})
    assert forward == backward == {"a_b": "2", "a_b_2": "1", "a_b_3": "3"}


def test_reserved_names_become_exported() -> None:
    labels = sanitize_label_names({"model": "x", "exported_model": "y"}, reserved=("model",))
    assert labels == {"exported_model": "y", "exported_model_2": "x"}


# ---------------------------------------------------------------- per-alert outcomes


def _run(deliveries: tuple[Delivery, ...], outcomes: tuple[AlertOutcome, ...] = ()) -> AlertRun:
    day = datetime(2026, 11, 20, tzinfo=UTC).date()
    return AlertRun(day, False, ({"labels": {}},) * 2, 2, 0, deliveries, outcomes=outcomes)


@pytest.mark.parametrize(
    ("deliveries", "code"),
    [
        ((Delivery("a", True, 200, delivered=(0, 1)),), 0),
        ((Delivery("a", True, 200, delivered=(0, 1)), Delivery("b", False, None, "down")), 3),
        ((Delivery("a", False, 400, "refused", (0,), (Rejection(1, "bad"),)),), 3),
        ((Delivery("a", False, 400, "refused", (), (Rejection(0, "x"), Rejection(1, "y"))),), 1),
    ],
)
def test_exit_code_of_an_alert_run(deliveries: tuple[Delivery, ...], code: int) -> None:
    assert _run(deliveries).exit_code == code


def _alert(instance: str, status: str = "firing") -> StoredAlert:
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    return StoredAlert({"instance": instance}, {}, at, at, "", status, at.date(), "r")


def test_alerts_no_replica_took_keep_their_previous_state() -> None:
    before = AlertState(None, (_alert("a"),))
    new = AlertState(None, (_alert("a", "resolved"), _alert("b"), _alert("c")))
    kept = keep_undelivered_as_before(new, before, {_alert("a").fingerprint, _alert("c").fingerprint})
    assert [(a.labels["instance"], a.status) for a in kept.alerts] == [("a", "firing"), ("b", "firing")]


def test_stored_alerts_are_sent_with_valid_label_names() -> None:
    assert _alert("x").payload()["labels"] == {"instance": "x"}
    old = StoredAlert(
        {"bad-name": "v"},
        {},
        datetime.now(UTC),
        datetime.now(UTC),
        "",
        "firing",
        datetime.now(UTC).date(),
        "r",
    )
    assert old.payload()["labels"] == {"bad_name": "v"}


# ---------------------------------------------------------------- local storage


@pytest.fixture
def umask() -> Any:
    previous = os.umask(0o022)
    try:
        yield lambda mask: os.umask(mask)
    finally:
        os.umask(previous)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)]
)
def test_local_objects_honour_the_umask(
    umask: Any, tmp_path: Path, mask: int, file_mode: int, dir_mode: int
) -> None:
    umask(mask)
    assert current_umask() == mask
    storage = LocalStorage(tmp_path / "store")
    storage.put_bytes("infra/dt=2026-11-20/a.json", b"{}")
    assert storage.put_if("alerts/state.json", b"{}", None)
    for key in ("infra/dt=2026-11-20/a.json", "alerts/state.json"):
        assert stat.S_IMODE((tmp_path / "store" / key).stat().st_mode) == file_mode
    for directory in ("infra", "infra/dt=2026-11-20", "alerts"):
        assert stat.S_IMODE((tmp_path / "store" / directory).stat().st_mode) == dir_mode


def test_local_put_if_is_a_compare_and_swap(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert storage.get_versioned("alerts/state.json") is None
    assert storage.put_if("alerts/state.json", b"1", None)
    assert not storage.put_if("alerts/state.json", b"2", None)
    first = storage.get_versioned("alerts/state.json")
    assert first is not None and first.data == b"1"
    assert storage.put_if("alerts/state.json", b"2", first.version)
    assert not storage.put_if("alerts/state.json", b"3", first.version)
    assert storage.get_bytes("alerts/state.json") == b"2"
    assert [o.key for o in storage.list("alerts/")] == ["alerts/state.json"]  # the lock file is not listed


def test_a_header_http_cannot_carry_is_a_config_error_naming_the_server() -> None:
    from mlprom.errors import ConfigError

    session = build_session(HTTPEndpoint(headers={"X-Tenant": "caf\u00e9 \u2603"}), "x")
    with pytest.raises(ConfigError, match="Upstream at http://127.0.0.1:1/x: a configured header"):
        request(session, "GET", "http://127.0.0.1:1/x", "Upstream", 2)


def test_check_bounds_each_target_by_ten_seconds_with_default_timeouts() -> None:
    # With the 30 s defaults an S3 endpoint that never answered held `check` for minutes.
    from mlprom.config import Config
    from mlprom.stages.check import CHECK_DEADLINE, _target_deadline

    config = Config()
    assert CHECK_DEADLINE == 10
    for target in ("storage", "prometheus", "queries", "alertmanager", "pushgateway"):
        assert _target_deadline(config, target) == 10
    assert _target_deadline(config, "mlflow") == 5


def test_a_stored_alert_with_a_refused_label_name_is_the_same_alert_as_its_valid_form() -> None:
    from mlprom.reports.alert_state import AlertState, next_step

    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    stored = _alert("x").to_dict() | {"labels": {"bad-name": "v"}, "fingerprint": "old"}
    state = AlertState.from_dict({"updated_at": None, "alerts": [stored]})
    current = StoredAlert({"bad_name": "v"}, {}, at, at, "", "firing", at.date(), "r")
    step = next_step(state, at.date(), [current], at)
    assert [a.status for a in step.send] == ["firing"]  # not resolved and re-fired under another identity
