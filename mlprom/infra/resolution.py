"""The step of correlate's Prometheus history under `correlate.step: auto`: chosen from the targets' scrape
interval and from how many steps the date's slow predictions would fill.

The choice itself (`choose_step`) is pure; `resolve_step` asks Prometheus for the scrape interval.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlprom.errors import UpstreamError

if TYPE_CHECKING:
    from mlprom.analysis.sketch import LatencySketch
    from mlprom.clients.prometheus import PrometheusClient
    from mlprom.config import Config

log = logging.getLogger(__name__)

# Bounds of an automatic step: from the scrape interval (a finer step repeats samples as if measured
# again) to 60 s (coarser, a one-minute incident is one or two points), or the interval when it is longer.
MAX_STEP = 60.0
# Slow-side points wanted: twice the level below which correlate warns that the test has little power.
TARGET_SLOW_POINTS = 20
# With no scrape interval known: twice the common 15 s interval, the step correlate always used before.
UNKNOWN_INTERVAL_STEP = 30.0
# Steps tried, each rounded up to whole scrape intervals: points on distinct samples.
LADDER = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)
UP_WINDOW = "5m"  # raw samples of `up` read when the targets API does not say the interval


@dataclass(frozen=True)
class Resolution:
    """The history step correlate uses, and why (the report's `infra.step_why`)."""

    step_seconds: float
    why: str
    scrape_interval_seconds: float | None = None
    slow_points: int | None = None  # slow-side points expected at the step, when the events were known


def candidate_steps(scrape_interval: float | None) -> list[float]:
    """The steps `auto` may choose, finest first: whole multiples of the scrape interval from the interval
    to max(interval, MAX_STEP); UNKNOWN_INTERVAL_STEP and up without an interval."""
    if scrape_interval is None:
        return [s for s in LADDER if s >= UNKNOWN_INTERVAL_STEP]
    coarsest = max(scrape_interval, MAX_STEP)
    steps = {scrape_interval}
    for value in LADDER:
        rounded = math.ceil(value / scrape_interval - 1e-9) * scrape_interval
        if rounded <= coarsest:
            steps.add(rounded)
    return sorted(steps)


def slow_points(slow_counts: Mapping[float, int], bin_seconds: float, step: float) -> int:
    """How many points at `step` surely hold slow events, from slow counts per bin (bin start, unix s).

    From 1 s bins (the event pass) this is exact. A bin coarser than the step (a latency sketch's
    minute) counts once: its slow calls may all fall in one step, as a 15 s incident's do, and a
    count that assumed them spread would choose a step that leaves the test without its points.
    """
    occupied = [start for start, n in slow_counts.items() if n > 0]
    if step >= bin_seconds:
        return len({math.floor(start / step) for start in occupied})
    return len(occupied)


def choose_step(
    scrape_interval: float | None,
    slow_counts: Mapping[float, int] | None = None,
    bin_seconds: float = 1.0,
) -> Resolution:
    """The coarsest candidate step that still gives the slow side TARGET_SLOW_POINTS points.

    Coarser is cheaper (points per series and lag) and as good once the test has its points; when even
    the finest step falls short, the finest it is. Without the events (None) the finest step is taken;
    with no slow event at all the coarsest, since there is no slow side to resolve.
    """
    steps = candidate_steps(scrape_interval)
    interval = (
        "scrape interval unknown" if scrape_interval is None else f"scrape interval {scrape_interval:g}s"
    )
    if slow_counts is None:
        return Resolution(steps[0], f"{interval}; slow events not known: the finest step", scrape_interval)
    counts = {step: slow_points(slow_counts, bin_seconds, step) for step in steps}
    if counts[steps[0]] == 0:
        return Resolution(steps[-1], f"{interval}; no slow events: the coarsest step", scrape_interval, 0)
    bins = sum(1 for n in slow_counts.values() if n > 0)
    unit = {1.0: "second", 60.0: "minute"}.get(bin_seconds, f"{bin_seconds:g} s bin")
    seen = f"slow calls in {bins} {unit}(s)"
    enough = [step for step in steps if counts[step] >= TARGET_SLOW_POINTS]
    if enough:
        step = enough[-1]
        why = f"{interval}; {seen}: the coarsest step with {TARGET_SLOW_POINTS}+ sure slow points ({counts[step]})"
    else:
        step = steps[0]
        why = f"{interval}; {seen}: under {TARGET_SLOW_POINTS} sure slow points at any step, the finest"
    return Resolution(step, why, scrape_interval, counts[step])


def slow_counts_of(sketches: Iterable[LatencySketch], threshold: float) -> dict[float, int]:
    """Calls slower than `threshold` per minute (its start, unix seconds) of stored latency sketches:
    the slow events' density before the events are read."""
    counts: dict[float, int] = {}
    for sketch in sketches:
        for minute, histogram in sketch.minutes.items():
            above = histogram.count_above(threshold)
            if above:
                counts[float(minute)] = counts.get(float(minute), 0) + above
    return counts


def sample_spacing(times: Iterable[float]) -> float | None:
    """The median gap between consecutive raw samples of one series (None below two samples)."""
    ordered = sorted(times)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False) if b > a]
    return statistics.median(gaps) if gaps else None


