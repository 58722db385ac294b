"""A usage error is one line naming the culprit and exit 2, as the README promises (no boxed panel)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["-o", "xml", "check"], "'xml' is not one of 'table', 'json', 'markdown', 'html'"),
        (["bogus"], "no such command 'bogus'"),
        (["correlate", "--fail-on", "sometimes"], "'sometimes' is not one of 'warning', 'critical', 'never'"),
        (["prune", "--nope"], "no such option: --nope"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_culprit(args: list[str], culprit: str) -> None:
    done = subprocess.run([sys.executable, "-m", "mlprom", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mlprom: error: ")
    assert culprit in lines[0]
    assert "╭" not in done.stderr and "Traceback" not in done.stderr


def test_no_arguments_still_print_the_help() -> None:
    done = subprocess.run([sys.executable, "-m", "mlprom"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Usage: mlprom [OPTIONS] COMMAND [ARGS]..." in done.stdout + done.stderr
    assert "correlate" in done.stdout + done.stderr
