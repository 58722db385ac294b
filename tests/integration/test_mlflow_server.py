"""capture-model against a real `mlflow server`: run name, alias resolved to its version, dataset input, tags."""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.config import load_config
from mlprom.storage import open_storage
from tests.fixtures.mlflow_server import register_model
from tests.fixtures.recent import recent_events

pytestmark = pytest.mark.integration
runner = CliRunner()


def _input(path: Path, rows: int = 30, slow: set[int] = frozenset()) -> bytes:
    lines = ["x1,x2,delay_ms,label"] + [
        f"{i / rows:.3f},{(rows - i) / rows / 2:.3f},{50 if i in slow else 0},{i % 2}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path.read_bytes()


@pytest.fixture
def server_config(mlflow_server: str, write_config: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return write_config(
        {
            "mlflow": {"tracking_uri": mlflow_server, "experiment": f"srv-{uuid.uuid4().hex[:8]}"},
            "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 1.0},
        }
    )


def test_capture_against_an_mlflow_server_names_the_run_resolves_the_alias_and_logs_its_input(
    mlflow_server: str, server_config: Path, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    name = f"sum-rule-{uuid.uuid4().hex[:8]}"
    register_model(mlflow_server, name)
    content = _input(tmp_path / "scoring.csv")
    started = datetime.now(UTC)

    result = runner.invoke(
        app,
        [
            "-c",
            str(server_config),
            "-o",
            "json",
            "capture-model",
            "--model-uri",
            f"models:/{name}@champion",
            "--input",
            str(tmp_path / "scoring.csv"),
            "--label-column",
            "label",
            "--batch-size",
            "10",
        ],
    )
    finished = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    output = orjson.loads(result.stdout)
    assert output["model_version"] == "2"  # the alias, resolved through the registry

    client = MlflowClient(mlflow_server)
    run = client.get_run(output["mlflow_run_id"])
    match = re.fullmatch(r"capture-churn-(\d{4}-\d{2}-\d{2})-(\d{6})-[0-9a-f]{4}", run.info.run_name)
    assert match is not None, run.info.run_name
    assert match.group(1) == output["date"]
    # The UTC second the capture started: between the two clock readings around it.
    named = datetime.strptime(match.group(1) + match.group(2), "%Y-%m-%d%H%M%S").replace(tzinfo=UTC)
    assert started.replace(microsecond=0) <= named <= finished

    params, tags = run.data.params, run.data.tags
    assert params["model_uri"] == f"models:/{name}@champion"
    assert params["model_loaded_uri"] == f"models:/{name}/2"
    assert params["model_version"] == "2" and params["registered_model_name"] == name
    assert tags["mlprom.registered_model"] == f"{name}/2"
    # The context tags MLflow's fluent API sets on a run.
    assert tags["mlflow.user"] == getpass.getuser()
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.source.name"]
    assert tags["mlflow.runName"] == run.info.run_name

    (dataset_input,) = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "scoring.csv"
    assert dataset.digest == hashlib.sha256(content).hexdigest()[:32]
    assert dataset.source_type == "local"
    assert json.loads(dataset.source)["uri"] == str(tmp_path / "scoring.csv")
    assert json.loads(dataset.profile) == {
        "rows": 30,
        "columns": ["x1", "x2", "delay_ms", "label"],
        "bytes": len(content),
    }
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "eval"}

    # The run is linked to the LoggedModel behind the version it evaluated.
    version = client.get_model_version(name, "2")
    logged = version.model_id or version.source.removeprefix("models:/")
    assert logged.startswith("m-") and client.get_logged_model(logged).name == "model"
    assert [m.model_id for m in run.inputs.model_inputs] == [logged]

    config = load_config(str(server_config))
    events = recent_events(open_storage(config), "churn")
    assert events and {e.model_version for e in events} == {"2"}
    assert {e.mlflow_run_id for e in events} == {run.info.run_id}


def test_system_metrics_are_logged_when_configured(
    mlflow_server: str, write_config: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    pytest.importorskip("psutil", reason="psutil is a test dependency (pyproject [test])")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    config = write_config(
        {
            "mlflow": {
                "tracking_uri": mlflow_server,
                "experiment": f"sys-{uuid.uuid4().hex[:8]}",
                "system_metrics": True,
            },
            "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 0.0},
        }
    )
    _input(tmp_path / "in.csv", rows=4, slow={0, 1, 2, 3})  # four batches of 0.5 s: several samples
    result = runner.invoke(
        app,
        [
            "-c",
            str(config),
            "-o",
            "json",
            "capture-model",
            "--model",
            "tests.fixtures.mlflow_server:sum_rule_predict",
            "--input",
            str(tmp_path / "in.csv"),
            "--batch-size",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    run = MlflowClient(mlflow_server).get_run(orjson.loads(result.stdout)["mlflow_run_id"])
    assert "system/cpu_utilization_percentage" in run.data.metrics
    assert run.info.status == "FINISHED"
