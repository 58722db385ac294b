"""Odd stored data never crashes a reader: what is bad is skipped with a warning naming the key (and the
line, series or index), the rest is used, and the run ends with a contract exit code."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from tests.fixtures.fakes import ScriptedServer

DAY = "2026-11-20"
GOOD_SERIES = {"labels": {"route": "/ok"}, "value": 0.2}


def snapshot(queries: dict[str, Any], ts: str = f"{DAY}T10:00:00Z") -> dict[str, Any]:
    return {"ts": ts, "source": "http://prom", "id": "a" * 16, "queries": queries}


def query(series: Any, expr: str = "x") -> dict[str, Any]:
    return {"expr": expr, "result_type": "vector", "series": series, "error": None}


def put(root: Path, key: str, body: Any) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body if isinstance(body, bytes) else orjson.dumps(body))
    return path


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["-c", str(config), *args])


def assert_no_crash(result: Any, codes: tuple[int, ...] = (0, 1)) -> None:
    assert result.exit_code in codes, result.output
    assert isinstance(result.exception, SystemExit) or result.exception is None
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


@pytest.fixture
def store(write_config: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(
        {"queries": {"http_latency": "x", "load": "y"}, "thresholds": {"http_latency": 0.5}}
    )
    return config, tmp_path / "data"


@pytest.mark.parametrize(
    ("series", "why"),
    [
        ([{"labels": {"route": ["/a", "/b"]}, "value": 0.9}, GOOD_SERIES], "series[0]: label 'route'"),
        ([{"labels": {"route": "/a"}, "value": "0.9"}, GOOD_SERIES], "series[0]: value '0.9'"),
        ([{"labels": {"route": "/a"}, "value": True}, GOOD_SERIES], "series[0]: value True"),
        ([{"labels": "route=/a", "value": 1.0}, GOOD_SERIES], "series[0]: labels are str"),
        (["oops", GOOD_SERIES], "series[0]: a series is str"),
    ],
    ids=[
        "label-is-a-list",
        "value-is-a-string",
        "value-is-a-bool",
        "labels-is-a-string",
        "series-item-string",
    ],
)
def test_a_bad_series_is_skipped_naming_key_and_index(
    store: tuple[Path, Path], series: Any, why: str
) -> None:
    config, root = store
    put(root, f"infra/dt={DAY}/100000-{'a' * 16}.json", snapshot({"http_latency": query(series)}))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    assert f"infra/dt={DAY}/100000-{'a' * 16}.json" in result.stderr and why in result.stderr
    assert orjson.loads(result.stdout)["snapshots"] == 1  # the rest of the snapshot is used


@pytest.mark.parametrize(
    ("queries", "why"),
    [
        ({"http_latency": query("not a list"), "load": query([GOOD_SERIES])}, "series is str, not a list"),
        ({"http_latency": "not an object", "load": query([GOOD_SERIES])}, "is str, not an object"),
        (
            {"http_latency": {**query([GOOD_SERIES]), "error": ["x"]}, "load": query([])},
            "error is not a string",
        ),
    ],
    ids=["series-is-a-string", "query-is-a-string", "error-is-a-list"],
)
def test_a_bad_query_is_skipped_naming_key_and_query(
    store: tuple[Path, Path], queries: dict[str, Any], why: str
) -> None:
    config, root = store
    put(root, f"infra/dt={DAY}/100000-{'b' * 16}.json", snapshot(queries))
    result = run(config, "correlate", "--date", DAY)
    assert_no_crash(result)
    assert "query 'http_latency'" in result.stderr and why in result.stderr


@pytest.mark.parametrize(
    "document",
    [
        snapshot({}, ts=f"{DAY}T10:00:00"),
        snapshot({}, ts="yesterday"),
        {"queries": {}},
        ["a", "list"],
        "a string",
        snapshot("queries as a string"),  # type: ignore[arg-type]
    ],
    ids=["naive-ts", "bad-ts", "no-ts", "list", "string", "queries-string"],
)
def test_a_bad_snapshot_is_skipped_naming_its_key(store: tuple[Path, Path], document: Any) -> None:
    config, root = store
    key = f"infra/dt={DAY}/100000-{'c' * 16}.json"
    put(root, key, document)
    put(root, f"infra/dt={DAY}/110000-{'d' * 16}.json", snapshot({"load": query([GOOD_SERIES])}))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    assert f"skipping corrupt snapshot {key}" in result.stderr
    assert orjson.loads(result.stdout)["snapshots"] == 1


GOOD_EVENT = {
    "ts": f"{DAY}T10:00:00.000Z",
    "model": "default",
    "prediction_time_seconds": 0.5,
    "slow": True,
    "rows": 3,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slow": "false"}, "slow"),
        ({"ts": f"{DAY}T10:00:00"}, "ts"),
        ({"ts": DAY}, "ts"),
        ({"prediction_time_seconds": "0.5"}, "prediction_time_seconds"),
        ({"prediction_time_seconds": -1}, "prediction_time_seconds"),
        ({"rows": "3"}, "rows"),
        ({"accuracy": "high"}, "accuracy"),
        ({"metrics": [1, 2]}, "metrics"),
        ({"outputs": [[[[1]]]]}, "outputs"),
        ({"outputs": "0.5"}, "outputs"),
        ({"model": 7}, "model"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_a_bad_event_line_is_skipped_naming_key_and_line(
    store: tuple[Path, Path], change: dict[str, Any], field: str
) -> None:
    config, root = store
    key = f"model/dt={DAY}/model=default/100000-{'e' * 16}.jsonl"
    lines = [GOOD_EVENT, {**GOOD_EVENT, **change}, GOOD_EVENT]
    put(root, key, b"".join(orjson.dumps(line) + b"\n" for line in lines))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    assert f"skipping {key} line 2: field '{field}'" in result.stderr or (
        field == "metrics" and f"skipping {key} line 2: field 'metrics'" in result.stderr
    ), result.stderr
    assert orjson.loads(result.stdout)["events"]["total"] == 2


def report(**change: Any) -> dict[str, Any]:
    finding = {
        "severity": "critical",
        "metric": "http_latency",
        "labels": {"route": "/a"},
        "value": 0.9,
        "threshold": 0.5,
        "direction": "above",
        "slow_events": 1,
        "first_seen": f"{DAY}T10:00:00Z",
        "last_seen": f"{DAY}T10:05:00Z",
    }
    document = {
        "date": DAY,
        "generated_at": f"{DAY}T12:00:00Z",
        "status": "critical",
        "events": {"total": 1, "slow": 1},
        "snapshots": 1,
        "findings": [finding, {**finding, "metric": "load", **change}],
        "suspects": [],
    }
    return document


@pytest.mark.parametrize(
    "change",
    [
        {"first_seen": f"{DAY}T10:00:00"},
        {"last_seen": f"{DAY}T10:05:00"},
        {"value": "0.9"},
        {"labels": {"route": ["x"]}},
        {"severity": "page-everyone"},
    ],
    ids=["naive-first-seen", "naive-last-seen", "value-string", "label-list", "unknown-severity"],
)
def test_alert_dry_run_skips_a_bad_finding_naming_key_and_index(
    store: tuple[Path, Path], change: dict[str, Any]
) -> None:
    config, root = store
    key = f"reports/dt={DAY}/model=default/correlation.json"
    put(root, key, report(**change))
    result = run(config, "-o", "json", "alert", "--date", DAY, "--dry-run")
    assert_no_crash(result, (0,))
    assert f"skipping {key} findings[1]" in result.stderr
    payload = orjson.loads(result.stdout)["payload"]
    assert [a["labels"]["metric"] for a in payload] == ["http_latency"]


def test_alert_dry_run_with_a_naive_report_time_is_no_data_not_a_crash(store: tuple[Path, Path]) -> None:
    config, root = store
    put(
        root,
        f"reports/dt={DAY}/model=default/correlation.json",
        {**report(), "generated_at": f"{DAY}T12:00:00"},
    )
    result = run(config, "alert", "--date", DAY, "--dry-run")
    assert_no_crash(result, (4,))
    assert "unreadable" in result.stderr and "re-run `mlprom correlate" in result.stderr


def test_alert_dry_run_with_naive_state_times_ignores_the_state(store: tuple[Path, Path]) -> None:
    config, root = store
    put(root, f"reports/dt={DAY}/model=default/correlation.json", report())
    state = {
        "updated_at": f"{DAY}T09:00:00",
        "alerts": [
            {
                "labels": {"alertname": "MlpromThreshold"},
                "annotations": {},
                "startsAt": f"{DAY}T09:00:00",
                "endsAt": f"{DAY}T10:00:00",
                "status": "firing",
                "date": DAY,
                "report": "",
            }
        ],
    }
    put(root, "alerts/model=default/state.json", state)
    result = run(config, "-o", "json", "alert", "--date", DAY, "--dry-run")
    assert_no_crash(result, (0,))
    assert "alerts/model=default/state.json" in result.stderr


def test_capture_infra_does_not_store_labels_that_are_not_strings(
    scripted_server: ScriptedServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """A Prometheus-compatible server answering a list as a label value: nothing unreadable is stored."""
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"route": ["/a"]}, "value": [1764000000, "0.9"]},
                {"metric": {"route": "/b"}, "value": [1764000000, "0.1"]},
            ],
        },
    }
    scripted_server.script = [(200, vector)]
    config = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"q": "x"}})
    result = run(config, "capture-infra")
    assert_no_crash(result, (0, 3))
    for path in (tmp_path / "data").rglob("*.json"):
        stored = orjson.loads(path.read_bytes())
        for q in stored["queries"].values():
            for series in q["series"]:
                assert all(isinstance(v, str) for v in series["labels"].values())


# ---------------------------------------------------------------- the store as it really is

HUGE = 1e308  # finite, and two of them overflow a double


def events_body(count: int, day: str = DAY, **fields: Any) -> bytes:
    lines = []
    for minute in range(count):
        event = {**GOOD_EVENT, "ts": f"{day}T10:{minute:02d}:00.000Z", **fields}
        lines.append(orjson.dumps(event) + b"\n")
    return b"".join(lines)


def stored_report(root: Path) -> dict[str, Any]:
    return orjson.loads((root / f"reports/dt={DAY}/model=default/correlation.json").read_bytes())


def test_huge_finite_values_give_a_report_not_an_overflow(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Prediction times, metrics, outputs and infra values of 1e308 on the date and on its drift
    reference days: every sum and mean over them is overflow-safe (fsum raised 'intermediate overflow')."""
    config = write_config(
        {
            "queries": {"http_latency": "x"},
            "thresholds": {"http_latency": 0.5, "loss": {"critical": 1.0}},
            "drift": {"reference_days": 2, "min_samples": 5},
        }
    )
    root = tmp_path / "data"
    huge = {
        "prediction_time_seconds": HUGE,
        "accuracy": HUGE,
        "loss": -HUGE,
        "metrics": {"f1": HUGE},
        "outputs": [HUGE, HUGE, -HUGE, HUGE],
    }
    for day in ("2026-11-18", "2026-11-19", DAY):
        put(root, f"model/dt={day}/model=default/100000-{'a' * 16}.jsonl", events_body(30, day, **huge))
    put(root, f"model/dt={DAY}/model=default/110000-{'b' * 16}.jsonl", events_body(30))
    huge_series = {"labels": {"route": "/a"}, "value": HUGE}
    put(root, f"infra/dt={DAY}/100000-{'c' * 16}.json", snapshot({"http_latency": query([huge_series])}))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    document = orjson.loads(result.stdout)
    assert document["events"]["total"] == 60
    assert document == stored_report(root) | {"generated_at": document["generated_at"]}
    assert "http_latency" in {f["metric"] for f in document["findings"]}
    outputs = document["drift"]["distributions"]["outputs"]
    assert outputs["n_current"] == 120 and outputs["n_reference"] == 240  # each huge output was used


