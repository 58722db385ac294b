"""correlate: join a date's events to infra values, evaluate thresholds per series, rank and test suspects.

Memory and the cost of everything after the event pass are bounded by the day (86,400 per-second event
counts, the infra points), never by the number of events: each event only bumps counters of its second,
its minute's latency histogram and the model-metric trackers. docs/correlation.md says what is computed.
"""

from __future__ import annotations

import logging
import math
from array import array
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlprom import layout
from mlprom.analysis.distinguish import SlowFactors, hour_counts
from mlprom.analysis.drift import Reservoir, Sample
from mlprom.analysis.findings import SEVERITY_RANK, Finding, quality_finding
from mlprom.analysis.headline import headline
from mlprom.analysis.join import Joined, join_counts, prefix_sums
from mlprom.analysis.profile import DayProfile, HourProfile, covered_hours, hourly_medians, top_resources
from mlprom.analysis.quality import QualityWindow
from mlprom.analysis.sketch import LatencySketch
from mlprom.analysis.suspects import GridSeries, QueryGrid, Ranking, SeriesSample, Suspect, rank_suspects
from mlprom.analysis.thresholds import Breach, BreachTracker
from mlprom.errors import NoDataError
from mlprom.reports.correlation import CorrelationReport, EventCounts, status_of
from mlprom.reports.drift_window import DriftReport, DriftSide, drift_report, write_drift_sample
from mlprom.reports.sections import InfraQuery, InfraSection, Significance, Skew, Timeline

if TYPE_CHECKING:
    from mlprom.clients.prometheus import PrometheusClient
    from mlprom.config import Config
    from mlprom.events.columns import EventColumns
    from mlprom.events.sketches import StoredSketch
    from mlprom.infra.history import InfraData, InfraSeries, QueryInfra
    from mlprom.infra.resolution import Resolution
    from mlprom.stages.fleet import Shared
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

DAY_SECONDS = 86400
# Lags are whole steps, LAG_SPACING apart or a step when the step is longer, from 0 to correlate.max_lag:
# a lead (or a clock skew) of half a minute falls on a tested lag, and few enough lags at a fine step
# that re-using the observed alignment at another lag does not eat the shift test's resolution.
LAG_SPACING = 30.0
MIN_SIDE_POINTS = 10  # fewer distinct snapshots/steps joined to slow events: warn, the test has little power
MODEL_SAMPLE = 5000  # per model metric and side: a uniform sample of per-event values, described
TIMELINE_SERIES = 5  # top suspects drawn in the timeline (plus every series with a finding)


def _read_ahead(
    config: Config, storage: Storage, day: date, client: PrometheusClient | None, shared: Shared | None
) -> tuple[InfraData, dict[date, dict[str, Sample]]]:
    """What does not depend on the date's events, read in a thread while the event pass waits on its
    workers: the infra values and the reference days' stored drift samples.

    In a fleet run the infra values are loaded once per `infra_key` and shared by every model with that
    key (the analysis only reads them); the drift samples are the model's own.
    """
    from mlprom.infra.history import infra_key, load_infra
    from mlprom.reports.drift_window import read_stored_samples, reference_days_of

    if shared is None:
        infra = load_infra(config, storage, day, client)
    else:
        key = ("correlate.infra", infra_key(config, storage, day, client))
        infra = shared.get(key, lambda: load_infra(config, storage, day, client))
    stored = read_stored_samples(storage, config.model.name, reference_days_of(config, day))
    return infra, stored


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


class ModelSides:
    """Per model metric, a uniform sample of per-event values on the slow and on the fast side."""

    def __init__(self) -> None:
        self.sides: dict[str, tuple[Reservoir, Reservoir]] = {}

    def add_columns(self, columns: EventColumns) -> None:
        """Every event's quality metrics and mean output, split by side where the object was decoded
        (eventscan.prepare_samples): one reservoir call per metric and side."""
        for name, (slow, fast) in columns.sides.items():
            if not slow.values and not fast.values:
                continue
            sides = self.sides.get(name)
            if sides is None:
                seed = sum(name.encode())
                sides = self.sides[name] = (Reservoir(MODEL_SAMPLE, seed), Reservoir(MODEL_SAMPLE, seed + 1))
            sides[0].extend_finite(slow.values, slow.total)
            sides[1].extend_finite(fast.values, fast.total)

    def samples(self) -> list[SeriesSample]:
        # Each event is its own measurement of the model (its own batch), so events are the unit here.
        return [
            SeriesSample(name, {}, slow.values, fast.values, source="model", kind="model")
            for name, (slow, fast) in sorted(self.sides.items())
        ]


