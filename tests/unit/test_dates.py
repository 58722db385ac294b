"""--date / --at parsing and RFC3339 output, all UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mlprom.dates import parse_date, parse_time, rfc3339
from mlprom.errors import ConfigError

AT = datetime(2026, 11, 25, 9, 8, 7, tzinfo=UTC)
DAY = date(2026, 11, 25)


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
