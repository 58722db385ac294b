"""The read of event objects (mlprom.events.scan): every event the contract allows, from any writer, and
every other line skipped with a warning naming the object and the line."""

from __future__ import annotations

import gzip
import json
import logging
import math
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprom import layout
from mlprom.events import scan as eventscan
from mlprom.events.columns import EventColumns
from mlprom.events.log import BAD_LINES_SHOWN, write_events
from mlprom.events.scan import iter_days_columns, scan_lines, scan_object
from mlprom.records import Event
from mlprom.storage.local import LocalStorage

KEY = "model/dt=2026-11-20/model=m/100000-00000000000000aa.jsonl"
START = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _same_floats(a: array[float], b: list[float] | array[float]) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


def writer_events(n: int, width: int = 3) -> list[Event]:
    return [
        Event(
            ts=START + timedelta(milliseconds=1370 * i),
            model="m",
            prediction_time_seconds=0.01 + (i % 17) / 101,
            slow=i % 5 == 0,
            rows=40,
            model_version="3",
            accuracy=None if i % 7 == 0 else (i % 10) / 10,
            loss=0.25 if i % 3 else None,
            metrics={"f1": (i % 9) / 9} if i % 4 else {},
            mlflow_run_id=f"run{i % 3}",
            sampled=i % 5 != 0,
            batch=i,
            outputs=tuple((i * j % 13) / 7 for j in range(width)) if i % 6 else None,
        )
        for i in range(n)
    ]


def body_of(events: list[Event]) -> bytes:
    return b"".join(orjson.dumps(e.to_dict()) + b"\n" for e in events)


def plain_body(events: list[Event]) -> bytes:
    """Another program's writer: json.dumps per line, isoformat() times, nulls written out, no `sampled`."""
    lines = []
    for e in events:
        lines.append(
            json.dumps(
                {
                    "ts": e.ts.isoformat(),
                    "model": e.model,
                    "model_version": None,
                    "prediction_time_seconds": e.prediction_time_seconds,
                    "slow": e.slow,
                    "rows": e.rows,
                    "accuracy": e.accuracy,
                    "loss": e.loss,
                    "metrics": e.metrics or None,
                    "mlflow_run_id": None,
                    "input_digest": None,
                    "outputs": list(e.outputs) if e.outputs is not None else None,
                }
            )
        )
    return "\n".join(lines).encode() + b"\n"


def assert_columns_of(columns: EventColumns, events: list[Event], run_ids: bool = True) -> None:
    """The columns hold exactly these events, field by field."""
    assert len(columns) == len(events)
    # The reader adds a time's milliseconds to its second, which may differ from timestamp() in the last bit.
    assert list(columns.times) == pytest.approx([e.ts.timestamp() for e in events], abs=1e-6, rel=0)
    assert list(columns.seconds) == [e.prediction_time_seconds for e in events]
    assert columns.recorded_slow == [e.slow for e in events]
    assert columns.rows == [e.rows for e in events]
    assert columns.run_ids == [e.mlflow_run_id if run_ids else None for e in events]
    assert sorted(columns.metrics) == ["accuracy", "f1", "loss"]
    for name in columns.metrics:
        top = {"accuracy": [e.accuracy for e in events], "loss": [e.loss for e in events]}.get(name)
        expected = [e.metrics.get(name, math.nan) for e in events]
        if top is not None:  # the top-level field wins over metrics
            expected = [m if t is None else t for t, m in zip(top, expected, strict=True)]
        assert _same_floats(columns.metrics[name], expected), name
    means = [sum(e.outputs) / len(e.outputs) if e.outputs else math.nan for e in events]
    assert _same_floats(columns.outputs_mean, means)
    assert list(columns.outputs) == [v for e in events for v in e.outputs or ()]


@pytest.mark.parametrize("compress", [False, True])
def test_an_object_of_mlproms_writer_is_read_whole(compress: bool, caplog: pytest.LogCaptureFixture) -> None:
    events = writer_events(500)
    body = body_of(events)
    with caplog.at_level(logging.WARNING, logger="mlprom"):
        columns = scan_object(KEY + ".gz" if compress else KEY, gzip.compress(body) if compress else body)
    assert not caplog.records
    assert_columns_of(columns, events)