def lags_of(config: Config) -> list[float]:
    """0, LAG_SPACING (or one step, when longer), ... up to correlate.max_lag, in whole steps."""
    step = config.correlate.step_seconds
    spacing = step * max(1, math.ceil(LAG_SPACING / step - 1e-9))
    count = int(config.correlate.max_lag // spacing + 1e-9)
    return [k * spacing for k in range(count + 1)]


@dataclass
class EventPass:
    """What one pass over the date's events leaves: counts per second, latency histograms per minute, the
    hour profile, the model-metric trackers and samples, the drift side. Fed object by object, column by
    column: a million events a day cost one pass of cheap loops."""

    trackers: dict[str, BreachTracker]  # prediction_time: judged per event
    quality: dict[str, QualityWindow]  # every other model threshold: judged over the date (rows-weighted)
    hours: HourProfile
    drift: DriftSide
    model_sides: ModelSides = field(default_factory=ModelSides)
    factors: SlowFactors = field(default_factory=SlowFactors)  # batch size, version, inputs: slow vs fast
    sketch: LatencySketch = field(default_factory=LatencySketch)  # the events' own, when no sketch is stored
    slow_bins: array[int] = field(default_factory=lambda: array("l", bytes(8 * DAY_SECONDS)))
    fast_bins: array[int] = field(default_factory=lambda: array("l", bytes(8 * DAY_SECONDS)))
    total: int = 0  # stored events decoded
    slow_total: int = 0  # slow at model.latency_threshold: events, then (analyse) sketch-only batches
    recorded_slow: int = 0  # events whose capture flagged them slow
    reclassified: int = 0  # events whose flag model.latency_threshold changes
    from_sketches: int = 0  # slow batches known only from latency sketches (set by analyse)
    unreadable: list[str] = field(default_factory=list)  # objects (or partitions) that could not be read
    runs: dict[str, float] = field(default_factory=dict)  # MLflow run id -> its newest event's time

    @property
    def batches(self) -> int:
        """The report's events.total: every stored event and every sketch-only slow batch."""
        return self.total + self.from_sketches

    @classmethod
    def for_day(cls, config: Config, day: date) -> EventPass:
        model_thresholds = {name: t for name, t in config.thresholds.items() if name not in config.queries}
        # A sampled fast event stands for 1/sample_rate batches in the hour-of-day profile (docs/profile.md).
        rate = config.model.sample_rate
        return cls(
            trackers={
                n: BreachTracker(t) for n, t in sorted(model_thresholds.items()) if n == "prediction_time"
            },
            quality={
                n: QualityWindow(t) for n, t in sorted(model_thresholds.items()) if n != "prediction_time"
            },
            hours=HourProfile(day, 1.0 / rate if rate > 0 else 1.0),
            drift=DriftSide.for_day(day),  # the date's side of the drift comparison (docs/drift.md)
        )

    def add(self, columns: EventColumns) -> None:
        """One decoded object; `slow` was re-classified at today's model.latency_threshold where it was
        decoded, whatever the capture used."""
        if columns.unreadable:
            self.unreadable.append(columns.key)
        times, seconds, slow = columns.times, columns.seconds, columns.slow
        self.total += len(times)
        self.slow_total += sum(slow)
        self.recorded_slow += sum(columns.recorded_slow)
        self.reclassified += sum(a != b for a, b in zip(slow, columns.recorded_slow, strict=True))
        for second, n in columns.slow_seconds.items():
            self.slow_bins[second] += n
        for second, n in columns.fast_seconds.items():
            self.fast_bins[second] += n
        if columns.sketch is not None:
            self.sketch.merge(columns.sketch)
        if columns.hours is not None:
            _merge_hours(self.hours, columns.hours)
        for name, tracker in self.trackers.items():
            column = seconds if name == "prediction_time" else columns.metrics.get(name)
            if column is not None:
                tracker.add_many(column, times, slow, columns.run_ids)
        if self.quality:
            # A sampled fast event stands for 1/sample_rate batches, as in the profile.
            weight = self.hours.fast_weight
            stands_for = [1.0 if recorded else weight for recorded in columns.recorded_slow]
            for name, window in self.quality.items():
                column = columns.metrics.get(name)
                if column is not None:
                    window.add_many(column, times, columns.rows, stands_for, columns.run_ids)
        _note_runs(self.runs, times, columns.run_ids)
        self.model_sides.add_columns(columns)
        self.factors.add(columns.row_sides, columns.version_counts, columns.input_sides)
        self.drift.add_columns(columns)


@dataclass
class DateData:
    """Everything correlate reads of one date: the event pass, stored sketches, infra values, drift."""

    events: EventPass
    sketches: list[StoredSketch]
    infra: InfraData
    stored_samples: dict[date, dict[str, Sample]]  # the reference days' stored drift samples
    resolution: Resolution  # the history step used (correlate.step, resolved)

    @property
    def empty(self) -> bool:
        """The contract's "no data for the date": no events and no snapshots (or archived ranges) of its
        own. Neighbouring dates' snapshots read for the skew window, and Prometheus history, do not
        count: they are context for the date's data, not data of it."""
        return not self.events.total and not self.infra.snapshots and not self.infra.ranges


@dataclass
class Analysis:
    """What correlate concludes from a date's data (pure functions over DateData)."""

    findings: list[Finding]
    suspects: list[Suspect]
    ranking: Ranking  # the suspects' test: what it could say (the report's `significance`)
    skew: dict[str, Any]
    warnings: list[str]  # what needs an operator: a failed query, no infra joined, a clock skew
    notes: list[str]  # what the data could support (little power, too few episodes): in the report only
    status: str
    joined: int  # events joined to an infra value at lag 0, for the best-joined query
    slow_joined: int
    timeline: dict[str, Any]
    profile: DayProfile


def run(
    config: Config,
    day: date,
    allow_empty: bool = False,
    storage: Storage | None = None,
    now: datetime | None = None,
    client: PrometheusClient | None = None,
    shared: Shared | None = None,
) -> CorrelationReport:
    """Correlate one date partition, write reports/dt=D/model=NAME/correlation.json (replacing it) and return it.

    `shared` (a fleet run's) loads the date's infra values once for the models that read the same ones.
    """
    if storage is None:
        from mlprom.storage import open_storage

        storage = open_storage(config)
    now = now or datetime.now(UTC)
    from mlprom.infra.resolution import with_step

    data = read_date(config, storage, day, client, shared)
    config = with_step(config, data.resolution)  # correlate.step auto, as read_date resolved it
    if data.empty:
        if not allow_empty:
            events_at = storage.url_for(layout.partition_prefix("model", day, config.model.name))
            snapshots_at = storage.url_for(layout.partition_prefix("infra", day))
            raise NoDataError(f"no data for {day}: no events under {events_at}, none under {snapshots_at}")
        log.info("no events and no infra values for %s", day)
    drift = drift_report(storage, config, day, current=data.events.drift, stored=data.stored_samples)
    analysis = analyse(config, day, data, drift, now)
    for warning in analysis.warnings:
        log.warning("%s", warning)
    for note in analysis.notes:
        # A property of the data, repeated by every cron run on a quiet model: the report keeps it with
        # the warnings, stderr only without -q.
        log.info("%s", note)
    report = build_report(config, storage, day, now, data, drift, analysis)
    document = store(storage, config, report, data)
    log_to_run(config, report, document, data.events.runs)
    return report


def _note_runs(runs: dict[str, float], times: array[float], run_ids: list[str | None]) -> None:
    """Each MLflow run the events name, with its newest event's time (most objects name one run)."""
    named = {run for run in set(run_ids) if run is not None}
    if len(named) == 1 and None not in run_ids:
        (only,) = named
        runs[only] = max(runs.get(only, -math.inf), max(times))
        return
    for at, run in zip(times, run_ids, strict=True):
        if run is not None and at > runs.get(run, -math.inf):
            runs[run] = at


def log_to_run(config: Config, report: CorrelationReport, document: bytes, runs: dict[str, float]) -> None:
    """The stored report, the same bytes, as the artifact mlprom/correlation-D.json of the newest MLflow
    run the date's events name (docs/correlation.md, "On the MLflow run"). Nothing, and no MLflow import,
    when no event names a run, mlflow.log_report is off or MLflow is not installed; a failure is one
    warning, never the stage's: the report is stored already."""
    if not runs or not config.mlflow.log_report:
        return
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        log.debug("the events name MLflow runs, but MLflow is not installed: the report is not logged")
        return
    # One run, one upload, one deadline per run of correlate: the run whose events are the newest.
    run_id = max(runs, key=lambda run: (runs[run], run))
    from mlprom.clients.mlflow_tracking import log_report_artifact
    from mlprom.errors import MlpromError

    try:
        artifact = log_report_artifact(
            config, run_id, document, f"correlation-{report.date.isoformat()}.json"
        )
    except MlpromError as exc:
        log.warning("the report was not logged to MLflow run %s: %s", run_id, exc)
        return
    log.info("report logged to MLflow run %s as %s", run_id, artifact)


def read_date(
    config: Config,
    storage: Storage,
    day: date,
    client: PrometheusClient | None,
    shared: Shared | None = None,
) -> DateData:
    """The date's events in one pass, its stored sketches, its infra values, the stored drift samples."""
    from mlprom.clients.deadline import Background
    from mlprom.events.log import gc_paused
    from mlprom.events.scan import Classification, iter_columns
    from mlprom.events.sketches import read_sketches
    from mlprom.infra.resolution import resolve_step, slow_counts_of, with_step

    # Stored latency sketches know every batch; without them the timeline comes from the events.
    sketches = read_sketches(storage, day, config.model.name)
    # correlate.step auto: from the scrape interval and the sketches' slow minutes (docs/correlation.md).
    threshold = config.model.latency_threshold
    slow_minutes = slow_counts_of((s.sketch for s in sketches), threshold) if sketches else None
    resolution = resolve_step(config, client, slow_minutes, bin_seconds=60.0)
    config = with_step(config, resolution)
    events = EventPass.for_day(config, day)
    how = Classification(
        _midnight(day),
        config.model.latency_threshold,
        sketch=not sketches,
        day=day,
        fast_weight=events.hours.fast_weight,
    )
    # The infra values and the stored drift samples do not depend on the events: they are read (or
    # fetched) in a thread while the event pass runs, which mostly waits on its decoding workers. The
    # thread starts once the first object has arrived, so after the workers were forked (never fork
    # while a thread may hold a lock). Every call in it has its own deadline; an interrupt leaves it
    # behind (a daemon), not waited for.
    ahead: Background[tuple[InfraData, dict[date, dict[str, Sample]]]] | None = None
    with gc_paused():
        for columns in iter_columns(storage, day, config.model.name, how, max_skew=config.correlate.max_skew):
            if ahead is None:
                ahead = Background(lambda: _read_ahead(config, storage, day, client, shared), "mlprom-ahead")
            events.add(columns)
    if ahead is None:
        infra, stored_samples = _read_ahead(config, storage, day, client, shared)
    else:
        infra, stored_samples = ahead.result()
    return DateData(events, sketches, infra, stored_samples, resolution)


def analyse(config: Config, day: date, data: DateData, drift: DriftReport, now: datetime) -> Analysis:
    """Findings, suspects and their test, clock skew, warnings, status, timeline and profile of the date."""
    origin = _midnight(day)
    events, infra = data.events, data.infra
    warnings = list(infra.warnings)
    if events.unreadable:
        warnings.append(
            f"{len(events.unreadable)} event object(s) or partition(s) could not be read and were left out "
            f"(first: {events.unreadable[0]}): a partial failure"
        )
    timeline_sketch, capture_thresholds = _merged_sketch(data.sketches)
    threshold = config.model.latency_threshold
    extra_slow = _reclassify(timeline_sketch, capture_thresholds, threshold, events.slow_bins, origin)
    if extra_slow:
        events.slow_total += extra_slow
        events.from_sketches = extra_slow
        log.info(
            "%d batch(es) between model.latency_threshold %gs and the captures' threshold are slow now "
            "(from latency sketches)",
            extra_slow,
            threshold,
        )
    findings = _model_findings(events.trackers) + _quality_findings(events.quality)
    changed = _threshold_warning(events, [stored.latency_threshold for stored in data.sketches], threshold)
    if changed:
        warnings.append(changed)
    slow_prefix, fast_prefix = prefix_sums(events.slow_bins), prefix_sums(events.fast_bins)
    joins = _join_infra(config, infra, origin, slow_prefix, fast_prefix)
    findings.extend(joins.findings)
    ranking = rank_suspects(
        joins.grids,
        lags_of(config),
        model=events.model_sides.samples(),
        fdr=config.correlate.fdr,
        episodes=_episodes(config, joins.grids, events.slow_bins, origin),
    )
    suspects = ranking.suspects
    skew = _skew(config, infra, suspects, origin, slow_prefix, fast_prefix)
    more, notes = _data_warnings(config, infra, events, joins, skew)
    warnings.extend(more)
    if events.slow_total and joins.joined:
        notes.extend(f"suspects: {note}" for note in ranking.notes)
    findings.extend(drift.findings)
    findings.sort(key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.metric, sorted(f.labels.items())))
    if data.empty:
        status = "no_data"
    else:
        status = status_of(findings)
        if status == "ok" and events.total and joins.joined == 0:
            status = "no_infra"
    profile = events.hours.result(
        covered_hours(day, now),
        _hourly_medians(day, infra, [s.metric for s in suspects if s.kind == "infra"]),
    )
    timeline = _timeline(
        config,
        origin,
        timeline_sketch or events.sketch,
        bool(timeline_sketch),
        infra,
        suspects,
        findings,
        ranking.episodes,
    )
    return Analysis(
        findings=findings,
        suspects=suspects,
        ranking=ranking,
        skew=skew,
        warnings=warnings,
        notes=notes,
        status=status,
        joined=joins.joined,
        slow_joined=joins.slow_joined,
        timeline=timeline,
        profile=profile,
    )


