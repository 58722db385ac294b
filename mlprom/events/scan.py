"""The read of a date's events: each object decoded line by line into plain columns, on every core.

correlate and the drift reference need a few fields of every event, never the event objects: each
stored object becomes an EventColumns (times, prediction times, quality metrics, outputs) in a worker
process, and the caller folds the columns in key order, so the result does not depend on how many
workers there were. Lines that are not events are skipped with a warning naming the key and the line.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from mlprom.analysis.distinguish import MAX_FEATURES, MAX_INPUT_ROWS, short_name
from mlprom.analysis.drift import mean_of
from mlprom.dates import DAY_SECONDS
from mlprom.events.columns import Classification, EventColumns, classify, prepare_samples
from mlprom.events.log import MAX_LINE_BYTES, BadLines, get_or_skip, gunzip, lines_of
from mlprom.records import event_problem

if TYPE_CHECKING:
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

NAN = math.nan
PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this a day is read in-process: a worker costs more than it saves
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
IN_FLIGHT = 2  # objects sent ahead per worker: bounded memory, and a worker never waits for the next one
# Powers of two: scaling by them is exact (short of subnormals), and a sum of MAX_INPUT_ROWS values near a
# double's largest, scaled down, stays far from overflow; the mean scaled back up is finite.
_SCALE_DOWN = 2.0**-64
_SCALE_UP = 2.0**64
DEFAULT_MAX_SKEW = 300.0  # correlate.max_skew's default, for readers without a config at hand
DECODE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, OverflowError)

_NUMBER_OR_NONE = frozenset({float, int, type(None)})
_STR_OR_NONE = frozenset({str, type(None)})
_INT_OR_NONE = frozenset({int, type(None)})


def scan_object(
    key: str, body: bytes, drift_only: bool = False, window: tuple[float, float] | None = None
) -> EventColumns:
    """Decode one event object (gzip or plain JSON Lines) into columns.

    `drift_only`: only what the drift reference needs (times, prediction times, outputs, accuracy).
    `window` (unix seconds, from and to): events stamped outside it are left out (see scan_lines).
    """
    if key.endswith(".gz"):
        inflated = gunzip(key, body)
        if inflated is None:
            return EventColumns(key)
        return scan_lines(key, inflated, drift_only, window)
    return scan_lines(key, body, drift_only, window)


def scan_lines(
    key: str,
    body: bytes | Sequence[bytes],
    drift_only: bool = False,
    window: tuple[float, float] | None = None,
) -> EventColumns:
    """scan_object's decoding of decompressed JSON Lines: every line that is not an event skipped and named.

    An event stamped outside `window` (its partition's date and correlate.max_skew each side) is left
    out, counted in one warning per object naming the first: a clock at 9999-12-31 or at 1970 in
    today's partition would otherwise pin the findings' last_seen or first_seen.
    """
    out = EventColumns(key)
    seconds_of: dict[str, float] = {}  # unix seconds of each "YYYY-MM-DDTHH:MM:SS" seen, parsed once
    run_ids: dict[str, str] = {}  # one string per run, not per event: pickled back from a worker once
    bad = BadLines(key)
    lo, hi = window if window is not None else (-math.inf, math.inf)
    outside, first_outside = 0, ""
    for lineno, line in lines_of(body):
        data = _line_object(bad, lineno, line)
        if data is None:
            continue
        try:
            at, value, recorded = _event_fields(data, seconds_of)
        except DECODE_ERRORS as exc:
            bad.add(lineno, exc if isinstance(exc, ValueError) else type(exc).__name__)
            continue
        if not lo <= at <= hi:
            outside += 1
            if not first_outside:
                first_outside = f"line {lineno}, {str(data['ts'])[:40]!r}"
            continue
        out.times.append(at)
        out.seconds.append(value)
        if drift_only:
            _append_drift(out, data)
        else:
            _append_event(out, data, recorded, run_ids)
    bad.report()
    if outside:
        log.warning(
            "skipping %d event(s) of %s stamped outside its date and correlate.max_skew (first: %s)",
            outside,
            key,
            first_outside,
        )
        out.outside = outside
    return out


def _line_object(bad: BadLines, lineno: int, line: bytes | None) -> dict[str, Any] | None:
    """The JSON object on one line; None for a blank line, or (with a warning) for anything else."""
    if line is None:
        bad.add(lineno, f"longer than {MAX_LINE_BYTES} bytes")
        return None
    if line.isspace():  # the same whitespace as strip(), without a copy of the line
        return None
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        bad.add(lineno, "not valid JSON")
        return None
    if type(data) is not dict:
        bad.add(lineno, "not a JSON object")
        return None
    return data


def _event_fields(data: dict[str, Any], seconds_of: dict[str, float]) -> tuple[float, float, bool]:
    """(unix time, prediction seconds, slow as recorded) of an event; ValueError naming what is wrong
    (KeyError and the like for a missing field)."""
    ts = data["ts"]
    at = _writer_time(ts, seconds_of)
    if at is None:
        # Any other form is checked as the record's readers check it (records.event_problem): a time
        # without a zone, a string for a number, "false" for false are skipped, not guessed.
        if not _surely_event(data):
            _check(data)
        at = datetime.fromisoformat(ts).timestamp()
    value = data["prediction_time_seconds"]
    if (type(value) is not float and type(value) is not int) or not 0 <= value < math.inf:
        raise ValueError("field 'prediction_time_seconds' is not a non-negative number")
    recorded = data["slow"]
    if type(recorded) is not bool:
        raise ValueError("field 'slow' is not true or false")
    if _odd(data):
        _check(data)  # a field of the wrong type somewhere: the full check names it
    return at, value, recorded


def _writer_time(ts: Any, seconds_of: dict[str, float]) -> float | None:
    """Unix seconds of a time as rfc3339() writes it (2026-11-20T10:01:00.123Z), None for any other form:
    each second is parsed once and the milliseconds added."""
    if type(ts) is not str or len(ts) != 24 or ts[19] != "." or ts[23] != "Z":
        return None
    head = ts[:19]
    base = seconds_of.get(head)
    if base is None:
        base = seconds_of[head] = datetime.fromisoformat(head + "+00:00").timestamp()
    return base + int(ts[20:23]) / 1000.0


def _check(data: dict[str, Any]) -> None:
    problem = event_problem(data)
    if problem:
        raise ValueError(problem)


def _surely_event(data: dict[str, Any]) -> bool:
    """True only when records.event_problem(data) finds nothing: its rules in type() calls, at a third of
    its cost, for the lines of other writers. False: event_problem decides (and names the field).

    orjson refuses NaN, Infinity and numbers past a double's range, so every float here is finite.
    """
    get = data.get
    ts = get("ts")
    seconds = get("prediction_time_seconds")
    rows = get("rows", 0)
    return (
        type(ts) is str
        and len(ts) >= 20
        and ts[10] in "Tt "
        and (ts[-1] in "Zz" or ts[-6] in "+-")
        and (type(seconds) is float or type(seconds) is int)
        and seconds >= 0
        and type(get("slow")) is bool
        and type(rows) is int
        and rows >= 0
        and type(get("sampled", False)) is bool
        and type(get("batch")) in _INT_OR_NONE
        and type(get("model_version")) in _STR_OR_NONE
        and type(get("input_digest")) in _STR_OR_NONE
        and type(get("source")) in _STR_OR_NONE
        and not _odd(data)
    )


def _odd(data: dict[str, Any]) -> bool:
    """True when an optional field has a type writers never produce (cheap: a few type() calls a line)."""
    get = data.get
    found = get("metrics")
    raw = get("outputs")
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


def _append_event(out: EventColumns, data: dict[str, Any], recorded: bool, run_ids: dict[str, str]) -> None:
    """Everything correlate reads of one event (its time and prediction time already appended). The event
    passed _event_fields: metrics, accuracy, loss and outputs are numbers or null where present."""
    out.recorded_slow.append(recorded)
    rows = data.get("rows", 0)  # an int where present (_odd); a negative count is no count
    out.rows.append(min(rows, 1 << 53) if rows > 0 else 0)  # any JSON integer passes the check
    run_id = data.get("mlflow_run_id")
    out.run_ids.append(run_ids.setdefault(run_id, run_id) if run_id is not None else None)
    _append_metrics(out.metrics, _metric_row(data), len(out.times) - 1)
    version = data.get("model_version")
    # Interned like run ids; the quick path of _event_fields does not check this field's type.
    out.versions.append(run_ids.setdefault(version, version) if type(version) is str else None)
    inputs = data.get("inputs")
    if inputs is not None or out.inputs:
        _append_metrics(out.inputs, _input_row(inputs, out.inputs), len(out.times) - 1)
    raw = data.get("outputs")
    if raw is None:
        out.outputs_mean.append(NAN)
        return
    outputs = _outputs(raw)
    out.outputs.extend(outputs)
    out.outputs_mean.append(mean_of(outputs) if outputs else NAN)


def _append_drift(out: EventColumns, data: dict[str, Any]) -> None:
    """What the drift reference reads of one event (as _append_event): its accuracy and outputs."""
    accuracy = data.get("accuracy")
    if accuracy is None:
        found = data.get("metrics")
        accuracy = found.get("accuracy") if found is not None else None
    _append_metrics(
        out.metrics, {} if accuracy is None else {"accuracy": float(accuracy)}, len(out.times) - 1
    )
    raw = data.get("outputs")
    if raw is not None:
        out.outputs.extend(_outputs(raw))


def _outputs(raw: list[float | None]) -> array[float]:
    """A checked event's outputs (numbers or null) as doubles, nulls left out."""
    if None in raw:
        return array("d", [v for v in raw if v is not None])
    return array("d", raw)  # type: ignore[arg-type]  # no None left


def _metric_row(data: dict[str, Any]) -> dict[str, float]:
    """An event's quality metrics by name; the top-level accuracy and loss win over `metrics`, as model
    thresholds read them."""
    found = data.get("metrics")
    row = {name: float(v) for name, v in found.items() if v is not None} if found else {}
    for name in ("accuracy", "loss"):
        value = data.get(name)
        if value is not None:
            row[name] = float(value)
    return row


def _input_row(raw: Any, known: dict[str, array[float]]) -> dict[str, float]:
    """Per input feature, its mean over the first MAX_INPUT_ROWS rows of an event's recorded inputs:
    rows as objects (by key), lists (by position, "[0]") or single numbers ("[0]"); a string counts by
    its length, as "len(name)". The first MAX_FEATURES keys of a row are read, and no feature beyond
    the object's first MAX_FEATURES: an event's inputs cost bounded time whatever their size."""
    from itertools import islice

    rows = raw[:MAX_INPUT_ROWS] if type(raw) is list else [raw] if type(raw) is dict else []
    sums: dict[str, list[float]] = {}
    room = MAX_FEATURES - len(known)  # features this object may still add
    for row in rows:
        if type(row) is dict:
            items: Any = islice(row.items(), MAX_FEATURES)
        elif type(row) is list:
            items = ((f"[{i}]", v) for i, v in enumerate(row[:MAX_FEATURES]))
        else:
            items = (("[0]", row),)
        for key, value in items:
            kind = type(value)
            if kind is str:
                name, number = f"len({short_name(str(key))})", float(len(value))
            elif kind is float or kind is int:
                name = short_name(str(key))
                try:
                    number = float(value)
                except OverflowError:  # an integer past a double's range
                    continue
            else:
                continue
            total = sums.get(name)
            if total is None:
                if name not in known:
                    if room <= 0:
                        continue
                    room -= 1
                total = sums[name] = [0.0, 0.0]
            total[0] += number * _SCALE_DOWN  # summed scaled down: inputs of 1e308 cannot overflow
            total[1] += 1
    return {name: total / count * _SCALE_UP for name, (total, count) in sums.items()}


def _append_metrics(metrics: dict[str, array[float]], row: dict[str, float], index: int) -> None:
    """Event `index`'s metric values into the columns: NaN where it has none, and a new name's column
    starts with a NaN for each event before it."""
    for name, number in row.items():
        column = metrics.get(name)
        if column is None:
            column = metrics[name] = array("d", [NAN]) * index
        column.append(number)
    if len(row) != len(metrics):
        for column in metrics.values():
            if len(column) == index:
                column.append(NAN)


Task = tuple[str, bytes | None, Classification | None, bool, tuple[float, float] | None, bool]


def _scan_key(args: Task) -> EventColumns:
    key, body, how, drift_only, window, unreadable = args
    if body is None:  # skipped where it was read, with a warning naming it
        return EventColumns(key, unreadable=unreadable)
    columns = scan_object(key, body, drift_only, window)
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
    max_skew: float = DEFAULT_MAX_SKEW,
) -> Iterator[EventColumns]:
    """A date's events as columns, object by object in key order; several objects decoded at once."""
    for _, columns in iter_days_columns(storage, [day], model, how, drift_only, max_skew):
        yield columns


