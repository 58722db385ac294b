"""`mlprom profile` end to end: events -> correlate per date -> stored profiles -> next week's peak hours."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.stages import correlate
from mlprom.stages import profile as profile_stage
from mlprom.storage import open_storage

FIRST = date(2026, 11, 2)  # a Monday
BASE = 40  # recorded events an hour outside the peaks

runner = CliRunner()


def weekly_load(day: date) -> dict[int, int]:
    """Planted: weekday mornings 09-10 UTC at 4x, Wednesday 15:00 at 5x, Saturday 20:00 at 4x."""
    load = {9: 4 * BASE, 10: 4 * BASE} if day.weekday() < 5 else {}
    if day.weekday() == 2:
        load[15] = 5 * BASE
    if day.weekday() == 5:
        load[20] = 4 * BASE
    return load


def write_day(storage: Any, day: date, load: dict[int, int], snapshots: bool = False) -> None:
    rng = random.Random(day.toordinal())
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    events = []
    for hour in range(24):
        n = load.get(hour, BASE)
        for _ in range(rng.randint(n - n // 10, n + n // 10)):
            at = start + timedelta(hours=hour, seconds=rng.uniform(0, 3599))
            slow = rng.random() < 0.05
            events.append(
                Event(
                    ts=at,
                    model="default",
                    prediction_time_seconds=rng.uniform(11, 13) if slow else rng.uniform(0.1, 0.5),
                    slow=slow,
                    rows=10,
                    sampled=not slow,
                )
            )
        if snapshots:
            cpu = 0.3 + load.get(hour, BASE) / 1000
            series = (Series({"instance": "host-a:9100"}, cpu),)
            query = QueryResult("node_load1", "vector", series)
            write_snapshot(
                storage, Snapshot(start + timedelta(hours=hour, minutes=30), "http://p", {"cpu_usage": query})
            )
    write_events(storage, events)


def _config(write_config: Callable[..., Path]) -> tuple[Path, Any]:
    path = write_config({"queries": {"cpu_usage": "node_load1"}, "thresholds": {}})
    return path, load_config(str(path))


def _invoke(path: Path, *args: str) -> Any:
    return runner.invoke(app, ["-c", str(path), *args])


def _correlate_days(path: Path, days: list[date]) -> None:
    for day in days:
        result = _invoke(path, "-q", "correlate", "--date", day.isoformat(), "--fail-on", "never")
        assert result.exit_code == 0, result.output


def test_profile_forecasts_the_planted_weekly_peak_hours(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    days = [FIRST + timedelta(days=i) for i in range(21)]
    for day in days:
        write_day(storage, day, weekly_load(day), snapshots=True)
    _correlate_days(path, days)

    result = _invoke(
        path, "-o", "json", "profile", "--from", days[0].isoformat(), "--to", days[-1].isoformat()
    )

    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    assert document["days_used"] == [d.isoformat() for d in days] and document["missing"] == []
    fc = document["forecast"]
    assert fc["method"] == "hour-of-week" and fc["start"] == "2026-11-23" and fc["end"] == "2026-11-29"
    next_week = [date(2026, 11, 23) + timedelta(days=i) for i in range(7)]
    expected = {(d.isoformat(), h) for d in next_week for h in weekly_load(d)}
    assert {(p["date"], p["hour"]) for p in fc["peaks"]} == expected
    wednesday = next(p for p in fc["peaks"] if p["weekday"] == "Wed" and p["hour"] == 15)
    assert 4.5 * BASE <= wednesday["events"] <= 5.5 * BASE and wednesday["observations"] == 3
    assert wednesday["p95"] is not None and wednesday["resources"]["cpu_usage"] == pytest.approx(0.5)
    assert len(fc["slots"]) == 168 and all(s["observations"] == 3 for s in fc["slots"])


def test_correlate_report_carries_the_profile_section(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    day = FIRST + timedelta(days=2)  # a Wednesday
    write_day(storage, day, weekly_load(day), snapshots=True)

    result = _invoke(path, "-o", "json", "correlate", "--date", day.isoformat(), "--fail-on", "never")

    assert result.exit_code == 0, result.output
    section = orjson.loads(result.stdout)["profile"]
    assert set(section) == {"hours", "peak_hours", "method"}
    assert [h["hour"] for h in section["hours"]] == list(range(24))
    assert section["peak_hours"] == [9, 10, 15]
    assert sum(h["events"] for h in section["hours"]) == orjson.loads(result.stdout)["events"]["total"]
    nine = section["hours"][9]
    assert set(nine) == {"hour", "events", "slow", "slow_share", "p95", "peak", "resources"}
    assert nine["peak"] is True and nine["resources"] == {"cpu_usage": pytest.approx(0.46)}
    stored = orjson.loads(storage.get_bytes(layout.report_key(day, "default")))
    assert stored["profile"] == section

    table = _invoke(path, "correlate", "--date", day.isoformat(), "--fail-on", "never")
    markdown = _invoke(path, "-o", "markdown", "correlate", "--date", day.isoformat(), "--fail-on", "never")
    assert "Hour profile (UTC): peak hours 09, 10, 15" in table.stdout
    assert "### Hour profile" in markdown.stdout and "| 15 |" in markdown.stdout


def test_a_report_made_during_the_day_covers_the_ended_hours(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    storage = open_storage(config)
    day = FIRST
    write_day(storage, day, {})

    report = correlate.run(config, day, now=datetime(2026, 11, 2, 10, 30, tzinfo=UTC))

    assert report.profile is not None and [h.hour for h in report.profile.hours] == list(range(10))


def test_missing_old_and_corrupt_reports_are_listed_with_a_warning(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    days = [FIRST + timedelta(days=i) for i in range(5)]
    for day in days[:4]:
        write_day(storage, day, weekly_load(day))
    _correlate_days(path, days[:4])
    old_key = layout.report_key(days[1], "default")
    old = orjson.loads(storage.get_bytes(old_key))
    del old["profile"]  # as written before profiles existed
    storage.put_bytes(old_key, orjson.dumps(old))
    storage.put_bytes(layout.report_key(days[2], "default"), b"{not json")

    result = _invoke(
        path, "-o", "json", "profile", "--from", days[0].isoformat(), "--to", days[-1].isoformat()
    )

    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    assert document["days_used"] == [days[0].isoformat(), days[3].isoformat()]
    reasons = {m["date"]: m["reason"] for m in document["missing"]}
    assert set(reasons) == {days[1].isoformat(), days[2].isoformat(), days[4].isoformat()}
    assert "has no profile" in reasons[days[1].isoformat()]
    assert "not valid JSON" in reasons[days[2].isoformat()]
    assert "no report at" in reasons[days[4].isoformat()]
    for day in days[1], days[2], days[4]:
        assert f"{day} left out" in result.stderr
    assert "too little history" in result.stderr and document["forecast"]["method"] == "hour-of-day"
    assert "Traceback" not in result.output


def test_no_report_in_the_range_exits_4_unless_allow_empty(write_config: Callable[..., Path]) -> None:
    path, _ = _config(write_config)

    result = _invoke(path, "profile", "--from", "2026-11-02", "--to", "2026-11-08")
    allowed = _invoke(
        path, "-o", "json", "profile", "--from", "2026-11-02", "--to", "2026-11-08", "--allow-empty"
    )

    assert result.exit_code == 4 and "no profile for any date from 2026-11-02 to 2026-11-08" in result.stderr
    assert "a forecast needs at least 1" in result.stderr
    # Day one: one line, not one per date without a report.
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    assert allowed.exit_code == 0, allowed.output
    assert orjson.loads(allowed.stdout)["forecast"]["peaks"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-09", "--to", "2026-11-02"], "--from 2026-11-09 is after --to 2026-11-02"),
        (["--from", "2026-13-01", "--to", "2026-11-02"], "--from '2026-13-01'"),
        (["--from", "2026-11-01", "--to", "next week"], "--to 'next week'"),
        (["--from", "2020-01-01", "--to", "2026-11-02"], "at most 366"),
    ],
)
def test_a_bad_range_exits_2_naming_the_flag(
    write_config: Callable[..., Path], args: list[str], message: str
) -> None:
    path, _ = _config(write_config)

    result = _invoke(path, "profile", *args)

    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


def test_default_range_is_four_weeks_up_to_yesterday() -> None:
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert profile_stage.parse_range(None, None, now) == (date(2026, 11, 2), date(2026, 11, 29))
    assert profile_stage.parse_range(None, "2026-11-10", now) == (date(2026, 10, 14), date(2026, 11, 10))


def test_quiet_clean_run_prints_nothing_and_views_show_the_peaks(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    days = [FIRST + timedelta(days=i) for i in range(14)]
    for day in days:
        write_day(storage, day, weekly_load(day))
    _correlate_days(path, days)
    span = ["--from", days[0].isoformat(), "--to", days[-1].isoformat()]

    quiet = _invoke(path, "profile", *span, "-q")
    table = _invoke(path, "profile", *span)
    markdown = _invoke(path, "-o", "markdown", "profile", *span)

    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert "hour-of-week forecast for 2026-11-16..2026-11-22: peak hours (UTC) 09, 10, 15, 20" in table.stdout
    assert "2026-11-18 Wed 15:00" in table.stdout and "2026-11-21 Sat 20:00" in table.stdout
    assert "| 2026-11-18 Wed 15:00 |" in markdown.stdout


def test_data_strings_in_a_stored_profile_are_shown_literally(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    hours = [
        {
            "hour": h,
            "events": 400 if h == 9 else 40,
            "slow": 0,
            "slow_share": 0.0,
            "p95": 0.2,
            "peak": h == 9,
            "resources": {"[bold red]cpu[/bold red]": 0.5},
        }
        for h in range(24)
    ]
    report = {
        "date": "2026-11-02",
        "generated_at": "2026-11-03T00:05:00.000Z",
        "status": "ok",
        "model": "default",
        "events": {"total": 1320, "slow": 0},
        "snapshots": 0,
        "findings": [],
        "suspects": [],
        "profile": {"hours": hours, "peak_hours": [9], "method": "m"},
    }
    storage.put_bytes(layout.report_key(FIRST, "default"), orjson.dumps(report))

    result = _invoke(path, "profile", "--from", "2026-11-02", "--to", "2026-11-02")

    assert result.exit_code == 0, result.output
    assert "[bold red]cpu[/bold red]" in result.stdout and "every day 09:00" in result.stdout


def test_a_no_data_report_is_a_gap_not_a_quiet_day(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    result = _invoke(path, "-q", "correlate", "--date", FIRST.isoformat(), "--allow-empty")
    assert result.exit_code == 0, result.output

    outcome = profile_stage.read_day_profile(open_storage(config), FIRST, "default")

    assert isinstance(outcome, str) and "status no_data" in outcome


def test_a_report_of_another_model_is_not_this_models_profile(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    storage = open_storage(config)
    storage.put_bytes(
        layout.report_key(FIRST, "default"), orjson.dumps({"model": "churn", "profile": {"hours": []}})
    )

    outcome = profile_stage.read_day_profile(storage, FIRST, "default")

    assert isinstance(outcome, str) and "for model 'churn'" in outcome
