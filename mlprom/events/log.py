"""Reading and writing events and snapshots through Storage, in the layout's keys.

Writers buffer and write one object per flush (never one PUT per prediction, never overwriting);
readers stream partition by partition and skip corrupt objects with a warning naming the key.
"""

from __future__ import annotations

import gzip
import io
import logging
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import orjson

from mlprom import layout
from mlprom.errors import ObjectNotFound
from mlprom.records import Event, Snapshot, event_problem
from mlprom.storage.interface import MAX_OBJECT_BYTES, Refused, Storage

log = logging.getLogger("mlprom")

GZIP_MIN_BYTES = 64 * 1024  # small flushes stay plain JSONL: readable with `cat`, gzip gains little
# The longest event line a reader parses. An event is a few hundred bytes, 20 KB with 1,000 outputs; only
# model.record_inputs: full makes it longer (the batch's rows), and writers drop those inputs past this. A
# longer line is someone else's: a 200 MB one took correlate to 838 MB RSS, so it is skipped, never copied whole.
MAX_LINE_BYTES = 4 * 1024 * 1024
BAD_LINES_SHOWN = 3  # bad lines named one by one per object; the rest are counted in one more warning


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
        if len(lines[-1]) > MAX_LINE_BYTES:
            lines[-1] = _shortened(event, document)
            if not lines[-1]:
                lines.pop()
    return b"".join(line + b"\n" for line in lines)


def _shortened(event: Event, document: dict[str, Any]) -> bytes:
    """An event line past MAX_LINE_BYTES, which readers skip: without its inputs, or nothing."""
    if document.pop("inputs", None) is not None:
        line = orjson.dumps(document)
        if len(line) <= MAX_LINE_BYTES:
            log.warning(
                "event of model %s at %s written without its inputs: the line would be over %d bytes",
                event.model,
                document["ts"],
                MAX_LINE_BYTES,
            )
            return line
    log.warning(
        "not writing an event of model %s at %s: its line would be over %d bytes",
        event.model,
        document.get("ts"),
        MAX_LINE_BYTES,
    )
    return b""


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


class BadLines:
    """Lines of one object skipped as unusable: the first BAD_LINES_SHOWN are warned about one by one,
    naming the key and the line, and the rest in one more warning with their count (4 KB of random bytes
    were 28 warnings, one per "line")."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.count = 0

    def add(self, lineno: int, why: object) -> None:
        self.count += 1
        if self.count <= BAD_LINES_SHOWN:
            log.warning("skipping %s line %d: %s", self.key, lineno, why)

    def report(self) -> None:
        more = self.count - BAD_LINES_SHOWN
        if more > 0:
            log.warning("... and %d more bad line(s) in %s", more, self.key)


def lines_of(body: bytes | Sequence[bytes], bound: int | None = None) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of JSON Lines given whole or in parts (as gunzip inflates them), split at
    "\\n" as JSON Lines are; None for a line longer than MAX_LINE_BYTES, which is passed over without
    being copied: only one line at a time ever is, and a bounded one. `bound`: MAX_LINE_BYTES."""
    bound = MAX_LINE_BYTES if bound is None else bound
    limit = bound + 1  # a line of `bound` bytes and its "\\n"
    lineno = 0
    carry = b""  # the start of a line that goes on in the next part
    skipping = False  # inside a line already known to be too long
    for part in (body,) if isinstance(body, bytes | bytearray) else body:
        readline = io.BytesIO(part).readline  # shares the bytes' buffer: no copy of the part
        while line := readline(limit):
            complete = line[-1] == 0x0A
            if skipping:
                if complete:
                    skipping = False
                    lineno += 1
                    yield lineno, None
                continue
            if carry:
                line, carry = carry + line, b""
            if len(line) - complete > bound:
                if complete:
                    lineno += 1
                    yield lineno, None
                else:
                    skipping = True
            elif complete:
                lineno += 1
                yield lineno, line
            else:
                carry = line
    if skipping or carry:
        yield lineno + 1, None if skipping else carry


INFLATE_CHUNK = 1024 * 1024


def gunzip(key: str, body: bytes, cap: int | None = None) -> list[bytes] | None:
    """A .gz object's JSON Lines in parts of at most INFLATE_CHUNK bytes, at most `cap` bytes in all
    (the object cap); None, with a warning naming the key, when it is not valid gzip or inflates past
    the cap: a few KB of gzip can stand for gigabytes of zeros. In parts, never joined: one buffer of
    the whole would be copied when it is made (zlib's own output is built that way), doubling the peak."""
    cap = MAX_OBJECT_BYTES if cap is None else cap
    parts: list[bytes] = []
    total = 0
    data = body
    inflate = zlib.decompressobj(wbits=31)  # gzip's header and trailer
    try:
        while True:
            part = inflate.decompress(data, INFLATE_CHUNK)
            total += len(part)
            if total > cap:
                log.warning("skipping %s: over %d bytes once decompressed; not read", key, cap)
                return None
            if part:
                parts.append(part)
            if inflate.eof:  # one gzip member done; others may follow, as gzip.decompress reads them
                data = inflate.unused_data.lstrip(b"\0")
                if not data:
                    return parts
                inflate = zlib.decompressobj(wbits=31)
            elif len(part) == INFLATE_CHUNK or inflate.unconsumed_tail:
                data = inflate.unconsumed_tail
            else:
                raise EOFError("cut short")
    except (zlib.error, EOFError, ValueError):
        log.warning("skipping %s: not valid gzip", key)
        return None


