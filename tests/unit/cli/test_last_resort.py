"""Whatever escapes a stage, the CLI ends with one redacted line and a code from the contract's set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlprom.cli import CONTRACT_EXIT_CODES, INTERNAL_ERROR_EXIT, app


@pytest.mark.parametrize(
    "error",
    [
        TypeError("unsupported operand for http://admin:pa55word@prom:9090/api?token=tok123"),
        RecursionError("maximum recursion depth exceeded"),
        KeyError("x"),
        SystemExit(0),
        MemoryError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_unexpected_exception_is_one_line_exit_2_without_secrets(
    error: BaseException, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlprom.stages.correlate as correlate

    def broken(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(correlate, "run", broken)
    result = CliRunner().invoke(app, ["-c", str(write_config()), "correlate", "--date", "2026-11-20"])
    assert result.exit_code == INTERNAL_ERROR_EXIT and result.exit_code in CONTRACT_EXIT_CODES
    assert isinstance(result.exception, SystemExit)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mlprom: error: internal error in correlate: ")
    assert "pa55word" not in result.output and "tok123" not in result.output
    assert "Traceback" not in result.output and result.stdout == ""


def test_verbose_shows_where_an_unexpected_exception_came_from(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlprom.stages.correlate as correlate

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("boom")

    monkeypatch.setattr(correlate, "run", broken)
    result = CliRunner().invoke(app, ["-v", "-c", str(write_config()), "correlate"])
    assert result.exit_code == INTERNAL_ERROR_EXIT
    assert "in broken" in result.stderr  # -v asked for debug output: the stack is part of it
