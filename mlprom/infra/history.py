"""Infra values for a time window: stored snapshots and archived ranges, and Prometheus' range API.

`fetch_history` runs one range query per query (split into chunks under Prometheus' limit of 11,000
points per series), all concurrently; its cost depends on the window and the step, never on how many
events there are. `load_infra` gathers a correlate date's values by `correlate.infra_source`
(docs/correlation.md, "Infra sources").
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlprom import layout
from mlprom.dates import DAY_SECONDS
from mlprom.errors import UpstreamError
from mlprom.records import check_labels, is_number

if TYPE_CHECKING:
    from mlprom.clients.prometheus import PrometheusClient, RangeSeries
    from mlprom.config import Config, Query
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

MAX_POINTS = 11_000  # Prometheus refuses a range query of more points per series than this
MAX_PARALLEL = 8
RANGE_VERSION = 1

LabelKey = tuple[tuple[str, str], ...]

# Minimum change of the median that counts, per unit (docs/correlation.md, "Near-zero series").
UNIT_MIN_CHANGE = {
    "ratio": 0.02,
    "percent": 2.0,
    "bytes_per_second": 102_400.0,
    "tasks": 0.5,
    "seconds": 0.01,
}


def min_change_of(query: Query | None) -> float:
    if query is None:
        return 0.0
    if query.min_change is not None:
        return query.min_change
    return UNIT_MIN_CHANGE.get(query.unit or "", 0.0)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
# Functions that read only the last two samples of their range: they describe one scrape interval.
_LAST_TWO = ("irate", "idelta")


def window_of(expr: str) -> float:
    """Seconds one sample of `expr` describes: its longest range selector or subquery range.

    rate(x[1m]) evaluated at t describes (t - 1m, t]; irate/idelta use only the last two samples, so they
    describe one scrape interval, counted as 0; an expression without ranges (a gauge) describes t itself.
    """
    # Label values may hold anything, "[1m]" included: blank string literals out first, keeping positions.
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', lambda m: " " * len(m.group()), expr)
    longest = 0.0
    for match in re.finditer(r"\[([0-9a-z.]+)(?::[0-9a-z.]*)?\]", expr):
        text = match.group(1)
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            continue
        if _enclosing_function(expr, match.start()) in _LAST_TWO:
            continue
        longest = max(longest, sum(float(n) * _UNITS[u] for n, u in parts))
    return longest


def _enclosing_function(expr: str, position: int) -> str:
    depth = 0
    for i in range(position - 1, -1, -1):
        ch = expr[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                name = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", expr[:i])
                return name.group(1) if name else ""
            depth -= 1
    return ""


# ---------------------------------------------------------------- what correlate works on


@dataclass
class InfraSeries:
    """One series (one label set of one query): its points in time order."""

    metric: str
    labels: dict[str, str]
    times: list[float]
    values: list[float | None]


@dataclass
class QueryInfra:
    name: str
    source: str  # snapshots | prometheus | mixed | none
    points: int  # distinct times with at least one value
    error: str | None
    window: float  # seconds one sample describes
    series: list[InfraSeries] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "points": self.points, "error": self.error}


@dataclass
class InfraData:
    queries: dict[str, QueryInfra]
    snapshots: int  # snapshot objects of the date itself
    requests: int  # range requests sent to Prometheus
    warnings: list[str]
    partial_failure: bool  # infra_source prometheus and some history could not be had
    ranges: int = 0  # archived range objects of the date itself (capture-infra --from/--to)


@dataclass(frozen=True)
class _Own:
    """What the date's own infra partition held: snapshots and archived ranges (not its neighbours')."""

    snapshots: int
    ranges: int


@dataclass
class _Points:
    """Values of one query gathered from several places, by label set and time."""

    by_series: dict[LabelKey, dict[float, float | None]] = field(default_factory=dict)
    times: set[float] = field(default_factory=set)

    def put(self, labels: LabelKey, at: float, value: float | None) -> None:
        self.by_series.setdefault(labels, {})[at] = value
        self.times.add(at)


# ---------------------------------------------------------------- Prometheus' range API


def chunks(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """[start, end] cut into ranges of at most MAX_POINTS points each, end to start one step apart."""
    span = (MAX_POINTS - 1) * step
    out = []
    at = start
    while at <= end:
        last = min(at + span, end)
        out.append((at, last))
        at = last + step
    return out


@dataclass(frozen=True)
class HistoryResult:
    name: str
    expr: str
    series: tuple[RangeSeries, ...]
    error: str | None  # the query was refused, or Prometheus could not be asked
    transport: bool  # error is a transport failure (unreachable), not a refusal


def fetch_history(
    client: PrometheusClient, queries: dict[str, Query], start: float, end: float, step: float
) -> tuple[dict[str, HistoryResult], int]:
    """Each query over [start, end] at `step`, chunked, concurrently: ({name: result}, requests sent)."""
    import threading

    from mlprom.clients.prometheus import QueryError, RangeSeries

    tasks = [(name, a, b) for name in queries for a, b in chunks(start, end, step)]
    # Once the server proved unreachable, the requests not yet sent are not sent: they would fail too.
    unreachable = threading.Event()
    sent = [0]
    lock = threading.Lock()

    def one(task: tuple[str, float, float]) -> Any:
        name, a, b = task
        if unreachable.is_set():
            return UpstreamError(f"Prometheus at {client.source}: not asked, unreachable")
        with lock:
            sent[0] += 1
        try:
            return client.query_range(queries[name].expr, a, b, step)
        except QueryError as exc:
            return exc
        except UpstreamError as exc:
            unreachable.set()
            return exc

    outcomes: list[Any] = []
    if tasks:
        with ThreadPoolExecutor(min(MAX_PARALLEL, len(tasks)), thread_name_prefix="promql-range") as pool:
            outcomes = list(pool.map(one, tasks))
    # Per series: times, values and the raw text of NaN/±Inf samples by position (rarely any).
    merged: dict[str, dict[LabelKey, tuple[list[float], list[float | None], dict[int, str]]]] = {
        n: {} for n in queries
    }
    errors: dict[str, tuple[str, bool]] = {}
    for (name, _, _), outcome in zip(tasks, outcomes, strict=True):
        if isinstance(outcome, Exception):
            errors.setdefault(name, (str(outcome), isinstance(outcome, UpstreamError)))
            continue
        for warning in outcome.warnings:
            log.warning("Prometheus warning for %s: %s", name, warning)
        for series in outcome.series:
            times, values, raws = merged[name].setdefault(tuple(sorted(series.labels.items())), ([], [], {}))
            offset = len(times)
            times.extend(series.times)
            values.extend(series.values)
            raws.update((offset + i, r) for i, r in enumerate(series.raws) if r is not None)
    results = {}
    for name in queries:
        error, transport = errors.get(name, (None, False))
        series = tuple(
            RangeSeries(
                labels=dict(k),
                times=tuple(t),
                values=tuple(v),
                raws=tuple(r.get(i) for i in range(len(t))) if r else (),
            )
            for k, (t, v, r) in merged[name].items()
        )
        results[name] = HistoryResult(
            name=name, expr=queries[name].expr, series=series, error=error, transport=transport
        )
    return results, sent[0]


# ---------------------------------------------------------------- archived ranges


def range_object_id(name: str, expr: str, start: float, end: float, step: float) -> str:
    text = f"{name}\n{expr}\n{start:.3f}\n{end:.3f}\n{step:g}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def range_document(
    result: HistoryResult, start: float, end: float, step: float, source: str
) -> dict[str, Any]:
    """The range object of one query over [start, end]: only points at a finite time inside the range.

    A point Prometheus answered outside the range asked (or at a non-finite time) is left out. NaN
    and ±Inf stay as null with their text in `raw` (a list beside `v`, present only when some value
    is not finite), as snapshots keep them.
    """
    series = []
    for s in result.series:
        keep = [i for i, t in enumerate(s.times) if math.isfinite(t) and start <= t <= end]
        if not keep:
            continue
        entry: dict[str, Any] = {
            "labels": s.labels,
            "t": [s.times[i] for i in keep],
            "v": [_finite_or_none(s.values[i]) for i in keep],
        }
        raws = [s.raws[i] for i in keep] if s.raws else []
        if any(r is not None for r in raws):
            entry["raw"] = raws
        series.append(entry)
    return {
        "version": RANGE_VERSION,
        "kind": "range",
        "query": result.name,
        "expr": result.expr,
        "source": source,
        "start": start,
        "end": end,
        "step": step,
        "series": series,
    }


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def range_problem(document: Any, name: str, expr: str, start: float, end: float, step: float) -> str | None:
    """Why a stored range object is not one capture-infra would write for this range, or None.

    A re-run replaces such an object rather than counting it as archived: an object written before
    the points were checked, or cut short, is otherwise never repaired.
    """
    if not isinstance(document, dict) or document.get("version") != RANGE_VERSION:
        return "not a version 1 range object"
    if document.get("kind") != "range" or document.get("query") != name or document.get("expr") != expr:
        return "holds another query or expression"
    if (document.get("start"), document.get("end"), document.get("step")) != (start, end, step):
        return "holds another range or step"
    series = document.get("series")
    if not isinstance(series, list) or not series:
        return "holds no series"
    for index, entry in enumerate(series):
        problem = _series_problem(entry, start, end)
        if problem is not None:
            return f"series {index}: {problem}"
    return None


def _series_problem(entry: Any, start: float, end: float) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    try:
        check_labels(entry.get("labels"))
    except ValueError as exc:
        return str(exc)
    times, values, raws = entry.get("t"), entry.get("v"), entry.get("raw")
    if not isinstance(times, list) or not isinstance(values, list) or len(times) != len(values) or not times:
        return "'t' and 'v' are not lists of one length"
    if raws is not None and (not isinstance(raws, list) or len(raws) != len(times)):
        return "'raw' is not a list as long as 't'"
    for at in times:
        if not is_number(at) or not start <= at <= end:
            return f"time {str(at)[:40]} is not a finite time inside the range"
    for value in values:
        if value is not None and not is_number(value):
            return f"value {str(value)[:40]} is neither a finite number nor null"
    return None


def split_by_day(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """[start, end] on the step grid, cut at UTC midnight: one archived range belongs to one date."""
    out = []
    at = start
    while at <= end:
        midnight = (math.floor(at / DAY_SECONDS) + 1) * DAY_SECONDS
        last = min(end, at + math.floor((midnight - at - 1e-9) / step) * step)
        out.append((at, last))
        at = last + step
    return out


# ---------------------------------------------------------------- stored values


def _stored_points(
    storage: Storage, days: Iterable[tuple[date, float, float]], config: Config, unreadable: list[str]
) -> tuple[dict[str, _Points], _Own, dict[str, int]]:
    """Snapshots and archived ranges of the given (date, from, to) windows (seconds of day); the keys
    the store refused go to `unreadable` (each skipped with a warning)."""
    import orjson

    from mlprom.events.log import get_or_skip, iter_snapshots
    from mlprom.storage.interface import Refused

    points: dict[str, _Points] = {}
    failed: dict[str, int] = {}
    own_snapshots = own_ranges = 0
    for position, (day, lo, hi) in enumerate(days):
        midnight = datetime.combine(day, datetime.min.time(), UTC).timestamp()
        for snapshot in iter_snapshots(storage, day, within=(lo, hi), unreadable=unreadable):
            at = snapshot.ts.timestamp()
            if position == 0:
                own_snapshots += 1
            if not lo <= at - midnight <= hi:
                continue
            for name, result in snapshot.queries.items():
                if result.error is not None:
                    failed[name] = failed.get(name, 0) + 1
                    continue
                target = points.setdefault(name, _Points())
                for series in result.series:
                    target.put(tuple(sorted(series.labels.items())), at, series.value)
        try:
            ranges = [info.key for info in storage.list(layout.partition_prefix("infra", day))]
        except Refused:
            ranges = []  # iter_snapshots warned about this partition and counted it
        for key in ranges:
            parsed = layout.parse_key(key)
            if parsed is None or parsed.kind != "range":
                continue
            body, refused = get_or_skip(storage, key, "archived range ")
            if body is None:
                if refused:
                    unreadable.append(key)
                continue
            try:
                _read_range(orjson.loads(body), config, points, midnight + lo, midnight + hi)
            except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, OverflowError) as exc:
                log.warning("skipping archived range %s: %s", key, exc.__class__.__name__)
                continue
            if position == 0:
                own_ranges += 1
    return points, _Own(own_snapshots, own_ranges), failed


def _read_range(document: Any, config: Config, points: dict[str, _Points], lo: float, hi: float) -> None:
    if not isinstance(document, dict) or document.get("version") != RANGE_VERSION:
        raise ValueError("not a version 1 range object")
    name = document["query"]
    query = config.queries.get(name)
    if query is not None and query.expr != document.get("expr"):
        log.debug("archived range of %s holds another expression; left out", name)
        return
    target = points.setdefault(name, _Points())
    for series in document["series"]:
        labels = tuple(sorted(dict(series["labels"]).items()))
        for at, value in zip(series["t"], series["v"], strict=True):
            if lo <= at <= hi:
                target.put(labels, float(at), None if value is None else float(value))


# ---------------------------------------------------------------- correlate's view of a date


def margin_seconds(config: Config) -> float:
    """How far before and after the date infra values may matter: joins, lags and rate windows."""
    windows = [config.queries[n].window or window_of(config.queries[n].expr) for n in config.queries]
    return (
        config.correlate.max_skew
        + config.correlate.max_lag
        + max(windows, default=0.0)
        + config.correlate.step_seconds
    )


def infra_key(
    config: Config, storage: Storage, day: date, client: PrometheusClient | None = None
) -> tuple[Any, ...]:
    """Everything `load_infra` reads, as a key: two configs with one key load the same values.

    The store (its kind and location), the date, correlate's infra_source, step (resolved), max_skew
    and max_lag (the margin), every query in order, and, when history may be asked, the Prometheus
    settings (or the client handed in). The model, its latency_threshold, thresholds and labels (all a
    `models:` override changes) are not read: they only change what is joined to the values.
    """
    settings = config.correlate
    queries = tuple((name, query.model_dump_json()) for name, query in config.queries.items())
    prometheus: object = None
    if settings.infra_source != "snapshots":
        prometheus = ("client", id(client)) if client is not None else config.prometheus.model_dump_json()
    return (
        type(storage).__name__,
        storage.location,
        day,
        settings.infra_source,
        settings.step_seconds,
        settings.max_skew,
        settings.max_lag,
        queries,
        prometheus,
    )


def load_infra(
    config: Config,
    storage: Storage,
    day: date,
    client: PrometheusClient | None = None,
    now: float | None = None,
) -> InfraData:
    """The date's infra values (plus a margin each side, for joins across midnight) from every source."""
    import time

    settings = config.correlate
    margin = margin_seconds(config)
    midnight = datetime.combine(day, datetime.min.time(), UTC).timestamp()
    start, end = midnight - margin, midnight + DAY_SECONDS + margin
    stored: dict[str, _Points] = {}
    own = _Own(0, 0)
    unreadable: list[str] = []
    if settings.infra_source != "prometheus":
        stored, own, failed = _stored_points(storage, _day_windows(day, margin), config, unreadable)
        for name, count in sorted(failed.items()):
            log.warning("query %s failed in %d snapshot(s) around %s; those are left out", name, count, day)

    step = settings.step_seconds
    grid_start = math.floor(start / step) * step
    # Never past now: Prometheus answers a future step with the last sample for 5 minutes (its lookback),
    # and those repeated values would read as a flat, perfectly quiet baseline.
    grid_end = min(
        math.ceil(end / step) * step, math.floor((time.time() if now is None else now) / step) * step
    )
    wanted = _wanted(config, stored, midnight)
    history: dict[str, HistoryResult] = {}
    requests = 0
    warnings: list[str] = []
    partial = False
    if wanted and grid_end >= grid_start:
        history, requests, warnings, partial = _fetch_wanted(config, client, wanted, grid_start, grid_end)
    if unreadable:
        # Each was named as it was skipped; the run stored what it could: a partial failure (exit 3).
        warnings.append(
            f"{len(unreadable)} stored infra object(s) or partition(s) could not be read and were left out "
            f"(first: {unreadable[0]}): a partial failure"
        )
        partial = True

    names = list(config.queries) + sorted(n for n in stored if n not in config.queries)
    queries = {name: _query_infra(config, name, stored, history.get(name)) for name in names}
    return InfraData(
        queries=queries,
        snapshots=own.snapshots,
        requests=requests,
        warnings=warnings,
        partial_failure=partial,
        ranges=own.ranges,
    )


