"""The CLI process's first line: until mlprom's own handlers are in, SIGTERM/SIGINT end it at once.

Nothing has started then (no run, no write), so exiting on the spot with one line and 128 + signum is
all there is to do. Only the standard library's signal, os and sys are imported here: the window in
which Python's defaults apply (killed by SIGTERM, a KeyboardInterrupt traceback) shrinks to the
interpreter's own start-up.
"""

import _signal  # the C module: `signal` would first build its enums, a few ms more of Python's defaults
import os
import sys

_NAMES = {_signal.SIGTERM: "SIGTERM", _signal.SIGINT: "SIGINT"}


def _stop(signum: int, frame: object) -> None:
    try:
        sys.stderr.write(f"mlprom: interrupted by {_NAMES.get(signum, signum)}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # no stderr to tell: the exit code says it
    os._exit(128 + signum)


def install() -> None:
    for sig in _NAMES:
        _signal.signal(sig, _stop)