@pytest.mark.parametrize("compress", [False, True])
def test_an_object_of_another_writer_is_read_whole(compress: bool, caplog: pytest.LogCaptureFixture) -> None:
    """json.dumps per line, times with microseconds and +00:00, null run ids and digests, no `sampled`."""
    events = [
        replace(e, ts=e.ts + timedelta(microseconds=17 * i), mlflow_run_id=None, model_version=None)
        for i, e in enumerate(writer_events(300))
    ]
    body = plain_body(events)
    assert b"+00:00" in body and b"sampled" not in body
    with caplog.at_level(logging.WARNING, logger="mlprom"):
        columns = scan_object(KEY + ".gz" if compress else KEY, gzip.compress(body) if compress else body)
    assert not caplog.records
    assert_columns_of(columns, events, run_ids=False)


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-20T10:00:00.250Z",
        "2026-11-20T10:00:00.250+00:00",
        "2026-11-20T10:00:00.250000Z",
        "2026-11-20T10:00:00.25Z",
        "2026-11-20T11:00:00.250+01:00",
        "2026-11-20T05:30:00.250-04:30",
    ],
)
def test_times_in_every_rfc3339_utc_form_are_read(ts: str) -> None:
    body = GOOD.replace("2026-11-20T10:00:00.000Z", ts).encode() + b"\n"
    assert list(scan_lines(KEY, body).times) == [START.timestamp() + 0.25]


def test_the_drift_read_takes_accuracy_from_metrics_when_the_event_has_none_of_its_own() -> None:
    events = writer_events(40)
    events[3] = Event(START, "m", 0.1, False, 1, metrics={"accuracy": 0.5})
    columns = scan_lines(KEY, body_of(events), drift_only=True)
    expected = [e.accuracy if e.accuracy is not None else e.metrics.get("accuracy", math.nan) for e in events]
    assert _same_floats(columns.metrics["accuracy"], expected)
    assert list(columns.metrics) == ["accuracy"] and not columns.run_ids and not columns.outputs_mean
    assert list(columns.outputs) == [v for e in events for v in e.outputs or ()]


# A writer's line with every optional field, spelled out so that each odd line below is one edit of it.
GOOD = (
    '{"ts":"2026-11-20T10:00:00.000Z","model":"m","model_version":"3","prediction_time_seconds":0.01,'
    '"slow":true,"sampled":false,"rows":40,"mlflow_run_id":"run0","input_digest":null,'
    '"source":"capture-model","accuracy":null,"loss":0.25,"metrics":{"f1":0.5},"batch":0,'
    '"outputs":[0.5,1.5]}'
)
SECOND = orjson.dumps(writer_events(2)[1].to_dict()).decode()

