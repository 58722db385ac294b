"""Prometheus answers of every result type parsed into series."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mlprom.clients.prometheus import parse_query_data
from mlprom.records import Series

AT = datetime(2026, 11, 25, 9, 8, 7, tzinfo=UTC)
DAY = date(2026, 11, 25)


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
