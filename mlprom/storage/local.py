"""Local directory storage: the default. Writes are atomic (temp file in the same directory, then rename).

Files get 0666 and directories 0777, less the process umask, as any other program's would: a query
engine run by another user can read the store when the umask lets it. Compare-and-swap (`put_if`) holds
an exclusive lock on a `.lock-<name>` file next to the object while it compares and renames, waiting at
most `lock_timeout` seconds for it. Only regular files are objects: a FIFO, socket or device found in the
store is skipped by `list` with a warning and refused by `get_bytes`, which never blocks on one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from mlprom.config.loader import FileTooLarge, NotRegularFile, file_kind, read_regular_file
from mlprom.errors import ObjectNotFound, StorageError
from mlprom.storage.interface import MAX_OBJECT_BYTES, DeleteResult, ObjectInfo, Refused, Storage, Versioned

log = logging.getLogger("mlprom")

_HIDDEN_PREFIXES = (".tmp-", ".lock-")
DEFAULT_LOCK_TIMEOUT = 30.0  # storage.timeout's default: how long put_if waits for another writer's lock
_LOCK_POLL = 0.05
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # setting it is the only portable way to read it; put it straight back
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStorage(Storage):
    def __init__(
        self,
        root: Path,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        max_object_bytes: int = MAX_OBJECT_BYTES,
    ) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.lock_timeout = lock_timeout
        self.max_object_bytes = max_object_bytes

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"{self.location}: refusing key outside the store: {key!r}")
        return self.root / key

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        path = self._path(key)
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            # mkstemp makes 0600 files; the object gets what any program's new file gets under the umask.
            os.fchmod(fd, 0o666 & ~current_umask())
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            raise StorageError(f"{self.location}: cannot write {key}: {exc.strerror or exc}") from None
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass  # the temp file never came to be; nothing to clean

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        import fcntl

        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.parent / f".lock-{path.name}"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            # flock has no timeout of its own: poll without blocking, so a writer that hangs while holding
            # the lock (a stopped process, a stuck NFS client) ends this run instead of every cron run after.
            give_up = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= give_up:
                        raise StorageError(
                            f"{self.location}: {lock_path} is held by another process; gave up after "
                            f"{self.lock_timeout:g} s (storage.timeout)"
                        ) from None
                    time.sleep(_LOCK_POLL)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def get_versioned(self, key: str) -> Versioned | None:
        try:
            data = self.get_bytes(key)
        except ObjectNotFound:
            return None
        return Versioned(data, _version(data))

    def put_if(
        self, key: str, data: bytes, version: str | None, content_type: str = "application/json"
    ) -> bool:
        try:
            with self._locked(key):
                current = self.get_versioned(key)
                if (current.version if current is not None else None) != version:
                    return False
                self.put_bytes(key, data, content_type)
                return True
        except OSError as exc:
            raise StorageError(f"{self.location}: cannot lock {key}: {exc.strerror or exc}") from None

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        cap = self.max_object_bytes
        try:
            data = read_regular_file(path, cap)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key, self.location) from None
        except NotRegularFile as exc:
            raise Refused(f"{self.location}: {key} is {exc.kind}, not a stored object; not read") from None
        except FileTooLarge as exc:
            raise Refused(
                f"{self.location}: {key} is {exc.size:,} bytes, over the {cap:,}-byte cap of "
                "a stored object; not read"
            ) from None
        except OSError as exc:
            raise Refused(f"{self.location}: cannot read {key}: {exc.strerror or exc}") from None
        if len(data) > cap:  # it grew while being read
            raise Refused(f"{self.location}: {key} is over the {cap:,}-byte cap of a stored object; not read")
        return data

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        # Walk only the directory the prefix names, so listing one partition never scans the store.
        head, _, _ = prefix.rpartition("/")
        start = self._path(head) if head else self.root
        try:
            st = os.stat(start)
        except FileNotFoundError:
            return  # nothing stored there yet
        except OSError as exc:
            # Unsearchable (EACCES), a symlink loop, a file where a directory should be (ENOTDIR): there may
            # be objects behind it that nobody can read. Refused, for the reader to count.
            raise Refused(f"{self.location}: cannot list {prefix or '/'}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise Refused(
                f"{self.location}: cannot list {prefix or '/'}: {head or '.'} is {file_kind(st.st_mode)}, "
                "not a directory"
            )
        try:
            yield from self._walk(start, prefix)
        except OSError as exc:
            raise Refused(f"{self.location}: cannot list {prefix}: {exc.strerror or exc}") from None

    def _walk(self, start: Path, prefix: str) -> Iterator[ObjectInfo]:
        def unlisted(exc: OSError) -> None:
            where = os.path.relpath(exc.filename or start, self.root).replace(os.sep, "/")
            if exc.filename is None or exc.filename == os.fspath(start):
                raise exc  # the partition itself: list() makes it Refused
            # A directory inside the prefix (prune lists whole kinds): the rest of the listing goes on.
            log.warning("%s: skipping %s/: cannot list it: %s", self.location, where, exc.strerror or exc)

        for dirpath, dirnames, filenames in os.walk(start, onerror=unlisted):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            for name in sorted(filenames):
                if name.startswith(_HIDDEN_PREFIXES):
                    continue
                key = rel_dir + name
                if not key.startswith(prefix):
                    continue
                info = self._entry(os.path.join(dirpath, name), key)
                if info is not None:
                    yield info

    def _entry(self, path: str, key: str) -> ObjectInfo | None:
        """The listing's record of one directory entry; None, with a warning naming the key, for anything
        that is no stored object: a FIFO, socket or device, a dangling symlink or a symlink loop."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if os.path.islink(path):
                log.warning("%s: skipping %s: a dangling symlink, not a stored object", self.location, key)
            return None  # else deleted since the directory was read
        except OSError as exc:
            log.warning("%s: skipping %s: %s", self.location, key, exc.strerror or exc)
            return None
        if not stat.S_ISREG(st.st_mode):
            # Someone else's FIFO, socket or device (or a symlink to /dev/zero): reading it would hang or
            # never end. Skip it, once, in the open.
            log.warning("%s: skipping %s: %s, not a stored object", self.location, key, file_kind(st.st_mode))
            return None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete_many(self, keys: Iterable[str]) -> DeleteResult:
        deleted: list[str] = []
        failed: list[tuple[str, str]] = []
        for key in keys:
            path = self._path(key)
            try:
                path.unlink()
                deleted.append(key)
            except FileNotFoundError:
                deleted.append(key)
            except OSError as exc:
                failed.append((key, exc.strerror or str(exc)))
                continue
            # Remove directories the delete emptied, up to the store's root.
            parent = path.parent
            while parent != self.root and parent.is_relative_to(self.root):
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent
        return DeleteResult(tuple(deleted), tuple(failed), requests=len(deleted) + len(failed))

    def url_for(self, key: str) -> str:
        from urllib.parse import quote

        # Path.as_uri() would escape the "=" of dt=...; it is legal in a file URL and easier to read.
        return "file://" + quote(str(self.root / key), safe="/=")
