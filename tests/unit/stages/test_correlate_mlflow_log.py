"""correlate's report on the MLflow run its events name: which run, no MLflow import without one, and a
failure to log that is one warning, never correlate's.

The real stores (sqlite, `mlflow server`) are in tests/integration/test_correlate_mlflow.py.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events
from mlprom.records import Event
from mlprom.stages import correlate
from mlprom.storage import open_storage
from tests.fixtures.imports import cli_imports
from tests.fixtures.servers import free_port

DAY = date(2026, 3, 14)
RUN_A, RUN_B = "a" * 32, "b" * 32


def _events(config_path: Path, runs: list[str | None]) -> None:
    """Per entry of `runs` one slow and one fast event, a minute apart in that order, naming that run."""
    start = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=10)
    events = [
        Event(
            ts=start + timedelta(minutes=i, seconds=second),
            model="churn",
            prediction_time_seconds=seconds,
            slow=seconds > 1,
            rows=10,
            mlflow_run_id=run,
        )
        for i, run in enumerate(runs)
        for second, seconds in ((0, 3.0), (30, 0.1))
    ]
    write_events(open_storage(load_config(str(config_path))), events)


def _config(write_config: Callable[..., Path], **mlflow: Any) -> Path:
    return write_config(
        {
            "mlflow": {"experiment": "unit", **mlflow},
            "model": {"name": "churn", "latency_threshold": "1s", "sample_rate": 1.0},
        }
    )


def test_note_runs_keeps_each_runs_newest_event() -> None:
    runs: dict[str, float] = {}
    correlate._note_runs(runs, array("d", [5.0, 9.0, 7.0]), [RUN_A, RUN_A, RUN_A])
    correlate._note_runs(runs, array("d", [4.0, 8.0, 12.0]), [RUN_B, RUN_A, None])
    correlate._note_runs(runs, array("d", [1.0]), [None])
    assert runs == {RUN_A: 9.0, RUN_B: 4.0}


@pytest.mark.parametrize(
    ("order", "chosen"), [([RUN_A, RUN_B], RUN_B), ([RUN_B, RUN_A], RUN_A)], ids=["b-newest", "a-newest"]
)
def test_the_newest_run_the_events_name_gets_the_stored_bytes(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, order: list[str], chosen: str
) -> None:
    from mlprom.clients import mlflow_tracking

    path = _config(write_config)
    _events(path, [None, *order, None])
    calls: list[tuple[str, bytes, str]] = []
    monkeypatch.setattr(
        mlflow_tracking,
        "log_report_artifact",
        lambda config, run_id, document, name: calls.append((run_id, document, name)) or f"mlprom/{name}",
    )
    config = load_config(str(path))
    correlate.run(config, DAY)
    stored = (path.parent / "data" / layout.report_key(DAY, "churn")).read_bytes()
    assert calls == [(chosen, stored, f"correlation-{DAY}.json")]


def test_log_report_false_logs_nothing(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprom.clients import mlflow_tracking

    path = _config(write_config, log_report=False)
    _events(path, [RUN_A])
    monkeypatch.setattr(mlflow_tracking, "log_report_artifact", lambda *a: pytest.fail("logged"))
    correlate.run(load_config(str(path)), DAY)


def test_mlflow_down_is_one_warning_naming_the_run_and_the_exit_code_is_unchanged(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    off = _config(write_config, log_report=False)
    _events(off, [RUN_A])
    argv = ["-o", "json", "correlate", "--date", DAY.isoformat()]
    expected = CliRunner().invoke(app, ["-c", str(off), *argv])
    report = tmp_path / "data" / layout.report_key(DAY, "churn")
    report.unlink()

    down = _config(write_config, tracking_uri=f"http://user:secret@127.0.0.1:{free_port()}")
    result = CliRunner().invoke(app, ["-c", str(down), *argv])

    assert result.exit_code == expected.exit_code, result.output
    assert json.loads(result.stdout)["status"] == json.loads(expected.stdout)["status"]
    assert report.is_file()  # stored before the upload was tried
    lines = [line for line in result.stderr.splitlines() if "MLflow run" in line]
    assert len(lines) == 1, lines
    assert RUN_A in lines[0] and "connection refused" in lines[0] and "secret" not in lines[0]


@pytest.mark.parametrize(
    ("runs", "mlflow"),
    [([None], {}), ([RUN_A], {"log_report": False})],
    ids=["no-run-id", "log-report-off"],
)
def test_correlate_imports_no_mlflow_without_a_run_to_log_to(
    write_config: Callable[..., Path], runs: list[str | None], mlflow: dict[str, Any]
) -> None:
    path = _config(write_config, **mlflow)
    _events(path, runs)
    argv = ["-c", str(path), "-o", "json", "correlate", "--date", DAY.isoformat()]
    code, modules, stderr = cli_imports(argv)
    assert code in (0, 1, None), stderr
    assert sorted(m for m in modules if m.split(".")[0] == "mlflow") == [], stderr
    assert (path.parent / "data" / layout.report_key(DAY, "churn")).is_file()
