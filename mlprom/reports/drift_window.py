"""Drift of one date against the previous `drift.reference_days` days: reads events, returns a DriftReport.

The I/O half of drift detection; the statistics live in mlprom.analysis.drift. See docs/drift.md.
Each reference day comes from its stored drift sample (reports/dt=D/model=NAME/drift-sample.json, written by
correlate) when there is a usable one, else from its events; either way it becomes one per-day side,
and the days are combined into the reference by mlprom.analysis.drift.Combiner.
"""

from __future__ import annotations

import logging
import zlib
from array import array
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from datetime import date as datetime_date  # `date` is also a field name of DriftReport
from typing import TYPE_CHECKING, Any, TypeGuard

from mlprom import layout
from mlprom.analysis.drift import (
    DRIFT_METRICS,
    SAMPLE_SIZE,
    Combiner,
    Comparison,
    Histogram,
    Reservoir,
    Sample,
    Verdict,
    compare,
    histogram,
    judge,
)
from mlprom.analysis.findings import Finding
from mlprom.errors import ObjectNotFound
from mlprom.records import is_number

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.events.scan import EventColumns
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

DISTRIBUTIONS = ("prediction_time", "outputs", "accuracy")
STATUSES = ("ok", "drift", "insufficient_reference", "insufficient_current")
SAMPLE_VERSION = 1  # of the stored drift sample document; another version is read from events instead


@dataclass(frozen=True)
class DistributionDrift:
    """One distribution compared: sizes, statistics (None when a side has too few values) and status."""

    name: str
    status: str  # ok | drift | insufficient_reference | insufficient_current
    n_current: int  # values seen on the date (the statistics use a sample of at most `sample_size`)
    n_reference: int
    mean_current: float | None  # exact, over every value seen
    mean_reference: float | None
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    wasserstein: float | None = None
    accuracy_drop: float | None = None  # accuracy only: mean_reference - mean_current

    def to_dict(self) -> dict[str, Any]:
        out = {
            "status": self.status,
            "n_current": self.n_current,
            "n_reference": self.n_reference,
            "mean_current": self.mean_current,
            "mean_reference": self.mean_reference,
            "psi": self.psi,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "wasserstein": self.wasserstein,
        }
        if self.name == "accuracy":
            out["accuracy_drop"] = self.accuracy_drop
        return out


@dataclass(frozen=True)
class DriftReport:
    date: datetime_date
    model: str
    status: str  # ok | drift | insufficient_reference | insufficient_current
    reference_start: datetime_date
    reference_end: datetime_date
    distributions: dict[str, DistributionDrift]
    findings: list[Finding] = field(default_factory=list)
    rule: str = (
        "default"  # "default" (built-in PSI + KS rule) or "configured" (the config's drift thresholds)
    )
    min_samples: int = 0
    sample_size: int = SAMPLE_SIZE
    # Reference and current on shared bins, per compared distribution (what the HTML report draws).
    histograms: dict[str, Histogram] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "model": self.model,
            "status": self.status,
            "reference": {"start": self.reference_start.isoformat(), "end": self.reference_end.isoformat()},
            "rule": self.rule,
            "min_samples": self.min_samples,
            "sample_size": self.sample_size,
            "distributions": {name: d.to_dict() for name, d in self.distributions.items()},
            "findings": [f.to_dict() for f in self.findings],
            "histograms": {name: h.to_dict() for name, h in self.histograms.items()},
        }


@dataclass
class DriftSide:
    """Reservoirs of one date's events plus their time span: the date's side, or one reference day.

    Fed one decoded object at a time (add_columns), so correlate can fill the date's side during its
    own pass.
    """

    reservoirs: dict[str, Reservoir]
    first: float | None = None  # unix seconds
    last: float | None = None

    @classmethod
    def new(cls, side: str, size: int = SAMPLE_SIZE) -> DriftSide:
        # A fixed seed per distribution and side: samples are independent of each other, and a
        # re-run over the same data gives the same numbers.
        return cls({n: Reservoir(size, zlib.crc32(f"{n}:{side}".encode())) for n in DISTRIBUTIONS})

    @classmethod
    def for_day(cls, day: date, size: int = SAMPLE_SIZE) -> DriftSide:
        """One date's side. Seeded by the date, so correlate's pass and a later read of the same events
        sample alike (a stored sample and a fallback read agree), and different days sample independently."""
        return cls.new(f"dt={day.isoformat()}", size)

    @property
    def size(self) -> int:
        return self.reservoirs[DISTRIBUTIONS[0]].size

    def samples(self) -> dict[str, Sample]:
        return {name: reservoir.sample() for name, reservoir in self.reservoirs.items()}

    def add_columns(self, columns: EventColumns) -> None:
        """One object's events (mlprom.events.scan), prepared where it was decoded: one reservoir call per
        distribution. The reservoirs see the events' values in event order, so a date read again object
        by object draws the same sample.
        """
        if not columns.times:
            return
        for name, finite in columns.samples.items():
            self.reservoirs[name].extend_finite(finite.values, finite.total)
        low, high = min(columns.times), max(columns.times)
        if self.first is None or low < self.first:
            self.first = low
        if self.last is None or high > self.last:
            self.last = high


