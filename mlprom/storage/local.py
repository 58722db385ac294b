"""Local directory storage: the default. Writes are atomic (temp file in the same directory, then rename)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from mlprom.errors import ObjectNotFound, StorageError
from mlprom.storage.interface import DeleteResult, ObjectInfo, Storage


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

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

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key, self.location) from None
        except OSError as exc:
            raise StorageError(f"{self.location}: cannot read {key}: {exc.strerror or exc}") from None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        # Walk only the directory the prefix names, so listing one partition never scans the store.
        if not self.root.exists():
            return
        head, _, _ = prefix.rpartition("/")
        start = self._path(head) if head else self.root
        if not start.is_dir():
            return
        try:
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames.sort()
                rel_dir = os.path.relpath(dirpath, self.root)
                rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
                for name in sorted(filenames):
                    if name.startswith(".tmp-"):
                        continue
                    key = rel_dir + name
                    if not key.startswith(prefix):
                        continue
                    st = os.stat(os.path.join(dirpath, name))
                    yield ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))
        except OSError as exc:
            raise StorageError(f"{self.location}: cannot list {prefix}: {exc.strerror or exc}") from None

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
