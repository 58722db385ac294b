"""The readers' bounds: line length, decompressed size, odd times, unreadable and vanished objects, and
sums that cannot overflow. Real local stores, real files (symlink loops, dangling links)."""

from __future__ import annotations

import gzip
import logging
import math
import os
import tracemalloc
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlprom.analysis.drift import Finite, Reservoir, mean_of, safe_fsum
from mlprom.analysis.sketch import LatencySketch
from mlprom.errors import StorageError
from mlprom.events import log as eventlog
from mlprom.events.log import MAX_LINE_BYTES, encode_events, iter_events, lines_of
from mlprom.events.scan import day_window, iter_columns, scan_lines, scan_object
from mlprom.records import Event
from mlprom.storage.local import LocalStorage

DAY = date(2026, 11, 20)
KEY = "model/dt=2026-11-20/model=m/100000-00000000000000aa.jsonl"
GOOD = {"ts": "2026-11-20T10:00:00.000Z", "model": "m", "prediction_time_seconds": 0.2, "slow": False}


def line(**fields: object) -> bytes:
    return orjson.dumps({**GOOD, **fields}) + b"\n"


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mlprom"]


# ---------------------------------------------------------------- lines


def test_lines_split_at_newline_and_a_line_past_the_bound_is_passed_over() -> None:
    exact = b"x" * MAX_LINE_BYTES + b"\n"
    over = b"y" * (MAX_LINE_BYTES + 1) + b"\n"
    body = b"a\n" + exact + over + b"b\r\n" + b"c"
    got = list(lines_of(body))
    assert [n for n, _ in got] == [1, 2, 3, 4, 5]
    assert got[0][1] == b"a\n" and got[1][1] == exact and got[2][1] is None
    assert got[3][1] == b"b\r\n" and got[4][1] == b"c"  # the last line needs no newline


def test_a_huge_line_is_never_copied_whole(caplog: pytest.LogCaptureFixture) -> None:
    """A 40 MB line (valid JSON) costs at most a couple of bounded line copies, not the line and its parse."""
    body = line() + line(inputs="z" * 40_000_000) + line()
    tracemalloc.start()
    try:
        columns = scan_lines(KEY, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(columns) == 2
    assert peak < 3 * MAX_LINE_BYTES, peak
    assert f"skipping {KEY} line 2: longer than {MAX_LINE_BYTES} bytes" in messages(caplog)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"\n", b"x" * 7, b"\r\n", b"{}"]), max_size=30),
    st.lists(st.integers(0, 200), max_size=6),
)
def test_lines_in_parts_are_the_lines_of_the_whole(pieces: list[bytes], cuts: list[int]) -> None:
    whole = b"".join(pieces)
    points = sorted({min(c, len(whole)) for c in cuts})
    parts = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    # A bound of 8 bytes: lines past it within a part and across parts.
    assert list(lines_of(parts, 8)) == list(lines_of(whole, 8))
    assert [n for n, _ in lines_of(whole, 8)] == list(
        range(1, whole.count(b"\n") + 1 + (not whole.endswith(b"\n") and bool(whole)))
    )
    for lineno, got in lines_of(whole, 8):
        assert got is None or len(got.rstrip(b"\n")) <= 8, (lineno, got)


