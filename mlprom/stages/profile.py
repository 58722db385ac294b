"""profile: read the stored reports' hour-of-day profiles for a date range and forecast next week's peak hours.

Re-runs nothing: a date without a report, or with a report made before profiles existed, is listed as
missing. docs/profile.md states the forecast exactly.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from mlprom import layout
from mlprom.analysis.profile import DayProfile, forecast
from mlprom.errors import ConfigError, NoDataError, ObjectNotFound
from mlprom.reports.results import MissingDay, ProfileResult

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

DEFAULT_DAYS = 28  # four weeks: every weekday twice or more, enough for the weekly forecast
MAX_DAYS = 366  # a year of reports at most: a typo in --from should not read a decade of keys
REPORT_READERS = 8  # concurrent GETs
WARNED_MAX = 10  # missing dates warned one by one; the rest in one line (all are in the result)
MIN_DAYS = 1  # dates with a profile a forecast needs: one gives the hour-of-day forecast (docs/profile.md)
NO_REPORT = "no report at"  # the reason of a date correlate never wrote a report for


def parse_range(start: str | None, end: str | None, now: datetime | None = None) -> tuple[date, date]:
    """--from and --to (YYYY-MM-DD, today, yesterday); --to defaults to yesterday, --from to 4 weeks before it."""
    from mlprom.dates import parse_date

    def one(flag: str, text: str) -> date:
        try:
            return parse_date(text, now)
        except ConfigError:
            raise ConfigError(f"{flag} {text!r}: expected YYYY-MM-DD, 'today' or 'yesterday'") from None

    last = one("--to", end if end is not None else "yesterday")
    first = one("--from", start) if start is not None else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ConfigError(f"--from {first} is after --to {last}")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise ConfigError(f"--from {first} --to {last} spans {days} days; at most {MAX_DAYS}")
    return first, last


def read_day_profile(storage: Storage, day: date, model: str) -> DayProfile | str:
    """The date's stored profile, or why there is none (a reason fit for a warning)."""
    import orjson

    from mlprom.reports import legacy

    own = layout.report_key(day, model)
    try:
        key, body = legacy.get_bytes(storage, own, layout.legacy_report_key(day))
    except ObjectNotFound:
        return f"{NO_REPORT} {storage.url_for(own)} (run `mlprom correlate --date {day}`)"
    url = storage.url_for(key)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"report {url} is not valid JSON"
    if not isinstance(data, dict):
        return f"report {url} is not a JSON object"
    other = data.get("model")
    if isinstance(other, str) and other and other != model:
        return f"report {url} is for model {other!r}, not {model!r}"
    if key != own:
        legacy.tell_once(storage, key, own)
    if data.get("status") == "no_data":
        # No events and no snapshots: a gap in the pipeline far more often than a day without traffic.
        return f"report {url} has no data (status no_data)"
    if data.get("profile") is None:
        return f"report {url} has no profile (made before profiles existed; re-run `mlprom correlate --date {day}`)"
    try:
        return DayProfile.from_dict(data["profile"])
    except ValueError as exc:
        return f"report {url} has an invalid profile: {exc}"


def run(
    config: Config, start: date, end: date, allow_empty: bool = False, storage: Storage | None = None
) -> ProfileResult:
    """Combine the profiles of start..end (inclusive) and forecast the 7 days after `end`."""
    if storage is None:
        from mlprom.storage import open_storage

        storage = open_storage(config)
    model = config.model.name
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    with ThreadPoolExecutor(REPORT_READERS, thread_name_prefix="report-get") as pool:
        outcomes = list(pool.map(lambda d: read_day_profile(storage, d, model), days))
    used: list[tuple[date, DayProfile]] = []
    missing: list[MissingDay] = []
    for day, outcome in zip(days, outcomes, strict=True):
        if isinstance(outcome, DayProfile):
            used.append((day, outcome))
        else:
            missing.append(MissingDay(day, outcome))
    # With no profile at all (day one), the dates without a report are the one line below, not a line each.
    warned = [m for m in missing if used or not m.reason.startswith(NO_REPORT)]
    for m in warned[:WARNED_MAX]:
        log.warning("profile: %s left out: %s", m.day, m.reason)
    if len(warned) > WARNED_MAX:
        log.warning("profile: %d more date(s) left out (listed in the output)", len(warned) - WARNED_MAX)
    if len(used) < MIN_DAYS and not allow_empty:
        raise NoDataError(
            f"no profile for any date from {start} to {end} ({len(used)} day(s) of reports under "
            f"{storage.url_for(layout.stage_prefix('reports'))}); a forecast needs at least {MIN_DAYS}: "
            "run again after `mlprom correlate --date D` has stored a report for one of them "
            "(today's counts with --to today)"
        )
    result = ProfileResult(
        start, end, model, tuple(d for d, _ in used), tuple(missing), forecast(used, end + timedelta(days=1))
    )
    log.info(
        "profile: %d of %d date(s) used; %s forecast for %s..%s, %d peak(s)",
        len(used),
        len(days),
        result.forecast.method,
        result.forecast.start,
        result.forecast.end,
        len(result.forecast.peaks),
    )
    if result.forecast.note:
        log.warning("profile: %s", result.forecast.note)
    return result
