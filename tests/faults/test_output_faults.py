"""`report --out` at things that are not a plain file: an existing FIFO or character device is written through
and left as it was, a symlink, socket or directory is refused with exit 2, and nothing is ever replaced
by a regular file."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import DAY, alert_document, assert_handled, run_cli, seed_report

TIMEOUT = 1.0


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config(alert_document(["http://127.0.0.1:9"], TIMEOUT))
    seed_report(path, [{"instance": "a:9100"}])
    return path


def _report(config: Path, out: Path | str) -> list[str]:
    return ["-c", str(config), "-o", "json", "report", "--date", DAY, "--out", str(out)]


def test_a_fifo_being_read_gets_the_report_and_stays_a_fifo(config: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            received.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    outcome = run_cli(_report(config, fifo), deadline=TIMEOUT)
    reader.join(5)
    assert_handled(outcome, {0}, "")
    assert json.loads(received[0])["date"] == DAY
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_refused_at_once(config: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    outcome = run_cli(_report(config, fifo), deadline=TIMEOUT)
    assert_handled(outcome, {2}, f"{fifo}: a FIFO that no process is reading")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_character_device_is_written_through_and_not_replaced(config: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of the test's own
    outcome = run_cli(_report(config, null), deadline=TIMEOUT)
    assert_handled(outcome, {0}, "")
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_a_symlink_to_dev_null_is_written_through_and_stays_a_symlink(config: Path, tmp_path: Path) -> None:
    link = tmp_path / "out.json"
    link.symlink_to("/dev/null")
    outcome = run_cli(_report(config, link), deadline=TIMEOUT)
    assert_handled(outcome, {0}, "")
    assert os.path.islink(link) and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlink_to_a_file_is_refused_and_both_are_left_alone(
    config: Path, tmp_path: Path, dangling: bool
) -> None:
    other = tmp_path / "someone-elses.json"
    if not dangling:
        other.write_text("keep me")
    link = tmp_path / "out.json"
    link.symlink_to(other)
    outcome = run_cli(_report(config, link), deadline=TIMEOUT)
    assert_handled(outcome, {2}, f"cannot write {link}: is a symbolic link")
    assert os.path.islink(link) and os.readlink(link) == str(other)
    assert (other.read_text() == "keep me") if not dangling else not other.exists()


def test_a_socket_is_refused_and_left_alone(config: Path, tmp_path: Path) -> None:
    here = os.getcwd()
    os.chdir(tmp_path)  # a relative name: AF_UNIX paths are limited to 108 bytes
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind("out.sock")
        sock.close()
    finally:
        os.chdir(here)
    path = tmp_path / "out.sock"
    outcome = run_cli(_report(config, path), deadline=TIMEOUT)
    assert_handled(outcome, {2}, f"cannot write {path}: is a socket")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_directory_is_refused(config: Path, tmp_path: Path) -> None:
    directory = tmp_path / "out"
    directory.mkdir()
    outcome = run_cli(_report(config, directory), deadline=TIMEOUT)
    assert_handled(outcome, {2}, f"cannot write {directory}: is a directory")
    assert directory.is_dir()


def test_a_regular_file_is_replaced_whole(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")
    outcome = run_cli(_report(config, path), deadline=TIMEOUT)
    assert_handled(outcome, {0}, "")
    assert json.loads(path.read_text())["date"] == DAY
    assert [p.name for p in tmp_path.glob(".mlprom-*")] == []
