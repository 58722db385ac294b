"""The DuckDB query documented in docs/correlation.md reads the archived ranges capture-infra writes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from mlprom import layout
from mlprom.clients.prometheus import RangeSeries
from mlprom.infra.history import HistoryResult, range_document, range_object_id
from mlprom.storage.local import LocalStorage

duckdb = pytest.importorskip("duckdb")

DOC = Path(__file__).resolve().parents[2] / "docs" / "correlation.md"


def test_documented_query_reads_archived_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path / "mlprom-data")
    start = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
    series = (
        RangeSeries({"instance": "a:9100"}, (start, start + 30), (0.2, None)),
        RangeSeries({"instance": "b:9100"}, (start,), (0.5,)),
    )
    result = HistoryResult("cpu_usage", "expr", series, None, False)
    document = range_document(result, start, start + 30, 30.0, "http://prometheus.test")
    at = datetime.fromtimestamp(start, UTC)
    storage.put_bytes(
        layout.range_key(at.date(), at, range_object_id("cpu_usage", "expr", start, start + 30, 30.0)),
        orjson.dumps(document),
    )
    query = next(b for b in re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.DOTALL) if "range-*" in b)
    monkeypatch.chdir(tmp_path)
    rows = duckdb.sql(query.strip().rstrip(";")).fetchall()
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("cpu_usage", "a:9100", start, 0.2),
        ("cpu_usage", "a:9100", start + 30, None),
        ("cpu_usage", "b:9100", start, 0.5),
    ]
