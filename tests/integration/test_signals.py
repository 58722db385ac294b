"""Real SIGTERM and SIGINT sent to real `python -m mlprom` child processes (and to a process using Monitor).

What is checked is what an operator's `timeout`, systemd or Kubernetes sees: the exit code (143 / 130),
one line on stderr and no traceback, the events of every batch the model finished before the signal
stored, and the MLflow run KILLED (read back with MlflowClient from the sqlite store).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from mlprom.config import load_config
from mlprom.storage import open_storage
from tests.fixtures.recent import recent_events
from tests.fixtures.servers import require_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WAIT = 120.0  # a guard against a hung child, never a measurement


# correlate's signal tests work on a fixed past date: nothing depends on the clock.
CORRELATE_DAY = date(2026, 3, 1)


def write_input(path: Path, rows: int) -> None:
    lines = ["x1,x2"] + [f"{(i % 10) / 10},{(i % 7) / 7:.3f}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


@dataclass
class Capture:
    config_path: Path
    batch_log: Path
    process: subprocess.Popen[bytes]

    def finished_batches(self) -> int:
        try:
            return self.batch_log.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def wait_for_batches(self, n: int) -> int:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            done = self.finished_batches()
            if done >= n:
                return done
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                pytest.fail(f"capture ended early ({self.process.returncode}): {err.decode()[-2000:]}")
            time.sleep(0.02)
        pytest.fail(f"the model finished fewer than {n} batches in {WAIT}s")

    def finish(self) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=WAIT)
        return self.process.returncode, out.decode(), err.decode()


def start_capture(
    tmp_path: Path, mlflow_uri: str, model: str = "tests.fixtures.models:slow", rows: int = 2000
) -> Capture:
    experiment = f"signals-{uuid.uuid4().hex[:8]}"
    config = {
        "storage": {"url": str(tmp_path / "data")},
        "mlflow": {"tracking_uri": mlflow_uri, "experiment": experiment},
        # Threshold 0: every batch is slow, so every finished batch must become an event.
        "model": {"name": "churn", "latency_threshold": 0, "sample_rate": 0.0},
    }
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(yaml.safe_dump(config))
    write_input(tmp_path / "in.csv", rows)
    batch_log = tmp_path / "batches.log"
    argv = [sys.executable, "-m", "mlprom", "-c", str(config_path), "-o", "json", "capture-model"]
    argv += ["--input", str(tmp_path / "in.csv"), "--model", model, "--batch-size", "5"]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=child_env(MLPROM_TEST_BATCH_LOG=str(batch_log), MLPROM_TEST_SLOW_SECONDS="0.05"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return Capture(config_path, batch_log, process)


def mlflow_runs(config_path: Path) -> list[Any]:
    from mlflow.tracking import MlflowClient

    config = load_config(str(config_path))
    client = MlflowClient(config.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    return list(client.search_runs([experiment.experiment_id])) if experiment else []


def stored_events(config_path: Path) -> list[Any]:
    config = load_config(str(config_path))
    return recent_events(open_storage(config), "churn")


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_mid_capture_keeps_every_finished_batch_and_kills_the_run(
    tmp_path: Path, mlflow_sqlite_uri: str, sig: signal.Signals, code: int
) -> None:
    capture = start_capture(tmp_path, mlflow_sqlite_uri)
    finished_before = capture.wait_for_batches(8)
    capture.process.send_signal(sig)
    returncode, stdout, stderr = capture.finish()

    assert returncode == code, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"mlprom: interrupted by {sig.name}: "), stderr
    assert "KILLED" in lines[0]
    assert stdout == ""  # no half result on stdout

    events = stored_events(capture.config_path)
    batches = sorted(e.batch for e in events)
    # Every batch the model finished before the signal is stored; nothing else is invented.
    assert len(events) >= finished_before
    assert batches == list(range(len(events)))
    assert len(events) <= capture.finished_batches()

    (run,) = mlflow_runs(capture.config_path)
    assert run.info.status == "KILLED"
    assert run.data.metrics["events"] == len(events)
    assert {e.mlflow_run_id for e in events} == {run.info.run_id}


def test_sigterm_reaches_a_model_that_swallows_exceptions(tmp_path: Path, mlflow_sqlite_uri: str) -> None:
    capture = start_capture(tmp_path, mlflow_sqlite_uri, model="tests.fixtures.models:stubborn")
    finished_before = capture.wait_for_batches(4)
    capture.process.send_signal(signal.SIGTERM)
    returncode, _, stderr = capture.finish()
    assert returncode == 143, stderr
    assert "Traceback" not in stderr
    assert len(stored_events(capture.config_path)) >= finished_before
    (run,) = mlflow_runs(capture.config_path)
    assert run.info.status == "KILLED"


def test_sigterm_while_the_model_module_imports_stores_nothing_and_starts_no_run(
    tmp_path: Path, mlflow_sqlite_uri: str
) -> None:
    (tmp_path / "slow_import_model.py").write_text(
        textwrap.dedent(
            """
            import pathlib, time
            pathlib.Path("importing").write_text("yes")
            time.sleep(60)

            def predict(frame):
                return frame["x1"]
            """
        )
    )
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": str(tmp_path / "data")},
                "mlflow": {"tracking_uri": mlflow_sqlite_uri, "experiment": f"imp-{uuid.uuid4().hex[:8]}"},
            }
        )
    )
    write_input(tmp_path / "in.csv", 10)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlprom", "-c", str(config_path), "capture-model"]
        + ["--input", str(tmp_path / "in.csv"), "--model", "slow_import_model:predict"],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + WAIT
    while not (tmp_path / "importing").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 143, err.decode()
    assert err.decode().strip() == "mlprom: interrupted by SIGTERM"
    assert not (tmp_path / "data").exists()
    assert mlflow_runs(config_path) == []


def store_correlate_day(tmp_path: Path, event: Callable[[datetime, int, int], Any], chunks: int) -> Path:
    """A config over tmp_path/data and `chunks` event objects of 5,000 events each for CORRELATE_DAY (event(start,
    chunk, i) -> Event); returns the config's path."""
    from mlprom.events.log import write_events

    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(
        yaml.safe_dump({"storage": {"url": str(tmp_path / "data")}, "model": {"name": "m"}})
    )
    storage = open_storage(load_config(str(config_path)))
    start = datetime.combine(CORRELATE_DAY, datetime.min.time(), UTC)
    for chunk in range(chunks):
        write_events(storage, [event(start, chunk, i) for i in range(5000)])
    return config_path


