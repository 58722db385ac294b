"""The only place that builds or parses storage keys: stage/dt=YYYY-MM-DD/[model=NAME/]NAME.ext.

Everything a model's run writes is partitioned by model, so many models share one storage.url: events
and sketches under model/, reports and drift samples under reports/dt=D/model=NAME/, alert runs under
alerts/dt=D/model=NAME/, and each model's alert state at alerts/model=NAME/state.json. The keys of the
previous layout (one report, drift sample and alert state per store) are still parsed and read, never
written (`legacy_*`)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

STAGES = ("model", "infra", "reports", "alerts")
LEGACY_ALERT_STATE_KEY = "alerts/state.json"  # the previous layout's one state for the whole store
REPORT_NAME = "correlation.json"
DRIFT_SAMPLE_NAME = "drift-sample.json"

_MODEL = r"([A-Za-z0-9][A-Za-z0-9._-]*)"
_PARTITION = re.compile(r"^(model|infra|reports|alerts)/dt=(\d{4}-\d{2}-\d{2})/")
_EVENT_KEY = re.compile(
    r"^model/dt=(\d{4}-\d{2}-\d{2})/model=([A-Za-z0-9][A-Za-z0-9._-]*)/(\d{6})-([0-9a-f]{16})\.jsonl(\.gz)?$"
)
_SNAPSHOT_KEY = re.compile(r"^infra/dt=(\d{4}-\d{2}-\d{2})/(\d{6})-([0-9a-f]{16})\.json$")
_RANGE_KEY = re.compile(r"^infra/dt=(\d{4}-\d{2}-\d{2})/range-(\d{6})-([0-9a-f]{16})\.json$")
_SKETCH_KEY = re.compile(
    r"^model/dt=(\d{4}-\d{2}-\d{2})/model=([A-Za-z0-9][A-Za-z0-9._-]*)/(\d{6})-([0-9a-f]{16})\.latency\.json$"
)
# The model segment is optional in the keys below: without it, the previous layout's.
_ALERT_RUN_KEY = re.compile(
    rf"^alerts/dt=(\d{{4}}-\d{{2}}-\d{{2}})/(?:model={_MODEL}/)?\d{{6}}-[0-9a-f]{{16}}\.json$"
)
_REPORT_KEY = re.compile(rf"^reports/dt=(\d{{4}}-\d{{2}}-\d{{2}})/(?:model={_MODEL}/)?correlation\.json$")
_DRIFT_SAMPLE_KEY = re.compile(
    rf"^reports/dt=(\d{{4}}-\d{{2}}-\d{{2}})/(?:model={_MODEL}/)?drift-sample\.json$"
)
_ALERT_STATE_KEY = re.compile(rf"^alerts/model={_MODEL}/state\.json$")


_MODEL_KINDS = ("event", "latency_sketch", "alert_run", "report", "drift_sample")  # group 2: the model


def new_object_id() -> str:
    """16 random hex digits: two runs writing in the same second never pick the same key."""
    return secrets.token_hex(8)


def _dt(day: date) -> str:
    return f"dt={day.isoformat()}"


def _hhmmss(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H%M%S")


def stage_prefix(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return f"{stage}/"


def partition_prefix(stage: str, day: date, model: str | None = None) -> str:
    """Prefix of one date partition of a stage (and of one model, for every stage but infra)."""
    prefix = f"{stage_prefix(stage)}{_dt(day)}/"
    if model is not None:
        if stage == "infra":
            raise ValueError("infra is shared by every model: it is not partitioned by model")
        prefix += f"model={model}/"
    return prefix


def event_key(day: date, model: str, at: datetime, gzip: bool = False, object_id: str | None = None) -> str:
    return f"{partition_prefix('model', day, model)}{_hhmmss(at)}-{object_id or new_object_id()}.jsonl" + (
        ".gz" if gzip else ""
    )


def snapshot_key(day: date, at: datetime, object_id: str | None = None) -> str:
    return f"{partition_prefix('infra', day)}{_hhmmss(at)}-{object_id or new_object_id()}.json"


def range_key(day: date, start: datetime, object_id: str) -> str:
    """One archived range of one query (capture-infra --from/--to). The id is derived from what the range
    holds (query, expression, start, end, step), so archiving the same range again finds the same key."""
    return f"{partition_prefix('infra', day)}range-{_hhmmss(start)}-{object_id}.json"


def latency_sketch_key(day: date, model: str, at: datetime, object_id: str | None = None) -> str:
    """Per-minute latency histograms of every batch of one flush, beside that flush's events.

    `.latency.json`, not `.jsonl`: readers of events (and a `*.jsonl*` glob) never mistake it for events.
    """
    return f"{partition_prefix('model', day, model)}{_hhmmss(at)}-{object_id or new_object_id()}.latency.json"


def report_key(day: date, model: str) -> str:
    return f"{partition_prefix('reports', day, model)}{REPORT_NAME}"


def legacy_report_key(day: date) -> str:
    """The previous layout's one report per date, read when a model has none of its own."""
    return f"{partition_prefix('reports', day)}{REPORT_NAME}"


