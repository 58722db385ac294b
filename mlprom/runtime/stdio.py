"""stdout carries mlprom's result only: while a model's or MLflow's code runs, what it prints goes elsewhere.

Both levels are redirected: `sys.stdout` (Python prints) and file descriptor 1 (C extensions, subprocesses,
`os.write(1, ...)`), so nothing a model writes can land in the middle of `-o json`. Redirections nest
and may be entered from several threads at once (check probes MLflow in a worker): the first entry
redirects, the last exit restores.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Literal

Target = Literal["stderr", "devnull"]

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_saved_stdout: Any = None
_devnull: IO[str] | None = None


class _Redacting:
    """stderr for Python-level prints of others' code: MLflow prints its tracking URL, userinfo and all."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from mlprom.redact import redact_text

        self._stream.write(redact_text(text))
        return len(text)

    def flush(self) -> None:
        _flush(self._stream)

    def fileno(self) -> int:
        return int(self._stream.fileno())

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _flush_c_stdio() -> None:
    # printf() from C code sits in libc's buffer; flush it while fd 1 still points at the redirect.
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):
        pass  # no libc to flush (not POSIX): nothing buffered there either


def _flush(stream: Any) -> None:
    try:
        if stream is not None:
            stream.flush()
    except (OSError, ValueError):
        pass  # a closed or broken stream has nothing left to flush


def _enter(target: Target) -> None:
    global _saved_fd, _saved_stdout, _devnull
    _saved_stdout = sys.stdout
    _flush(sys.stdout)
    if target == "devnull":
        _devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed in _exit
        replacement: Any = _devnull
    else:
        replacement = _Redacting(sys.stderr)
    sys.stdout = replacement
    try:
        _saved_fd = os.dup(1)
    except OSError:
        _saved_fd = None  # fd 1 is closed: nothing to protect at that level
        return
    try:
        fd = replacement.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None  # a test runner's in-memory stderr: fall back to the real fd 2
    if fd is None:
        try:
            fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        except (AttributeError, OSError, ValueError):
            fd = 2
    try:
        os.dup2(fd, 1)
    except OSError:
        os.close(_saved_fd)
        _saved_fd = None


def _exit() -> None:
    global _saved_fd, _saved_stdout, _devnull
    _flush(sys.stdout)
    _flush(sys.__stdout__)
    _flush_c_stdio()
    if _saved_fd is not None:
        try:
            os.dup2(_saved_fd, 1)
        finally:
            os.close(_saved_fd)
            _saved_fd = None
    sys.stdout = _saved_stdout
    _saved_stdout = None
    if _devnull is not None:
        _devnull.close()
        _devnull = None


@contextmanager
def stdout_redirected(target: Target = "stderr") -> Iterator[None]:
    """Send stdout (Python and fd 1) to stderr or to /dev/null for the duration; restored afterwards."""
    global _depth
    with _lock:
        if _depth == 0:
            _enter(target)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _exit()
