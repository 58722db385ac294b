"""Reading and writing events and snapshots through Storage, in the layout's keys.

Writers buffer and write one object per flush (never one PUT per prediction, never overwriting);
readers stream partition by partition and skip corrupt objects with a warning naming the key.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import orjson

from mlprom import layout
from mlprom.records import Event, Snapshot, event_problem
from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

GZIP_MIN_BYTES = 64 * 1024  # small flushes stay plain JSONL: readable with `cat`, gzip gains little


def encode_events(events: list[Event]) -> bytes:
    """JSON Lines; checked as readers check them, so nothing is written that a reader would skip."""
    lines = []
    for event in events:
        document = event.to_dict()
        problem = event_problem(document)
        if problem:
            log.warning(
                "not writing an event of model %s at %s: %s", event.model, document.get("ts"), problem
            )
            continue
        try:
            lines.append(orjson.dumps(document))
        except TypeError as exc:  # orjson.JSONEncodeError: raw inputs that are not JSON
            if document.pop("inputs", None) is None:
                raise
            log.warning(
                "event of model %s at %s written without its inputs: %s", event.model, document["ts"], exc
            )
            lines.append(orjson.dumps(document))
    return b"".join(line + b"\n" for line in lines)


def write_events(storage: Storage, events: list[Event], now: datetime | None = None) -> list[str]:
    """Write events as one object per (date, model) partition; returns the keys written."""
    now = now or datetime.now(UTC)
    groups: dict[tuple[date, str], list[Event]] = {}
    for event in events:
        groups.setdefault((event.ts.astimezone(UTC).date(), event.model), []).append(event)
    keys = []
    for (day, model), group in sorted(groups.items()):
        body = encode_events(group)
        compress = len(body) >= GZIP_MIN_BYTES
        key = layout.event_key(day, model, now, gzip=compress)
        storage.put_bytes(
            key,
            gzip.compress(body, compresslevel=5) if compress else body,
            "application/gzip" if compress else "application/x-ndjson",
        )
        keys.append(key)
    return keys


class EventBuffer:
    """Thread-safe buffer of events; flush() writes everything buffered as one object per partition."""

    def __init__(self, storage: Storage, max_events: int = 10_000, max_buffered: int | None = None) -> None:
        self.storage = storage
        self.max_events = max_events
        # While storage keeps failing, a long-lived process would buffer without end; past max_buffered the
        # oldest events are dropped and counted (None: never drop, for runs that end and report the error).
        self.max_buffered = max_buffered
        self.dropped_events = 0
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.written_keys: list[str] = []
        self.written_events = 0

    def add(self, event: Event) -> bool:
        """Buffer one event; True when the buffer reached max_events and should be flushed."""
        with self._lock:
            self._events.append(event)
            if self.max_buffered is not None and len(self._events) > self.max_buffered:
                excess = len(self._events) - self.max_buffered
                del self._events[:excess]
                self.dropped_events += excess
            return len(self._events) >= self.max_events

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def flush(self) -> list[str]:
        with self._flush_lock:
            with self._lock:
                events, self._events = self._events, []
            if not events:
                return []
            try:
                keys = write_events(self.storage, events)
            except Exception:
                # Nothing is lost on a failed write: the events go back to the front of the buffer.
                with self._lock:
                    self._events[:0] = events
                    if self.max_buffered is not None and len(self._events) > self.max_buffered:
                        excess = len(self._events) - self.max_buffered
                        del self._events[:excess]
                        self.dropped_events += excess
                raise
            self.written_keys.extend(keys)
            self.written_events += len(events)
            return keys


class _Skipped:
    """Lines of one object skipped as unusable: one warning per object, naming its key and the first line."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.count = 0
        self.first = ""

    def add(self, lineno: int, why: str) -> None:
        self.count += 1
        if not self.first:
            self.first = f"line {lineno}: {why}"

    def report(self) -> None:
        if self.count == 1:
            log.warning("skipping %s %s", self.key, self.first)
        elif self.count:
            log.warning("skipping %d lines of %s (first: %s)", self.count, self.key, self.first)