def read_side(storage: Storage, day: date, model: str, size: int = SAMPLE_SIZE) -> DriftSide:
    """One date's side from its events, object by object (the same sample correlate's pass collects)."""
    return read_sides(storage, [day], model, size)[day]


def read_sides(
    storage: Storage, days: list[date], model: str, size: int = SAMPLE_SIZE
) -> dict[date, DriftSide]:
    """Each date's side from its events, all dates through one pool of decoding workers."""
    from mlprom.events.log import gc_paused
    from mlprom.events.scan import iter_days_columns

    sides = {day: DriftSide.for_day(day, size) for day in days}
    with gc_paused():
        for day, columns in iter_days_columns(storage, days, model, drift_only=True):
            sides[day].add_columns(columns)
    return sides


# ---------------------------------------------------------------- the stored per-day sample


@dataclass(frozen=True)
class DaySample:
    """A date's drift side as stored: per distribution a bounded sample with exact count and sum."""

    day: date
    model: str
    sample_size: int
    samples: dict[str, Sample]
    first: float | None  # unix seconds of the date's first and last event
    last: float | None


class _UnusableSample(Exception):
    """A stored drift sample that cannot stand for its day; caught here, the day is read from events."""


def write_drift_sample(storage: Storage, model: str, day: date, side: DriftSide) -> str:
    """Store `side` (the date's, as correlate collected it) at reports/dt=D/model=NAME/drift-sample.json.

    One key per date, replaced atomically on a re-run. Compact JSON: a day is at most
    3 x sample_size floats, about 3 MB at the default 50,000.
    """
    import orjson

    key = layout.drift_sample_key(day, model)
    distributions = {
        name: {"seen": r.seen, "sum": r.total, "mean": r.mean, "values": r.values.tolist()}
        for name, r in side.reservoirs.items()
    }
    document = {
        "version": SAMPLE_VERSION,
        "date": day.isoformat(),
        "model": model,
        "sample_size": side.size,
        "first": side.first,
        "last": side.last,
        "distributions": distributions,
    }
    storage.put_bytes(key, orjson.dumps(document))
    log.debug("drift sample of %s written to %s", day, storage.url_for(key))
    return key


def _sample_model(body: bytes) -> str | None:
    """The `model` a stored sample names (None when it names none or is not a JSON object)."""
    import orjson

    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    named = document.get("model") if isinstance(document, dict) else None
    return named if isinstance(named, str) else None


