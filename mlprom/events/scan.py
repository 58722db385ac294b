"""The fast read of a date's events: each object decoded line by line into plain columns, on every core.

correlate and the drift reference need a few fields of every event, never the event objects: each
stored object becomes an EventColumns (times, prediction times, quality metrics, outputs) in a worker
process, and the caller folds the columns in key order, so the result does not depend on how many
workers there were. Lines that are not events are skipped with a warning naming the key and the line.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import math
import os
import sys
import zlib
from array import array
from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from mlprom.events.columns import Classification, EventColumns, classify, prepare_samples

if TYPE_CHECKING:
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

NAN = math.nan
PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this a day is read in-process: a worker costs more than it saves
# Objects of at least this many bytes (decompressed) try the columnar path first (mlprom.events.arrow);
# smaller ones are decoded line by line, where importing pyarrow would cost more than it saves.
COLUMNAR_MIN_BYTES = 4 * 1024 * 1024
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
AHEAD = 2  # objects in flight per worker: bounded memory, and the workers never wait for the reader


_NUMBER_OR_NONE = frozenset({float, int, type(None)})


def _odd(data: dict[str, Any]) -> bool:
    """True when an optional field has a type writers never produce (cheap: a few type() calls a line)."""
    raw = data.get("outputs")
    found = data.get("metrics")
    get = data.get
    return (
        type(get("model")) is not str
        or type(get("rows", 0)) is not int
        or type(get("accuracy")) not in _NUMBER_OR_NONE
        or type(get("loss")) not in _NUMBER_OR_NONE
        or type(get("mlflow_run_id")) not in _STR_OR_NONE
        or (
            found is not None
            and (type(found) is not dict or not _NUMBER_OR_NONE.issuperset(map(type, found.values())))
        )
        or (raw is not None and (type(raw) is not list or not _NUMBER_OR_NONE.issuperset(map(type, raw))))
    )


_STR_OR_NONE = frozenset({str, type(None)})


def _flat(raw: Any) -> list[float]:
    """Outputs as writers store them (a flat list of numbers or nulls); anything nested or odd counts as none,
    so no stored object can make the reader recurse 1,000 levels deep."""
    if type(raw) is not list:
        return []
    return [float(v) for v in raw if (type(v) is float or type(v) is int) and math.isfinite(v)]


def _number(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    return None


def scan_object(key: str, body: bytes, drift_only: bool = False) -> EventColumns:
    """Decode one event object (gzip or plain JSON Lines) into columns.

    `drift_only`: only what the drift reference needs (times, prediction times, outputs, accuracy).
    """
    if key.endswith(".gz"):
        try:
            body = gunzip(body)
        except (OSError, EOFError, ValueError):
            log.warning("skipping %s: not valid gzip", key)
            return EventColumns(key)
    if len(body) >= COLUMNAR_MIN_BYTES:
        from mlprom.events.arrow import decode_clean

        columns = decode_clean(key, body, drift_only)
        if columns is not None:
            return columns
    return scan_lines(key, body, drift_only)


GUNZIP_CHUNK = 1 << 20
DEFLATE_MAX_RATIO = 1032  # deflate cannot expand more than this: a larger gzip ISIZE is a corrupt trailer


def gunzip(body: bytes) -> bytes:
    """gzip.decompress(body), into one buffer of the final size.

    gzip.decompress grows its output block by block and joins the blocks, then joins the members: a
    48 MB object peaked at three times that. A single gzip member (what every writer of the layout
    stores) is inflated here straight into a buffer of the size its trailer gives; anything else (several
    members, a trailer that does not match, corrupt data) is left to gzip.decompress, which reads every
    member or raises its own error.
    """
    size = int.from_bytes(body[-4:], "little") if len(body) >= 18 else -1
    if 0 <= size <= DEFLATE_MAX_RATIO * len(body):
        out = bytearray(size)
        view = memoryview(out)
        inflate = zlib.decompressobj(31)
        at, data = 0, body
        try:
            while not inflate.eof:
                piece = inflate.decompress(data, GUNZIP_CHUNK)
                if not piece or at + len(piece) > size:
                    break
                view[at : at + len(piece)] = piece
                at += len(piece)
                data = inflate.unconsumed_tail
        except zlib.error:
            pass
        else:
            if inflate.eof and not inflate.unused_data and at == size:
                view.release()
                return out  # type: ignore[return-value]  # a bytearray reads as bytes everywhere it goes
        view.release()
    return gzip.decompress(body)


def scan_lines(key: str, body: bytes, drift_only: bool = False) -> EventColumns:
    """scan_object's line-by-line path over decompressed JSON Lines: every bad line skipped and named."""
    from mlprom.records import event_problem

    out = EventColumns(key)
    times, seconds, outputs, means = out.times, out.seconds, out.outputs, out.outputs_mean
    run_ids, recorded_slow = out.run_ids, out.recorded_slow
    seen_ids: dict[str, str] = {}
    metrics = out.metrics
    fromiso = datetime.fromisoformat
    seconds_of: dict[bytes | str, float] = {}
    loads = orjson.loads
    n = 0
    for lineno, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = loads(line)
        except orjson.JSONDecodeError:
            log.warning("skipping %s line %d: not valid JSON", key, lineno)
            continue
        if type(data) is not dict:
            log.warning("skipping %s line %d: not a JSON object", key, lineno)
            continue
        try:
            ts = data["ts"]
            # rfc3339() writes 2026-11-20T10:01:00.123Z: each second is parsed once, the fraction added.
            if type(ts) is str and len(ts) == 24 and ts[19] == "." and ts[23] == "Z":
                head = ts[:19]
                base = seconds_of.get(head)
                if base is None:
                    base = seconds_of[head] = fromiso(head + "+00:00").timestamp()
                at = base + int(ts[20:23]) / 1000.0
            else:
                # Anything else is checked as the record's readers check it (records.event_problem): a
                # time without a zone, a string for a number, "false" for false are skipped, not guessed.
                problem = event_problem(data)
                if problem:
                    raise ValueError(problem)
                at = fromiso(ts).timestamp()
            value = data["prediction_time_seconds"]
            if (type(value) is not float and type(value) is not int) or not 0 <= value < math.inf:
                raise ValueError("field 'prediction_time_seconds' is not a non-negative number")
            recorded = data["slow"]
            if type(recorded) is not bool:
                raise ValueError("field 'slow' is not true or false")
            if _odd(data):
                # A field of the wrong type somewhere: the full check names it, and the line is skipped.
                problem = event_problem(data)
                if problem:
                    raise ValueError(problem)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            log.warning(
                "skipping %s line %d: %s",
                key,
                lineno,
                exc if isinstance(exc, ValueError) else type(exc).__name__,
            )
            continue
        times.append(at)
        seconds.append(value)
        if drift_only:
            number = _number(data.get("accuracy"))
            if number is None:
                found = data.get("metrics")
                number = _number(found.get("accuracy")) if type(found) is dict else None
            if number is not None:
                column = metrics.get("accuracy")
                if column is None:
                    column = metrics["accuracy"] = array("d", [NAN]) * n
                column.append(number)
            raw = data.get("outputs")
            if raw is not None:
                outputs.extend(
                    raw if type(raw) is list and all(type(v) is float for v in raw) else _flat(raw)
                )
            n += 1
            if metrics and len(metrics["accuracy"]) < n:
                metrics["accuracy"].append(NAN)
            continue
        recorded_slow.append(recorded)
        run_id = data.get("mlflow_run_id")
        # One string per run, not per event: pickled back from a worker once.
        run_ids.append(seen_ids.setdefault(run_id, run_id) if type(run_id) is str else None)
        row: dict[str, float] = {}
        found = data.get("metrics")
        if type(found) is dict and found:
            for name, metric in found.items():
                number = _number(metric)
                if number is not None:
                    row[name] = number
        for name in ("accuracy", "loss"):
            # The top-level field wins over metrics, as model thresholds read it.
            number = _number(data.get(name))
            if number is not None:
                row[name] = number
        for name, number in row.items():
            column = metrics.get(name)
            if column is None:
                column = metrics[name] = array("d", [NAN]) * n
            column.append(number)
        raw = data.get("outputs")
        if raw is not None:
            flat = raw if type(raw) is list and all(type(v) is float for v in raw) else _flat(raw)
            outputs.extend(flat)
            finite = [v for v in flat if math.isfinite(v)]
            means.append(sum(finite) / len(finite) if finite else NAN)
        else:
            means.append(NAN)
        n += 1
        if len(row) != len(metrics):
            for column in metrics.values():
                if len(column) < n:
                    column.append(NAN)
    return out


