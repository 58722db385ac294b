"""--help: an example and the exit codes for every command, no value type on flags, completion on."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from mlprom.cli import app

runner = CliRunner()
COMMANDS = [
    "capture-infra",
    "capture-model",
    "correlate",
    "alert",
    "profile",
    "prune",
    "check",
    "rules",
    "report",
]
WIDE = {"COLUMNS": "200"}


def _help(*argv: str) -> str:
    result = runner.invoke(app, [*argv, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_an_example_and_its_exit_codes(command: str) -> None:
    text = _help(command)
    example = re.search(r"Example: (mlprom [^\n]+)", text)
    assert example is not None and example.group(1).split()[1] == command
    assert re.search(r"Exit: 0 ", text)


@pytest.mark.parametrize("argv", [[], *[[c] for c in COMMANDS]])
def test_flags_show_no_value_type(argv: list[str]) -> None:
    text = _help(*argv)
    assert "<bool>" not in text
    assert re.search(r"--help\s+-h\s+Show this message", text)


def test_model_and_model_uri_are_one_mutually_exclusive_panel() -> None:
    text = _help("capture-model")
    panel = text[text.index("Model: exactly one of --model-uri and --model (mutually exclusive)") :]
    panel = panel[: panel.index("╰")]
    assert "--model-uri" in panel and re.search(r"--model\s", panel)


def test_main_help_lists_exit_codes_and_shell_completion() -> None:
    text = _help()
    assert "--install-completion" in text and "--show-completion" in text
    for code in (
        "0 done",
        "1 findings",
        "2 usage",
        "3 an upstream",
        "4 no data",
        "130 interrupted",
        "143 terminated",
    ):
        assert code in text


def test_bash_completion_completes_commands_and_options() -> None:
    env = {"_MLPROM_COMPLETE": "complete_bash", "COMP_WORDS": "mlprom correlate --fail", "COMP_CWORD": "2"}
    result = runner.invoke(app, [], env=env, prog_name="mlprom")
    assert result.stdout.split() == ["--fail-on"]
