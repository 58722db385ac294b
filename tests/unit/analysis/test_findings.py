"""The Finding record's stored form: a quality finding's rows round-trip, and bad rows name the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlprom.analysis.findings import Finding

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_a_quality_findings_rows_round_trip_and_others_have_none() -> None:
    quality = Finding("warning", "accuracy", {}, 0.92, 0.95, "below", 0, AT, AT, rows=50)
    assert quality.to_dict()["rows"] == 50 and Finding.from_dict(quality.to_dict()) == quality
    latency = Finding("critical", "prediction_time", {}, 14.0, 10.0, "above", 3, AT, AT)
    assert "rows" not in latency.to_dict() and Finding.from_dict(latency.to_dict()).rows is None


@pytest.mark.parametrize("rows", ["50", -1, True, 2.5])
def test_stored_rows_that_are_not_a_count_are_refused_by_name(rows: object) -> None:
    document = {**Finding("warning", "accuracy", {}, 0.9, 0.95, "below", 0, AT, AT).to_dict(), "rows": rows}
    with pytest.raises(ValueError, match="rows"):
        Finding.from_dict(document)
