"""What each command returns: one frozen result record per stage, with its JSON form and what the CLI
reads of it (the StageResult protocol). The stages build them; the renderers read them.

They live here, beside the records, rather than in the stages: a renderer imports what it draws, never
the stage (and its clients) that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from mlprom import layout
from mlprom.dates import rfc3339

if TYPE_CHECKING:
    from mlprom.analysis.profile import Forecast
    from mlprom.clients.alertmanager import Delivery
    from mlprom.records import Snapshot

# The `schema_version` of every JSON document (`-o json`, the stored report); schemas/ in the repository
# has one JSON Schema per document. Adding a field keeps it; removing, renaming or retyping one bumps it.
SCHEMA_VERSION = 1


class StageResult(Protocol):
    """What the CLI needs of a command's result, whichever command made it."""

    @property
    def exit_code(self) -> int:
        """The contract's exit code for this result (0 when clean)."""
        ...

    @property
    def partial_failures(self) -> int:
        """What failed in a run that stored the rest (pushed as mlprom_partial_failures)."""
        ...

    @property
    def pushgateway_down(self) -> bool:
        """The run already found the Pushgateway failing: pushing a heartbeat would only wait for it again."""
        ...

    def heartbeat(self) -> dict[str, float]:
        """The stage's own gauges for its heartbeat, beside duration and last success."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`-o json`)."""
        ...


class Clean:
    """StageResult's answers for a result with nothing partial about it; a result overrides what it knows."""

    @property
    def exit_code(self) -> int:
        return 0

    @property
    def partial_failures(self) -> int:
        return 0

    @property
    def pushgateway_down(self) -> bool:
        return False

    def heartbeat(self) -> dict[str, float]:
        return {}


# ---------------------------------------------------------------- capture-model


@dataclass(frozen=True)
class CaptureResult(Clean):
    model: str
    date: date
    input: str
    rows: int
    batches: int
    slow_batches: int
    sampled_batches: int
    events: int
    event_keys: tuple[str, ...]
    latency: dict[str, float]  # seconds per batch: p50, p95, p99, max, mean
    quality: dict[str, float]  # over every labelled row of the input
    task: str | None
    latency_threshold: float
    mlflow_run_id: str
    tracking_uri: str  # without credentials
    model_version: str | None = None
    snapshots: tuple[str, ...] = ()
    infra_errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        # The capture itself is complete; a failed infra snapshot is still an upstream failure.
        return 3 if self.infra_errors else 0

    @property
    def partial_failures(self) -> int:
        return len(self.infra_errors)

    def heartbeat(self) -> dict[str, float]:
        out = {
            "rows": float(self.rows),
            "batches": float(self.batches),
            "slow_batches": float(self.slow_batches),
            "events": float(self.events),
        }
        if "p95" in self.latency:
            out["prediction_time_p95_seconds"] = self.latency["p95"]
        for name in ("accuracy", "rmse"):
            if name in self.quality:
                out[name] = self.quality[name]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_version": self.model_version,
            "date": self.date.isoformat(),
            "input": self.input,
            "rows": self.rows,
            "batches": self.batches,
            "slow_batches": self.slow_batches,
            "sampled_batches": self.sampled_batches,
            "events": self.events,
            "event_keys": list(self.event_keys),
            "latency_seconds": self.latency,
            "latency_threshold_seconds": self.latency_threshold,
            "task": self.task,
            "quality": self.quality,
            "mlflow_run_id": self.mlflow_run_id,
            "tracking_uri": self.tracking_uri,
            "snapshots": list(self.snapshots),
            "infra_errors": list(self.infra_errors),
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------- capture-infra


@dataclass(frozen=True)
class InfraResult(Clean):
    snapshot: Snapshot
    key: str
    url: str

    @property
    def series_count(self) -> int:
        return sum(len(q.series) for q in self.snapshot.queries.values())

    @property
    def failed_queries(self) -> list[str]:
        return [name for name, q in self.snapshot.queries.items() if q.error]

    @property
    def partial_failures(self) -> int:
        return len(self.failed_queries)

    @property
    def exit_code(self) -> int:
        # Stored, but some queries failed (each named in a warning): a partial failure, exit 3.
        return 3 if self.failed_queries else 0

    def heartbeat(self) -> dict[str, float]:
        return {"mlprom_infra_series": float(self.series_count)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": rfc3339(self.snapshot.ts),
            "key": self.key,
            "url": self.url,
            "source": self.snapshot.source,
            "series": self.series_count,
            "queries": {
                name: {"result_type": q.result_type, "series": len(q.series), "error": q.error}
                for name, q in self.snapshot.queries.items()
            },
        }