def test_odd_times_are_skipped_per_object_and_do_not_pin_last_seen(store: tuple[Path, Path]) -> None:
    """Year 1 at +14:00 (before year 1 in UTC: datetime underflowed), 9999-12-31 and 1970 in today's
    partition: left out, one warning per object naming it and the count."""
    config, root = store
    odd = f"model/dt={DAY}/model=default/100000-{'d' * 16}.jsonl"
    lines = [
        {**GOOD_EVENT, "ts": "0001-01-01T00:00:00+14:00"},
        {**GOOD_EVENT, "ts": "9999-12-31T23:59:59Z", "prediction_time_seconds": 9.0},
        {**GOOD_EVENT, "ts": "1970-01-01T00:00:00Z", "prediction_time_seconds": 9.0},
        {**GOOD_EVENT, "ts": f"{DAY}T10:30:00.000Z"},
    ]
    put(root, odd, b"".join(orjson.dumps(line) + b"\n" for line in lines))
    put(root, f"model/dt={DAY}/model=default/110000-{'e' * 16}.jsonl", events_body(5))
    put(root, f"infra/dt={DAY}/100000-{'f' * 16}.json", snapshot({"http_latency": query([GOOD_SERIES])}))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    warnings = [line for line in result.stderr.splitlines() if "stamped outside" in line]
    assert len(warnings) == 1 and f"skipping 3 event(s) of {odd}" in warnings[0], result.stderr
    assert "'0001-01-01T00:00:00+14:00'" in warnings[0]
    document = orjson.loads(result.stdout)
    assert document["events"]["total"] == 6
    for finding in document["findings"]:
        assert finding["first_seen"].startswith(DAY) and finding["last_seen"].startswith(DAY), finding