_trim: Any = None


def release_free_memory() -> None:
    """Give the C allocator's free pages back to the system (glibc's malloc_trim; elsewhere nothing).

    Decoding an object allocates and frees tens of megabytes in blocks of every size, and glibc keeps
    what was freed inside its heaps for reuse: over a day's objects a process held 40 MiB more than it
    used. The process folding the objects trims once per object (about 5 ms); a decoding worker does
    not: its freed pages are reused by the next object at once, and trimming them cost 0.2 s a day in
    page faults.
    """
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                _trim = ctypes.CDLL(None).malloc_trim  # absent from musl: nothing to do there
            except (OSError, AttributeError):
                pass
    if _trim:
        _trim(0)


def _scan_key(args: tuple[str, bytes, Classification | None, bool]) -> EventColumns:
    key, body, how, drift_only = args
    columns = scan_object(key, body, drift_only)
    if how is not None:
        classify(columns, how)
    prepare_samples(columns, how is not None)
    return columns


def iter_columns(
    storage: Storage,
    day: date,
    model: str | None,
    how: Classification | None = None,
    drift_only: bool = False,
) -> Iterator[EventColumns]:
    """A date's events as columns, object by object in key order; several objects decoded at once."""
    for _, columns in iter_days_columns(storage, [day], model, how, drift_only):
        yield columns


