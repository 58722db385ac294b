"""Running mlprom against hostile upstreams and checking what every such run must do.

Each run is bounded by the command's documented deadline plus MARGIN: a run that has not ended by then
fails the test as a hang. That is a deadline check, not a speed assertion: the margin is generous
(interpreter start-up, a shared 2-core machine), the deadlines in these configs are 1 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlprom.cli import app

MARGIN = 8.0  # seconds past the documented deadline before a run counts as hung
CONTRACT_EXIT_CODES = {0, 1, 2, 3, 4}
SECRETS = ("pw-secret-1", "token-secret-2", "aws-secret-3", "am-secret-4", "pg-secret-5", "mlflow-secret-6")


@dataclass
class Outcome:
    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(args: list[str], deadline: float, env: dict[str, str] | None = None) -> Outcome:
    """`mlprom ARGS` in this process (Typer's CliRunner), failing the test if it outlives deadline + MARGIN."""
    runner = CliRunner()
    box: dict[str, Any] = {}

    def invoke() -> None:
        box["result"] = runner.invoke(app, args, env=env)

    thread = threading.Thread(target=invoke, daemon=True)
    thread.start()
    thread.join(deadline + MARGIN)
    if thread.is_alive():
        pytest.fail(f"mlprom {' '.join(args)} still running past its {deadline:g} s deadline (+{MARGIN:g} s)")
    result = box["result"]
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(args, result.exit_code, result.stdout, result.stderr, exception)


def run_process(
    args: list[str], deadline: float, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Outcome:
    """`python -m mlprom ARGS` in a child process, killed and failed if it outlives deadline + MARGIN."""
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mlprom", *args],
            capture_output=True,
            text=True,
            timeout=deadline + MARGIN,
            env=full_env,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"mlprom {' '.join(args)} still running past its {deadline:g} s deadline (+{MARGIN:g} s)")
    return Outcome(args, done.returncode, done.stdout, done.stderr)


def assert_handled(
    outcome: Outcome, codes: set[int], names: str, *, secrets: tuple[str, ...] = SECRETS
) -> None:
    """Exit code in `codes` (and the contract's set), no traceback, `names` (the upstream) in one error or
    warning message, no secret anywhere in the output."""
    command = " ".join(outcome.args)
    context = f"mlprom {command} -> {outcome.exit_code}\nstdout: {outcome.stdout}\nstderr: {outcome.stderr}"
    assert outcome.exception is None, f"{context}\nexception: {outcome.exception!r}"
    assert outcome.exit_code in CONTRACT_EXIT_CODES and outcome.exit_code in codes, context
    assert "Traceback" not in outcome.output, context
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("mlprom: error:")]
    assert len(errors) <= 1, context
    if outcome.exit_code != 0:
        assert names in outcome.stderr, context
    for secret in secrets:
        assert secret not in outcome.output, f"secret {secret!r} printed\n{context}"


CPU = "cpu_usage_expr"
DAY = "2026-11-20"


def seed_report(
    config_path: Path, series_labels: list[dict[str, str]], model: str = "m", day: str = DAY
) -> None:
    """A stored report whose findings are one critical cpu_usage finding per label set (via correlate)."""
    from datetime import UTC, date, datetime

    from mlprom.config import load_config
    from mlprom.events.log import write_events, write_snapshot
    from mlprom.records import Event, QueryResult, Series, Snapshot
    from mlprom.stages import correlate
    from mlprom.storage import open_storage

    config = load_config(str(config_path))
    storage = open_storage(config)
    at = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).replace(hour=10)
    series = tuple(Series(dict(labels), 0.95) for labels in series_labels)
    write_snapshot(
        storage, Snapshot(at, "http://prometheus.test", {"cpu_usage": QueryResult(CPU, "vector", series)})
    )
    write_events(storage, [Event(at, model, 12.0, True, 10)])
    report = correlate.run(config, date.fromisoformat(day))
    assert len(report.findings) == len(series_labels), report.findings


def alert_document(urls: list[str], timeout: float = 1.0, model: str = "m") -> dict[str, Any]:
    return {
        "alertmanager": {"urls": urls, "timeout": f"{timeout:g}s"},
        "model": {"name": model},
        "queries": {"cpu_usage": CPU},
        "thresholds": {"cpu_usage": 0.9},
    }