def _day_windows(day: date, margin: float) -> list[tuple[date, float, float]]:
    """(date, from, to) in seconds of that date: the whole date, and `margin` into each neighbour."""
    # The neighbours' edges: an event at 00:00:20 may join a value of 23:59:50 the day before.
    return [
        (day, 0.0, float(DAY_SECONDS)),
        (day - timedelta(days=1), DAY_SECONDS - margin, float(DAY_SECONDS)),
        (day + timedelta(days=1), 0.0, margin),
    ]


def _wanted(config: Config, stored: dict[str, _Points], midnight: float) -> dict[str, Query]:
    """The queries to ask Prometheus' history for: all of them, or those whose stored values have gaps."""
    settings = config.correlate
    wanted: dict[str, Query] = {}
    if settings.infra_source == "snapshots":
        return wanted
    for name, query in config.queries.items():
        have = stored.get(name)
        if (
            settings.infra_source == "prometheus"
            or have is None
            or _has_gaps(have.times, midnight, settings.step_seconds)
        ):
            wanted[name] = query
    return wanted


def _fetch_wanted(
    config: Config,
    client: PrometheusClient | None,
    wanted: dict[str, Query],
    grid_start: float,
    grid_end: float,
) -> tuple[dict[str, HistoryResult], int, list[str], bool]:
    """The wanted queries' history on the grid: (results, requests sent, warnings, partial failure)."""
    settings = config.correlate
    if client is None:
        from mlprom.clients.http import RetryPolicy, build_session
        from mlprom.clients.prometheus import PrometheusClient

        # In auto mode history only fills gaps: an unreachable server should cost a moment, not the
        # full retry schedule; with infra_source prometheus it is the source, retried as usual.
        retry = RetryPolicy(total=1, backoff_factor=0.1) if settings.infra_source == "auto" else None
        session = build_session(config.prometheus, "prometheus", retry=retry, pool_size=MAX_PARALLEL)
        client = PrometheusClient(config.prometheus.url, session, timeout=config.prometheus.timeout)
    history, requests = fetch_history(client, wanted, grid_start, grid_end, settings.step_seconds)
    refused = {n: r.error for n, r in history.items() if r.error and not r.transport}
    unreachable = [r.error for r in history.values() if r.error and r.transport]
    warnings: list[str] = []
    if unreachable:
        what = "Prometheus history" if settings.infra_source == "prometheus" else "history for the gaps"
        warnings.append(
            f"{what} not available: {unreachable[0]}; "
            + (
                "the report uses stored snapshots only (set correlate.infra_source: snapshots to not ask)"
                if settings.infra_source == "auto"
                else "no infra values from Prometheus"
            )
        )
    for name, reason in sorted(refused.items()):
        warnings.append(f"Prometheus refused the range query {name}: {reason}")
    partial = settings.infra_source == "prometheus" and bool(unreachable or refused)
    return history, requests, warnings, partial


