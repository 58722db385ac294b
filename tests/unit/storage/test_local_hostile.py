"""Local storage among other people's files: FIFOs, sockets and devices in the store are skipped by list with a
warning and refused by get_bytes without blocking, objects past the size cap are refused, and a held lock
on a compare-and-swap ends in a StorageError naming the lock file."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprom.errors import StorageError
from mlprom.storage.local import LocalStorage

PARTITION = "model/dt=2026-11-20/model=m"


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    # Bound by a relative name: a temp dir's absolute path can be past AF_UNIX's 108 bytes.
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path.name)
        sock.close()  # the socket file stays; nothing listens on it
    finally:
        os.chdir(here)


def _null_device_node(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a real /dev/null node inside the store


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _dev_null(path: Path) -> None:
    path.symlink_to("/dev/null")


HOSTILE: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "socket": _socket,
    "symlink-to-dev-zero": _dev_zero,
    "symlink-to-dev-null": _dev_null,
    "device-node": _null_device_node,
}


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    storage = LocalStorage(tmp_path / "data")
    storage.put_bytes(f"{PARTITION}/100000-a.jsonl", b'{"ok": 1}\n')
    return storage


def _in_thread(call: Callable[[], object], seconds: float = 5.0) -> object:
    """Run `call` in a thread and fail the test if it blocks (a FIFO open would block forever)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_list_skips_what_is_no_regular_file_with_a_warning_naming_the_key(
    kind: str, store: LocalStorage, caplog: pytest.LogCaptureFixture
) -> None:
    key = f"{PARTITION}/100001-b.jsonl"
    HOSTILE[kind](store.root / key)
    with caplog.at_level(logging.WARNING, logger="mlprom"):
        keys = [info.key for info in _in_thread(lambda: list(store.list("model/")))]  # type: ignore[attr-defined]
    assert keys == [f"{PARTITION}/100000-a.jsonl"]
    assert any(key in record.getMessage() and "skipping" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_get_refuses_what_is_no_regular_file_without_blocking(kind: str, store: LocalStorage) -> None:
    key = "alerts/state.json"
    (store.root / "alerts").mkdir()
    HOSTILE[kind](store.root / key)
    with pytest.raises(
        StorageError, match=r"alerts/state\.json is a (FIFO|socket|character device), not a stored"
    ):
        _in_thread(lambda: store.get_bytes(key))


def test_get_refuses_an_object_over_the_cap_naming_the_key(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data", max_object_bytes=1024)
    storage.put_bytes("model/big.jsonl", b"x" * 1025)
    storage.put_bytes("model/fits.jsonl", b"x" * 1024)
    with pytest.raises(StorageError, match=r"model/big\.jsonl is 1,025 bytes, over the 1,024-byte cap"):
        storage.get_bytes("model/big.jsonl")
    assert storage.get_bytes("model/fits.jsonl") == b"x" * 1024


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=0, max_value=4096), cap=st.integers(min_value=0, max_value=4096))
def test_an_object_is_read_whole_exactly_when_it_fits_the_cap(tmp_path: Path, size: int, cap: int) -> None:
    storage = LocalStorage(tmp_path / f"data-{size}-{cap}", max_object_bytes=cap)
    storage.put_bytes("o", b"y" * size)
    if size <= cap:
        assert storage.get_bytes("o") == b"y" * size
    else:
        with pytest.raises(StorageError, match="cap"):
            storage.get_bytes("o")


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[Path]:
    """Another holder of alerts/state.json's lock (flock on its own open file), released after the test."""
    lock = tmp_path / "data" / "alerts" / ".lock-state.json"
    lock.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield lock
    finally:
        os.close(fd)


def test_put_if_gives_up_on_a_held_lock_naming_the_lock_file(tmp_path: Path, held_lock: Path) -> None:
    storage = LocalStorage(tmp_path / "data", lock_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StorageError, match=rf"{held_lock}.* held by another process; gave up after 0\.5 s"):
        _in_thread(lambda: storage.put_if("alerts/state.json", b"{}", None))
    assert 0.5 <= time.monotonic() - started < 3.0
    assert not (tmp_path / "data" / "alerts" / "state.json").exists()


def test_put_if_waits_for_a_lock_released_in_time(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data", lock_timeout=5.0)
    lock = tmp_path / "data" / "alerts" / ".lock-state.json"
    lock.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(0.3, os.close, (fd,)).start()
    assert storage.put_if("alerts/state.json", b"{}", None)
    assert storage.get_bytes("alerts/state.json") == b"{}"
