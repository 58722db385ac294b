"""The columnar fast path (mlprom.events.arrow) answers exactly as the line path (eventscan.scan_lines) or not at all.

decode_clean() may decline any object (None: the caller decodes it line by line); when it answers, every
column must be the line path's, float for float, and the line path must have skipped nothing.
"""

from __future__ import annotations

import logging
import math
from array import array
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprom.events import scan as eventscan
from mlprom.events.arrow import decode_clean
from mlprom.events.scan import EventColumns, scan_lines, scan_object
from mlprom.records import Event

KEY = "model/dt=2026-11-20/model=m/100000-00000000000000aa.jsonl"
START = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _same_floats(a: array[float], b: array[float]) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


def assert_same(fast: EventColumns, slow: EventColumns) -> None:
    assert _same_floats(fast.times, slow.times)
    assert _same_floats(fast.seconds, slow.seconds)
    assert _same_floats(fast.outputs, slow.outputs)
    assert _same_floats(fast.outputs_mean, slow.outputs_mean)
    assert sorted(fast.metrics) == sorted(slow.metrics)
    for name in slow.metrics:
        assert _same_floats(fast.metrics[name], slow.metrics[name]), name
    assert fast.run_ids == slow.run_ids
    assert fast.recorded_slow == slow.recorded_slow


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


@pytest.mark.parametrize("drift_only", [False, True])
@pytest.mark.parametrize("width", [0, 1, 3])
def test_writers_objects_take_the_columnar_path_and_agree(drift_only: bool, width: int) -> None:
    body = body_of(writer_events(500, width))
    fast = decode_clean(KEY, body, drift_only)
    assert fast is not None, "a writer's object must not fall back to the line path"
    assert len(fast) == 500
    assert_same(fast, scan_lines(KEY, body, drift_only))


def test_scan_object_uses_the_columnar_path_above_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    body = body_of(writer_events(200))
    calls: list[bytes] = []
    import mlprom.events.arrow as eventarrow

    real = eventarrow.decode_clean

    def spy(key: str, data: bytes, drift_only: bool) -> EventColumns | None:
        calls.append(data)
        return real(key, data, drift_only)

    monkeypatch.setattr(eventarrow, "decode_clean", spy)
    monkeypatch.setattr(eventscan, "COLUMNAR_MIN_BYTES", len(body))
    assert_same(scan_object(KEY, body), scan_lines(KEY, body))
    assert calls == [body]
    calls.clear()
    monkeypatch.setattr(eventscan, "COLUMNAR_MIN_BYTES", len(body) + 1)
    scan_object(KEY, body)
    assert calls == []


# A writer's line with every optional field, spelled out so that each odd line below is one edit of it.
GOOD = (
    '{"ts":"2026-11-20T10:00:00.000Z","model":"m","model_version":"3","prediction_time_seconds":0.01,'
    '"slow":true,"sampled":false,"rows":40,"mlflow_run_id":"run0","input_digest":null,'
    '"source":"capture-model","accuracy":null,"loss":0.25,"metrics":{"f1":0.5},"batch":0,'
    '"outputs":[0.5,1.5]}'
)
SECOND = orjson.dumps(writer_events(2)[1].to_dict()).decode()

