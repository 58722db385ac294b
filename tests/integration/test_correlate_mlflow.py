"""correlate logs its stored report on the capture-model run the date's events name: a real sqlite store
and a real `mlflow server`, the artifact downloaded with MlflowClient and compared byte for byte."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from tests.fixtures.recent import clear_of_midnight

pytestmark = pytest.mark.integration

MODEL_REF = "tests.fixtures.mlflow_server:sum_rule_predict"


@pytest.fixture(params=["sqlite", "server"])
def tracking_uri(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The real sqlite store, then the real `mlflow server`."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return str(request.getfixturevalue("mlflow_sqlite_uri" if request.param == "sqlite" else "mlflow_server"))


def _setup(write_config: Callable[..., Path], tmp_path: Path, uri: str) -> Path:
    lines = ["x1,x2,delay_ms,label"] + [
        f"{i / 20:.2f},{(20 - i) / 40:.3f},{50 if i in (7, 8) else 0},{i % 2}" for i in range(20)
    ]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    return write_config(
        {
            "mlflow": {"tracking_uri": uri, "experiment": f"corr-{uuid.uuid4().hex[:8]}"},
            "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 1.0},
        }
    )


def _capture(config: Path, tmp_path: Path) -> dict[str, Any]:
    args = ["--input", str(tmp_path / "in.csv"), "--model", MODEL_REF, "--batch-size", "4"]
    done = CliRunner().invoke(app, ["-c", str(config), "-o", "json", "capture-model", *args])
    assert done.exit_code == 0, done.output
    return dict(orjson.loads(done.stdout))


def _correlate(config: Path, day: str) -> Any:
    return CliRunner().invoke(app, ["-c", str(config), "-o", "json", "correlate", "--date", day])


def _stored(tmp_path: Path, day: str) -> bytes:
    from datetime import date

    return (tmp_path / "data" / layout.report_key(date.fromisoformat(day), "churn")).read_bytes()


def test_the_report_is_the_runs_artifact_and_a_re_run_overwrites_it(
    write_config: Callable[..., Path], tmp_path: Path, tracking_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    clear_of_midnight(300)
    config = _setup(write_config, tmp_path, tracking_uri)
    captured = _capture(config, tmp_path)
    run_id, day = captured["mlflow_run_id"], captured["date"]
    client = MlflowClient(tracking_uri)
    artifact = f"mlprom/correlation-{day}.json"

    seen = []
    for attempt in range(2):
        done = _correlate(config, day)
        assert done.exit_code == 0, done.output
        assert "not logged" not in done.stderr, done.stderr
        target = tmp_path / f"download-{attempt}"
        target.mkdir()
        downloaded = Path(client.download_artifacts(run_id, artifact, str(target)))
        assert downloaded.read_bytes() == _stored(tmp_path, day)
        seen.append(downloaded.read_bytes())
        # One artifact however often correlate runs: the same path, overwritten.
        assert [f.path for f in client.list_artifacts(run_id, "mlprom")] == [artifact]
    assert seen[0] != seen[1]  # generated_at moved: the second upload replaced the first
    assert client.get_run(run_id).info.status == "FINISHED"  # the run's status is left alone


def test_the_newest_run_of_the_date_gets_the_report(
    write_config: Callable[..., Path], tmp_path: Path, mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    clear_of_midnight(300)
    config = _setup(write_config, tmp_path, mlflow_sqlite_uri)
    first, second = _capture(config, tmp_path), _capture(config, tmp_path)
    assert first["date"] == second["date"]

    assert _correlate(config, second["date"]).exit_code == 0
    client = MlflowClient(mlflow_sqlite_uri)
    assert [f.path for f in client.list_artifacts(second["mlflow_run_id"], "mlprom")] == [
        f"mlprom/correlation-{second['date']}.json"
    ]
    assert client.list_artifacts(first["mlflow_run_id"], "mlprom") == []


def test_a_deleted_run_is_one_warning_and_the_report_is_stored(
    write_config: Callable[..., Path], tmp_path: Path, tracking_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    clear_of_midnight(300)
    config = _setup(write_config, tmp_path, tracking_uri)
    captured = _capture(config, tmp_path)
    run_id, day = captured["mlflow_run_id"], captured["date"]
    MlflowClient(tracking_uri).delete_run(run_id)

    done = _correlate(config, day)

    assert done.exit_code == 0, done.output  # as without MLflow: the report is correlate's product
    assert orjson.loads(done.stdout)["date"] == day
    assert orjson.loads(_stored(tmp_path, day))["date"] == day
    warned = [line for line in done.stderr.splitlines() if "not logged" in line]
    assert len(warned) == 1 and run_id in warned[0] and "deleted" in warned[0], done.stderr
    assert "Traceback" not in done.output