def start_correlate(config_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlprom",
            "-c",
            str(config_path),
            "correlate",
            "--date",
            CORRELATE_DAY.isoformat(),
        ],
        cwd=config_path.parent,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigterm_during_correlate_leaves_whole_objects_only(tmp_path: Path) -> None:
    """Sent at several moments of a correlate over a day of events: the report is whole or absent."""
    from mlprom.records import Event

    config_path = store_correlate_day(
        tmp_path,
        lambda start, chunk, i: Event(
            ts=start.replace(hour=(chunk + i) % 24, minute=i % 60),
            model="m",
            prediction_time_seconds=0.01 * (i % 50),
            slow=i % 50 == 0,
            rows=10,
            outputs=tuple(float(j) for j in range(20)),
        ),
        chunks=20,
    )
    before = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}
    for delay in (0.3, 1.0, 2.0, 3.0):
        process = start_correlate(config_path)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=WAIT)
        text = err.decode()
        assert process.returncode in (0, 1, 143), text
        assert "Traceback" not in text
        if process.returncode == 143:
            assert text.strip().splitlines()[-1].startswith("mlprom: interrupted by SIGTERM")
        for path in (tmp_path / "data").rglob("*"):
            assert not path.name.startswith(".tmp-"), f"temporary file left behind: {path}"
            if path.suffix == ".json":
                orjson.loads(path.read_bytes())  # whole, or it would not parse
    for path, body in before.items():
        assert path.read_bytes() == body  # no event object was touched


MONITOR_SCRIPT = """
import signal, sys, time
from mlprom import Monitor
from mlprom.config import load_config

if sys.argv[2] == "host-handler":
    # A server with its own graceful shutdown: Monitor must leave its handler alone.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
monitor = Monitor(lambda X: X, config=load_config(sys.argv[1]), name="served", flush_interval=3600)
for _ in range(50):
    monitor.predict([1, 2, 3])
print("ready", flush=True)
if sys.argv[2] == "exit":
    sys.exit(0)  # no close(): atexit must write the buffer
time.sleep(120)
"""


@pytest.mark.parametrize(
    ("mode", "expected_code"),
    [("default", -signal.SIGTERM), ("host-handler", 0), ("exit", 0)],
    ids=["sigterm-no-handler", "sigterm-host-handler", "interpreter-exit"],
)
def test_monitor_writes_its_buffer_on_sigterm_and_at_exit(
    tmp_path: Path, mode: str, expected_code: int
) -> None:
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(
        yaml.safe_dump({"storage": {"url": str(tmp_path / "data")}, "model": {"latency_threshold": 0}})
    )
    process = subprocess.Popen(
        [sys.executable, "-c", MONITOR_SCRIPT, str(config_path), mode],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    if mode != "exit":
        process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=WAIT)
    # Without a handler of its own the process still dies of SIGTERM, as it would without Monitor.
    assert process.returncode == expected_code, err.decode()
    events = recent_events(open_storage(load_config(str(config_path))), "served")
    assert len(events) == 50


