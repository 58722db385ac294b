"""interrupts: a signal that lands inside a callback whose exceptions Python drops still stops the run."""

from __future__ import annotations

import gc
import signal
import sys
import time
import weakref

import pytest

from mlprom.errors import Interrupted
from mlprom.runtime import interrupts


class _Thing:
    pass


def _wait_for_interruption() -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.01)
    raise AssertionError("the signal dropped by the callback was never raised again")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_inside_a_weakref_callback_is_raised_in_the_run_without_a_traceback(
    sig: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = sys.unraisablehook
    with pytest.raises(Interrupted) as raised, interrupts.handling():
        thing = _Thing()
        # What the garbage collector does at an arbitrary bytecode: run a callback whose exception is dropped.
        ref = weakref.ref(thing, lambda _: signal.raise_signal(sig))
        del thing
        gc.collect()
        assert ref() is None
        _wait_for_interruption()
    assert raised.value.signum == sig
    assert "Traceback" not in capsys.readouterr().err
    assert sys.unraisablehook is hook  # the run's hook is gone with its handlers


def test_other_dropped_exceptions_still_reach_the_previous_hook() -> None:
    seen: list[BaseException | None] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda info: seen.append(info.exc_value)
    try:
        with interrupts.handling():
            thing = _Thing()
            ref = weakref.ref(thing, lambda _: 1 / 0)
            del thing
            gc.collect()
            assert ref() is None
    finally:
        sys.unraisablehook = previous
    assert len(seen) == 1 and isinstance(seen[0], ZeroDivisionError)


def test_a_copy_of_the_signal_after_the_last_line_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    # GNU timeout signals the child, then its whole process group: the copy may arrive at any moment.
    with pytest.raises(Interrupted), interrupts.handling():
        signal.raise_signal(signal.SIGTERM)
        time.sleep(1)
    with caplog.at_level("WARNING", logger="mlprom"), interrupts.handling():
        interrupts._state.raised = True  # stopping, before the last line: a second signal is told
        interrupts._handler(signal.SIGTERM, None)
        interrupts._handler(signal.SIGTERM, None)
        assert [r.getMessage() for r in caplog.records] == [
            "SIGTERM received again: still saving what was measured"
        ]
        caplog.clear()
        interrupts.told()  # the CLI printed "mlprom: interrupted by SIGTERM"
        interrupts._handler(signal.SIGTERM, None)
        assert caplog.records == []