def get_or_skip(storage: Storage, key: str, what: str = "") -> tuple[bytes | None, bool]:
    """(body, unreadable) of a listed object; body None when it is skipped with a warning naming the key.

    An object deleted since it was listed (prune running beside the reader) is just gone: not a failure.
    One the store refuses (unreadable, a symlink loop, over the size cap, S3 denying it) is a partial
    failure for the caller to count: `unreadable` True. The store failing (a timeout, S3 down) raises:
    a run on part of the data would replace a good report with a worse one.
    """
    try:
        return storage.get_bytes(key), False
    except ObjectNotFound:
        log.warning("skipping %s%s: deleted since it was listed", what, key)
        return None, False
    except Refused as exc:
        log.warning("skipping %s%s: %s", what, key, exc)
        return None, True


def decode_lines(
    key: str, body: bytes, skipped: BadLines | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) of one event object; gzip undone, corrupt lines skipped with a warning."""
    own = skipped is None
    skipped = skipped or BadLines(key)
    text: bytes | list[bytes] = body
    if key.endswith(".gz"):
        inflated = gunzip(key, body)
        if inflated is None:
            return
        text = inflated
    for lineno, line in lines_of(text):
        if line is None:
            skipped.add(lineno, f"longer than {MAX_LINE_BYTES} bytes")
            continue
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
    skipped = BadLines(key)
    for lineno, data in decode_lines(key, body, skipped):
        try:
            yield Event.from_dict(data)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            skipped.add(lineno, str(exc))
    skipped.report()


def iter_event_keys(storage: Storage, day: date, model: str | None = None) -> Iterator[str]:
    """The date's event keys; a partition that cannot be listed is skipped with a warning naming it."""
    prefix = layout.partition_prefix("model", day, model)
    try:
        for info in storage.list(prefix):
            parsed = layout.parse_key(info.key)
            if parsed is not None and parsed.kind == "event":
                yield info.key
    except Refused as exc:
        log.warning("events left out: %s", exc)


def iter_event_objects(
    storage: Storage, day: date, model: str | None = None
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(key, line number, JSON object) of a date's events: the fast path for readers that need a few fields.

    At a million events a day, building an Event (and its datetimes) per line is most of a reader's cost.
    """
    for key in iter_event_keys(storage, day, model):
        # Every line is checked against the event's types here, so no reader meets a string for a number.
        body, _ = get_or_skip(storage, key)
        if body is None:
            continue
        skipped = BadLines(key)
        for lineno, data in decode_lines(key, body, skipped):
            problem = event_problem(data)
            if problem:
                skipped.add(lineno, problem)
                continue
            yield key, lineno, data
        skipped.report()


def iter_events(storage: Storage, day: date, model: str | None = None) -> Iterator[Event]:
    """Stream a date's events object by object (bounded memory: one object at a time)."""
    for key in iter_event_keys(storage, day, model):
        body, _ = get_or_skip(storage, key)
        if body is not None:
            yield from decode_events(key, body)


def write_snapshot(storage: Storage, snapshot: Snapshot) -> str:
    key = layout.snapshot_key(snapshot.ts.astimezone(UTC).date(), snapshot.ts, snapshot.id or None)
    storage.put_bytes(key, orjson.dumps(snapshot.to_dict()))
    return key


SNAPSHOT_READERS = 8  # concurrent GETs: a day is 1,440 small objects, and S3 answers each in 10-30 ms


def iter_snapshots(
    storage: Storage,
    day: date,
    within: tuple[float, float] | None = None,
    unreadable: list[str] | None = None,
) -> Iterator[Snapshot]:
    """Stream a date's snapshots in key order; a corrupt object is skipped with a warning naming its key.

    `within` (seconds after midnight, from and to) reads only the snapshots whose key time lies inside.
    `unreadable` collects the keys the store refused (and the prefix of a partition that could not be
    listed), each skipped with a warning: for the caller to count as a partial failure.
    """
    from concurrent.futures import ThreadPoolExecutor

    keys = []
    prefix = layout.partition_prefix("infra", day)
    try:
        for info in storage.list(prefix):
            parsed = layout.parse_key(info.key)
            if parsed is not None and parsed.kind == "snapshot":
                if within is not None:
                    second = layout.key_seconds_of_day(info.key)
                    # The key's HHMMSS is the snapshot time rounded down to the second.
                    if second is None or not within[0] - 1 <= second <= within[1]:
                        continue
                keys.append(info.key)
    except Refused as exc:
        log.warning("snapshots left out: %s", exc)
        if unreadable is not None:
            unreadable.append(prefix)
    pool = ThreadPoolExecutor(SNAPSHOT_READERS, thread_name_prefix="snapshot-get")
    try:
        read = pool.map(lambda key: get_or_skip(storage, key, "snapshot "), keys)
        for key, (body, failed) in zip(keys, read, strict=True):
            if body is None:
                if failed and unreadable is not None:
                    unreadable.append(key)
                continue
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError:
                log.warning("skipping corrupt snapshot %s: not valid JSON", key)
                continue
            try:
                yield Snapshot.from_dict(document, where=key)
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                log.warning("skipping corrupt snapshot %s: %s", key, exc)
    finally:
        # A reader that stops early (or a signal) does not wait for the reads still in flight.
        pool.shutdown(wait=False, cancel_futures=True)
