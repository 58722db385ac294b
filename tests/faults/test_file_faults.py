"""Operators' files replaced by something else: a FIFO, socket or device where the config, a token file or a
stored object should be, and a lock another process holds. Every run ends within its deadline with the
contract's exit code and a message naming the culprit; nothing stored is lost."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import DAY, alert_document, assert_handled, run_cli, seed_report
from tests.fixtures.hostile import PROMETHEUS_OK, Behaviour, HostileServer

TIMEOUT = 1.0


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    here = os.getcwd()
    os.chdir(path.parent)  # a relative name: AF_UNIX paths are limited to 108 bytes
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


HOSTILE: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "socket": _socket,
    "symlink-to-dev-zero": _dev_zero,
}
KIND = {"fifo": "a FIFO", "socket": "a socket", "symlink-to-dev-zero": "a character device"}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_config_that_is_no_regular_file_is_a_config_error(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "mlprom.yaml"
    HOSTILE[kind](path)
    outcome = run_cli(["-c", str(path), "rules"], deadline=TIMEOUT)
    assert_handled(outcome, {2}, f"{path}: is {KIND[kind]}, not a regular file")


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("key", ["bearer_token_file", "password_file"])
def test_a_secret_file_that_is_no_regular_file_is_a_config_error(
    kind: str, key: str, hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(PROMETHEUS_OK)
    secret = tmp_path / "secret"
    HOSTILE[kind](secret)
    prometheus: dict[str, object] = {"url": hostile_server.url, "timeout": "1s"}
    if key == "bearer_token_file":
        prometheus["bearer_token_file"] = str(secret)
    else:
        prometheus["basic_auth"] = {"username": "u", "password_file": str(secret)}
    path = write_config({"prometheus": prometheus, "queries": {"cpu_usage": "up"}})
    outcome = run_cli(["-c", str(path), "capture-infra"], deadline=TIMEOUT)
    assert_handled(outcome, {2}, f"{secret}: is {KIND[kind]}, not a regular file")
    assert hostile_server.requests == []


def test_alert_gives_up_on_a_held_state_lock_with_exit_3_naming_it(
    hostile_server: HostileServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hostile_server.set(Behaviour("alertmanager"))
    document = {
        **alert_document([hostile_server.url], TIMEOUT),
        "storage": {"url": str(tmp_path / "data"), "timeout": "1s"},
    }
    path = write_config(document)
    seed_report(path, [{"instance": "a:9100"}])
    lock = tmp_path / "data" / "alerts" / "model=m" / ".lock-state.json"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        # Documented worst case: the POST (alertmanager.timeout) plus the wait for the lock (storage.timeout).
        outcome = run_cli(["-c", str(path), "alert", "--date", DAY], deadline=2 * TIMEOUT)
    finally:
        os.close(fd)
    assert_handled(outcome, {3}, f"{lock} is held by another process")
    assert len(hostile_server.accepted) == 1
    # No state was half-written: the next run finds the old state and sends the alert again.
    assert not (tmp_path / "data" / "alerts" / "model=m" / "state.json").exists()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_correlate_skips_an_event_object_that_is_no_regular_file(
    kind: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_config(alert_document(["http://127.0.0.1:9"], TIMEOUT))
    seed_report(path, [{"instance": "a:9100"}])
    partition = next((tmp_path / "data" / "model").glob(f"dt={DAY}/model=*"))
    HOSTILE[kind](partition / "235959-hostile.jsonl")
    outcome = run_cli(
        ["-c", str(path), "-o", "json", "correlate", "--date", DAY, "--fail-on", "never"], TIMEOUT
    )
    assert_handled(outcome, {0}, "")
    assert "235959-hostile.jsonl" in outcome.stderr and "skipping" in outcome.stderr
    report = json.loads(outcome.stdout)
    assert report["events"]["total"] == 1


def test_a_report_stored_as_a_symlink_to_dev_zero_is_refused_naming_the_key(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_config(alert_document(["http://127.0.0.1:9"], TIMEOUT))
    seed_report(path, [{"instance": "a:9100"}])
    (stored,) = (tmp_path / "data" / "reports").rglob("correlation.json")
    stored.unlink()
    stored.symlink_to("/dev/zero")
    outcome = run_cli(["-c", str(path), "report", "--date", DAY], deadline=TIMEOUT)
    assert_handled(outcome, {3}, "correlation.json is a character device, not a stored object")
