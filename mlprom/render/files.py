"""Files a renderer writes (`report --out`, `--assets`): whole or not at all."""

from __future__ import annotations


def write_atomically(path: str, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically; see write_bytes_atomically."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same directory and a rename: a reader (a browser,
    a CI upload) sees the old file or the new one, never half of one. Raises InputError naming the path."""
    import os
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
