"""What one sample of a query describes, and how a range is cut for Prometheus' 11,000-point limit."""

from __future__ import annotations

import pytest

from mlprom.history import MAX_POINTS, chunks, split_by_day, window_of


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))', 60.0),
        ("histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))", 300.0),
        ("irate(node_pressure_cpu_waiting_seconds_total[1m])", 0.0),
        ("node_load1", 0.0),
        ("max_over_time(rate(x[30s])[10m:1m])", 600.0),
        ("rate(x[1m30s]) / irate(y[5m])", 90.0),
        ('up{job="a[1m]"}', 0.0),
    ],
)
def test_window_of_reads_the_longest_range(expr: str, seconds: float) -> None:
    assert window_of(expr) == seconds


def test_a_day_at_one_second_is_cut_under_the_point_limit() -> None:
    pieces = chunks(0.0, 86400.0, 1.0)
    assert all((b - a) / 1.0 + 1 <= MAX_POINTS for a, b in pieces)
    assert pieces[0][0] == 0.0 and pieces[-1][1] == 86400.0 and len(pieces) == 8
    # Consecutive chunks are one step apart: no point twice, none missing.
    assert all(b2 == b1 + 1.0 for (_, b1), (b2, _) in zip(pieces, pieces[1:], strict=False))


def test_a_day_at_thirty_seconds_is_one_request() -> None:
    assert len(chunks(-400.0, 86800.0, 30.0)) == 1


def test_archived_ranges_are_cut_at_midnight() -> None:
    pieces = split_by_day(86400.0 - 90.0, 86400.0 + 60.0, 30.0)
    assert pieces == [(86310.0, 86370.0), (86400.0, 86460.0)]
