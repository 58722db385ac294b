"""The `mlflow` extra's declared range is the tested one: capture-model on its lowest and newest MLflow.

bench/mlflow_compat.py installs this tree's wheel with each MLflow into a fresh venv and checks a real
capture against a sqlite store there (run, tags, inputs, metrics on the LoggedModel, the summary
artifact, FAILED runs). The first run fills a wheelhouse from the package index (some minutes); later
runs install from it (docs/capture.md has the times).
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


def test_the_extras_bounds_are_the_versions_checked() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (requirement,) = [r for r in pyproject["project"]["optional-dependencies"]["mlflow"] if "mlflow" in r]
    assert requirement == f"mlflow>={mlflow_compat.LOWEST},<{mlflow_compat.BELOW}"
    assert mlflow_compat.NEWEST.startswith(mlflow_compat.LOWEST.rsplit(".", 1)[0] + ".")


def test_capture_model_works_with_the_lowest_and_the_newest_supported_mlflow(tmp_path: Path) -> None:
    wheel = str(build_wheel(tmp_path / "dist"))
    args = [mlflow_compat.LOWEST, mlflow_compat.NEWEST, "--wheel", wheel]
    done, reports = mlflow_compat.invoke(args, cwd=tmp_path, timeout=1200)
    assert [r["mlflow"] for r in reports] == [mlflow_compat.LOWEST, mlflow_compat.NEWEST], done.stderr[-2000:]
    for report in reports:
        assert report["ok"], report.get("error")
        assert report["installed"] == report["mlflow"]
    assert done.returncode == 0