@dataclass(frozen=True)
class RangeArchive(Clean):
    """capture-infra --from/--to/--step: the range objects stored, and those already there."""

    start: datetime
    end: datetime
    step: float
    source: str
    stored: tuple[str, ...]
    existing: tuple[str, ...]  # same query, expression, range and step archived before: not stored again
    points: int
    errors: dict[str, str]  # query -> why Prometheus gave nothing
    requests: int
    repaired: tuple[str, ...] = ()  # found invalid (unreadable, points outside the range) and rewritten

    @property
    def exit_code(self) -> int:
        # Some queries archived, some refused: a partial failure (the others are stored).
        return 3 if self.errors else 0

    @property
    def partial_failures(self) -> int:
        return len(self.errors)

    def heartbeat(self) -> dict[str, float]:
        return {
            "mlprom_infra_range_objects": float(len(self.stored) + len(self.repaired)),
            "mlprom_infra_range_points": float(self.points),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": rfc3339(self.start),
            "to": rfc3339(self.end),
            "step_seconds": self.step,
            "source": self.source,
            "stored": list(self.stored),
            "existing": list(self.existing),
            "repaired": list(self.repaired),
            "points": self.points,
            "requests": self.requests,
            "errors": self.errors,
        }


# ---------------------------------------------------------------- check


@dataclass(frozen=True)
class CheckItem:
    target: str
    endpoint: str
    ok: bool
    detail: str
    # Of a failed item: 2 when the config is at fault (a query that does not parse), else 3.
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "endpoint": self.endpoint, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class CheckResult(Clean):
    items: tuple[CheckItem, ...]

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def exit_code(self) -> int:
        """0 when all passed; 2 when the config itself is wrong (fix that first); else 3."""
        codes = {item.exit_code or 3 for item in self.items if not item.ok}
        return 0 if not codes else 2 if 2 in codes else 3

    @property
    def pushgateway_down(self) -> bool:
        """The Pushgateway line failed: pushing the heartbeat too would only wait for it a second time."""
        return any(item.target == "pushgateway" and not item.ok for item in self.items)

    def heartbeat(self) -> dict[str, float]:
        return {"mlprom_check_failures": float(sum(not i.ok for i in self.items))}

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [item.to_dict() for item in self.items]}


# ---------------------------------------------------------------- alert


@dataclass(frozen=True)
class AlertOutcome:
    """What became of one alert of the payload: how many replicas took it, and who refused it and why."""

    fingerprint: str
    status: str  # firing | resolved
    delivered: int  # replicas that took it
    rejected: tuple[tuple[str, str], ...] = ()  # (replica url, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "delivered": self.delivered,
            "rejected": [{"url": url, "reason": reason} for url, reason in self.rejected],
        }


