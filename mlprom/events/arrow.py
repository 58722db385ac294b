"""The columnar fast path of mlprom.events.scan: a whole well-formed event object decoded by pyarrow's JSON reader.

Decoding a 100,000-line object line by line (orjson, then a few type checks and appends per line) costs
about 0.4 s of Python; pyarrow parses the same bytes into typed columns in C++ in about 0.17 s. The
result must be exactly what the line path gives, skipped lines and warnings included, so this path
only answers for objects it can prove the line path would accept whole: every line one JSON object
that orjson parses, every field of the types the line path accepts without a second look, every time
in the writers' format. Anything else (one odd line, a NaN literal, a blank line, a time with an
offset) returns None and the caller decodes the object line by line, which skips and names the bad
lines exactly as before. tests/unit/test_eventarrow.py checks the two paths agree on hostile objects.

pyarrow (a dependency of mlflow) is imported by the first call, never by `import mlprom`.
"""

from __future__ import annotations

import math
import sys
from array import array
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlprom.events.columns import EventColumns

# rfc3339() writes 2026-11-20T10:01:00.123Z; the line path parses exactly this form on its fast branch.
_WRITER_TS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ$"
MAX_BLOCK = 1 << 30  # pyarrow's block size is an int32; larger objects take the line path
BLOCK = 4 << 20
# orjson refuses nesting deeper than 1,024 levels, pyarrow does not: an object with a field nested
# deeper than this (writers nest 3 levels) takes the line path.
MAX_DEPTH = 64

_schema: Any = None


def _event_schema() -> Any:
    """The fields the line path reads or type-checks, with the types it accepts.

    `metrics` is left to inference (its keys are the users' metric names), and so is every other field:
    the line path ignores them, but they must still be JSON orjson accepts (checked on the bytes).
    """
    global _schema
    if _schema is None:
        import pyarrow as pa

        # The C library's allocator gives a decoded object's memory back when it is freed; pyarrow's
        # default (mimalloc) held about 60 MiB more per process at the peak on a 100,000-event object.
        pa.set_memory_pool(pa.system_memory_pool())

        _schema = pa.schema(
            [
                ("ts", pa.string()),
                ("model", pa.string()),
                ("prediction_time_seconds", pa.float64()),
                ("slow", pa.bool_()),
                ("rows", pa.int64()),
                ("accuracy", pa.float64()),
                ("loss", pa.float64()),
                ("mlflow_run_id", pa.string()),
                ("outputs", pa.list_(pa.float64())),
            ]
        )
    return _schema


def preload() -> None:
    """Import pyarrow's JSON reader now (before forking workers, which then share it)."""
    import numpy  # noqa: F401
    import pyarrow.compute
    import pyarrow.json  # noqa: F401

    _event_schema()


def _object_lines(body: bytes) -> int | None:
    """How many lines of `body` start with '{'; None when it holds a \\r.

    The line path splits on \\n, \\r and \\r\\n and skips blank lines; pyarrow splits on \\n only and
    treats \\r as whitespace, so with a \\r the two could see different lines. Without one, a line
    starting with '{' gives pyarrow at least one row, and a blank line none (the line path skips it
    silently too): a table of exactly this many rows has one object on every line that starts with
    '{' and nothing on the others.
    """
    if b"\r" in body:
        return None
    return body.count(b"\n{") + body.startswith(b"{")


def decode_clean(key: str, body: bytes, drift_only: bool) -> EventColumns | None:
    """The object's columns when every line is an event the line path accepts as is; None otherwise."""
    if len(body) >= MAX_BLOCK:
        return None
    if not body.isascii():
        try:
            body.decode("utf-8")  # orjson refuses invalid UTF-8 anywhere in a line; pyarrow does not
        except UnicodeDecodeError:
            return None
    lines = _object_lines(body)
    if lines is None:
        return None

    import pyarrow as pa

    try:
        return _decode(key, body, lines, drift_only)
    except (pa.ArrowException, ValueError, TypeError, OverflowError, IndexError):
        # A type the schema refuses, a field that changes type, a duplicate key, text that is not JSON,
        # or a shape pyarrow cannot combine: the line path decides, and names what it skips.
        return None


def _decode(key: str, body: bytes, lines: int, drift_only: bool) -> EventColumns | None:
    import pyarrow as pa
    import pyarrow.json as pj

    from mlprom.events.columns import EventColumns

    table = pj.read_json(
        pa.py_buffer(body),
        read_options=pj.ReadOptions(use_threads=False, block_size=BLOCK),
        parse_options=pj.ParseOptions(explicit_schema=_event_schema(), unexpected_field_behavior="infer"),
    )
    if table.num_rows != lines:
        return None
    for name in ("ts", "model", "prediction_time_seconds", "slow", "rows"):
        # Missing and null are one thing to pyarrow; `rows` may be missing but not null, so both go.
        if table.column(name).null_count:
            return None
    if _too_deep(table.schema.types) or not _all_finite(chunk for c in table.columns for chunk in c.chunks):
        return None
    # One array per column this path reads; the other fields were only checked.
    read = {*_event_schema().names, "metrics"}
    columns = {name: table.column(name).combine_chunks() for name in table.column_names if name in read}
    del table
    column = columns.__getitem__

    times = _times(column("ts"))
    seconds = column("prediction_time_seconds").to_numpy()
    metrics = _metric_columns(columns)
    if times is None or seconds.min() < 0 or metrics is None:
        return None

    out = EventColumns(key)
    out.times = _doubles(times)
    out.seconds = _doubles(seconds)
    outputs = column("outputs")
    values = outputs.values  # every list's items, nulls included (a null list has none)
    flat = values.to_pylist()
    out.outputs = array("d", (v for v in flat if v is not None) if values.null_count else flat)
    if drift_only:
        if "accuracy" in metrics:
            out.metrics["accuracy"] = metrics["accuracy"]
        return out
    out.metrics = metrics
    out.outputs_mean = _means(outputs, flat)
    out.recorded_slow = column("slow").to_pylist()
    run_ids = column("mlflow_run_id").dictionary_encode()
    names = run_ids.dictionary.to_pylist()  # one string per run, not per event
    out.run_ids = [None if i is None else names[i] for i in run_ids.indices.to_pylist()]
    return out