def loop(path: Path) -> None:
    """A symlink to itself where a directory or object should be: root cannot read it either (ELOOP)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(path.name)


def replace_by_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a directory")


def unsearchable(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / f"100000-{'9' * 16}.jsonl").write_bytes(events_body(3))
    path.chmod(0)


@pytest.mark.parametrize(
    "spoil",
    [
        loop,
        replace_by_file,
        pytest.param(
            unsearchable,
            marks=pytest.mark.skipif(
                os.geteuid() == 0, reason="root reads a mode-000 directory; the symlink loop covers it"
            ),
        ),
    ],
)
def test_an_unreadable_event_partition_is_a_partial_failure_with_a_report(
    store: tuple[Path, Path], spoil: Callable[[Path], None]
) -> None:
    config, root = store
    partition = root / f"model/dt={DAY}/model=default"
    spoil(partition)
    put(root, f"infra/dt={DAY}/100000-{'a' * 16}.json", snapshot({"http_latency": query([GOOD_SERIES])}))
    try:
        result = run(config, "-o", "json", "correlate", "--date", DAY)
    finally:
        if partition.is_dir() and not partition.is_symlink():
            partition.chmod(0o755)
    assert_no_crash(result, (3,))
    assert f"cannot list model/dt={DAY}/model=default/" in result.stderr
    assert stored_report(root)["snapshots"] == 1  # the rest was read, and the report stored


def over_the_cap(path: Path) -> None:
    """A sparse file past the 256 MiB cap of a stored object: refused unread, by root too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(300 * 1024 * 1024)