def decode_lines(
    key: str, body: bytes, skipped: _Skipped | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) of one event object; gzip undone, corrupt lines skipped with a warning."""
    own = skipped is None
    skipped = skipped or _Skipped(key)
    if key.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, ValueError):
            log.warning("skipping %s: not valid gzip", key)
            return
    for lineno, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            skipped.add(lineno, "not valid JSON")
            continue
        if not isinstance(data, dict):
            skipped.add(lineno, "not a JSON object")
            continue
        yield lineno, data
    if own:
        skipped.report()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a bulk read.

    A hundred thousand decoded events per object are young container objects that hold no cycles
    (reference counting frees them), yet each batch of them triggers collections that scan them all:
    a third of the cost of reading a day's events.
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode_events(key: str, body: bytes) -> Iterator[Event]:
    """Events of one object; a line that is not a valid event is skipped with a warning naming it."""
    skipped = _Skipped(key)
    for lineno, data in decode_lines(key, body, skipped):
        try:
            yield Event.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            skipped.add(lineno, str(exc))
    skipped.report()


def iter_event_keys(storage: Storage, day: date, model: str | None = None) -> Iterator[str]:
    for info in storage.list(layout.partition_prefix("model", day, model)):
        parsed = layout.parse_key(info.key)
        if parsed is not None and parsed.kind == "event":
            yield info.key


def iter_event_objects(
    storage: Storage, day: date, model: str | None = None
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(key, line number, JSON object) of a date's events: the fast path for readers that need a few fields.

    At a million events a day, building an Event (and its datetimes) per line is most of a reader's cost.
    """
    for key in iter_event_keys(storage, day, model):
        # Every line is checked against the event's types here, so no reader meets a string for a number.
        skipped = _Skipped(key)
        for lineno, data in decode_lines(key, storage.get_bytes(key), skipped):
            problem = event_problem(data)
            if problem:
                skipped.add(lineno, problem)
                continue
            yield key, lineno, data
        skipped.report()


def iter_events(storage: Storage, day: date, model: str | None = None) -> Iterator[Event]:
    """Stream a date's events object by object (bounded memory: one object at a time)."""
    for key in iter_event_keys(storage, day, model):
        yield from decode_events(key, storage.get_bytes(key))


def write_snapshot(storage: Storage, snapshot: Snapshot) -> str:
    key = layout.snapshot_key(snapshot.ts.astimezone(UTC).date(), snapshot.ts, snapshot.id or None)
    storage.put_bytes(key, orjson.dumps(snapshot.to_dict()))
    return key


SNAPSHOT_READERS = 8  # concurrent GETs: a day is 1,440 small objects, and S3 answers each in 10-30 ms


def iter_snapshots(
    storage: Storage, day: date, within: tuple[float, float] | None = None
) -> Iterator[Snapshot]:
    """Stream a date's snapshots in key order; a corrupt object is skipped with a warning naming its key.

    `within` (seconds after midnight, from and to) reads only the snapshots whose key time lies inside.
    """
    from concurrent.futures import ThreadPoolExecutor

    keys = []
    for info in storage.list(layout.partition_prefix("infra", day)):
        parsed = layout.parse_key(info.key)
        if parsed is not None and parsed.kind == "snapshot":
            if within is not None:
                second = layout.key_seconds_of_day(info.key)
                # The key's HHMMSS is the snapshot time rounded down to the second.
                if second is None or not within[0] - 1 <= second <= within[1]:
                    continue
            keys.append(info.key)
    pool = ThreadPoolExecutor(SNAPSHOT_READERS, thread_name_prefix="snapshot-get")
    try:
        for key, body in zip(keys, pool.map(storage.get_bytes, keys), strict=True):
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError:
                log.warning("skipping corrupt snapshot %s: not valid JSON", key)
                continue
            try:
                yield Snapshot.from_dict(document, where=key)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipping corrupt snapshot %s: %s", key, exc)
    finally:
        # A reader that stops early (or a signal) does not wait for the reads still in flight.
        pool.shutdown(wait=False, cancel_futures=True)