def day_window(day: date, max_skew: float) -> tuple[float, float]:
    """The unix seconds an event of `day`'s partition may be stamped at: the date, max_skew each side."""
    midnight = datetime.combine(day, datetime.min.time(), UTC).timestamp()
    return midnight - max_skew, midnight + DAY_SECONDS + max_skew


def iter_days_columns(
    storage: Storage,
    days: list[date],
    model: str | None,
    how: Classification | None = None,
    drift_only: bool = False,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> Iterator[tuple[date, EventColumns]]:
    """Several dates' events as (date, columns), date by date in the given order and object by object
    in key order within each; one pool of workers for all of them, so it never idles between dates.

    What cannot be read is an EventColumns with `unreadable` set (and a warning naming it): a partition
    that cannot be listed (its key is the prefix), an object the store refuses. An object deleted since
    it was listed is an empty EventColumns: gone, not a failure.
    """
    from mlprom import layout
    from mlprom.storage.interface import Refused

    jobs: list[tuple[date, str, bool]] = []  # (date, key, the partition could not be listed)
    size = 0
    for day in days:
        prefix = layout.partition_prefix("model", day, model)
        try:
            for info in storage.list(prefix):
                parsed = layout.parse_key(info.key)
                if parsed is not None and parsed.kind == "event":
                    jobs.append((day, info.key, False))
                    size += info.size
        except Refused as exc:
            log.warning("events left out: %s", exc)
            jobs.append((day, prefix, True))

    def task(day: date, key: str, unlisted: bool) -> Task:
        body, unreadable = (None, True) if unlisted else get_or_skip(storage, key)
        return key, body, how, drift_only, day_window(day, max_skew), unreadable

    workers = min(usable_cpus(), len(jobs))
    if workers < 2 or size < PARALLEL_MIN_BYTES:
        for day, key, unlisted in jobs:
            yield day, _scan_key(task(day, key, unlisted))
    else:
        yield from _in_workers(((day, task(day, key, unlisted)) for day, key, unlisted in jobs), workers)


def usable_cpus(cgroup: str = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a container's
    `resources.limits.cpu`). os.cpu_count() is the node's count: on a 64-core node a pod limited to
    2 CPUs would fork 64 decoding workers, each holding an object's columns (docs/scaling.md)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        with open(cgroup, encoding="ascii") as handle:
            quota, period = handle.read().split()[:2]
        if quota != "max" and int(period) > 0:
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota: the affinity is the limit
    return max(1, count)


def _in_workers(tasks: Iterator[tuple[date, Task]], workers: int) -> Iterator[tuple[date, EventColumns]]:
    """_scan_key of each task in a pool of forked workers, answered in the tasks' order; at most
    IN_FLIGHT objects per worker are read and sent ahead of the one the caller is folding."""
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    # fork: the workers need nothing but the bytes they are sent, and start in milliseconds.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_signals,
        initargs=(os.getpid(),),
    )
    pending: deque[tuple[date, Future[EventColumns]]] = deque()
    finished = False
    try:
        for day, task in tasks:
            pending.append((day, pool.submit(_scan_key, task)))
            if len(pending) >= workers * IN_FLIGHT:
                day, future = pending.popleft()
                yield day, future.result()
        while pending:
            day, future = pending.popleft()
            yield day, future.result()
        finished = True
    finally:
        processes = list((pool._processes or {}).values())
        # Stopped early (SIGTERM, an error): objects not yet decoded are not waited for.
        pool.shutdown(wait=False, cancel_futures=True)
        if not finished:
            # A worker blocked writing a result nobody will read would wait for ever (its sibling holds
            # the pipe open) and keep its memory: the workers are ended, never left behind.
            for process in processes:
                process.terminate()


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
