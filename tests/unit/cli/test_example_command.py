"""`mlprom example config|dashboard` prints the shipped examples, which are the files the docs show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlprom.cli import EXAMPLE_FILES, app
from mlprom.config import load_config

ROOT = Path(__file__).resolve().parents[3]
# The files the docs link to, and their copies in the package (what an installed mlprom can print).
SHOWN = {
    "config": ROOT / "thresholds.example.yaml",
    "dashboard": ROOT / "examples/grafana/mlprom-dashboard.json",
}
SHIPPED = ROOT / "mlprom" / "examples"

runner = CliRunner()


@pytest.mark.parametrize("name", sorted(SHOWN))
def test_the_shipped_copy_is_the_file_the_docs_show(name: str) -> None:
    shipped = SHIPPED / EXAMPLE_FILES[name]
    assert shipped.read_bytes() == SHOWN[name].read_bytes(), (
        f"{shipped.relative_to(ROOT)} differs from {SHOWN[name].relative_to(ROOT)}: copy the one you edited "
        "over the other"
    )


def test_example_config_prints_the_commented_config_which_loads(tmp_path: Path) -> None:
    result = runner.invoke(app, ["example", "config"])
    assert result.exit_code == 0, result.output
    assert result.stdout == SHOWN["config"].read_text(encoding="utf-8")
    path = tmp_path / "mlprom.yaml"
    path.write_text(result.stdout)
    config = load_config(str(path), env={})
    assert "cpu_usage" in config.queries and "disk_read_io" in config.queries


def test_example_dashboard_prints_the_grafana_dashboard() -> None:
    result = runner.invoke(app, ["example", "dashboard", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(SHOWN["dashboard"].read_text(encoding="utf-8"))
    assert result.stdout == SHOWN["dashboard"].read_text(encoding="utf-8")


def test_an_unknown_example_is_a_usage_error_naming_it() -> None:
    result = runner.invoke(app, ["example", "alertmanager"])
    assert result.exit_code == 2
    assert "alertmanager" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("argv", [["-q", "example", "config"], ["example", "dashboard", "-q"]])
def test_example_quiet_prints_nothing(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