def test_an_unreadable_snapshot_is_skipped_and_the_run_is_a_partial_failure(store: tuple[Path, Path]) -> None:
    config, root = store
    bad = f"infra/dt={DAY}/100000-{'b' * 16}.json"
    over_the_cap(root / bad)
    put(root, f"infra/dt={DAY}/110000-{'c' * 16}.json", snapshot({"http_latency": query([GOOD_SERIES])}))
    put(root, f"model/dt={DAY}/model=default/100000-{'d' * 16}.jsonl", events_body(5))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result, (3,))
    assert f"skipping snapshot {bad}" in result.stderr and "cap of a stored object" in result.stderr
    document = stored_report(root)
    assert document["snapshots"] == 1 and document["events"]["total"] == 5
    assert any("a partial failure" in w and bad in w for w in document["warnings"])


def test_an_unreadable_event_object_is_skipped_and_the_run_is_a_partial_failure(
    store: tuple[Path, Path],
) -> None:
    config, root = store
    bad = f"model/dt={DAY}/model=default/100000-{'e' * 16}.jsonl"
    over_the_cap(root / bad)
    put(root, f"model/dt={DAY}/model=default/110000-{'f' * 16}.jsonl", events_body(5))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result, (3,))
    assert f"skipping {bad}" in result.stderr
    assert stored_report(root)["events"]["total"] == 5


def test_a_symlink_loop_as_an_object_is_skipped_not_the_whole_listing(store: tuple[Path, Path]) -> None:
    config, root = store
    key = f"infra/dt={DAY}/100000-{'a' * 16}.json"
    loop(root / key)
    put(root, f"infra/dt={DAY}/110000-{'b' * 16}.json", snapshot({"http_latency": query([GOOD_SERIES])}))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    assert f"skipping {key}: Too many levels of symbolic links" in result.stderr
    assert orjson.loads(result.stdout)["snapshots"] == 1