def iter_days_columns(
    storage: Storage,
    days: list[date],
    model: str | None,
    how: Classification | None = None,
    drift_only: bool = False,
) -> Iterator[tuple[date, EventColumns]]:
    """Several dates' events as (date, columns), date by date in the given order and object by object
    in key order within each; one pool of workers for all of them, so it never idles between dates."""
    from mlprom import layout

    jobs: list[tuple[date, str]] = []
    size = 0
    for day in days:
        for info in storage.list(layout.partition_prefix("model", day, model)):
            parsed = layout.parse_key(info.key)
            if parsed is not None and parsed.kind == "event":
                jobs.append((day, info.key))
                size += info.size
    workers = min(os.cpu_count() or 1, len(jobs))
    if workers < 2 or size < PARALLEL_MIN_BYTES:
        for day, key in jobs:
            yield day, _scan_key((key, storage.get_bytes(key), how, drift_only))
            release_free_memory()
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    # fork: the workers need nothing but the bytes they are sent, and start in milliseconds.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )

    def submit(day: date, key: str) -> tuple[date, Future[EventColumns]]:
        return day, pool.submit(_scan_key, (key, storage.get_bytes(key), how, drift_only))

    finished = False
    processes: list[Any] = []
    try:
        queue = iter(jobs)
        pending = [submit(*job) for job in itertools.islice(queue, workers * AHEAD)]
        processes = list((pool._processes or {}).values())  # forked by the first submit
        while pending:
            day, future = pending.pop(0)
            done = future.result()
            following = next(queue, None)
            if following is not None:
                pending.append(submit(*following))
            yield day, done
            del done
            release_free_memory()  # what the caller freed of the object it has just folded
        finished = True
    finally:
        # Stopped early (SIGTERM, an error): objects not yet decoded are not waited for.
        pool.shutdown(wait=False, cancel_futures=True)
        if not finished:
            # A worker blocked writing a result nobody will read would wait for ever (its sibling holds
            # the pipe open) and keep its memory: the workers are ended, never left behind.
            for process in processes:
                process.terminate()


def _worker_init(parent: int) -> None:
    """A decoding worker's start: its signals, then pyarrow's JSON reader (imported in each worker rather
    than once in the parent before forking: the parent never uses it, and would hold its ~40 MiB for the
    whole run; the two imports run in parallel, 0.2 s each)."""
    _worker_signals(parent)
    from mlprom.events.arrow import preload

    preload()


def _worker_signals(parent: int) -> None:
    """A worker leaves Ctrl-C (sent to the whole terminal group) to the parent, which stops the pool; on
    SIGTERM it just ends. Forked, it would otherwise run mlprom's CLI handlers in a process that has no
    run to save. On Linux it also dies with its parent, however the parent ends (SIGKILL after a grace
    period, the OOM killer): an orphaned worker would wait for ever on a queue its sibling holds open."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # no prctl here: the parent's own clean-up (iter_days_columns) still ends the workers
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the line above took effect
