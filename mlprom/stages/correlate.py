"""correlate: join a date's events to the nearest snapshot, evaluate thresholds per series, rank suspects.

Memory is bounded by the snapshots (a day of 1,440 x 8 queries x 20 series), never by the events:
each event only bumps counters of the snapshot it joins and the model-metric trackers.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlprom import layout
from mlprom.analysis.findings import SEVERITY_RANK, Finding
from mlprom.analysis.profile import HourProfile, covered_hours, hourly_medians, top_resources
from mlprom.analysis.suspects import SeriesSample, rank_suspects
from mlprom.analysis.thresholds import Breach, BreachTracker
from mlprom.drift_window import DriftSide, drift_report, write_drift_sample
from mlprom.errors import NoDataError
from mlprom.report import CorrelationReport, EventCounts, status_of

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class SnapshotTable:
    """A date's snapshots in time order: values[k][i] is series k at snapshot i (None when absent)."""

    times: list[float]
    series: list[SeriesKey]
    values: list[list[float | None]]


def load_snapshots(storage: Storage, day: date) -> SnapshotTable:
    """Read the date's snapshots once, sort them by time once."""
    index: dict[SeriesKey, int] = {}
    rows: list[tuple[float, dict[int, float | None]]] = []
    failed: dict[str, int] = {}
    from mlprom.eventlog import iter_snapshots

    for snapshot in iter_snapshots(storage, day):
        row: dict[int, float | None] = {}
        for name, result in snapshot.queries.items():
            if result.error is not None:
                failed[name] = failed.get(name, 0) + 1
                continue
            for series in result.series:
                key = (name, tuple(sorted(series.labels.items())))
                k = index.get(key)
                if k is None:
                    k = index[key] = len(index)
                row[k] = series.value
        rows.append((snapshot.ts.timestamp(), row))
    for name, count in sorted(failed.items()):
        log.warning("query %s failed in %d snapshot(s) of %s; those are left out", name, count, day)
    rows.sort(key=lambda r: r[0])
    times = [t for t, _ in rows]
    keys = sorted(index, key=index.__getitem__)
    values = [[row.get(k) for _, row in rows] for k in range(len(index))]
    return SnapshotTable(times, keys, values)


# (unix seconds, slow, prediction_time_seconds, the event's JSON object)
EventRow = tuple[float, bool, float, dict[str, Any]]