def drift_sample_key(day: date, model: str) -> str:
    """The date's drift sample, next to its report: pruned with the reports partition, replaced on a re-run."""
    return f"{partition_prefix('reports', day, model)}{DRIFT_SAMPLE_NAME}"


def legacy_drift_sample_key(day: date) -> str:
    return f"{partition_prefix('reports', day)}{DRIFT_SAMPLE_NAME}"


def alert_run_key(day: date, model: str, at: datetime, object_id: str | None = None) -> str:
    return f"{partition_prefix('alerts', day, model)}{_hhmmss(at)}-{object_id or new_object_id()}.json"


def alert_state_key(model: str) -> str:
    """One model's alerts currently firing or recently resolved: outside every date partition."""
    return f"{stage_prefix('alerts')}model={model}/state.json"


def is_alert_state_key(key: str) -> bool:
    """A model's alert state, or the previous layout's one: never a partition's, never pruned."""
    return key == LEGACY_ALERT_STATE_KEY or _ALERT_STATE_KEY.match(key) is not None


def alert_state_model(key: str) -> str | None:
    """The model whose alert state `key` is (None for the previous layout's shared one or another key)."""
    m = _ALERT_STATE_KEY.match(key)
    return m.group(1) if m else None


@dataclass(frozen=True)
class ParsedKey:
    stage: str
    day: date
    model: str | None = None
    # "event", "snapshot", "range", "latency_sketch", "report", "drift_sample", "alert_run" or
    # "partition" (other key in one)
    kind: str = "partition"


def parse_key(key: str) -> ParsedKey | None:
    """What a key is in the layout, or None for keys outside it (never touch those)."""
    for pattern, kind in (
        (_EVENT_KEY, "event"),
        (_SNAPSHOT_KEY, "snapshot"),
        (_RANGE_KEY, "range"),
        (_SKETCH_KEY, "latency_sketch"),
        (_ALERT_RUN_KEY, "alert_run"),
        (_REPORT_KEY, "report"),
        (_DRIFT_SAMPLE_KEY, "drift_sample"),
    ):
        m = pattern.match(key)
        if m:
            day = _parse_day(m.group(1))
            if day is None:
                return None
            model = m.group(2) if kind in _MODEL_KINDS else None
            return ParsedKey(key.split("/", 1)[0], day, model, kind)
    return None


def key_seconds_of_day(key: str) -> int | None:
    """Seconds after midnight of the HHMMSS a snapshot, range or event key starts with, else None."""
    m = re.search(r"/(?:range-)?(\d{2})(\d{2})(\d{2})-[0-9a-f]{16}\.", key)
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def parse_partition(key: str) -> tuple[str, date] | None:
    """(stage, date) of the partition a key lies in, for any key under stage/dt=YYYY-MM-DD/."""
    m = _PARTITION.match(key)
    if not m:
        return None
    day = _parse_day(m.group(2))
    return (m.group(1), day) if day else None


_MODEL_PARTITION = re.compile(rf"^(model|reports|alerts)/dt=(\d{{4}}-\d{{2}}-\d{{2}})/model={_MODEL}/")


def parse_model_partition(key: str) -> tuple[str, date, str] | None:
    """(stage, date, model) of the model partition a key lies in (stage/dt=D/model=NAME/...), else None:
    how a fleet run finds the models that have events or reports on a date."""
    m = _MODEL_PARTITION.match(key)
    if not m:
        return None
    day = _parse_day(m.group(2))
    return (m.group(1), day, m.group(3)) if day else None


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