def _query_infra(
    config: Config, name: str, stored: dict[str, _Points], got: HistoryResult | None
) -> QueryInfra:
    """One query's series: its stored values, with history filling what they do not cover."""
    configured = config.queries.get(name)
    window = 0.0
    if configured is not None:
        window = configured.window if configured.window is not None else window_of(configured.expr)
    have = stored.get(name, _Points())
    whole: dict[LabelKey, InfraSeries] = {}
    from_history = 0
    if got is not None and not got.error:
        whole, from_history = _merge_history(name, have, got, config.correlate.step_seconds)
    # Asked after the merge, which adds history's times to a stored query's points.
    stored_any = bool(stored.get(name) and stored[name].times)
    if from_history and stored_any:
        source = "mixed"
    elif from_history:
        source = "prometheus"
    elif stored_any:
        source = "snapshots"
    else:
        source = "none"
    for labels, values in have.by_series.items():
        series_times = sorted(values)
        whole[labels] = InfraSeries(
            metric=name, labels=dict(labels), times=series_times, values=[values[t] for t in series_times]
        )
    return QueryInfra(
        name=name,
        source=source,
        points=len(have.times),
        error=got.error if got is not None else None,
        window=window,
        series=[whole[labels] for labels in sorted(whole)],
    )


def _merge_history(
    name: str, have: _Points, got: HistoryResult, step: float
) -> tuple[dict[LabelKey, InfraSeries], int]:
    """Put history's points where nothing stored is within half a step; (series taken whole, points added)."""
    # History series taken as they came (nothing stored to merge with, times strictly increasing as
    # Prometheus sends them): no per-point dict for the 750,000 points of a day at 30 s.
    whole: dict[LabelKey, InfraSeries] = {}
    from_history = 0
    covered = sorted(have.times)
    for series in got.series:
        labels = tuple(sorted(series.labels.items()))
        if not covered and labels not in have.by_series and _increasing(series.times):
            whole[labels] = InfraSeries(
                metric=name, labels=dict(labels), times=list(series.times), values=list(series.values)
            )
            have.times.update(series.times)
            from_history += len(series.times)
            continue
        target = have.by_series.setdefault(labels, {})
        if not covered:  # nothing stored: every step is a gap
            target.update(zip(series.times, series.values, strict=True))
            have.times.update(series.times)
            from_history += len(series.times)
            continue
        for at, value in zip(series.times, series.values, strict=True):
            if not _near(covered, at, step / 2):
                have.put(labels, at, value)
                from_history += 1
    return whole, from_history


def _increasing(times: Sequence[float]) -> bool:
    return all(a < b for a, b in zip(times, itertools.islice(times, 1, None), strict=False))


def _near(sorted_times: list[float], at: float, distance: float) -> bool:
    from bisect import bisect_left

    i = bisect_left(sorted_times, at - distance)
    return i < len(sorted_times) and sorted_times[i] <= at + distance


def _has_gaps(times: set[float], midnight: float, step: float) -> bool:
    """True when some step of the date has no stored value within half a step: history fills it."""
    ordered = sorted(t for t in times if midnight - step <= t <= midnight + DAY_SECONDS + step)
    if not ordered:
        return True
    edges = [midnight, *ordered, midnight + DAY_SECONDS]
    return any(b - a > step * 1.5 for a, b in zip(edges, edges[1:], strict=False))