def test_a_line_past_the_bound_is_skipped_and_never_parsed(store: tuple[Path, Path]) -> None:
    from mlprom.events.log import MAX_LINE_BYTES

    config, root = store
    key = f"model/dt={DAY}/model=default/100000-{'a' * 16}.jsonl"
    long_line = orjson.dumps({**GOOD_EVENT, "inputs": "x" * MAX_LINE_BYTES}) + b"\n"
    put(root, key, events_body(2) + long_line + events_body(3))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    assert f"skipping {key} line 3: longer than {MAX_LINE_BYTES} bytes" in result.stderr
    assert orjson.loads(result.stdout)["events"]["total"] == 5


def test_warnings_about_bad_lines_are_capped_per_object(store: tuple[Path, Path]) -> None:
    config, root = store
    key = f"model/dt={DAY}/model=default/100000-{'a' * 16}.jsonl"
    put(root, key, random.Random(1).randbytes(4096))
    put(root, f"model/dt={DAY}/model=default/110000-{'b' * 16}.jsonl", events_body(3))
    result = run(config, "-o", "json", "correlate", "--date", DAY)
    assert_no_crash(result)
    about = [line for line in result.stderr.splitlines() if key in line]
    assert len(about) == 4, result.stderr  # three lines named, then the count of the rest
    assert about[-1].startswith("... and ") and about[-1].endswith(f"more bad line(s) in {key}")
    assert orjson.loads(result.stdout)["events"]["total"] == 3


class PruneRacing:
    """A real store whose victims are deleted (as a prune running beside would) after they were listed,
    just before they are read."""

    def __init__(self, inner: Any, victims: list[str]) -> None:
        self.inner = inner
        self.victims = victims

    def get_bytes(self, key: str) -> bytes:
        if key in self.victims:
            assert self.inner.delete_many([key]).deleted == (key,)
        return bytes(self.inner.get_bytes(key))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _race(storage: Any, config_path: Path, caplog: pytest.LogCaptureFixture) -> Any:
    from mlprom.config import load_config
    from mlprom.records import parse_ts
    from mlprom.stages import correlate

    gone = [f"model/dt={DAY}/model=default/100000-{'a' * 16}.jsonl", f"infra/dt={DAY}/100000-{'b' * 16}.json"]
    storage.put_bytes(gone[0], events_body(4))
    storage.put_bytes(gone[1], orjson.dumps(snapshot({"http_latency": query([GOOD_SERIES])})))
    storage.put_bytes(f"model/dt={DAY}/model=default/110000-{'c' * 16}.jsonl", events_body(3))
    ts = f"{DAY}T11:00:00Z"
    kept = snapshot({"http_latency": query([GOOD_SERIES])}, ts=ts)
    storage.put_bytes(f"infra/dt={DAY}/110000-{'d' * 16}.json", orjson.dumps({**kept, "id": "d" * 16}))
    with caplog.at_level("WARNING", logger="mlprom"):
        report = correlate.run(
            load_config(str(config_path)), parse_ts(ts).date(), storage=PruneRacing(storage, gone)
        )
    for key in gone:
        assert any(
            key in r.getMessage() and "deleted since it was listed" in r.getMessage() for r in caplog.records
        )
    return report


def test_objects_deleted_between_list_and_get_are_skipped_locally(
    store: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    from mlprom.storage.local import LocalStorage

    config, root = store
    report = _race(LocalStorage(root), config, caplog)
    assert report.exit_code in (0, 1) and not report.partial_failure  # gone is not a failure
    assert report.events.total == 3 and report.snapshots == 1


def test_objects_deleted_between_list_and_get_are_skipped_on_s3(
    moto_s3: str, s3_bucket: str, write_config: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    from mlprom.storage.s3 import S3Storage

    config = write_config(
        {
            "storage": {"url": f"s3://{s3_bucket}/p", "endpoint_url": moto_s3, "region": "us-east-1"},
            "queries": {"http_latency": "x"},
            "thresholds": {"http_latency": 0.5},
        }
    )
    storage = S3Storage(s3_bucket, "p", endpoint_url=moto_s3, region="us-east-1")
    report = _race(storage, config, caplog)  # moto answers the GET of a deleted key NoSuchKey
    assert report.exit_code in (0, 1) and not report.partial_failure
    assert report.events.total == 3 and report.snapshots == 1
