"""Global options -c/-o/-v/-q work after the subcommand as well as before it; -q is silent on a clean run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from mlprom.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "argv",
    [
        ["-o", "json", "alert", "--date", "2026-11-20", "--dry-run", "--allow-empty"],
        ["alert", "--date", "2026-11-20", "--dry-run", "--allow-empty", "-o", "json"],
        ["-o", "table", "alert", "--dry-run", "--output", "json", "--date", "2026-11-20", "--allow-empty"],
    ],
)
def test_output_option_is_accepted_before_and_after_the_subcommand(
    argv: list[str], write_config: Callable[..., Path]
) -> None:
    config = write_config()
    result = runner.invoke(app, ["-c", str(config), *argv])
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    assert document["date"] == "2026-11-20"
    assert document["dry_run"] is True


def test_config_option_after_the_subcommand_is_the_one_loaded(write_config: Callable[..., Path]) -> None:
    config = write_config({"model": {"name": "after-the-command"}})
    result = runner.invoke(
        app, ["alert", "--date", "2026-11-20", "--dry-run", "--allow-empty", "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    missing = runner.invoke(app, ["alert", "--allow-empty", "-c", str(config.parent / "absent.yaml")])
    assert missing.exit_code == 2
    assert "absent.yaml" in missing.stderr


@pytest.mark.parametrize("position", ["before", "after"])
def test_quiet_clean_run_prints_nothing_at_all(position: str, write_config: Callable[..., Path]) -> None:
    config = write_config()
    tail = ["correlate", "--date", "2026-11-20", "--allow-empty"]
    argv = ["-q", "-c", str(config), *tail] if position == "before" else [*tail, "-c", str(config), "-q"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == ""


def test_global_options_are_listed_in_each_commands_help() -> None:
    result = runner.invoke(app, ["correlate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--config", "--output", "--verbose", "--quiet"):
        assert flag in result.stdout
