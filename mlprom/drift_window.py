"""Drift of one date against the previous `drift.reference_days` days: reads events, returns a DriftReport.

The I/O half of drift detection; the statistics live in mlprom.analysis.drift. See docs/drift.md.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from datetime import date as datetime_date  # `date` is also a field name of DriftReport
from typing import TYPE_CHECKING, Any

from mlprom.analysis.drift import DRIFT_METRICS, SAMPLE_SIZE, Reservoir, compare, flatten_numbers, judge
from mlprom.analysis.findings import Finding
from mlprom.eventlog import iter_event_objects
from mlprom.records import parse_ts

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

DISTRIBUTIONS = ("prediction_time", "outputs", "accuracy")
STATUSES = ("ok", "drift", "insufficient_reference", "insufficient_current")


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
        }


def _accuracy(data: dict[str, Any]) -> float | None:
    value = data.get("accuracy")
    if value is None:
        value = (data.get("metrics") or {}).get("accuracy")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class DriftSide:
    """Reservoirs of one side (the date, or the reference window) plus the time span of its events.

    Fed one event JSON object at a time, so correlate can fill the date's side during its own pass.
    """

    reservoirs: dict[str, Reservoir]
    first: float | None = None  # unix seconds
    last: float | None = None

    @classmethod
    def new(cls, side: str, size: int = SAMPLE_SIZE) -> DriftSide:
        # A fixed seed per distribution and side: samples are independent of each other, and a
        # re-run over the same data gives the same numbers.
        return cls({n: Reservoir(size, zlib.crc32(f"{n}:{side}".encode())) for n in DISTRIBUTIONS})

    def add(self, data: dict[str, Any], at: float) -> None:
        """One event: its JSON object and its time in unix seconds."""
        prediction_time = data.get("prediction_time_seconds")
        if isinstance(prediction_time, int | float) and not isinstance(prediction_time, bool):
            self.reservoirs["prediction_time"].add(float(prediction_time))
        outputs = data.get("outputs")
        if outputs is not None:
            self.reservoirs["outputs"].extend(flatten_numbers(outputs))
        accuracy = _accuracy(data)
        if accuracy is not None:
            self.reservoirs["accuracy"].add(accuracy)
        if self.first is None or at < self.first:
            self.first = at
        if self.last is None or at > self.last:
            self.last = at


def _read(storage: Storage, days: list[date], model: str, side: str, size: int) -> DriftSide:
    collected = DriftSide.new(side, size)
    for day in days:
        for key, lineno, data in iter_event_objects(storage, day, model=model):
            try:
                at = parse_ts(data["ts"]).timestamp()
            except (KeyError, TypeError, ValueError):
                log.warning("skipping %s line %d: no valid ts", key, lineno)
                continue
            collected.add(data, at)
    return collected


def drift_report(
    storage: Storage,
    config: Config,
    day: date,
    *,
    sample_size: int = SAMPLE_SIZE,
    current: DriftSide | None = None,
) -> DriftReport:
    """Compare `day`'s events of config.model.name with the `drift.reference_days` days before it.

    `current` is the date's side when the caller already collected it (correlate does, in its pass).
    """
    model = config.model.name
    settings = config.drift
    reference_days = [day - timedelta(days=n) for n in range(settings.reference_days, 0, -1)]
    if current is None:
        current = _read(storage, [day], model, "current", sample_size)
    reference = _read(storage, reference_days, model, "reference", sample_size)
    configured = any(name in config.thresholds for name in DRIFT_METRICS)
    start_of_day = datetime.combine(day, time(0, 0), UTC)
    first_seen = datetime.fromtimestamp(current.first, UTC) if current.first is not None else start_of_day
    last_seen = datetime.fromtimestamp(current.last, UTC) if current.last is not None else start_of_day

    distributions: dict[str, DistributionDrift] = {}
    findings: list[Finding] = []
    for name in DISTRIBUTIONS:
        cur, ref = current.reservoirs[name], reference.reservoirs[name]
        base = DistributionDrift(name, "insufficient_reference", cur.seen, ref.seen, cur.mean, ref.mean)
        # Too few values is a fact about the data, not an error: reported, never a finding.
        if ref.seen < settings.min_samples:
            distributions[name] = base
            continue
        if cur.seen < settings.min_samples:
            distributions[name] = replace(base, status="insufficient_current")
            continue
        stats = compare(ref.values, cur.values, settings.bins)
        drop = None
        if name == "accuracy" and ref.mean is not None and cur.mean is not None:
            drop = ref.mean - cur.mean
        verdicts = judge(stats, config.thresholds, drop)
        distributions[name] = replace(
            base,
            status="drift" if verdicts else "ok",
            psi=stats.psi,
            ks_statistic=stats.ks_statistic,
            ks_pvalue=stats.ks_pvalue,
            wasserstein=stats.wasserstein,
            accuracy_drop=drop,
        )
        for verdict in verdicts:
            findings.append(
                Finding(
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
                    detail={
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
                        "rule": "configured" if configured else "default",
                    },
                )
            )
    return DriftReport(
        date=day,
        model=model,
        status=_overall(distributions),
        reference_start=reference_days[0],
        reference_end=reference_days[-1],
        distributions=distributions,
        findings=findings,
        rule="configured" if configured else "default",
        min_samples=settings.min_samples,
        sample_size=sample_size,
    )


def _overall(distributions: dict[str, DistributionDrift]) -> str:
    statuses = {d.status for d in distributions.values()}
    # Drift anywhere wins; then any comparison made; then the reason none could be made.
    for status in ("drift", "ok", "insufficient_reference", "insufficient_current"):
        if status in statuses:
            return status
    return "insufficient_current"