def build_report(
    config: Config,
    storage: Storage,
    day: date,
    now: datetime,
    data: DateData,
    drift: DriftReport,
    analysis: Analysis,
) -> CorrelationReport:
    events, infra, settings = data.events, data.infra, config.correlate
    key = layout.report_key(day, config.model.name)
    # What told slow from fast besides the infra (docs/correlation.md, "What distinguished the slow
    # predictions"); the hours count the slow and recorded fast events per second of the date.
    distinctions = events.factors.distinctions(hour_counts(events.slow_bins), hour_counts(events.fast_bins))
    return CorrelationReport(
        date=day,
        generated_at=now,
        status=analysis.status,
        events=EventCounts(
            events.batches, events.slow_total, analysis.joined, analysis.slow_joined, events.from_sketches
        ),
        snapshots=infra.snapshots,
        findings=tuple(analysis.findings),
        suspects=tuple(analysis.suspects),
        model=config.model.name,
        max_skew_seconds=settings.max_skew,
        key=key,
        url=storage.url_for(key),
        drift=drift,
        warnings=tuple(analysis.warnings + analysis.notes),
        episodes=len(analysis.ranking.episodes),
        headline=headline(
            analysis.suspects,
            events.slow_total,
            analysis.joined,
            len(analysis.ranking.episodes),
            analysis.ranking.notes,
            distinctions,
        ),
        distinguishing=tuple(distinctions),
        infra=InfraSection(
            source_setting=settings.infra_source,
            step_seconds=settings.step_seconds,
            step_why=data.resolution.why,
            requests=infra.requests,
            queries={name: InfraQuery(q.source, q.points, q.error) for name, q in infra.queries.items()},
        ),
        skew=Skew.from_dict(analysis.skew),
        significance=_significance(analysis.ranking, settings.fdr),
        timeline=Timeline.from_dict(analysis.timeline),
        partial_failure=infra.partial_failure or bool(data.events.unreadable),
        profile=analysis.profile,
    )


