"""What the event read collects to tell slow from fast (analysis/distinguish.py): batch sizes, model versions
and per-feature means of recorded inputs, bounded whatever the inputs hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from mlprom.analysis.distinguish import MAX_FEATURES, MAX_INPUT_ROWS, MAX_NAME
from mlprom.events import scan as eventscan
from mlprom.events.columns import Classification, EventColumns

KEY = "model/dt=2026-11-20/model=m/100000-00000000000000aa.jsonl"
START = datetime(2026, 11, 20, 10, tzinfo=UTC)
HOW = Classification(START.replace(hour=0).timestamp(), 1.0, sketch=False)


def _line(i: int, seconds: float, **extra: Any) -> dict[str, Any]:
    at = START + timedelta(seconds=i)
    return {
        "ts": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "model": "m",
        "prediction_time_seconds": seconds,
        "slow": seconds > 1.0,
        "rows": 1,
        **extra,
    }


def _scan(lines: list[dict[str, Any]]) -> EventColumns:
    body = b"\n".join(orjson.dumps(line) for line in lines)
    return eventscan._scan_key((KEY, body, HOW, False, None, False))  # no window, read


def test_batch_sizes_and_versions_are_split_by_side() -> None:
    lines = [_line(i, 2.0, rows=512, model_version="2") for i in range(3)]
    lines += [_line(10 + i, 0.1, rows=8, model_version="1" if i else "2") for i in range(4)]
    lines.append(_line(20, 0.1, rows=8))  # no version: not counted under any
    columns = _scan(lines)
    assert columns.row_sides is not None
    slow, fast = columns.row_sides
    assert list(slow.values) == [512.0] * 3 and list(fast.values) == [8.0] * 5
    assert columns.version_counts == {"2": (3, 1), "1": (0, 3)}
    assert not columns.versions  # emptied once turned into sides (rows stays: the quality window folds it)


def test_each_features_batch_mean_is_compared_and_a_string_by_its_length() -> None:
    slow = _line(0, 3.0, inputs=[{"x": 10, "text": "a" * 300}, {"x": 20, "text": "b" * 100, "flag": True}])
    fast = _line(1, 0.2, inputs=[{"x": 1, "text": "c"}])
    bare = _line(2, 0.2)  # no inputs recorded: no value for any feature
    columns = _scan([slow, fast, bare])
    sides = {name: (list(s.values), list(f.values)) for name, (s, f) in columns.input_sides.items()}
    assert sides == {"x": ([15.0], [1.0]), "len(text)": ([200.0], [1.0])}  # a boolean is no number here


def test_rows_as_lists_and_single_numbers_are_features_by_position() -> None:
    columns = _scan([_line(0, 3.0, inputs=[[1, 5], [3, 7]]), _line(1, 0.1, inputs=[0.5, 1.5])])
    sides = {name: (list(s.values), list(f.values)) for name, (s, f) in columns.input_sides.items()}
    assert sides == {"[0]": ([2.0], [1.0]), "[1]": ([6.0], [])}


def test_huge_inputs_are_read_in_bounded_parts() -> None:
    """Thousands of rows, hundreds of keys with very long names, megabyte strings: only the first
    MAX_INPUT_ROWS rows and MAX_FEATURES keys of a row count, and names are cut to MAX_NAME."""
    wide = {f"{'k' * 200}{j:03d}": j for j in range(50)}
    rows = [wide] * MAX_INPUT_ROWS + [{**wide, f"{'k' * 200}000": 10**6}] * 200
    big = _line(0, 5.0, inputs=rows)
    texts = _line(1, 0.1, inputs=[{"blob": "z" * 2_000_000, **{f"f{j}": j for j in range(300)}}])
    columns = _scan([big, texts])
    names = list(columns.input_sides)
    assert len(names) == MAX_FEATURES and all(len(n) <= MAX_NAME + len("len()") for n in names)
    # 50 keys cut to the same 80 characters are one feature; the rows past the hundredth are not read.
    slow, _ = columns.input_sides["k" * (MAX_NAME - 1) + "…"]
    assert list(slow.values) == [sum(range(MAX_FEATURES)) / MAX_FEATURES]
    _, blob = columns.input_sides["len(blob)"]
    assert list(blob.values) == [2_000_000.0]


def test_features_past_the_objects_first_twenty_are_left_out() -> None:
    lines = [_line(i, 2.0 if i % 2 else 0.1, inputs=[{f"f{i:02d}": 1.0}]) for i in range(30)]
    columns = _scan(lines)
    assert sorted(columns.input_sides) == [f"f{i:02d}" for i in range(MAX_FEATURES)]


def test_decoding_workers_follow_a_containers_cpu_quota(tmp_path: Path) -> None:
    import os

    from mlprom.events.scan import usable_cpus

    affinity = len(os.sched_getaffinity(0))
    for text, expected in (
        ("max 100000\n", affinity),
        ("150000 100000\n", min(affinity, 2)),  # 1.5 CPUs: two workers
        ("50000 100000\n", 1),
        ("garbage\n", affinity),
    ):
        cpu_max = tmp_path / "cpu.max"
        cpu_max.write_text(text)
        assert usable_cpus(str(cpu_max)) == expected, text
    assert usable_cpus(str(tmp_path / "absent")) == affinity