def scrape_interval(client: PrometheusClient, now: float | None = None) -> tuple[float | None, str]:
    """The largest scrape interval of the active targets, and where it was read.

    From the targets API (`scrapeInterval`, Prometheus 2.42+); else from the spacing of the raw samples of
    `up` over the last five minutes (Thanos, Mimir, older servers); (None, why) when neither answers. The
    largest: a step finer than any series' interval repeats that series' samples as if measured again.
    """
    reasons = []
    try:
        intervals = [t.interval_seconds for t in client.targets() if t.interval_seconds is not None]
        if intervals:
            return max(intervals), f"targets API, {len(intervals)} active target(s)"
        reasons.append("the targets API gave no scrapeInterval")
    except UpstreamError as exc:
        reasons.append(f"targets API: {exc}")
    from mlprom.clients.prometheus import QueryError

    try:
        at = time.time() if now is None else now
        answer = client.raw_samples(f"up[{UP_WINDOW}]", at)
        spacings = [s for s in (sample_spacing(x.times) for x in answer.series) if s is not None]
        if spacings:
            return max(spacings), f"spacing of raw samples of up, {len(spacings)} series"
        reasons.append("fewer than two raw samples of up")
    except (UpstreamError, QueryError) as exc:
        reasons.append(f"up[{UP_WINDOW}]: {exc}")
    return None, "; ".join(reasons)


def resolve_step(
    config: Config,
    client: PrometheusClient | None = None,
    slow_counts: Mapping[float, int] | None = None,
    bin_seconds: float = 1.0,
) -> Resolution:
    """correlate.step as a number of seconds: as configured, or chosen under `auto` (choose_step).

    `client` is built from the config when None, with the single retry load_infra uses in auto mode;
    with infra_source snapshots Prometheus is not asked.
    """
    settings = config.correlate
    if settings.step != "auto":
        return Resolution(settings.step, "set in correlate.step")
    if settings.infra_source == "snapshots":
        chosen = choose_step(None, slow_counts, bin_seconds)
        return Resolution(
            chosen.step_seconds,
            f"infra_source snapshots, Prometheus not asked; {chosen.why}",
            None,
            chosen.slow_points,
        )
    if client is None:
        from mlprom.clients.http import RetryPolicy, build_session
        from mlprom.clients.prometheus import PrometheusClient

        retry = RetryPolicy(total=1, backoff_factor=0.1) if settings.infra_source == "auto" else None
        session = build_session(config.prometheus, "prometheus", retry=retry)
        client = PrometheusClient(config.prometheus.url, session, config.prometheus.timeout)
    interval, source = scrape_interval(client)
    if interval is None:
        log.warning("correlate.step auto: scrape interval not known (%s)", source)
    chosen = choose_step(interval, slow_counts, bin_seconds)
    return Resolution(chosen.step_seconds, f"{chosen.why} ({source})", interval, chosen.slow_points)


def with_step(config: Config, resolution: Resolution) -> Config:
    """The config with correlate.step replaced by the resolved number, for everything downstream."""
    correlate = config.correlate.model_copy(update={"step": resolution.step_seconds})
    return config.model_copy(update={"correlate": correlate})