def read_drift_sample(storage: Storage, model: str, day: date, sample_size: int) -> DaySample | None:
    """The date's stored drift sample, or None when there is none usable (the caller reads events).

    Missing is normal (the date was never correlated); another sample size is a caller's choice; both
    fall back quietly. A corrupt file, another version, date or model is worth a warning naming the key.
    """
    import orjson

    from mlprom.reports import legacy

    own = layout.drift_sample_key(day, model)
    try:
        key, body = legacy.get_bytes(storage, own, layout.legacy_drift_sample_key(day))
    except ObjectNotFound:
        return None
    where = storage.url_for(key)
    if key != own:
        if _sample_model(body) not in (model, None):  # the previous layout's one was another model's
            return None
        legacy.tell_once(storage, key, own)
    try:
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise _UnusableSample("not a JSON object")
        if document.get("version") != SAMPLE_VERSION:
            raise _UnusableSample(f"version {document.get('version')!r}, expected {SAMPLE_VERSION}")
        stored_size = document.get("sample_size")
        if stored_size != sample_size and _is_int(stored_size):
            log.info(
                "drift sample %s holds %s values per distribution, not %d; reading %s's events instead",
                where,
                stored_size,
                sample_size,
                day,
            )
            return None
        return _parse_sample(document, model, day, sample_size)
    except (orjson.JSONDecodeError, _UnusableSample) as exc:
        log.warning("unusable drift sample %s (%s); reading %s's events instead", where, exc, day)
        return None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_sample(document: dict[str, Any], model: str, day: date, sample_size: int) -> DaySample:
    if document.get("sample_size") != sample_size:
        raise _UnusableSample(f"sample_size {document.get('sample_size')!r}")
    if document.get("date") != day.isoformat():
        raise _UnusableSample(f"date {document.get('date')!r}, expected {day.isoformat()}")
    if document.get("model") != model:
        raise _UnusableSample(f"model {document.get('model')!r}, expected {model!r}")
    first, last = document.get("first"), document.get("last")
    if not all(t is None or is_number(t) for t in (first, last)):
        raise _UnusableSample("first/last is not a number or null")
    distributions = document.get("distributions")
    if not isinstance(distributions, dict):
        raise _UnusableSample("no 'distributions' object")
    samples: dict[str, Sample] = {}
    for name in DISTRIBUTIONS:
        entry = distributions.get(name)
        if not isinstance(entry, dict):
            raise _UnusableSample(f"no distribution {name!r}")
        seen, total, values = entry.get("seen"), entry.get("sum"), entry.get("values")
        if not _is_int(seen) or seen < 0 or not is_number(total) or not isinstance(values, list):
            raise _UnusableSample(f"{name}: 'seen', 'sum' or 'values' missing or of the wrong type")
        # A reservoir holds every value until it is full: any other length is a truncated or edited file.
        if len(values) != min(seen, sample_size):
            raise _UnusableSample(f"{name}: {len(values)} values for seen={seen}")
        if not all(type(v) is float for v in values):  # JSON cannot hold NaN/Inf: floats are finite
            raise _UnusableSample(f"{name}: a value is not a float")
        # Held as doubles (8 bytes a value, not a 32-byte float object): seven days of three distributions
        # are a million values.
        samples[name] = Sample(values=array("d", values), seen=seen, total=float(total))
    return DaySample(day=day, model=model, sample_size=sample_size, samples=samples, first=first, last=last)


def reference_days_of(config: Config, day: date) -> list[date]:
    """The `drift.reference_days` dates before `day`, oldest first."""
    return [day - timedelta(days=n) for n in range(config.drift.reference_days, 0, -1)]


def read_stored_samples(
    storage: Storage, model: str, days: list[date], size: int = SAMPLE_SIZE
) -> dict[date, dict[str, Sample]]:
    """The stored drift samples of those dates that have a usable one (no events are read)."""
    found = {d: read_drift_sample(storage, model, d, size) for d in days}
    return {d: sample.samples for d, sample in found.items() if sample is not None}


def _reference(
    storage: Storage,
    model: str,
    day: date,
    days: list[date],
    size: int,
    stored: dict[date, dict[str, Sample]] | None = None,
) -> dict[str, Sample]:
    """The reference side: each day from its stored sample or its events, combined in proportion.

    `stored`: the days' stored samples when the caller already read them (read_stored_samples).
    """
    combiners = {
        n: Combiner(size, zlib.crc32(f"{n}:reference:dt={day.isoformat()}".encode())) for n in DISTRIBUTIONS
    }
    per_day = dict(stored) if stored is not None else read_stored_samples(storage, model, days, size)
    stored_days = len(per_day)
    # The others from their events, in one pass. Read only, never written back: a sample is only as
    # complete as the last correlate of its date, and only that run knows it saw the whole date
    # (docs/drift.md).
    missing = [d for d in days if d not in per_day]
    if missing:
        for reference_day, side in read_sides(storage, missing, model, size).items():
            per_day[reference_day] = side.samples()
    for reference_day in days:
        for name in DISTRIBUTIONS:
            combiners[name].add(per_day[reference_day][name])
    log.info(
        "drift reference %s..%s: %d day(s) from stored samples, %d from events",
        days[0],
        days[-1],
        stored_days,
        len(days) - stored_days,
    )
    return {name: combiner.result() for name, combiner in combiners.items()}


