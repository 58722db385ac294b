"""Parsing of --date (YYYY-MM-DD, today, yesterday) and --at (RFC3339 or unix seconds); all UTC."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from mlprom.errors import ConfigError


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_date(text: str | None, now: datetime | None = None) -> date:
    today = (now or utcnow()).astimezone(UTC).date()
    if text is None or text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r}: expected YYYY-MM-DD, 'today' or 'yesterday'") from None


def parse_time(text: str | None, now: datetime | None = None) -> datetime:
    """RFC3339 ('2026-11-25T10:00:00Z', with any offset) or unix seconds; naive times are refused."""
    if text is None or text == "now":
        return (now or utcnow()).astimezone(UTC)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"--at {text!r}: not a valid unix time")
        return datetime.fromtimestamp(seconds, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ConfigError(f"--at {text!r}: expected RFC3339 (2026-11-25T10:00:00Z) or unix seconds") from None
    if parsed.tzinfo is None:
        raise ConfigError(f"--at {text!r}: give a timezone (Z or +HH:MM); times are never guessed as local")
    return parsed.astimezone(UTC)


def rfc3339(at: datetime) -> str:
    """UTC with a Z and millisecond precision: 2026-11-25T10:00:00.123Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