@dataclass(frozen=True)
class AlertRun(Clean):
    """What one alert run sent (or would send, with --dry-run) and what each Alertmanager answered."""

    date: date
    dry_run: bool
    payload: tuple[dict[str, Any], ...]
    firing: int
    resolved: int
    deliveries: tuple[Delivery, ...] = ()
    report: str = ""  # storage URL of the report read
    run_key: str | None = None
    note: str | None = None
    statuses: tuple[str, ...] = ()  # "firing" or "resolved", one per payload alert
    outcomes: tuple[AlertOutcome, ...] = ()  # one per payload alert, once sent
    state_conflicts: int = 0  # times another run wrote the alert state first and this one re-did its step

    @property
    def accepted(self) -> int:
        """Replicas that took every alert."""
        return sum(1 for d in self.deliveries if d.accepted)

    @property
    def undelivered(self) -> tuple[AlertOutcome, ...]:
        """Alerts no replica took."""
        return tuple(o for o in self.outcomes if o.delivered == 0)

    @property
    def partial_failures(self) -> int:
        """What failed in a run that exits 3: replicas that did not take everything, alerts none took."""
        if self.exit_code != 3:
            return 0
        return sum(1 for d in self.deliveries if not d.accepted) + len(self.undelivered)

    @property
    def exit_code(self) -> int:
        # 0: every replica took every alert. 1: none took any (the contract's "no Alertmanager accepted").
        # 3: partial, after storing what succeeded: an alert refused, or a replica down while another took them.
        if self.dry_run or not self.payload:
            return 0
        if not any(d.delivered for d in self.deliveries):
            return 1
        return 0 if all(d.accepted for d in self.deliveries) else 3

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "dry_run": self.dry_run,
            "firing": self.firing,
            "resolved": self.resolved,
            "report": self.report,
            "run_key": self.run_key,
            "note": self.note,
            "deliveries": [d.to_dict() for d in self.deliveries],
            "alerts": [o.to_dict() for o in self.outcomes],
            "state_conflicts": self.state_conflicts,
            "payload": list(self.payload),
        }

    def heartbeat(self) -> dict[str, float]:
        return {
            "mlprom_alerts_firing": float(self.firing),
            "mlprom_alerts_resolved": float(self.resolved),
            "mlprom_alerts_undelivered": float(len(self.undelivered)),
            "mlprom_alertmanagers_failed": float(sum(1 for d in self.deliveries if not d.accepted)),
        }


# ---------------------------------------------------------------- prune


@dataclass(frozen=True)
class PartitionSummary:
    stage: str
    day: date
    objects: int
    bytes: int
    status: str  # would_delete | deleted | failed | not_attempted | cancelled | kept_firing_alert
    failed: int = 0

    @property
    def prefix(self) -> str:
        return layout.partition_prefix(self.stage, self.day)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage,
            "date": self.day.isoformat(),
            "prefix": self.prefix,
            "objects": self.objects,
            "bytes": self.bytes,
            "status": self.status,
        }
        if self.failed:
            out["failed"] = self.failed
        return out


@dataclass(frozen=True)
class PruneResult(Clean):
    location: str
    keep_days: int
    cutoff: date  # the oldest date kept; partitions dated before it are expired
    stages: tuple[str, ...]
    dry_run: bool
    cancelled: bool
    partitions: tuple[PartitionSummary, ...]  # expired partitions and what happened to each
    # Expired, but kept: a firing alert cites the date (kept_firing_alert), or the store's newest write
    # says the partition is recent, the clock being ahead (kept_newer_than_stored_data).
    protected: tuple[PartitionSummary, ...]
    protected_dates: tuple[date, ...]
    objects: int  # deleted (would be deleted, on a dry run)
    bytes: int
    failures: tuple[tuple[str, str], ...] = ()  # (key, reason), at most REPORTED_MAX
    failed_count: int = 0
    not_attempted: int = 0  # keys left after the store refused a whole batch
    unknown_keys: tuple[str, ...] = ()  # keys under a stage prefix but outside the layout, left alone
    unknown_count: int = 0

    @property
    def exit_code(self) -> int:
        # Some keys are still there: an upstream failure, and a re-run picks them up.
        return 3 if self.failed_count or self.not_attempted else 0

    @property
    def partial_failures(self) -> int:
        return self.failed_count + self.not_attempted

    @property
    def status(self) -> str:
        if self.dry_run:
            return "dry_run"
        if self.cancelled:
            return "cancelled"
        return "partial" if self.exit_code else "done"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "location": self.location,
            "keep_days": self.keep_days,
            "cutoff": self.cutoff.isoformat(),
            "stages": list(self.stages),
            "dry_run": self.dry_run,
            "partitions": [p.to_dict() for p in self.partitions],
            "protected": [p.to_dict() for p in self.protected],
            "protected_dates": [d.isoformat() for d in self.protected_dates],
            "objects": self.objects,
            "bytes": self.bytes,
            "failures": [{"key": k, "reason": r} for k, r in self.failures],
            "failed_count": self.failed_count,
            "not_attempted": self.not_attempted,
            "unknown_keys": list(self.unknown_keys),
            "unknown_count": self.unknown_count,
        }

    def heartbeat(self) -> dict[str, float]:
        return {
            "mlprom_prune_deleted_objects": 0.0 if self.dry_run else float(self.objects),
            "mlprom_prune_deleted_bytes": 0.0 if self.dry_run else float(self.bytes),
            "mlprom_prune_failed_objects": float(self.failed_count + self.not_attempted),
        }


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