# Each: one line a writer would not write, and what the read says of it (None: read, or a blank line skipped
# silently). Times in other RFC3339 forms are read; see test_times_in_every_rfc3339_utc_form_are_read.
ODD_LINES: dict[str, tuple[str, str | None]] = {
    "nan literal": (GOOD.replace('"rows":40', '"rows":40,"x":NaN'), "not valid JSON"),
    "infinity in a metric": (GOOD.replace('"metrics":{', '"metrics":{"y":Infinity,'), "not valid JSON"),
    "huge exponent": (GOOD.replace('"batch":0', '"batch":1e400'), "not valid JSON"),
    "integer past 64 bits": (GOOD.replace('"batch":0', '"batch":99999999999999999999'), None),
    "integer past 64 bits in rows": (
        GOOD.replace('"rows":40', '"rows":99999999999999999999'),
        "field 'rows' is not a non-negative integer",
    ),
    "time with an offset": (GOOD.replace(".000Z", ".000+00:00"), None),
    "time without a zone": (GOOD.replace(".000Z", ".000"), "field 'ts' is not an RFC3339 time with a zone"),
    "time without millis": (GOOD.replace(".000Z", "Z"), None),
    "impossible date": (GOOD.replace("2026-11-20", "2026-02-30"), "day is out of range for month"),
    "string for a number": (
        GOOD.replace('"rows":40', '"rows":"40"'),
        "field 'rows' is not a non-negative integer",
    ),
    "float rows": (GOOD.replace('"rows":40', '"rows":40.5'), "field 'rows' is not a non-negative integer"),
    "null rows": (GOOD.replace('"rows":40', '"rows":null'), "field 'rows' is not a non-negative integer"),
    "int for slow": (GOOD.replace('"slow":true', '"slow":1'), "field 'slow' is not true or false"),
    "null slow": (GOOD.replace('"slow":true', '"slow":null'), "field 'slow' is not true or false"),
    "negative time": (
        GOOD.replace('"prediction_time_seconds":0.01', '"prediction_time_seconds":-0.01'),
        "field 'prediction_time_seconds' is not a non-negative number",
    ),
    "bool accuracy": (GOOD.replace('"accuracy":null', '"accuracy":true'), "field 'accuracy' is not a number"),
    "string metric": (GOOD.replace('"metrics":{', '"metrics":{"y":"high",'), "metrics['y'] is not a number"),
    "list metric": (GOOD.replace('"metrics":{', '"metrics":{"y":[1],'), "metrics['y'] is not a number"),
    "metrics a list": (
        GOOD.replace('"metrics":{"f1":0.5}', '"metrics":[]'),
        "field 'metrics' is not an object",
    ),
    "nested outputs": (
        GOOD.replace('"outputs":[0.5,1.5]', '"outputs":[[1.0]]'),
        "field 'outputs' holds something other than numbers",
    ),
    "string output": (
        GOOD.replace('"outputs":[0.5,1.5]', '"outputs":["a"]'),
        "field 'outputs' holds something other than numbers",
    ),
    "null in outputs": (GOOD.replace('"outputs":[0.5,1.5]', '"outputs":[1.0,null,2.0]'), None),
    "outputs not a list": (
        GOOD.replace('"outputs":[0.5,1.5]', '"outputs":3'),
        "field 'outputs' is not a list",
    ),
    "int run id": (
        GOOD.replace('"mlflow_run_id":"run0"', '"mlflow_run_id":7'),
        "field 'mlflow_run_id' is not a string",
    ),
    "duplicate key": (GOOD.replace('"rows":40', '"rows":40,"rows":41'), None),
    "model a number": (GOOD.replace('"model":"m"', '"model":5'), "field 'model' is not a string"),
    "missing ts": (GOOD.replace('"ts"', '"tz"'), "KeyError"),
    "control char in a string": (
        GOOD.replace('"source":"capture-model"', '"source":"a\x01b"'),
        "not valid JSON",
    ),
    "invalid utf-8": (GOOD.replace('"source":"capture-model"', '"source":"\udcff"'), "not valid JSON"),
    "lone surrogate escape": (
        GOOD.replace('"source":"capture-model"', '"source":"\\ud800"'),
        "not valid JSON",
    ),
    "not an object": ("[1, 2]", "not a JSON object"),
    "a number": ("17", "not a JSON object"),
    "truncated": (GOOD[:-9], "not valid JSON"),
    "leading spaces": ("   " + GOOD, None),
    "deep nesting": (GOOD.replace('"rows":40', '"rows":40,"deep":' + "[" * 200 + "]" * 200), None),
    "very deep nesting": (
        GOOD.replace('"rows":40', '"rows":40,"deep":' + "[" * 1100 + "]" * 1100),
        "not valid JSON",
    ),
    "big int metric": (GOOD.replace('"metrics":{', '"metrics":{"y":9007199254740993,'), None),
    "mixed int and float metric": (GOOD.replace('"metrics":{', '"metrics":{"y":1,'), None),
    "bool batch": (GOOD.replace('"batch":0', '"batch":true'), None),
    "carriage return": (GOOD + "\r", None),
    "blank line": ("", None),
    "spaces only": ("   ", None),
}


def _bytes(line: str) -> bytes:
    return line.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("drift_only", [False, True])
@pytest.mark.parametrize("name", sorted(ODD_LINES))
def test_an_odd_line_is_read_or_skipped_with_a_warning_naming_it(
    name: str, drift_only: bool, caplog: pytest.LogCaptureFixture
) -> None:
    line, why = ODD_LINES[name]
    body = b"\n".join([_bytes(GOOD), _bytes(line), _bytes(SECOND)]) + b"\n"
    with caplog.at_level(logging.WARNING, logger="mlprom"):
        columns = scan_lines(KEY, body, drift_only)
    warnings = [r.getMessage() for r in caplog.records]
    blank = not line.strip()
    assert warnings == ([] if why is None else [f"skipping {KEY} line 2: {why}"])
    assert len(columns) == (2 if why is not None or blank else 3)
    assert columns.times[-1] == pytest.approx(
        datetime.fromisoformat(json.loads(SECOND)["ts"]).timestamp(), abs=1e-6
    )


