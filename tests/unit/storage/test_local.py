"""storage.url rules and local storage: atomic writes, ordered listings, keys that stay inside."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mlprom.config.storage_url import bucket_name_problem, parse_storage_url
from mlprom.errors import ConfigError, ObjectNotFound
from mlprom.storage.local import LocalStorage

AT = datetime(2026, 11, 25, 9, 8, 7, tzinfo=UTC)
DAY = date(2026, 11, 25)


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


def test_local_urls_keep_partitions_readable(tmp_path: Path) -> None:
    url = LocalStorage(tmp_path).url_for("reports/dt=2026-11-25/correlation.json")
    assert url == f"file://{tmp_path}/reports/dt=2026-11-25/correlation.json"
