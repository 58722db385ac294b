"""The `tracking` extra as a user of a tracking server gets it: this tree's wheel with mlflow-skinny in a
fresh venv, capture-model against the suite's real `mlflow server`.

bench/mlflow_compat.py --tracking installs `<wheel>[tracking]` with mlflow-skinny (the extra's newest)
from its wheelhouse, registers a model on the server with this interpreter's (full) MLflow, and in the
venv checks that SQLAlchemy, alembic and Flask are absent, runs
`python -m mlprom capture-model --model-uri models:/NAME@champion` against the server and checks the run,
then that a sqlite tracking URI and MLflow's default store are refused (exit 2, one line naming
`mlprom[mlflow]`, nothing on stdout). Here the run is read back again with the suite's MLflow client.
About 40 s once the wheelhouse is filled (the wheel's build included, a load average of 2); the first run
downloads the wheels it lacks.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import mlflow_compat  # noqa: E402 - bench/ is not a package

from tests.fixtures.wheel import build_wheel  # noqa: E402


def test_the_tracking_extra_is_mlflow_skinny_in_the_mlflow_extras_range() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    skinny = [r for r in extras["tracking"] if r.startswith("mlflow")]
    assert skinny == [f"mlflow-skinny>={mlflow_compat.LOWEST},<{mlflow_compat.BELOW}"]
    assert [r for r in extras["mlflow"] if r.startswith("mlflow")] == [
        f"mlflow>={mlflow_compat.LOWEST},<{mlflow_compat.BELOW}"
    ]
    assert sorted(set(extras["tracking"]) - set(skinny)) == sorted(
        r for r in extras["mlflow"] if not r.startswith("mlflow")
    )


def test_capture_model_on_mlflow_skinny_against_a_tracking_server(mlflow_server: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    wheel = str(build_wheel(tmp_path / "dist"))
    args = ["--tracking", mlflow_server, mlflow_compat.NEWEST, "--wheel", wheel]
    done, reports = mlflow_compat.invoke(args, cwd=tmp_path, timeout=900)
    assert [r["mlflow"] for r in reports] == [mlflow_compat.NEWEST], done.stderr[-2000:]
    (report,) = reports
    assert report["ok"], report.get("error")
    assert report["package"] == "mlflow-skinny" and report["installed"] == mlflow_compat.NEWEST
    assert done.returncode == 0

    client = MlflowClient(mlflow_server)
    run = client.get_run(report["run_id"])
    assert run.info.status == "FINISHED"
    assert {"rows", "batches", "accuracy", "prediction_time_p95_seconds"} <= set(run.data.metrics)
    assert run.data.metrics["rows"] == 30
    assert run.data.params["model_uri"].endswith("@champion")
    (model_input,) = run.inputs.model_inputs
    logged = {m.key for m in client.get_logged_model(model_input.model_id).metrics or []}
    assert {"rows", "accuracy"} <= logged
