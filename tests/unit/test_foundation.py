"""Layout keys, storage URLs, dates, local storage, Prometheus answer parsing, URL redaction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mlprom import layout
from mlprom.clients.http import split_credentials
from mlprom.clients.prometheus import parse_query_data
from mlprom.dates import parse_date, parse_time, rfc3339
from mlprom.errors import ConfigError, ObjectNotFound
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.redact import redact_url
from mlprom.storage.local import LocalStorage
from mlprom.storage.url import bucket_name_problem, parse_storage_url

AT = datetime(2026, 11, 25, 9, 8, 7, tzinfo=UTC)
DAY = date(2026, 11, 25)


def test_keys_follow_the_contract_layout() -> None:
    assert layout.event_key(DAY, "churn", AT, object_id="0" * 16) == (
        "model/dt=2026-11-25/model=churn/090807-0000000000000000.jsonl"
    )
    assert layout.snapshot_key(DAY, AT, "a" * 16) == "infra/dt=2026-11-25/090807-aaaaaaaaaaaaaaaa.json"
    assert layout.report_key(DAY) == "reports/dt=2026-11-25/correlation.json"
    assert layout.alert_run_key(DAY, AT, "b" * 16) == "alerts/dt=2026-11-25/090807-bbbbbbbbbbbbbbbb.json"


def test_keys_are_unique_per_write() -> None:
    assert len({layout.snapshot_key(DAY, AT) for _ in range(1000)}) == 1000


def test_parse_key_round_trips_and_rejects_strangers() -> None:
    key = layout.event_key(DAY, "churn", AT, gzip=True)
    parsed = layout.parse_key(key)
    assert parsed == layout.ParsedKey("model", DAY, "churn", "event")
    assert layout.parse_key(layout.report_key(DAY)).kind == "report"
    for stranger in (
        "notes.txt",
        "infra/dt=2026-13-01/000000-0000000000000000.json",
        "model/dt=2026-11-25/x.json",
        layout.ALERT_STATE_KEY,
    ):
        assert layout.parse_key(stranger) is None
    assert layout.parse_partition("infra/dt=2026-11-25/whatever") == ("infra", DAY)
    assert layout.parse_partition("infra/2026-11-25/whatever") is None


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ml-historical-metrics", True),
        ("a.b.c", True),
        ("ML_historical_metrics", False),
        ("ab", False),
        ("-abc", False),
        ("a..b", False),
        ("192.168.1.1", False),
        ("xn--abc", False),
        ("abc-s3alias", False),
    ],
)
def test_bucket_rules(name: str, ok: bool) -> None:
    assert (bucket_name_problem(name) is None) is ok


def test_storage_urls(tmp_path: Path) -> None:
    s3 = parse_storage_url("s3://ml-historical-metrics/mlprom/")
    assert (s3.scheme, s3.bucket, s3.prefix) == ("s3", "ml-historical-metrics", "mlprom")
    assert parse_storage_url("file:///var/lib/mlprom").path == Path("/var/lib/mlprom")
    assert parse_storage_url("data", base_dir=tmp_path).path == tmp_path / "data"
    for bad in ("s3:/ML_historical_metrics", "s3://", "gs://bucket", "file://host/x", ""):
        with pytest.raises(ConfigError):
            parse_storage_url(bad)


def test_dates() -> None:
    now = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
    assert parse_date("today", now) == DAY
    assert parse_date("yesterday", now) == date(2026, 11, 24)
    assert parse_date("2026-01-02", now) == date(2026, 1, 2)
    for bad in ("2026-1-2", "tomorrow", "2026-02-30"):
        with pytest.raises(ConfigError):
            parse_date(bad, now)
    assert parse_time("2026-11-25T10:00:00+01:00") == datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert parse_time("1764061687") == datetime.fromtimestamp(1764061687, UTC)
    assert rfc3339(AT) == "2026-11-25T09:08:07.000Z"


def test_local_storage_is_atomic_and_lists_in_order(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.put_bytes("infra/dt=2026-11-25/b.json", b"2")
    store.put_bytes("infra/dt=2026-11-25/a.json", b"1")
    store.put_bytes("infra/dt=2026-11-24/c.json", b"3")
    assert [o.key for o in store.list("infra/dt=2026-11-25/")] == [
        "infra/dt=2026-11-25/a.json",
        "infra/dt=2026-11-25/b.json",
    ]
    assert [o.key for o in store.list("infra/")][0] == "infra/dt=2026-11-24/c.json"
    assert not list(tmp_path.rglob(".tmp-*"))
    with pytest.raises(ObjectNotFound):
        store.get_bytes("infra/nope")
    result = store.delete_many(["infra/dt=2026-11-24/c.json"])
    assert result.deleted == ("infra/dt=2026-11-24/c.json",)
    assert not (tmp_path / "infra" / "dt=2026-11-24").exists()


def test_local_storage_refuses_escaping_keys(tmp_path: Path) -> None:
    from mlprom.errors import StorageError

    with pytest.raises(StorageError):
        LocalStorage(tmp_path).put_bytes("../x", b"")


def test_local_storage_write_failure_leaves_nothing(tmp_path: Path) -> None:
    from mlprom.errors import StorageError

    (tmp_path / "infra").write_text("a file where a directory should be")
    with pytest.raises(StorageError, match="cannot write infra/dt=2026-11-25/x.json"):
        LocalStorage(tmp_path).put_bytes("infra/dt=2026-11-25/x.json", b"{}")
    assert (tmp_path / "infra").read_text() == "a file where a directory should be"


def test_prometheus_result_types() -> None:
    vector = {
        "resultType": "vector",
        "result": [
            {"metric": {"instance": "a"}, "value": [1, "0.5"]},
            {"metric": {"instance": "b"}, "value": [1, "NaN"]},
        ],
    }
    assert parse_query_data(vector) == (
        "vector",
        (Series({"instance": "a"}, 0.5), Series({"instance": "b"}, None, "NaN")),
    )
    matrix = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "+Inf"]]}]}
    assert parse_query_data(matrix) == ("matrix", (Series({}, None, "+Inf"),))
    assert parse_query_data({"resultType": "scalar", "result": [1, "-Inf"]}) == (
        "scalar",
        (Series({}, None, "-Inf"),),
    )
    assert parse_query_data({"resultType": "string", "result": [1, "hi"]}) == (
        "string",
        (Series({}, None, "hi"),),
    )
    for bad in (None, {}, {"resultType": "vector", "result": [{"value": [1]}]}, {"resultType": "histogram"}):
        with pytest.raises((ValueError, TypeError, AttributeError)):
            parse_query_data(bad)


def test_records_round_trip() -> None:
    snapshot = Snapshot(
        AT, "http://p:9090", {"q": QueryResult("up", "vector", (Series({"a": "b"}, None, "NaN"),))}, "id"
    )
    assert Snapshot.from_dict(snapshot.to_dict()) == snapshot
    event = Event(AT, "m", 1.5, True, 10, metrics={"accuracy": 0.5}, accuracy=0.5, outputs=(1.0, 0.0))
    assert Event.from_dict(event.to_dict()) == event


def test_redaction() -> None:
    assert redact_url("https://u:p@h.example:8443/path?token=x") == "https://h.example:8443/path"
    assert split_credentials("http://u:p@h:9090/x") == ("http://h:9090/x", ("u", "p"))


def test_local_urls_keep_partitions_readable(tmp_path: Path) -> None:
    url = LocalStorage(tmp_path).url_for("reports/dt=2026-11-25/correlation.json")
    assert url == f"file://{tmp_path}/reports/dt=2026-11-25/correlation.json"


def test_drift_sample_key_lies_in_the_reports_partition() -> None:
    key = layout.drift_sample_key(DAY)
    assert key == "reports/dt=2026-11-25/drift-sample.json"
    assert layout.parse_key(key) == layout.ParsedKey("reports", DAY, None, "drift_sample")
    assert layout.parse_partition(key) == ("reports", DAY)
    assert layout.parse_key("reports/dt=2026-11-25/drift-sample.json.tmp") is None