def _significance(ranking: Ranking, fdr: float) -> Significance:
    """The report's section: the test's name and family, and what it computed and could resolve."""
    section = ranking.significance(fdr)
    own = ("test", "correction", "fdr", "hypotheses", "lags_seconds")
    details = {k: v for k, v in section.items() if k not in own}
    return Significance(
        section["test"], section["correction"], fdr, ranking.hypotheses, tuple(ranking.lags_seconds), details
    )


def store(storage: Storage, config: Config, report: CorrelationReport, data: DateData) -> bytes:
    """The report (replacing the date's), then the date's drift sample for the next days' runs; returns
    the report's bytes as stored."""
    document = report_bytes(report)
    write_report(storage, report, document)
    # The next days' runs read the sample instead of this date's events. A date without events gets
    # none: reading it costs one listing, and an empty sample most often means a run made before the
    # events arrived.
    if data.events.total:
        write_drift_sample(storage, config.model.name, report.date, data.events.drift)
    log.info(
        "correlated %d events (%d slow) with %d infra points: %s, %d finding(s); report at %s",
        data.events.batches,  # the report's events.total
        data.events.slow_total,
        _points(data.infra),
        report.status,
        len(report.findings),
        report.url,
    )
    return document


def _points(infra: InfraData) -> int:
    return sum(q.points for q in infra.queries.values())