# Each: one line the line path treats differently from a writer's (skips it, or reads it its own way).
ODD_LINES = {
    "nan literal": GOOD.replace('"rows":40', '"rows":40,"x":NaN'),
    "infinity in a metric": GOOD.replace('"metrics":{', '"metrics":{"y":Infinity,'),
    "huge exponent": GOOD.replace('"batch":0', '"batch":1e400'),
    "integer past 64 bits": GOOD.replace('"batch":0', '"batch":99999999999999999999'),
    "integer past 64 bits in rows": GOOD.replace('"rows":40', '"rows":99999999999999999999'),
    "time with an offset": GOOD.replace(".000Z", ".000+00:00"),
    "time without a zone": GOOD.replace(".000Z", ".000"),
    "time without millis": GOOD.replace(".000Z", "Z"),
    "impossible date": GOOD.replace("2026-11-20", "2026-02-30"),
    "string for a number": GOOD.replace('"rows":40', '"rows":"40"'),
    "float rows": GOOD.replace('"rows":40', '"rows":40.5'),
    "null rows": GOOD.replace('"rows":40', '"rows":null'),
    "int for slow": GOOD.replace('"slow":true', '"slow":1'),
    "null slow": GOOD.replace('"slow":true', '"slow":null'),
    "negative time": GOOD.replace('"prediction_time_seconds":0.01', '"prediction_time_seconds":-0.01'),
    "bool accuracy": GOOD.replace('"accuracy":null', '"accuracy":true'),
    "string metric": GOOD.replace('"metrics":{', '"metrics":{"y":"high",'),
    "list metric": GOOD.replace('"metrics":{', '"metrics":{"y":[1],'),
    "metrics a list": GOOD.replace('"metrics":{"f1":0.5}', '"metrics":[]'),
    "nested outputs": GOOD.replace('"outputs":[0.5,1.5]', '"outputs":[[1.0]]'),
    "string output": GOOD.replace('"outputs":[0.5,1.5]', '"outputs":["a"]'),
    "null in outputs": GOOD.replace('"outputs":[0.5,1.5]', '"outputs":[1.0,null,2.0]'),
    "outputs not a list": GOOD.replace('"outputs":[0.5,1.5]', '"outputs":3'),
    "int run id": GOOD.replace('"mlflow_run_id":"run0"', '"mlflow_run_id":7'),
    "duplicate key": GOOD.replace('"rows":40', '"rows":40,"rows":41'),
    "model a number": GOOD.replace('"model":"m"', '"model":5'),
    "missing ts": GOOD.replace('"ts"', '"tz"'),
    "control char in a string": GOOD.replace('"source":"capture-model"', '"source":"a\x01b"'),
    "invalid utf-8": GOOD.replace('"source":"capture-model"', '"source":"\udcff"'),
    "lone surrogate escape": GOOD.replace('"source":"capture-model"', '"source":"\\ud800"'),
    "not an object": "[1, 2]",
    "a number": "17",
    "truncated": GOOD[:-9],
    "leading spaces": "   " + GOOD,
    "deep nesting": GOOD.replace('"rows":40', '"rows":40,"deep":' + "[" * 200 + "]" * 200),
    "very deep nesting": GOOD.replace('"rows":40', '"rows":40,"deep":' + "[" * 1100 + "]" * 1100),
    "big int metric": GOOD.replace('"metrics":{', '"metrics":{"y":9007199254740993,'),
    "mixed int and float metric": GOOD.replace('"metrics":{', '"metrics":{"y":1,'),
    "bool batch": GOOD.replace('"batch":0', '"batch":true'),
    "carriage return": GOOD + "\r",
    "blank line": "",
    "spaces only": "   ",
}


def _bytes(line: str) -> bytes:
    return line.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("drift_only", [False, True])
@pytest.mark.parametrize("name", sorted(ODD_LINES))
def test_an_odd_line_anywhere_gives_the_line_paths_answer(
    name: str, drift_only: bool, caplog: pytest.LogCaptureFixture
) -> None:
    for position in range(3):
        lines = [_bytes(GOOD), _bytes(SECOND)]
        lines.insert(position, _bytes(ODD_LINES[name]))
        body = b"\n".join(lines) + b"\n"
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mlprom"):
            expected = scan_lines(KEY, body, drift_only)
        skipped = [r for r in caplog.records if "skipping" in r.getMessage()]
        fast = decode_clean(KEY, body, drift_only)
        if fast is None:
            continue
        # Answered: the line path skipped nothing (no warning is lost) and every column is the same.
        assert not skipped, (name, position, [r.getMessage() for r in skipped])
        assert_same(fast, expected)


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
def test_hostile_objects_agree_with_the_line_path(documents: list[dict[str, Any]], drift_only: bool) -> None:
    lines = []
    for document in documents:
        try:
            lines.append(orjson.dumps(document))
        except TypeError:  # an integer orjson cannot write: write it as text, as another writer might
            lines.append(str(document).encode())
    body = b"\n".join(lines) + b"\n"
    fast = decode_clean(KEY, body, drift_only)
    if fast is not None:
        expected = scan_lines(KEY, body, drift_only)
        assert len(expected) == len(documents), "the line path skipped a line the columnar path accepted"
        assert_same(fast, expected)


def test_most_hostile_objects_without_an_odd_field_still_take_the_fast_path() -> None:
    """The property above cannot pass by declining everything: writers' objects with extra fields answer."""
    events = writer_events(50)
    documents = [{**e.to_dict(), "extra": {"a": [1.5, 2.5]}, "inputs": [[1, 2], [3, 4]]} for e in events]
    body = b"".join(orjson.dumps(d) + b"\n" for d in documents)
    fast = decode_clean(KEY, body, False)
    assert fast is not None
    assert_same(fast, scan_lines(KEY, body, False))