def test_a_corrupt_gzip_object_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    packed = gzip.compress(body_of(writer_events(50)))
    with caplog.at_level(logging.WARNING, logger="mlprom"):
        columns = scan_object(KEY + ".gz", packed[: len(packed) // 2])
    assert len(columns) == 0
    assert [r.getMessage() for r in caplog.records] == [f"skipping {KEY}.gz: not valid gzip"]


def test_a_gzip_object_of_several_members_is_read_whole() -> None:
    events = writer_events(30)
    packed = gzip.compress(body_of(events[:10])) + gzip.compress(body_of(events[10:]))
    assert_columns_of(scan_object(KEY + ".gz", packed), events)


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_value = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), _finite, st.text(max_size=4))


@st.composite
def hostile_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A writer's event with a few fields replaced, added or removed."""
    event = draw(st.sampled_from(writer_events(12, draw(st.integers(0, 3)))))
    document = event.to_dict()
    fields = [*document, "outputs", "metrics", "accuracy", "extra"]
    for name in draw(st.lists(st.sampled_from(fields), max_size=3)):
        choice = draw(st.integers(0, 4))
        if choice == 0:
            document.pop(name, None)
        elif choice == 1:
            document[name] = draw(_value)
        elif choice == 2:
            document[name] = draw(st.lists(_value, max_size=3))
        elif choice == 3:
            document[name] = draw(st.dictionaries(st.text(max_size=3), _value, max_size=3))
        else:
            document[name] = draw(st.lists(_finite, max_size=4))
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_documents(), min_size=1, max_size=6), st.booleans())
def test_every_line_of_a_hostile_object_is_read_or_named(
    documents: list[dict[str, Any]], drift_only: bool
) -> None:
    lines = []
    for document in documents:
        try:
            lines.append(orjson.dumps(document))
        except TypeError:  # an integer orjson cannot write: write it as text, as another writer might
            lines.append(str(document).encode())
    body = b"\n".join(lines) + b"\n"
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("mlprom")
    logger.addHandler(handler)
    try:
        columns = scan_lines(KEY, body, drift_only)
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    # The first BAD_LINES_SHOWN bad lines are named one by one, the rest counted in one more warning.
    named = sorted(int(m.split(" line ")[1].split(":")[0]) for m in messages if " line " in m)
    more = [int(m.split()[2]) for m in messages if m.startswith("... and ")]
    assert len(columns) + len(named) + sum(more) == len(documents)
    assert len(set(named)) == len(named) <= BAD_LINES_SHOWN
    assert len(more) <= 1 and (not more or len(named) == BAD_LINES_SHOWN)
    for column in columns.metrics.values():
        assert len(column) == len(columns)
    if not drift_only:
        assert len(columns.outputs_mean) == len(columns.run_ids) == len(columns.recorded_slow) == len(columns)
        assert len(columns.rows) == len(columns) and min(columns.rows, default=0) >= 0


def test_worker_processes_give_the_in_process_answer_in_key_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path)
    days = [START.date() - timedelta(days=1), START.date()]
    for back, day in enumerate(days):
        for part in range(5):
            events = writer_events(40 + part)
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=part, minutes=back)
            write_events(storage, [replace(e, ts=at + (e.ts - START)) for e in events])
    monkeypatch.setattr(eventscan.os, "cpu_count", lambda: 1)
    alone = [(day, c.key, list(c.times), list(c.seconds)) for day, c in iter_days_columns(storage, days, "m")]
    monkeypatch.setattr(eventscan.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(eventscan, "PARALLEL_MIN_BYTES", 0)
    pooled = [
        (day, c.key, list(c.times), list(c.seconds)) for day, c in iter_days_columns(storage, days, "m")
    ]
    assert pooled == alone
    assert [key for _, key, _, _ in alone] == sorted(key for _, key, _, _ in alone)
    assert len(alone) == 10 and {day for day, *_ in alone} == set(days)
    assert all(layout.parse_key(key) is not None for _, key, _, _ in alone)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_documents(), st.sampled_from(["Z", "+00:00", "+05:30", "", "z"]))
def test_the_quick_check_of_other_writers_lines_accepts_only_what_event_problem_accepts(
    document: dict[str, Any], zone: str
) -> None:
    from mlprom.records import event_problem

    if type(document.get("ts")) is str and document["ts"].endswith("Z"):
        document["ts"] = document["ts"][:-1] + zone
    try:
        parsed = orjson.loads(orjson.dumps(document))  # what a reader gets from the line
    except TypeError:
        return
    if eventscan._surely_event(parsed):
        assert event_problem(parsed) is None