def test_a_gzipped_object_is_inflated_once_and_never_copied_whole() -> None:
    """Peak memory about the inflated size (in parts), not two or three times it."""
    inflated = 40_000_000
    packed = gzip.compress(line() + line(inputs="z" * inflated) + line(), compresslevel=1)
    tracemalloc.start()
    try:
        columns = scan_object(KEY + ".gz", packed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(columns) == 2
    assert peak < 1.5 * inflated, peak  # it was over three times: the body, its lines, the parse


def test_bad_line_warnings_are_capped_per_object(caplog: pytest.LogCaptureFixture) -> None:
    body = b"".join(b"not json %d\n" % i for i in range(41)) + line()
    with caplog.at_level(logging.WARNING, logger="mlprom"):
        columns = scan_lines(KEY, body)
        events = list(eventlog.decode_events(KEY, body))
    assert len(columns) == 1 and len(events) == 1
    said = messages(caplog)
    assert len(said) == 8  # per reader: 3 lines named, then one count
    assert said[3] == f"... and 38 more bad line(s) in {KEY}" == said[7]


def test_a_writer_drops_inputs_that_would_make_a_line_past_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    event = Event(
        ts=at, model="m", prediction_time_seconds=0.1, slow=False, rows=1, inputs="i" * MAX_LINE_BYTES
    )
    body = encode_events([event, replace(event, inputs=[1, 2])])
    lines = body.splitlines()
    assert len(lines) == 2 and all(len(x) <= MAX_LINE_BYTES for x in lines)
    assert "inputs" not in orjson.loads(lines[0]) and orjson.loads(lines[1])["inputs"] == [1, 2]
    assert any("written without its inputs" in m for m in messages(caplog))


def test_gzip_is_bounded_once_decompressed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A few KB of gzip can stand for gigabytes: decompressed only up to the object cap."""
    monkeypatch.setattr(eventlog, "MAX_OBJECT_BYTES", 1024 * 1024)
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    assert len(scan_object(KEY + ".gz", bomb)) == 0
    assert f"skipping {KEY}.gz: over 1048576 bytes once decompressed; not read" in messages(caplog)
    two_members = gzip.compress(line()) + gzip.compress(line())
    assert len(scan_object(KEY + ".gz", two_members)) == 2


# ---------------------------------------------------------------- times


@pytest.mark.parametrize(
    "ts",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2026-11-21T00:05:01Z"],
)
def test_an_event_outside_its_date_and_the_skew_is_left_out(
    ts: str, caplog: pytest.LogCaptureFixture
) -> None:
    window = day_window(DAY, 300.0)
    body = line() + line(ts=ts) + line(ts=ts) + line(ts="2026-11-21T00:04:59Z")
    columns = scan_lines(KEY, body, window=window)
    assert len(columns) == 2 and columns.outside == 2
    assert all(window[0] <= t <= window[1] for t in columns.times)
    assert messages(caplog) == [
        f"skipping 2 event(s) of {KEY} stamped outside its date and correlate.max_skew "
        f"(first: line 2, {ts!r})"
    ]


def test_the_skew_window_follows_correlate_max_skew(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes(KEY, line() + line(ts="2026-11-19T23:50:00Z"))
    assert [len(c) for c in iter_columns(storage, DAY, "m")] == [1]
    assert [len(c) for c in iter_columns(storage, DAY, "m", max_skew=900.0)] == [2]


def test_records_refuse_a_time_past_the_calendar_in_utc() -> None:
    for ts in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        with pytest.raises(ValueError, match="out of range"):
            Event.from_dict({**GOOD, "ts": ts})


# ---------------------------------------------------------------- what the store refuses


def test_an_object_the_store_refuses_is_marked_unreadable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = LocalStorage(tmp_path, max_object_bytes=len(line()) + 10)
    big = "model/dt=2026-11-20/model=m/090000-00000000000000bb.jsonl"
    storage.put_bytes(big, line() * 3)
    storage.put_bytes(KEY, line())
    columns = list(iter_columns(storage, DAY, "m"))
    assert [(c.key, c.unreadable, len(c)) for c in columns] == [(big, True, 0), (KEY, False, 1)]
    assert [len(e.ts.isoformat()) > 0 for e in iter_events(storage, DAY, "m")] == [True]
    assert any(big in m and "cap of a stored object" in m for m in messages(caplog))


class FailingStore(LocalStorage):
    """A store failing (S3 timing out, down): not a refusal of one object."""

    def get_bytes(self, key: str) -> bytes:
        raise StorageError(f"{self.location}: read {key}: no complete answer within 1 s (storage.timeout)")


def test_a_failing_store_ends_the_read_rather_than_skipping(tmp_path: Path) -> None:
    storage = FailingStore(tmp_path)
    storage.put_bytes(KEY, line())
    with pytest.raises(StorageError, match="storage.timeout"):
        list(iter_columns(storage, DAY, "m"))
    with pytest.raises(StorageError, match="storage.timeout"):
        list(iter_events(storage, DAY, "m"))


def test_an_unlistable_partition_is_one_unreadable_entry(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    partition = tmp_path / "model/dt=2026-11-20/model=m"
    partition.parent.mkdir(parents=True)
    partition.symlink_to("model=m")  # a loop: root cannot list it either
    columns = list(iter_columns(storage, DAY, "m"))
    assert [(c.key, c.unreadable) for c in columns] == [("model/dt=2026-11-20/model=m/", True)]
    assert list(iter_events(storage, DAY, "m")) == []


def test_unreadable_snapshots_are_collected_for_the_caller(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, max_object_bytes=16)
    key = "infra/dt=2026-11-20/100000-00000000000000cc.json"
    storage.put_bytes(key, b"{" + b" " * 64 + b"}")
    unreadable: list[str] = []
    assert list(eventlog.iter_snapshots(storage, DAY, unreadable=unreadable)) == []
    assert unreadable == [key]


# ---------------------------------------------------------------- local listings


def test_a_listing_names_dangling_links_and_loops_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("infra/dt=2026-11-20/b.json", b"{}")
    (tmp_path / "infra/dt=2026-11-20/a.json").symlink_to("nowhere")
    (tmp_path / "infra/dt=2026-11-20/c.json").symlink_to("c.json")
    assert [i.key for i in storage.list("infra/")] == ["infra/dt=2026-11-20/b.json"]
    said = messages(caplog)
    assert any("infra/dt=2026-11-20/a.json: a dangling symlink" in m for m in said)
    assert any("infra/dt=2026-11-20/c.json: Too many levels of symbolic links" in m for m in said)


def test_a_partition_that_is_a_file_or_a_loop_cannot_be_listed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("infra/dt=2026-11-20", b"a file where a directory should be")
    with pytest.raises(StorageError, match="cannot list infra/dt=2026-11-20/"):
        list(storage.list("infra/dt=2026-11-20/"))
    (tmp_path / "model").symlink_to("model")
    with pytest.raises(StorageError, match="cannot list model/dt=2026-11-20/"):
        list(storage.list("model/dt=2026-11-20/"))
    assert list(storage.list("reports/dt=2026-11-20/")) == []  # absent is just empty


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists a mode-000 directory: the loop tests cover root")
def test_an_unsearchable_directory_inside_a_prefix_is_named_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("model/dt=2026-11-19/model=m/a.jsonl", b"")
    storage.put_bytes("model/dt=2026-11-20/model=m/a.jsonl", b"")
    (tmp_path / "model/dt=2026-11-19").chmod(0)
    try:
        keys = [i.key for i in storage.list("model/")]
    finally:
        (tmp_path / "model/dt=2026-11-19").chmod(0o755)
    assert keys == ["model/dt=2026-11-20/model=m/a.jsonl"]
    assert any("skipping model/dt=2026-11-19/model=m/: cannot list it" in m for m in messages(caplog))


# ---------------------------------------------------------------- sums


def test_sums_and_means_of_huge_finite_values_do_not_overflow() -> None:
    huge = [1e308, 1e308, -1e308]
    assert safe_fsum(huge) == 1e308
    assert safe_fsum([1e308, 1e308]) == math.inf  # the sum itself is past a double: said so, not raised
    assert mean_of([1e308, 1e308]) == 1e308
    finite = Finite.of(__import__("array").array("d", [1e308, 1e308, math.nan]))
    assert list(finite.values) == [1e308, 1e308] and finite.total == math.inf
    reservoir = Reservoir(10)
    reservoir.extend([1e308, 1e308])
    assert reservoir.mean is None and reservoir.sample().mean is None  # no usable mean, not inf
    reservoir = Reservoir(10)
    reservoir.extend([1e308, 3.0, -1e308])
    assert reservoir.mean == 1.0


def test_a_sketch_of_huge_latencies_reads_back() -> None:
    sketch = LatencySketch()
    sketch.add_many([1_763_632_800.0] * 3, [1e308] * 3)
    sketch.add(1_763_632_801.0, 1e308)
    stored = orjson.loads(orjson.dumps(sketch.to_dict()))
    assert LatencySketch.from_dict(stored).count == 4


def test_regression_metrics_that_overflow_are_left_out_not_inf() -> None:
    from mlprom.analysis.quality import quality_metrics

    metrics = quality_metrics([0.0, 0.0], [1e200, 2.0], task="regression")
    assert metrics == {"mae": 5e199 + 1.0}  # the squares overflowed: no rmse, no loss, no inf
    assert quality_metrics([0.0], [3.0], task="regression") == {"mae": 3.0, "rmse": 3.0, "loss": 9.0}