def iter_event_rows(storage: Storage, day: date, model: str) -> Iterator[EventRow]:
    """The date's events as light tuples; a line missing a contract field is skipped with a warning."""
    from mlprom.eventlog import iter_event_objects

    fromiso = datetime.fromisoformat
    for key, lineno, data in iter_event_objects(storage, day, model):
        try:
            at = fromiso(data["ts"]).timestamp()
            row = (at, bool(data["slow"]), float(data["prediction_time_seconds"]), data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("skipping %s line %d: %s", key, lineno, exc.__class__.__name__)
            continue
        yield row


def _model_value(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name) if name in ("accuracy", "loss") else None
    if value is None:
        metrics = data.get("metrics")
        value = metrics.get(name) if isinstance(metrics, dict) else None
    # Booleans and strings are not measurements; NaN is dropped later by the tracker.
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _finding(metric: str, labels: dict[str, str], breach: Breach, detail: dict[str, Any]) -> Finding:
    return Finding(
        severity=breach.severity,
        metric=metric,
        labels=labels,
        value=breach.value,
        threshold=breach.threshold,
        direction=breach.direction,
        slow_events=breach.slow_events,
        first_seen=datetime.fromtimestamp(breach.first_seen, UTC),
        last_seen=datetime.fromtimestamp(breach.last_seen, UTC),
        detail={
            **detail,
            "observations": breach.count,
            # alert's `for` (infra) and its MLflow run link (model metrics) read these.
            **({"longest_seconds": breach.longest} if detail.get("source") == "infra" else {}),
            **({"mlflow_run_id": breach.ref} if isinstance(breach.ref, str) and breach.ref else {}),
        },
    )


def run(
    config: Config,
    day: date,
    allow_empty: bool = False,
    storage: Storage | None = None,
    now: datetime | None = None,
) -> CorrelationReport:
    """Correlate one date partition, write reports/dt=D/correlation.json (replacing it) and return it."""
    if storage is None:
        from mlprom.storage import open_storage

        storage = open_storage(config)
    skew = config.correlate.max_skew
    table = load_snapshots(storage, day)
    times = table.times
    n_snap = len(times)

    # Per snapshot: slow / fast events that joined it, and a difference array of slow events within skew.
    slow_join = [0] * n_snap
    fast_join = [0] * n_snap
    near_slow = [0] * (n_snap + 1)

    model_thresholds = {name: t for name, t in config.thresholds.items() if name not in config.queries}
    trackers = {name: BreachTracker(t) for name, t in sorted(model_thresholds.items())}
    prediction_tracker = trackers.pop("prediction_time", None)
    other_trackers = list(trackers.items())

    # The date's side of the drift comparison is sampled in this same pass (docs/drift.md).
    drift_current = DriftSide.for_day(day)
    # The hour-of-day profile (docs/profile.md); a sampled fast event stands for 1/sample_rate batches.
    rate = config.model.sample_rate
    hours = HourProfile(day, 1.0 / rate if rate > 0 else 1.0)
    total = slow_total = joined = slow_joined = 0
    for at, slow, prediction_time, data in iter_event_rows(storage, day, config.model.name):
        drift_current.add(data, at)
        hours.add(at, prediction_time, slow)
        total += 1
        if slow:
            slow_total += 1
        if n_snap:
            i = bisect_left(times, at)
            if i == n_snap or (i > 0 and at - times[i - 1] <= times[i] - at):
                i -= 1
            if abs(times[i] - at) <= skew:
                joined += 1
                if slow:
                    slow_joined += 1
                    slow_join[i] += 1
                else:
                    fast_join[i] += 1
            if slow:
                near_slow[bisect_left(times, at - skew)] += 1
                near_slow[bisect_right(times, at + skew)] -= 1
        if prediction_tracker is not None:
            prediction_tracker.add(prediction_time, at, slow, data.get("mlflow_run_id"))
        for name, tracker in other_trackers:
            tracker.add(_model_value(data, name), at, slow, data.get("mlflow_run_id"))

    if total == 0 and n_snap == 0:
        if not allow_empty:
            events_at = storage.url_for(layout.partition_prefix("model", day, config.model.name))
            snapshots_at = storage.url_for(layout.partition_prefix("infra", day))
            raise NoDataError(f"no data for {day}: no events under {events_at}, none under {snapshots_at}")
        log.info("no events and no snapshots for %s", day)

    findings: list[Finding] = []
    if prediction_tracker is not None:
        trackers["prediction_time"] = prediction_tracker
    for name, tracker in sorted(trackers.items()):
        breach = tracker.breach()
        if breach is not None:
            findings.append(_finding(name, {}, breach, {"source": "model"}))

    # Suspect sides (docs/correlation.md): on the slow side a snapshot stands for the slow events joined
    # to it; on the baseline, for the fast events joined to it, or for itself when no slow event is near.
    slow_idx: list[int] = []
    slow_w: list[int] = []
    base_idx: list[int] = []
    base_w: list[int] = []
    running = 0
    for i in range(n_snap):
        running += near_slow[i]
        if slow_join[i]:
            slow_idx.append(i)
            slow_w.append(slow_join[i])
        if fast_join[i] or running == 0:
            base_idx.append(i)
            base_w.append(fast_join[i] or 1)

    samples: list[SeriesSample] = []
    for k, (metric, label_items) in enumerate(table.series):
        column = table.values[k]
        labels = dict(label_items)
        threshold = config.thresholds.get(metric) if metric in config.queries else None
        if threshold is not None:
            tracker = BreachTracker(threshold)
            for i, value in enumerate(column):
                tracker.add(value, times[i], slow_join[i])
            breach = tracker.breach()
            if breach is not None:
                detail = {"source": "infra", "expr": config.queries[metric].expr}
                findings.append(_finding(metric, labels, breach, detail))
        samples.append(
            SeriesSample(
                metric, labels, [column[i] for i in slow_idx], [column[i] for i in base_idx], slow_w, base_w
            )
        )

    drift = drift_report(storage, config, day, current=drift_current)
    findings.extend(drift.findings)
    findings.sort(key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.metric, sorted(f.labels.items())))
    suspects = rank_suspects(samples)
    profile = hours.result(
        covered_hours(day, now or datetime.now(UTC)),
        hourly_medians(
            day,
            table.times,
            table.series,
            table.values,
            top_resources([s.metric for s in suspects], (metric for metric, _ in table.series)),
        ),
    )
    status = "no_data" if total == 0 and n_snap == 0 else status_of(findings)
    key = layout.report_key(day)
    report = CorrelationReport(
        date=day,
        generated_at=now or datetime.now(UTC),
        status=status,
        events=EventCounts(total, slow_total, joined, slow_joined),
        snapshots=n_snap,
        findings=tuple(findings),
        suspects=tuple(suspects),
        model=config.model.name,
        max_skew_seconds=skew,
        key=key,
        url=storage.url_for(key),
        drift=drift,
        profile=profile,
    )
    write_report(storage, report)
    # Stored for the next days' runs, which read it instead of this date's events. A date without
    # events gets none: reading it costs one listing, and an empty sample most often means a run made
    # before the events arrived.
    if total:
        write_drift_sample(storage, config.model.name, day, drift_current)
    log.info(
        "correlated %d events (%d slow) with %d snapshots: %s, %d finding(s); report at %s",
        total,
        slow_total,
        n_snap,
        status,
        len(findings),
        report.url,
    )
    return report


def write_report(storage: Storage, report: CorrelationReport) -> str:
    import orjson

    key = layout.report_key(report.date)
    # One key per date: a re-run replaces the report atomically.
    storage.put_bytes(key, orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
    return key
