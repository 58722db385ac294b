"""The storage interface every backend implements, and the records it returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from mlprom.errors import StorageError

# The largest object any backend reads: event objects are a flush of one run (a few MB), so anything past
# this is not mlprom's (a symlink to a disk image, /dev/zero) and is refused, naming the key, unread.
MAX_OBJECT_BYTES = 256 * 1024 * 1024


class Refused(StorageError):
    """The store refuses this object or prefix, and trying again will not change that: no permission,
    not a regular file, a symlink loop, a file where a directory should be, over MAX_OBJECT_BYTES, S3's
    AccessDenied. Readers skip what is refused (a partial failure); any other StorageError (a timeout,
    a connection error, a 5xx) is the store failing, and ends the run before anything is written."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and an opaque token for the version read (S3: the ETag; local: a digest)."""

    data: bytes
    version: str


@dataclass(frozen=True)
class DeleteResult:
    deleted: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (key, reason)
    requests: int = 0


@dataclass
class RequestCounter:
    """Counts requests by operation, so tests and benchmarks can check the S3 bill."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, operation: str, n: int = 1) -> None:
        self.counts[operation] = self.counts.get(operation, 0) + n


class Storage(ABC):
    """Keys are '/'-separated relative paths from mlprom.layout; values are bytes."""

    #: where this store is, without credentials, for messages and reports
    location: str

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        """Write the whole object atomically: readers see the old object, or the new one, never a part."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Read an object; raises ObjectNotFound when it is absent, StorageError when it is larger than
        MAX_OBJECT_BYTES or is no stored object at all (a FIFO or device in a local store)."""

    @abstractmethod
    def get_versioned(self, key: str) -> Versioned | None:
        """Read an object with its version token, for a later `put_if`; None when it is absent."""

    @abstractmethod
    def put_if(
        self, key: str, data: bytes, version: str | None, content_type: str = "application/json"
    ) -> bool:
        """Compare-and-swap: write only if the object is still at `version` (None: only if it is absent).

        True when written; False when another writer changed (or created, or deleted) it since it was
        read: re-read, recompute, and try again.
        """

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Stream the objects whose key starts with prefix, in key order, a page at a time."""

    @abstractmethod
    def delete_many(self, keys: Iterable[str]) -> DeleteResult:
        """Delete keys in as few requests as the backend allows; failures are reported per key."""

    @abstractmethod
    def url_for(self, key: str) -> str:
        """The full URL of a key, for reports and alert annotations."""

    def exists(self, key: str) -> bool:
        from mlprom.errors import ObjectNotFound

        try:
            self.get_bytes(key)
        except ObjectNotFound:
            return False
        return True
