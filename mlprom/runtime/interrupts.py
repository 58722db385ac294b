"""SIGTERM and SIGINT for the CLI: turned into an Interrupted exception at points where stopping loses nothing.

The CLI installs the handlers (`handling()`); stages mark what must not be cut in half. By default a
signal raises Interrupted at once: correlate, capture-infra, alert and prune write each object whole
(see docs/reliability.md). Inside `deferred()` a signal is only recorded, and raised at the next
`checkpoint()` or inside `interruptibly(...)`: capture-model runs its batch loop that way, so a batch the
model finished is always recorded, and the model call itself (or a blocking read) is still cut short.
Inside `cleanup()` further signals are noted and ignored while what was measured is flushed.

Python runs a signal handler between any two bytecodes, also inside a weakref callback or a `__del__`
that the garbage collector happens to call; an exception raised there is "ignored" (printed with a
traceback and dropped). While the handlers are installed, `sys.unraisablehook` catches such an
Interrupted silently and delivers the signal again, so it is raised in the run's own code a moment later.

Without the CLI's handlers (library use) every function here is a no-op.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from mlprom.errors import Interrupted

log = logging.getLogger("mlprom")

T = TypeVar("T")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _State:
    installed = False
    received: int | None = None  # the first signal received, if any
    defer_depth = 0  # > 0: inside deferred()
    islands = 0  # > 0: inside interruptibly() (only meaningful when deferred)
    cleaning = False  # inside cleanup(): flush what was measured, ignore further signals
    told = False  # the run's last line ("interrupted by ...") is out: nothing more is said after it
    raised = False
    previous_hook: Callable[[Any], object] = sys.__unraisablehook__  # what handling() replaced


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    first = _state.received is None
    if first:
        _state.received = signum
    if _state.cleaning or _state.raised:
        # Already stopping: a second signal must not cut the unwinding or the flush in half.
        # `timeout` signals the child and then its process group: the copy may land after the last line.
        if not first and not _state.told:
            log.warning("%s received again: still saving what was measured", signal.Signals(signum).name)
        return
    if _state.defer_depth > 0:
        # In a deferred region only a call marked interruptible is cut short; its own frame (the call is
        # about to start, or has just returned a finished batch) waits for the next checkpoint.
        in_island = _state.islands > 0 and (frame is None or frame.f_code is not _ISLAND_CODE)
        if not in_island:
            return
    if _inside_hook(frame):
        _redeliver(signum)  # raised here it would be dropped too, this time with a traceback
        return
    _raise(signum)


def told() -> None:
    """The run has printed its last line about the interruption: later copies of the signal stay silent."""
    _state.told = True


def _raise(signum: int) -> None:
    _state.raised = True
    raise Interrupted(signum)


def _redeliver(signum: int) -> None:
    """Signal this process again from a short-lived thread, a moment from now."""

    def send() -> None:
        time.sleep(0.005)
        os.kill(os.getpid(), signum)

    threading.Thread(target=send, name="mlprom-redeliver", daemon=True).start()


def _unraisable(info: Any) -> None:
    """sys.unraisablehook for the run: an Interrupted dropped by a callback is delivered again, quietly."""
    exc = info.exc_value
    if not isinstance(exc, Interrupted):
        _state.previous_hook(info)
        return
    _state.raised = False
    _redeliver(exc.signum)


def _inside_hook(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code is _unraisable.__code__:
            return True
        frame = frame.f_back
    return False


def _exit_now(signum: int, frame: FrameType | None) -> None:
    """After the run, while the interpreter shuts down: a signal ends the process at once, cleanly."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: nothing more can reach it
    os._exit(128 + signum)


def exiting() -> None:
    """The console script's run is over: from now on a signal exits with 128 + signum without unwinding.

    Without this the default action would apply again (killed by the signal), or an exception would fly
    through atexit handlers. Only for a real process, never in-process runners.
    """
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _exit_now)


@contextmanager
def handling(restore: bool = True) -> Iterator[None]:
    """Install the handlers for the duration of a CLI run (main thread only), then restore the old ones.

    The console script passes restore=False and calls exiting() instead: between the run's end and the
    process's, the old (default) handlers would kill it with the signal rather than exit 143 / 130.
    """
    if _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _state.previous_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable
    _state.installed = True
    _state.received = None
    _state.defer_depth = _state.islands = 0
    _state.cleaning = _state.raised = _state.told = False
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        sys.unraisablehook = _state.previous_hook
        if restore:
            for sig, old in previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
            _state.installed = False


def reassert() -> None:
    """Re-install the handlers if user code (a model's import) replaced them while they were active."""
    if not _state.installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        if signal.getsignal(sig) is not _handler:
            log.debug("restoring mlprom's %s handler replaced by the model's code", signal.Signals(sig).name)
            signal.signal(sig, _handler)


def received() -> int | None:
    """The signal received during this run, if any (even one that some code caught and swallowed)."""
    return _state.received if _state.installed else None


def checkpoint() -> None:
    """Raise Interrupted now if a signal arrived (also one swallowed by user code); a no-op otherwise."""
    if _state.installed and _state.received is not None and not _state.cleaning:
        _raise(_state.received)


@contextmanager
def deferred() -> Iterator[None]:
    """Signals are recorded, not raised, except inside interruptibly(); raise at checkpoint()."""
    _state.defer_depth += 1
    try:
        yield
    finally:
        _state.defer_depth -= 1


def interruptibly(fn: Callable[..., T], *args: Any) -> T:
    """Call fn(*args) so that a signal interrupts it (a slow model, a blocking read) even when deferred."""
    _state.islands += 1
    try:
        return fn(*args)
    finally:
        _state.islands -= 1


_ISLAND_CODE = interruptibly.__code__


@contextmanager
def cleanup() -> Iterator[None]:
    """Saving what was measured after a failure or a signal: further signals are noted, never raised."""
    was = _state.cleaning
    _state.cleaning = True
    try:
        yield
    finally:
        _state.cleaning = was
