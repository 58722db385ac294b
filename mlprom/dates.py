"""Parsing of --date (YYYY-MM-DD, today, yesterday) and --at (RFC3339 or unix seconds); all UTC.

Both are bounded (docs/reliability.md): from 1970-01-01 to the end of tomorrow, UTC. A date past
tomorrow would sort after every real run (its alert state would outrank today's), and dates near the
ends of the calendar overflow the arithmetic the stages do around them.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

from mlprom.errors import ConfigError

DAY_SECONDS = 86400  # seconds in a UTC day: unix time has no leap seconds
EARLIEST_DATE = date(1970, 1, 1)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC3339 with a required offset; fractional seconds of any length; 'T' or a space between.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def latest_date(now: datetime | None = None) -> date:
    """The last date any flag may name: tomorrow, UTC."""
    return (now or utcnow()).astimezone(UTC).date() + timedelta(days=1)


def _bounds_text(now: datetime | None) -> str:
    return f"{EARLIEST_DATE.isoformat()} to {latest_date(now).isoformat()} (tomorrow, UTC)"


def parse_date(text: str | None, now: datetime | None = None, flag: str = "--date") -> date:
    today = (now or utcnow()).astimezone(UTC).date()
    if text is None or text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    if not _DATE.fullmatch(text):
        raise ConfigError(f"{flag} {text!r}: expected YYYY-MM-DD, 'today' or 'yesterday'")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: not a calendar date") from None
    if not EARLIEST_DATE <= day <= latest_date(now):
        raise ConfigError(f"{flag} {text}: out of range; dates run from {_bounds_text(now)}")
    return day


def parse_time(text: str | None, now: datetime | None = None, flag: str = "--at") -> datetime:
    """RFC3339 ('2026-11-25T10:00:00Z', with any offset) or unix seconds; naive times are refused."""
    if text is None or text == "now":
        return (now or utcnow()).astimezone(UTC)
    parsed: datetime
    try:
        seconds = float(text)
    except ValueError:
        if not _RFC3339.fullmatch(text.strip()):
            if re.fullmatch(
                r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?", text.strip()
            ):
                raise ConfigError(
                    f"{flag} {text!r}: give a timezone (Z or +HH:MM); times are never guessed as local"
                ) from None
            raise ConfigError(
                f"{flag} {text!r}: expected RFC3339 (2026-11-25T10:00:00Z) or unix seconds"
            ) from None
        try:
            parsed = datetime.fromisoformat(text.strip().replace("z", "Z").replace("t", "T"))
            parsed = parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ConfigError(
                f"{flag} {text!r}: not a valid time; times run from {_bounds_text(now)}"
            ) from None
    else:
        if not math.isfinite(seconds) or not 0 <= seconds <= _latest_seconds(now):
            raise ConfigError(f"{flag} {text!r}: out of range; times run from {_bounds_text(now)}")
        parsed = datetime.fromtimestamp(seconds, UTC)
    if not EARLIEST_DATE <= parsed.date() <= latest_date(now):
        raise ConfigError(f"{flag} {text}: out of range; times run from {_bounds_text(now)}")
    return parsed


def _latest_seconds(now: datetime | None) -> float:
    end = datetime.combine(latest_date(now) + timedelta(days=1), datetime.min.time(), UTC)
    return end.timestamp() - 0.001


def rfc3339(at: datetime) -> str:
    """UTC with a Z and millisecond precision: 2026-11-25T10:00:00.123Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
