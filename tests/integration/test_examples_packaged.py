"""The wheel built from this tree ships the examples, and `mlprom example` run from that wheel prints them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.wheel import build_wheel

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHOWN = {
    "config": ROOT / "thresholds.example.yaml",
    "dashboard": ROOT / "examples/grafana/mlprom-dashboard.json",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_the_examples_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "mlprom/py.typed",
        "mlprom/examples/thresholds.example.yaml",
        "mlprom/examples/mlprom-dashboard.json",
    } <= names


@pytest.mark.parametrize("name", sorted(SHOWN))
def test_mlprom_example_from_the_wheel_prints_the_file_the_docs_show(
    wheel: Path, tmp_path: Path, name: str
) -> None:
    # The package imported from the wheel itself (a zip on sys.path), from a directory outside the tree.
    env = {**os.environ, "PYTHONPATH": str(wheel), "WHEEL": str(wheel)}
    code = (
        "import os, mlprom.cli; assert mlprom.cli.__file__.startswith(os.environ['WHEEL']); mlprom.cli.main()"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, "example", name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == SHOWN[name].read_text(encoding="utf-8")
