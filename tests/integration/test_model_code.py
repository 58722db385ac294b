"""A model's own code in capture-model: what it prints stays off stdout; what it raises, or exits with, is a
model failure (exit 2, one line naming the model) with the batches measured so far kept and the run FAILED."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.config import load_config
from mlprom.storage import open_storage
from tests.fixtures.recent import recent_events

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def write_input(path: Path, rows: int = 20) -> Path:
    path.write_text("x1,x2\n" + "".join(f"{(i % 10) / 10},{(i % 7) / 7:.3f}\n" for i in range(rows)))
    return path


def make_config(write_config: Callable[..., Path], mlflow_uri: str) -> Path:
    return write_config(
        {
            "mlflow": {"tracking_uri": mlflow_uri, "experiment": f"model-code-{uuid.uuid4().hex[:8]}"},
            "model": {"name": "churn", "latency_threshold": 0, "sample_rate": 0.0},
        }
    )


def runs(config_path: Path) -> list[Any]:
    from mlflow.tracking import MlflowClient

    config = load_config(str(config_path))
    client = MlflowClient(config.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    return list(client.search_runs([experiment.experiment_id])) if experiment else []


def events(config_path: Path) -> list[Any]:
    config = load_config(str(config_path))
    return recent_events(open_storage(config), "churn")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def test_a_chatty_model_cannot_corrupt_json_output_at_any_level(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    """print, sys.stdout, os.write(1) and C printf: all on stderr; stdout is one JSON document."""
    config = make_config(write_config, mlflow_sqlite_uri)
    done = subprocess.run(
        [sys.executable, "-m", "mlprom", "-c", str(config), "-o", "json", "capture-model"]
        + ["--input", str(write_input(tmp_path / "in.csv")), "--model", "tests.fixtures.models:chatty"]
        + ["--batch-size", "5"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    document = orjson.loads(done.stdout)  # the whole of stdout parses: nothing else is on it
    assert document["rows"] == 20 and document["batches"] == 4
    err = done.stderr.decode()
    for said in (
        "model says hello",
        "model writes to sys.stdout",
        "model writes to fd 1",
        "model printf from C",
    ):
        assert err.count(said) == 4, err  # once per batch, on stderr


def test_a_pyfunc_model_that_prints_keeps_stdout_clean(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    import mlflow.pyfunc

    class Printing(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            print("pyfunc says hello")
            os.write(1, b"pyfunc writes to fd 1\n")
            return model_input["x1"]

    path = tmp_path / "printing-model"
    mlflow.pyfunc.save_model(str(path), python_model=Printing(), pip_requirements=["mlflow"])
    config = make_config(write_config, mlflow_sqlite_uri)
    result = CliRunner().invoke(
        app,
        ["-c", str(config), "-o", "json", "capture-model", "--input", str(write_input(tmp_path / "in.csv"))]
        + ["--model-uri", path.as_uri(), "--batch-size", "10"],
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["batches"] == 2
    assert "pyfunc says hello" in result.stderr
    assert "View run" not in result.stdout + result.stderr  # MLflow's own prints: only with -v


@pytest.mark.parametrize(
    ("source", "culprit"),
    [
        ("raise ValueError('bad weights file')", "ValueError: bad weights file"),
        ("def broken(:\n    pass", "SyntaxError"),
        ("import sys\nsys.exit(0)", "sys.exit(0)"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("import no_such_dependency_xyz", "No module named 'no_such_dependency_xyz'"),
    ],
    ids=["ValueError", "SyntaxError", "sys.exit(0)", "KeyboardInterrupt", "missing-dependency"],
)
def test_a_model_module_failing_at_import_is_exit_2_naming_the_module(
    tmp_path: Path,
    write_config: Callable[..., Path],
    mlflow_sqlite_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    culprit: str,
) -> None:
    module = f"bad_model_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(source) + "\n\ndef predict(frame):\n    return frame\n"
    )
    monkeypatch.chdir(tmp_path)
    config = make_config(write_config, mlflow_sqlite_uri)
    result = CliRunner().invoke(
        app,
        ["-c", str(config), "capture-model", "--input", str(write_input(tmp_path / "in.csv"))]
        + ["--model", f"{module}:predict"],
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlprom: error: --model"), result.stderr
    assert module in lines[0] and culprit in lines[0]
    assert "Traceback" not in result.output
    assert runs(config) == [] and not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("model", "culprit"),
    [
        ("tests.fixtures.models:exits_zero", "sys.exit(0)"),
        ("tests.fixtures.models:raises_keyboard_interrupt", "KeyboardInterrupt"),
        ("tests.fixtures.models:exits_on_third_batch", "sys.exit(0)"),
    ],
    ids=["sys.exit(0)", "KeyboardInterrupt", "exit-on-batch-3"],
)
def test_a_model_that_exits_is_a_failure_not_a_success(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str, model: str, culprit: str
) -> None:
    import tests.fixtures.models as models

    models._calls = 0
    config = make_config(write_config, mlflow_sqlite_uri)
    result = CliRunner().invoke(
        app,
        ["-c", str(config), "-o", "json", "capture-model", "--input", str(write_input(tmp_path / "in.csv"))]
        + ["--model", model, "--batch-size", "5"],
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert f"--model {model} failed on batch" in line and culprit in line
    (run,) = runs(config)
    assert run.info.status == "FAILED"
    # Batches measured before the failure are kept (two, for the model failing on its third call).
    expected = 2 if model.endswith("exits_on_third_batch") else 0
    assert len(events(config)) == expected


def test_an_output_without_a_length_is_not_one_value_per_row_and_no_crash(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    config = make_config(write_config, mlflow_sqlite_uri)
    result = CliRunner().invoke(
        app,
        ["-c", str(config), "-o", "json", "capture-model", "--input", str(write_input(tmp_path / "in.csv"))]
        + ["--model", "tests.fixtures.models:odd", "--batch-size", "10"],
    )
    assert result.exit_code == 0, result.output
    assert "not one value per row" in orjson.loads(result.stdout)["warnings"][0]


def test_model_uri_credentials_never_shown(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    config = make_config(write_config, mlflow_sqlite_uri)
    result = CliRunner().invoke(
        app,
        ["-c", str(config), "capture-model", "--input", str(write_input(tmp_path / "in.csv"))]
        + ["--model-uri", "http://user:hunter2-secret@127.0.0.1:9/models/m?token=tok-secret"],
    )
    assert result.exit_code in (2, 3), result.output
    assert "hunter2-secret" not in result.output and "tok-secret" not in result.output
    assert "Traceback" not in result.output