def test_sigterm_while_queries_hang_stores_no_snapshot_and_does_not_wait_for_them(tmp_path: Path) -> None:
    """Prometheus accepts the queries and never answers; SIGTERM ends the run without a partial snapshot
    and without waiting out the 60 s deadline of the queries in flight."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    arrived = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)  # read nothing, answer nothing
            arrived.set()

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": str(tmp_path / "data")},
                "prometheus": {"url": f"http://127.0.0.1:{port}", "timeout": "60s"},
                "queries": {"a": "up", "b": "node_load1"},
                "thresholds": {},
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mlprom", "-c", str(config_path), "capture-infra"],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert arrived.wait(WAIT), "capture-infra never sent a query"
        process.send_signal(signal.SIGTERM)
        # Far less than the queries' 60 s deadline: a guard against waiting for them, not a measurement.
        _, err = process.communicate(timeout=30)
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert process.returncode == 143, err.decode()
    assert err.decode().strip().splitlines()[-1] == "mlprom: interrupted by SIGTERM"
    assert not list((tmp_path / "data").rglob("*.json")) if (tmp_path / "data").exists() else True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_during_correlate_leaves_no_decoding_worker_behind(tmp_path: Path, signum: int) -> None:
    """The event pass decodes objects in forked workers; stopped by a signal, the parent ends them too,
    and a parent killed outright (SIGKILL after a grace period, the OOM killer) takes them with it.

    A worker left behind blocks for ever writing a result nobody reads (its sibling holds the pipe
    open) and keeps its memory: one more stray process per interrupted cron run.
    """
    import random

    import psutil

    from mlprom.events.scan import PARALLEL_MIN_BYTES
    from mlprom.records import Event

    rng = random.Random(7)
    config_path = store_correlate_day(
        tmp_path,
        lambda start, chunk, i: Event(
            ts=start.replace(hour=chunk, minute=i % 60, second=i % 59),
            model="m",
            prediction_time_seconds=rng.random(),
            slow=i % 50 == 0,
            rows=10,
            # Random outputs compress poorly: the day is large enough to be decoded by workers.
            outputs=tuple(rng.random() for _ in range(20)),
        ),
        chunks=8,
    )
    stored = sum(p.stat().st_size for p in (tmp_path / "data" / "model").rglob("*") if p.is_file())
    assert stored >= PARALLEL_MIN_BYTES, stored

    process = start_correlate(config_path)
    parent = psutil.Process(process.pid)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + WAIT
    while len(workers) < 2 and process.poll() is None and time.monotonic() < deadline:
        workers = parent.children(recursive=True)
        time.sleep(0.005)
    assert len(workers) >= 2, "correlate ended before its decoding workers were seen"
    process.send_signal(signum)
    _, err = process.communicate(timeout=WAIT)
    text = err.decode()
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL, text
    else:
        assert process.returncode == 128 + signum, text
    assert "Traceback" not in text
    _, alive = psutil.wait_procs(workers, timeout=10)
    for worker in alive:
        worker.kill()
    assert not alive, f"{len(alive)} decoding worker(s) outlived correlate"


@pytest.mark.parametrize(
    ("wrapper", "code"),
    [(["timeout", "--preserve-status", "3"], 143), (["timeout", "3"], 124)],
    ids=["preserve-status", "plain"],
)
def test_the_readmes_timeout_line_exits_as_documented(tmp_path: Path, wrapper: list[str], code: int) -> None:
    """README: `timeout --preserve-status 50m mlprom ...` exits 143; plain GNU timeout says 124."""
    import socket

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`timeout --preserve-status 50m mlprom -q capture-model ...`" in readme
    assert "its own 124" in readme
    require_binary("timeout")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepted by the kernel, never answered: the run waits until timeout's SIGTERM
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": str(tmp_path / "data")},
                "prometheus": {"url": f"http://127.0.0.1:{listener.getsockname()[1]}", "timeout": "60s"},
                "queries": {"a": "up"},
                "thresholds": {},
            }
        )
    )
    try:
        done = subprocess.run(
            [*wrapper, sys.executable, "-m", "mlprom", "-q", "-c", str(config_path), "capture-infra"],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            timeout=WAIT,
        )
    finally:
        listener.close()
    assert done.returncode == code, done.stderr.decode()
    assert done.stderr.decode().strip().splitlines()[-1] == "mlprom: interrupted by SIGTERM"