def _too_deep(types: list[Any]) -> bool:
    """True when a pyarrow type nests more than MAX_DEPTH levels (walked without recursion)."""
    stack = [(kind, 1) for kind in types]
    while stack:
        kind, level = stack.pop()
        if level > MAX_DEPTH:
            return True
        stack.extend((kind.field(i).type, level + 1) for i in range(kind.num_fields))
    return False


def _all_finite(columns: Any) -> bool:
    """False when a floating-point value anywhere is NaN or infinite: pyarrow reads the literals NaN,
    Inf and Infinity, which orjson refuses (so the line path skips those lines)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stack = list(columns)
    while stack:
        values = stack.pop()
        kind = values.type
        if pa.types.is_floating(kind):
            if values.null_count < len(values) and not pc.all(pc.is_finite(values)).as_py():
                return False
        elif pa.types.is_struct(kind):
            stack.extend(values.field(i) for i in range(kind.num_fields))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            stack.append(values.values)
    return True


def _doubles(values: Any) -> array[float]:
    out = array("d")
    out.frombytes(values.astype("float64", copy=False).tobytes())
    return out


def _times(ts: Any) -> Any:
    """Unix seconds of each time, as the line path computes them (second parsed, milliseconds added)."""
    import pyarrow.compute as pc

    if not pc.all(pc.match_substring_regex(ts, _WRITER_TS)).as_py():
        return None
    heads = pc.utf8_slice_codeunits(ts, 0, 19).dictionary_encode()
    try:
        # Each distinct second once, by the same call as the line path: the same rules, the same floats.
        fromiso = datetime.fromisoformat
        bases = [fromiso(head + "+00:00").timestamp() for head in heads.dictionary.to_pylist()]
    except ValueError:
        return None  # 2026-02-30 and the like: the line path names the line
    import numpy as np

    millis = pc.cast(pc.utf8_slice_codeunits(ts, 20, 23), "int64").to_numpy()
    # base + int("123") / 1000.0, in the same order of float operations as the line path.
    return np.asarray(bases, dtype="float64")[heads.indices.to_numpy()] + millis.astype("float64") / 1000.0


def _metric_columns(columns: dict[str, Any]) -> dict[str, array[float]] | None:
    """Per metric name, each event's value (NaN where it has none), as the line path fills them.

    A name becomes a column when some event has a number for it. The top-level `accuracy` and `loss`
    win over the same names in `metrics`, as model thresholds read them. None: a metric that is not a
    number (the line path skips such lines).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    found: dict[str, Any] = {}
    if "metrics" in columns:
        metrics = columns["metrics"]
        if pa.types.is_struct(metrics.type):
            for index in range(metrics.type.num_fields):
                field = metrics.type.field(index)
                child = metrics.field(index)
                if pa.types.is_null(field.type):
                    continue  # only nulls: no number, no column
                if not (pa.types.is_float64(field.type) or pa.types.is_int64(field.type)):
                    return None
                try:
                    child = pc.cast(child, pa.float64())  # refuses an int a double cannot hold exactly
                except pa.ArrowInvalid:
                    return None
                # A null metrics object has children of its own: they count as absent.
                found[field.name] = pc.if_else(metrics.is_valid(), child, None)
        elif not pa.types.is_null(metrics.type):
            return None
    for name in ("accuracy", "loss"):
        top = columns[name]
        found[name] = pc.coalesce(top, found[name]) if name in found else top
    out: dict[str, array[float]] = {}
    for name, values in found.items():
        if values.null_count == len(values):
            continue
        out[name] = _doubles(pc.fill_null(values, math.nan).to_numpy())
    return out


def _means(outputs: Any, flat: list[float | None]) -> array[float]:
    """Each event's mean output (NaN without one), as the line path computes it: sum() in list order
    divided by the count, so the floats are the same."""
    nan = math.nan
    if not outputs.null_count and None not in flat and sys.version_info < (3, 12):
        lengths = outputs.value_lengths().to_numpy()
        if len(lengths) and lengths.min() == lengths.max() > 0:
            # Every event has k outputs (the common case): the same k - 1 additions from 0.0, column
            # by column. Python 3.12's sum() compensates rounding, hence the version check.
            import numpy as np

            width = int(lengths[0])
            rows = np.asarray(flat, dtype="float64").reshape(-1, width)
            total = 0.0 + rows[:, 0]
            for j in range(1, width):
                total = total + rows[:, j]
            return _doubles(total / width)
    offsets = outputs.offsets.to_pylist()
    valid = outputs.is_valid().to_pylist()
    means = array("d")
    append = means.append
    for start, end, present in zip(offsets, offsets[1:], valid, strict=False):
        part = [v for v in flat[start:end] if v is not None] if present else []
        append(sum(part) / len(part) if part else nan)
    return means
