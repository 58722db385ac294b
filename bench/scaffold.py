"""What the benchmark scripts share: a moto_server on a free loopback port, and the machine's description."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """moto_server on 127.0.0.1 (its log in workdir); returns the process and its endpoint URL."""
    import requests

    binary = shutil.which("moto_server")
    if binary is None:
        sys.exit("moto_server not found: pip install 'moto[server]'")
    port = free_port()
    log = open(workdir / "moto.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/moto-api/", timeout=1).status_code == 200:
                return process, url
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    sys.exit("moto_server did not start")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    return f"machine: nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()}"


# Run by a fresh interpreter: start the command, wait for it, write its exit code and peak RSS (KiB) to a file.
_LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_measured(
    argv: list[str], stdout: object, stderr: object, env: dict[str, str], workdir: Path
) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB of the largest process among argv and its children, exit code).

    The command is started by a small launcher process, not forked from this one: a child forked from a
    large benchmark process counts the pages it shared with it in its peak RSS (the high-water mark
    survives exec), which once reported 983 MiB for a run whose largest process held 184 MB.
    """
    result = workdir / "run_measured.txt"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(result), *argv],
        stdout=stdout,
        stderr=stderr,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - started
    code, kib = result.read_text().split()
    return elapsed, int(kib) / 1024, int(code)