def _midnight(day: date) -> float:
    return datetime.combine(day, datetime.min.time(), UTC).timestamp()


def _model_findings(trackers: dict[str, BreachTracker]) -> list[Finding]:
    findings = []
    for name, tracker in sorted(trackers.items()):
        breach = tracker.breach()
        if breach is not None:
            findings.append(_finding(name, {}, breach, {"source": "model"}))
    return findings


def _quality_findings(windows: dict[str, QualityWindow]) -> list[Finding]:
    verdicts = ((name, window.verdict()) for name, window in sorted(windows.items()))
    return [quality_finding(name, verdict) for name, verdict in verdicts if verdict is not None]


@dataclass
class _Joins:
    """Every query's step grid with the events joined at lag 0, and the thresholds' findings."""

    grids: list[QueryGrid] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    joined: int = 0  # events joined at lag 0, for the best-joined query
    slow_joined: int = 0
    slow_points: int = 0  # the most distinct points any query joined to slow events at lag 0


def _join_infra(
    config: Config,
    infra: InfraData,
    origin: float,
    slow_prefix: list[int],
    fast_prefix: list[int],
) -> _Joins:
    """Each query's axis joined once (lag 0): the shift test moves the slow steps along it for the lags."""
    out = _Joins()
    max_skew = config.correlate.max_skew
    for query in infra.queries.values():
        if not query.series:
            continue
        axis = sorted({t for series in query.series for t in series.times})
        index = {t: i for i, t in enumerate(axis)}
        aligned = [_aligned(series, index, len(axis)) for series in query.series]
        joined = join_counts(axis, origin, query.window / 2.0, max_skew, slow_prefix, fast_prefix)
        n_joined = sum(joined.slow) + sum(joined.fast)
        if n_joined > out.joined:
            out.joined, out.slow_joined = n_joined, sum(joined.slow)
        out.slow_points = max(out.slow_points, sum(1 for n in joined.slow if n))
        out.grids.append(_grid(query, axis, aligned, joined, config))
        out.findings.extend(_infra_findings(config, query, index, joined, origin))
    return out


