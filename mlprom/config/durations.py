"""Durations as Prometheus writes them ("500ms", "30s", "1h30m", "7d") or plain seconds, bounded."""

from __future__ import annotations

import math
import re
from typing import Any

_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_FULL = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+$")
# Bounds of values (docs/reliability.md).
MAX_DURATION = 366 * 86400.0  # a year (and a day): beyond, date arithmetic meets the calendar's end
MAX_TIMEOUT = 3600.0


def parse_duration(value: Any) -> float:
    """Prometheus-style duration ("500ms", "30s", "1h30m", "7d") or a plain number of seconds -> seconds.

    At most MAX_DURATION (366 days).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s or 5m, got {value!r}")
    seconds = math.nan
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a non-negative finite duration, got {value!r}")
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _DURATION_FULL.match(text):
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
        else:
            try:
                seconds = float(text)
            except ValueError:
                seconds = math.nan
            if not (math.isfinite(seconds) and seconds >= 0):
                seconds = math.nan
    if math.isnan(seconds):
        raise ValueError(
            f"invalid duration {value!r}: use a number of seconds or units ms/s/m/h/d/w/y, e.g. 500ms, 30s, 5m"
        )
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than the maximum of 366d")
    return seconds


def parse_timeout(value: Any) -> float:
    """A duration above zero and at most an hour: 0 would fail every request, a day hides a hang."""
    seconds = parse_duration(value)
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ValueError(f"timeout {value!r} must be above 0 and at most 1h")
    return seconds