def drift_report(
    storage: Storage,
    config: Config,
    day: date,
    *,
    sample_size: int = SAMPLE_SIZE,
    current: DriftSide | None = None,
    stored: dict[date, dict[str, Sample]] | None = None,
) -> DriftReport:
    """Compare `day`'s events of config.model.name with the `drift.reference_days` days before it.

    `current` is the date's side when the caller already collected it (correlate does, in its pass);
    `stored`, the reference days' stored samples when it already read them (read_stored_samples).
    """
    model = config.model.name
    reference_days = reference_days_of(config, day)
    if current is None:
        current = read_side(storage, day, model, sample_size)
    reference = _reference(storage, model, day, reference_days, sample_size, stored)
    current_samples = current.samples()
    rule = "configured" if any(name in config.thresholds for name in DRIFT_METRICS) else "default"
    start_of_day = datetime.combine(day, time(0, 0), UTC)
    first_seen = datetime.fromtimestamp(current.first, UTC) if current.first is not None else start_of_day
    last_seen = datetime.fromtimestamp(current.last, UTC) if current.last is not None else start_of_day

    distributions: dict[str, DistributionDrift] = {}
    histograms: dict[str, Histogram] = {}
    findings: list[Finding] = []
    for name in DISTRIBUTIONS:
        cur, ref = current_samples[name], reference[name]
        distributions[name], compared = _compare_distribution(config, name, cur, ref)
        if compared is None:
            continue
        stats, verdicts = compared
        histograms[name] = histogram(ref.values, cur.values)
        detail = {
            "psi": stats.psi,
            "ks_statistic": stats.ks_statistic,
            "ks_pvalue": stats.ks_pvalue,
            "wasserstein": stats.wasserstein,
            "n_current": cur.seen,
            "n_reference": ref.seen,
            "mean_current": cur.mean,
            "mean_reference": ref.mean,
            "reference_start": reference_days[0].isoformat(),
            "reference_end": reference_days[-1].isoformat(),
            "rule": rule,
        }
        findings.extend(_finding(verdict, name, first_seen, last_seen, detail) for verdict in verdicts)
    return DriftReport(
        date=day,
        model=model,
        status=_overall(distributions),
        reference_start=reference_days[0],
        reference_end=reference_days[-1],
        distributions=distributions,
        findings=findings,
        rule=rule,
        min_samples=config.drift.min_samples,
        sample_size=sample_size,
        histograms=histograms,
    )


def _compare_distribution(
    config: Config, name: str, cur: Sample, ref: Sample
) -> tuple[DistributionDrift, tuple[Comparison, list[Verdict]] | None]:
    """One distribution's entry, and its statistics and verdicts when both sides have enough values."""
    min_samples = config.drift.min_samples
    base = DistributionDrift(
        name=name,
        status="insufficient_reference",
        n_current=cur.seen,
        n_reference=ref.seen,
        mean_current=cur.mean,
        mean_reference=ref.mean,
    )
    # Too few values is a fact about the data, not an error: reported, never a finding.
    if ref.seen < min_samples:
        return base, None
    if cur.seen < min_samples:
        return replace(base, status="insufficient_current"), None
    stats = compare(ref.values, cur.values, config.drift.bins)
    drop = None
    if name == "accuracy" and ref.mean is not None and cur.mean is not None:
        drop = ref.mean - cur.mean
    verdicts = judge(stats, config.thresholds, drop)
    entry = replace(
        base,
        status="drift" if verdicts else "ok",
        psi=stats.psi,
        ks_statistic=stats.ks_statistic,
        ks_pvalue=stats.ks_pvalue,
        wasserstein=stats.wasserstein,
        accuracy_drop=drop,
    )
    return entry, (stats, verdicts)


def _finding(
    verdict: Verdict, name: str, first_seen: datetime, last_seen: datetime, detail: dict[str, Any]
) -> Finding:
    return Finding(
        severity=verdict.severity,
        metric=verdict.metric,
        labels={"distribution": name},
        value=verdict.value,
        threshold=verdict.threshold,
        direction=verdict.direction,
        slow_events=0,  # drift is a property of the whole day, not of slow predictions
        first_seen=first_seen,
        last_seen=last_seen,
        kind="drift",
        detail=dict(detail),
    )


def _overall(distributions: dict[str, DistributionDrift]) -> str:
    statuses = {d.status for d in distributions.values()}
    # Drift anywhere wins; then any comparison made; then the reason none could be made.
    for status in ("drift", "ok", "insufficient_reference", "insufficient_current"):
        if status in statuses:
            return status
    return "insufficient_current"