def _episodes(
    config: Config, grids: list[QueryGrid], slow_bins: array[int], origin: float
) -> list[tuple[float, float]]:
    """The date's slow episodes from the events' own seconds, merged across less than 3 steps of quiet."""
    from mlprom.analysis.significance import EPISODE_GAP_STEPS, slow_periods

    longest = max(grids, key=lambda g: len(g.slow), default=None)
    step = longest.step_seconds if longest is not None else config.correlate.step_seconds
    return slow_periods(slow_bins, origin, EPISODE_GAP_STEPS * step)


def _data_warnings(
    config: Config, infra: InfraData, events: EventPass, joins: _Joins, skew: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """(warnings for an operator, notes on what the data supports)."""
    warnings: list[str] = []
    notes: list[str] = []
    if skew["warning"]:
        warnings.append(
            f"clock skew: events look {abs(skew['estimated_seconds']):.0f} s "
            f"{'ahead of' if skew['estimated_seconds'] > 0 else 'behind'} Prometheus (the top suspect "
            "separates best at that shift); check NTP on the serving hosts and on Prometheus"
        )
    if events.total and joins.joined == 0:
        warnings.append(_no_infra_message(config, infra, events.total))
    elif events.slow_total and joins.slow_points < MIN_SIDE_POINTS:
        notes.append(
            f"only {joins.slow_points} distinct snapshot(s)/step(s) joined slow events (fewer than "
            f"{MIN_SIDE_POINTS}): the test has little power; lower correlate.step or snapshot more often"
        )
    return warnings, notes


def _aligned(series: InfraSeries, index: dict[float, int], size: int) -> list[float | None]:
    """The series' values on its query's time axis (None where it has no point)."""
    values: list[float | None] = [None] * size
    for at, value in zip(series.times, series.values, strict=True):
        values[index[at]] = value
    return values


def _grid(
    query: QueryInfra, axis: list[float], aligned: list[list[float | None]], joined: Joined, config: Config
) -> QueryGrid:
    """A query's series on its axis with the events joined to each step, for the shift test."""
    from mlprom.analysis.significance import step_of
    from mlprom.infra.history import min_change_of

    configured = config.queries.get(query.name)
    series = [
        GridSeries(
            query.name,
            s.labels,
            values,
            source=query.source,
            unit=configured.unit if configured else None,
            min_change=min_change_of(configured),
            direction=configured.direction if configured else "both",
        )
        for s, values in zip(query.series, aligned, strict=True)
    ]
    return QueryGrid(axis, joined.slow, joined.fast, series, step_of(axis, config.correlate.step_seconds))


def _infra_findings(
    config: Config, query: QueryInfra, index: dict[float, int], joined: Joined, origin: float
) -> list[Finding]:
    """Thresholds over every value of the date (not only those joined to events)."""
    threshold = config.thresholds.get(query.name) if query.name in config.queries else None
    if threshold is None:
        return []
    out = []
    for series in query.series:
        tracker = BreachTracker(threshold)
        for at, value in zip(series.times, series.values, strict=True):
            if origin <= at < origin + DAY_SECONDS:
                tracker.add(value, at, joined.slow[index[at]])
        breach = tracker.breach()
        if breach is not None:
            detail = {
                "source": "infra",
                "expr": config.queries[query.name].expr,
                "infra_source": query.source,
            }
            out.append(_finding(query.name, series.labels, breach, detail))
    return out


def _merged_sketch(sketches: list[Any]) -> tuple[LatencySketch, dict[int, float]]:
    """Every stored sketch of the date merged, and per minute the highest threshold a capture used."""
    merged = LatencySketch()
    thresholds: dict[int, float] = {}
    for stored in sketches:
        merged.merge(stored.sketch)
        for minute in stored.sketch.minutes:
            thresholds[minute] = max(thresholds.get(minute, 0.0), stored.latency_threshold)
    return merged, thresholds


def _reclassify(
    sketch: LatencySketch,
    captured_at: dict[int, float],
    threshold: float,
    slow_bins: array[int],
    origin: float,
) -> int:
    """Batches that are slow at `threshold` but were recorded only if sampled (the capture's threshold
    was higher): counted from the sketch, placed at the middle of their minute. Returns how many."""
    added = 0
    for minute, histogram in sketch.minutes.items():
        if captured_at.get(minute, 0.0) <= threshold:
            continue  # every batch slow at `threshold` was recorded as an event: the events know them
        start = int(minute - origin)
        if start < 0 or start + 60 > DAY_SECONDS:
            continue
        known = sum(slow_bins[start : start + 60])
        extra = histogram.count_above(threshold) - known
        if extra > 0:
            slow_bins[start + 30] += extra
            added += extra
    return added


def _threshold_warning(events: EventPass, captured_at: list[float], threshold: float) -> str | None:
    """A warning when model.latency_threshold re-classifies most of the date's batches against what their
    capture decided: the events whose stored `slow` it flips plus the sketch-only batches it makes slow,
    over the events plus those batches (docs/correlation.md, "Counts")."""
    batches = events.batches
    changed = events.reclassified + events.from_sketches
    if not batches or 2 * changed <= batches:
        return None
    captures = sorted(set(captured_at))  # the sketches' thresholds: events do not record theirs
    at = f" (captured at {', '.join(_seconds_text(t) for t in captures)})" if captures else ""
    sketches = (
        f" and {events.from_sketches:,} more batch(es) known only from latency sketches"
        if events.from_sketches
        else ""
    )
    return (
        f"model.latency_threshold {_seconds_text(threshold)} classifies "
        f"{events.slow_total - events.from_sketches:,} of {events.total:,} events slow{sketches}; "
        f"their capture flagged {events.recorded_slow:,}{at}: slow and fast sides, findings and suspects "
        "describe another picture than the capture's"
    )


def _seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def _skew(
    config: Config,
    infra: InfraData,
    suspects: list[Suspect],
    origin: float,
    slow_prefix: list[int],
    fast_prefix: list[int],
) -> dict[str, Any]:
    """The clock-skew estimate from the top significant infra cause (docs/correlation.md, "Clock skew").

    Searched around no shift and lag 0, whatever lag the suspect was reported at: a skew of 40 s can make
    a 60 s lag look best.
    """
    from mlprom.analysis.significance import step_of
    from mlprom.analysis.skew import estimate_skew

    none = {"estimated_seconds": None, "warning": False}
    top = next((s for s in suspects if s.significant and s.kind == "infra" and s.role == "cause"), None)
    if top is None:
        return none
    query = infra.queries[top.metric]
    series = next(s for s in query.series if s.labels == top.labels)
    axis = sorted({t for s in query.series for t in s.times})
    index = {t: i for i, t in enumerate(axis)}
    values = _aligned(series, index, len(axis))
    estimate = estimate_skew(
        axis,
        values,
        origin,
        query.window / 2.0,
        config.correlate.max_skew,
        slow_prefix,
        fast_prefix,
        step_of(axis, config.correlate.step_seconds),
    )
    return none if estimate is None else estimate.to_dict()


def _no_infra_message(config: Config, infra: InfraData, total: int) -> str:
    sources = ", ".join(f"{n}: {q.source}" for n, q in sorted(infra.queries.items())) or "no queries"
    return (
        f"no infra value joined any of the {total} events: {infra.snapshots} stored snapshot(s) of the date, "
        f"history: {'not asked' if config.correlate.infra_source == 'snapshots' else f'{infra.requests} request(s)'}"
        f" ({sources}). Fix: run `mlprom capture-infra` every minute (cron), or let correlate read "
        "Prometheus history (correlate.infra_source: auto or prometheus, prometheus.url reachable, the "
        "date within its retention), or archive it with `mlprom capture-infra --from ... --to ...`; "
        f"events join values at most correlate.max_skew ({config.correlate.max_skew:g}s) away"
    )


def _merge_hours(into: HourProfile, part: HourProfile) -> None:
    """Add one object's hour profile (counted where it was decoded) to the date's."""
    for side, counts in enumerate(part.counts):
        mine = into.counts[side]
        for index, n in counts.items():
            mine[index] = mine.get(index, 0) + n
        into.slow[side] += part.slow[side]
    into.outside += part.outside


def _hourly_medians(day: date, infra: InfraData, ranked: list[str]) -> dict[int, dict[str, float | None]]:
    """The profile's resource medians per hour from every query's values (snapshots or history)."""
    available = [name for name, query in infra.queries.items() if query.series]
    metrics = top_resources(ranked, available)
    merged: dict[int, dict[str, float | None]] = {}
    for name in metrics:
        query = infra.queries[name]
        axis = sorted({t for series in query.series for t in series.times})
        index = {t: i for i, t in enumerate(axis)}
        keys = [(name, series.labels) for series in query.series]
        values = [_aligned(series, index, len(axis)) for series in query.series]
        for hour, row in hourly_medians(day, axis, keys, values, [name]).items():
            merged.setdefault(hour, {})[name] = row.get(name)
    return {hour: {m: row.get(m) for m in metrics} for hour, row in sorted(merged.items())}


def _timeline(
    config: Config,
    origin: float,
    sketch: LatencySketch,
    from_sketches: bool,
    infra: InfraData,
    suspects: list[Suspect],
    findings: list[Finding],
    episodes: list[tuple[float, float]],
) -> dict[str, Any]:
    """Per-minute prediction times and the top suspects' values over the day (docs/correlation.md).

    The shaded periods are the episodes the report counts (not every run of slow minutes), so the
    page's "2 slow episodes" shades two periods."""
    prediction = _prediction_minutes(sketch, origin, config.model.latency_threshold)
    prediction["source"] = "sketches" if from_sketches else "events"
    return {
        "step_seconds": 60,
        "start": int(origin),
        "end": int(origin) + DAY_SECONDS,
        "prediction": prediction,
        "slow_periods": _minute_periods(episodes),
        "series": _timeline_series(config, origin, infra, suspects, findings),
    }


def _prediction_minutes(sketch: LatencySketch, origin: float, threshold: float) -> dict[str, Any]:
    """Every minute of the day: batches, slow batches, p50 and p95 (None where nothing was recorded)."""
    t: list[int] = []
    count: list[int] = []
    slow: list[int] = []
    p50: list[float | None] = []
    p95: list[float | None] = []
    for minute in range(int(origin), int(origin) + DAY_SECONDS, 60):
        histogram = sketch.minutes.get(minute)
        t.append(minute)
        if histogram is None:
            count.append(0)
            slow.append(0)
            p50.append(None)
            p95.append(None)
            continue
        count.append(histogram.count)
        slow.append(histogram.count_above(threshold))
        p50.append(histogram.quantile(0.5))
        p95.append(histogram.quantile(0.95))
    return {"t": t, "count": count, "slow": slow, "p50": p50, "p95": p95}


def _minute_periods(episodes: list[tuple[float, float]]) -> list[list[int]]:
    """Episodes ([start, end) unix seconds) widened to whole minutes, the timeline's resolution."""
    periods: list[list[int]] = []
    for start, end in episodes:
        a, b = int(start // 60) * 60, int(-(-end // 60)) * 60
        if periods and a <= periods[-1][1]:
            periods[-1][1] = max(periods[-1][1], b)
        else:
            periods.append([a, b])
    return periods


def _timeline_series(
    config: Config, origin: float, infra: InfraData, suspects: list[Suspect], findings: list[Finding]
) -> list[dict[str, Any]]:
    """The top infra suspects' values over the day, then every series with a finding."""
    by_series = {
        (f.metric, tuple(sorted(f.labels.items()))): f for f in findings if f.detail.get("source") == "infra"
    }
    wanted: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for s in suspects:
        if s.kind == "infra" and len(wanted) < TIMELINE_SERIES:
            wanted.append((s.metric, tuple(sorted(s.labels.items()))))
    wanted += [k for k in sorted(by_series) if k not in wanted]
    out = []
    for metric, labels in wanted:
        query = infra.queries.get(metric)
        found = None
        if query is not None:
            found = next((s for s in query.series if tuple(sorted(s.labels.items())) == labels), None)
        if query is None or found is None:
            continue
        pairs = [
            (at, v)
            for at, v in zip(found.times, found.values, strict=True)
            if origin <= at < origin + DAY_SECONDS
        ]
        levels = config.thresholds.get(metric)
        finding = by_series.get((metric, labels))
        configured = config.queries.get(metric)
        out.append(
            {
                "metric": metric,
                "labels": dict(labels),
                "source": query.source,
                "unit": configured.unit if configured else None,
                "t": [at for at, _ in pairs],
                "v": [v for _, v in pairs],
                "threshold": (
                    {"warning": levels.warning, "critical": levels.critical, "direction": levels.direction}
                    if levels is not None
                    else None
                ),
                "first_seen": finding.first_seen.timestamp() if finding else None,
                "last_seen": finding.last_seen.timestamp() if finding else None,
            }
        )
    return out


def report_bytes(report: CorrelationReport) -> bytes:
    """The report document as stored: sorted keys, indented by two."""
    import orjson

    return orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def write_report(storage: Storage, report: CorrelationReport, document: bytes | None = None) -> str:
    key = layout.report_key(report.date, report.model)
    # One key per date: a re-run replaces the report atomically.
    storage.put_bytes(key, report_bytes(report) if document is None else document)
    return key
