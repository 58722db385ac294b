"""correlate.step auto: the candidate steps, the slow side's size at each, the choice, and where the scrape
interval is read (targets API, else raw samples of `up`)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import responses

from mlprom.analysis.sketch import LatencySketch
from mlprom.clients.prometheus import (
    PrometheusClient,
    QueryError,
    RangeResult,
    RangeSeries,
    ScrapeTarget,
    parse_targets_data,
)
from mlprom.config import load_config_text
from mlprom.errors import ConfigError, UpstreamError
from mlprom.infra.resolution import (
    TARGET_SLOW_POINTS,
    Resolution,
    candidate_steps,
    choose_step,
    resolve_step,
    sample_spacing,
    scrape_interval,
    slow_counts_of,
    slow_points,
    with_step,
)

T0 = 1_764_547_200.0  # 2025-12-01T00:00:00Z, a whole minute


def _windows(count: int, seconds: int, gap: int = 600) -> dict[float, int]:
    """Slow calls per second: `count` windows of `seconds` seconds, one slow call each second."""
    return {T0 + w * gap + s: 1 for w in range(count) for s in range(seconds)}


# ---------------------------------------------------------------- the config key


def test_step_defaults_to_auto_and_a_duration_still_fixes_it() -> None:
    assert load_config_text("", env={}).correlate.step == "auto"
    assert load_config_text("correlate: {step: 10s}\n", env={}).correlate.step == 10.0
    assert load_config_text("correlate: {step: 15}\n", env={}).correlate.step_seconds == 15.0


@pytest.mark.parametrize("value", ["500ms", "fast", "-5s", "Auto"])
def test_a_step_that_is_neither_auto_nor_a_second_or_more_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="correlate.step"):
        load_config_text(f"correlate: {{step: {value!r}}}\n", env={})


def test_an_unresolved_auto_step_cannot_be_read_as_seconds() -> None:
    config = load_config_text("", env={})
    with pytest.raises(RuntimeError, match="resolved"):
        _ = config.correlate.step_seconds
    resolved = with_step(config, Resolution(10.0, "test"))
    assert resolved.correlate.step_seconds == 10.0
    assert config.correlate.step == "auto"  # the original is frozen and unchanged


# ---------------------------------------------------------------- pure choice


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (1.0, [1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0]),
        (15.0, [15.0, 30.0, 60.0]),  # 1 s to 10 s round up to one scrape interval
        (7.0, [7.0, 14.0, 21.0, 35.0]),  # whole intervals only; 63 s is past the 60 s bound
        (90.0, [90.0]),  # never finer than the interval, even past the bound
        (None, [30.0, 60.0]),
    ],
)
def test_candidate_steps_are_whole_scrape_intervals_within_the_bounds(
    interval: float | None, expected: list[float]
) -> None:
    assert candidate_steps(interval) == expected


def test_slow_points_from_seconds_are_the_steps_holding_slow_events() -> None:
    counts = _windows(4, 30)  # four 30 s windows, starting on whole minutes
    assert slow_points(counts, 1.0, 1.0) == 120
    assert slow_points(counts, 1.0, 5.0) == 24
    assert slow_points(counts, 1.0, 10.0) == 12
    assert slow_points(counts, 1.0, 60.0) == 4


def test_slow_points_from_minutes_count_each_slow_minute_once_below_a_minute() -> None:
    minutes = {T0: 3, T0 + 60: 100, T0 + 120: 0}
    # The 100 slow calls of a minute may all lie within one 5 s step: only one point is sure.
    assert slow_points(minutes, 60.0, 5.0) == 2
    assert slow_points(minutes, 60.0, 60.0) == 2


def test_minute_counts_choose_a_minute_step_only_with_twenty_slow_minutes() -> None:
    few = {T0 + 60 * m: 50 for m in range(5)}
    many = {T0 + 60 * m: 1 for m in range(0, 60, 2)}
    assert choose_step(1.0, few, bin_seconds=60.0).step_seconds == 1.0
    assert choose_step(1.0, many, bin_seconds=60.0).step_seconds == 60.0


def test_short_incidents_get_the_finest_step_that_gives_enough_points() -> None:
    chosen = choose_step(1.0, _windows(4, 30))
    assert chosen.step_seconds == 5.0
    assert chosen.slow_points == 24 and chosen.slow_points >= TARGET_SLOW_POINTS
    assert "scrape interval 1s" in chosen.why


def test_long_incidents_get_the_coarsest_step() -> None:
    chosen = choose_step(1.0, _windows(1, 3600))
    assert (chosen.step_seconds, chosen.slow_points) == (60.0, 60)


def test_too_few_slow_events_get_the_finest_step_and_say_so() -> None:
    chosen = choose_step(15.0, _windows(1, 40))
    assert chosen.step_seconds == 15.0  # never finer than the scrape interval
    assert chosen.slow_points is not None and chosen.slow_points < TARGET_SLOW_POINTS
    assert "under 20 sure slow points at any step, the finest" in chosen.why


def test_unknown_events_get_the_finest_step_and_no_slow_events_the_coarsest() -> None:
    assert choose_step(1.0, None).step_seconds == 1.0
    assert choose_step(1.0, {}).step_seconds == 60.0
    assert choose_step(None, None).step_seconds == 30.0


def test_slow_counts_of_sketches_count_calls_over_the_threshold_per_minute() -> None:
    one, two = LatencySketch(), LatencySketch()
    for at, seconds in [(T0 + 1, 0.5), (T0 + 2, 0.01), (T0 + 70, 0.4)]:
        one.add(at, seconds)
    two.add(T0 + 5, 0.3)
    assert slow_counts_of([one, two], 0.2) == {T0: 2, T0 + 60: 1}


def test_sample_spacing_is_the_median_gap() -> None:
    assert sample_spacing([10.0, 0.0, 5.0, 15.0, 35.0]) == 5.0
    assert sample_spacing([1.0]) is None


# ---------------------------------------------------------------- the scrape interval


class _Client:
    """A PrometheusClient stand-in: scripted targets and raw samples."""

    def __init__(self, targets: Any = (), samples: Any = None) -> None:
        self._targets, self._samples = targets, samples
        self.asked: list[str] = []

    def targets(self) -> tuple[ScrapeTarget, ...]:
        self.asked.append("targets")
        if isinstance(self._targets, Exception):
            raise self._targets
        return tuple(self._targets)

    def raw_samples(self, expr: str, at: float) -> RangeResult:
        self.asked.append(expr)
        if isinstance(self._samples, Exception):
            raise self._samples
        return RangeResult(tuple(self._samples or ()), ())


def test_the_largest_interval_of_the_active_targets_is_used() -> None:
    client = _Client([ScrapeTarget("node", "a", 15.0), ScrapeTarget("apps", "b", 30.0)])
    interval, source = scrape_interval(client)  # type: ignore[arg-type]
    assert (interval, client.asked) == (30.0, ["targets"])
    assert "targets API" in source


def test_without_scrape_intervals_the_spacing_of_up_is_used() -> None:
    up = [RangeSeries({"job": "node"}, (0.0, 10.0, 20.0), (1.0, 1.0, 1.0))]
    for targets in ([ScrapeTarget("node", "a", None)], UpstreamError("no targets API (HTTP 404)")):
        client = _Client(targets, up)
        interval, source = scrape_interval(client, now=T0)  # type: ignore[arg-type]
        assert (interval, client.asked) == (10.0, ["targets", "up[5m]"])
        assert "raw samples of up" in source


def test_no_interval_when_neither_answers_and_the_reasons_are_kept() -> None:
    client = _Client(UpstreamError("down"), QueryError("bad_data: nope"))
    interval, source = scrape_interval(client)  # type: ignore[arg-type]
    assert interval is None and "down" in source and "nope" in source
    config = load_config_text("correlate: {infra_source: prometheus}\n", env={})
    assert resolve_step(config, client).step_seconds == 30.0  # type: ignore[arg-type]


def test_a_fixed_step_and_snapshots_only_do_not_ask_prometheus() -> None:
    client = _Client(UpstreamError("must not be asked"))
    fixed = load_config_text("correlate: {step: 20s}\n", env={})
    assert resolve_step(fixed, client) == Resolution(20.0, "set in correlate.step")  # type: ignore[arg-type]
    snapshots = load_config_text("correlate: {infra_source: snapshots}\n", env={})
    assert resolve_step(snapshots, client).step_seconds == 30.0  # type: ignore[arg-type]
    assert client.asked == []


def test_auto_resolves_from_the_targets_and_the_slow_events() -> None:
    config = load_config_text("", env={})
    client = _Client([ScrapeTarget("node", "a", 1.0)])
    resolution = resolve_step(config, client, _windows(4, 30))  # type: ignore[arg-type]
    assert (resolution.step_seconds, resolution.scrape_interval_seconds) == (5.0, 1.0)


# ---------------------------------------------------------------- the targets API


def _target(**extra: Any) -> dict[str, Any]:
    return {"labels": {"job": "node", "instance": "h:9100"}, "scrapePool": "node", "health": "up", **extra}


def test_targets_data_gives_each_active_targets_interval() -> None:
    data = {"activeTargets": [_target(scrapeInterval="1m30s"), _target()], "droppedTargets": []}
    assert parse_targets_data(data) == (
        ScrapeTarget("node", "h:9100", 90.0),
        ScrapeTarget("node", "h:9100", None),
    )


@pytest.mark.parametrize(
    "data",
    [None, {"activeTargets": "x"}, {"activeTargets": [3]}, {"activeTargets": [_target(scrapeInterval=15)]}],
)
def test_malformed_targets_data_is_refused(data: Any) -> None:
    with pytest.raises(ValueError):
        parse_targets_data(data)


@responses.activate
def test_targets_are_read_with_a_get_of_the_active_ones() -> None:
    body = {"status": "success", "data": {"activeTargets": [_target(scrapeInterval="15s")]}}
    responses.add(responses.GET, "http://prom.test/api/v1/targets?state=active", json=body)
    client = PrometheusClient("http://prom.test", requests.Session(), 5.0)
    assert client.targets() == (ScrapeTarget("node", "h:9100", 15.0),)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (404, {"status": "error", "errorType": "not_found"}, "no targets API"),
        (200, {"status": "success", "data": {}}, "malformed answer"),
        (400, {"status": "error", "errorType": "bad_data", "error": "x"}, "bad_data"),
    ],
)
@responses.activate
def test_an_unreadable_targets_answer_is_an_upstream_error(status: int, body: Any, message: str) -> None:
    responses.add(responses.GET, "http://prom.test/api/v1/targets", status=status, json=body)
    client = PrometheusClient("http://prom.test", requests.Session(), 5.0)
    with pytest.raises(UpstreamError, match=message):
        client.targets()