# ---------------------------------------------------------------- profile


@dataclass(frozen=True)
class MissingDay:
    day: date
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class ProfileResult(Clean):
    start: date
    end: date
    model: str
    used: tuple[date, ...]  # dates whose profile entered the forecast
    missing: tuple[MissingDay, ...]
    forecast: Forecast

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "model": self.model,
            "days_used": [d.isoformat() for d in self.used],
            "missing": [m.to_dict() for m in self.missing],
            "forecast": self.forecast.to_dict(),
        }

    def heartbeat(self) -> dict[str, float]:
        return {
            "mlprom_profile_days": float(len(self.used)),
            "mlprom_profile_missing_days": float(len(self.missing)),
            "mlprom_profile_peaks": float(len(self.forecast.peaks)),
        }


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class RuleFile(Clean):
    """A Prometheus rule file (`groups:`) and the thresholds it could not express."""

    document: dict[str, Any]
    left_out: tuple[tuple[str, str], ...]  # (threshold name, why)

    def to_dict(self) -> dict[str, Any]:
        return self.document

    def to_yaml(self) -> str:
        import yaml

        head = [
            "# Prometheus rule file written by `mlprom rules`; check it with `promtool check rules FILE`.",
            "# Warning and critical rules overlap, as is usual: inhibit warning by critical in Alertmanager",
            "# (docs/alerting.md) to get the one alert per series that `mlprom alert` sends.",
        ]
        for name, why in self.left_out:
            head.append(f"# not here: {name} ({why})")
        body = yaml.safe_dump(self.document, sort_keys=False, default_flow_style=False, width=10_000)
        return "\n".join(head) + "\n" + body


# ---------------------------------------------------------------- fleet (--model, --all-models)

# How a fleet run folds its models' exit codes into one, worst first (README "Exit codes"): an upstream
# failing (3) is never hidden by a model's bad input (2), findings (1) or missing data (4); findings
# outrank a model with no data, and an interrupt (130, 143) ends the whole run before this applies.
FLEET_EXIT_ORDER = (3, 2, 1, 4, 0)


def fold_exit_codes(codes: list[int] | tuple[int, ...]) -> int:
    """The worst of the models' exit codes by FLEET_EXIT_ORDER (0 for no model at all)."""
    rank = {code: i for i, code in enumerate(FLEET_EXIT_ORDER)}
    return min(codes, key=lambda code: rank.get(code, 0), default=0)


@dataclass(frozen=True)
class FleetMember:
    """One model's run within a fleet run: its result, or the error that ended it."""

    model: str
    exit_code: int
    result: Any = None  # the stage's own result (a StageResult), None when the run raised
    error: str | None = None
    seconds: float = 0.0
    out: str | None = None  # the file its result was written to (`report --out DIR`)

    def to_dict(self) -> dict[str, Any]:
        # The model's usual JSON document, plus the model, its own exit code and the file written.
        head: dict[str, Any] = {"model": self.model, "exit_code": self.exit_code}
        if self.out is not None:
            head["out"] = self.out
        if self.result is None:
            return {"schema_version": SCHEMA_VERSION, **head, "error": self.error}
        # A stored report keeps the version it was written with (render/json.py `document`).
        return {"schema_version": SCHEMA_VERSION, **self.result.to_dict(), **head}


@dataclass(frozen=True)
class FleetResult:
    """A stage run for many models (`--model` repeated, `--all-models`): one member per model, in the
    order the models were named (sorted for --all-models)."""

    stage: str
    members: tuple[FleetMember, ...]
    note: str | None = None  # why there is no member at all (no model has data for the date)
    empty_code: int = 0  # the exit code of a run that found no model (4 unless --allow-empty)

    @property
    def exit_code(self) -> int:
        if not self.members:
            return self.empty_code
        return fold_exit_codes([m.exit_code for m in self.members])

    def to_dict(self) -> list[dict[str, Any]]:
        """`-o json`: a list, one element per model."""
        return [m.to_dict() for m in self.members]
