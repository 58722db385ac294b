"""Files a renderer writes (`report --out`, `--assets`): whole or not at all, and never over something else.

A regular file (or a new path) is replaced atomically. An existing FIFO or character device (/dev/stdout,
/dev/null, a named pipe a CI job reads) is written through, since replacing it would destroy it. A symlink
to anything else, a directory, a socket or a block device is refused: renaming over a symlink would replace
the link, writing through it would change a file the operator did not name (docs/report.md).
"""

from __future__ import annotations

import errno
import os
import stat


def write_atomically(path: str, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically; see write_bytes_atomically."""
    write_bytes_atomically(path, text.encode("utf-8"))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a block device" if stat.S_ISBLK(mode) else "not a regular file"


def write_bytes_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same directory and a rename: a reader (a browser,
    a CI upload) sees the old file or the new one, never half of one. FIFOs and character devices are
    written through; other targets that are no regular file are refused. Raises InputError naming the path."""
    from mlprom.errors import InputError

    try:
        target: os.stat_result | None = os.stat(path)  # through a symlink: what would be written
    except FileNotFoundError:
        target = None  # a new file, or a symlink to nothing
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if target is not None and (stat.S_ISFIFO(target.st_mode) or stat.S_ISCHR(target.st_mode)):
        _write_through(path, data)
        return
    if os.path.islink(path):
        raise InputError(
            f"cannot write {path}: is a symbolic link; refusing to replace it or what it points to"
        )
    if target is not None and not stat.S_ISREG(target.st_mode):
        raise InputError(f"cannot write {path}: is {_kind(target.st_mode)}, not a regular file")
    _replace(path, data)


def _write_through(path: str, data: bytes) -> None:
    """Write into an existing FIFO or character device without replacing it."""
    import fcntl

    from mlprom.errors import InputError

    try:
        # Non-blocking open: a FIFO nobody reads fails at once (ENXIO) instead of hanging the run.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InputError(f"cannot write {path}: a FIFO that no process is reading") from None
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        # Then blocking writes: the reader takes the report at its own pace.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _replace(path: str, data: bytes) -> None:
    import tempfile

    from mlprom.errors import InputError

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix=".mlprom-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
