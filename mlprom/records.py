"""Records that cross module boundaries and their JSON forms: Event, Series, QueryResult, Snapshot.

Contract fields are always present; extra fields are allowed and ignored by readers that don't know them.
Validated both ways: a record that breaks its types cannot be built (so it is never written), and
`from_dict` raises ValueError naming the field for stored data that breaks them, so readers skip the
object or line with a warning naming the key instead of crashing (docs/reliability.md).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from mlprom.dates import rfc3339

log = logging.getLogger("mlprom")


def parse_ts(text: Any) -> datetime:
    """RFC3339 with a time zone -> an aware UTC datetime; ValueError for anything else (naive times too)."""
    if not isinstance(text, str):
        raise ValueError(f"timestamp is {type(text).__name__}, not a string")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"timestamp {text[:40]!r} is not RFC3339") from None
    if parsed.tzinfo is None:
        # Guessing local time would shift it by the reader's offset; comparing it with aware times crashes.
        raise ValueError(f"timestamp {text[:40]!r} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp {text[:40]!r} is out of range") from None


def number_or_raw(raw: str) -> tuple[float | None, str | None]:
    """Prometheus sample text -> (value, raw). NaN and ±Inf are not JSON: value None, raw kept."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, str(raw)
    if math.isfinite(value):
        return value, None
    return None, raw


def is_number(value: Any) -> TypeGuard[float]:
    """A JSON number that is a measurement: int or float, not bool, finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_labels(labels: Any) -> None:
    if not isinstance(labels, dict):
        raise ValueError(f"labels are {type(labels).__name__}, not an object")
    for name, value in labels.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"label {str(name)[:40]!r} has a {type(value).__name__} value, not a string")


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float | None
    raw: str | None = None  # "NaN", "+Inf", "-Inf", or a string result, when value is None

    def __post_init__(self) -> None:
        check_labels(self.labels)
        if self.value is not None:
            if not is_number(self.value):
                raise ValueError(f"value {self.value!r} is not a finite number")
            object.__setattr__(self, "value", float(self.value))
        if self.raw is not None and not isinstance(self.raw, str):
            raise ValueError(f"raw is {type(self.raw).__name__}, not a string")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"labels": self.labels, "value": self.value}
        if self.raw is not None:
            out["raw"] = self.raw
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Series:
        if not isinstance(data, dict):
            raise ValueError(f"a series is {type(data).__name__}, not an object")
        labels = data.get("labels")
        return cls({} if labels is None else labels, data.get("value"), data.get("raw"))


@dataclass(frozen=True)
class QueryResult:
    expr: str
    result_type: str | None  # vector | matrix | scalar | string, None when the query failed
    series: tuple[Series, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "expr": self.expr,
            "result_type": self.result_type,
            "series": [s.to_dict() for s in self.series],
            "error": self.error,
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> QueryResult:
        """Stored form -> QueryResult; a malformed series is skipped with a warning naming `where`."""
        if not isinstance(data, dict):
            raise ValueError(f"is {type(data).__name__}, not an object")
        expr, result_type, error = data.get("expr", ""), data.get("result_type"), data.get("error")
        if not isinstance(expr, str):
            raise ValueError("expr is not a string")
        if result_type is not None and not isinstance(result_type, str):
            raise ValueError("result_type is not a string")
        if error is not None and not isinstance(error, str):
            raise ValueError("error is not a string")
        stored = data.get("series")
        if stored is None:
            stored = []
        if not isinstance(stored, list):
            raise ValueError(f"series is {type(stored).__name__}, not a list")
        series = []
        for index, item in enumerate(stored):
            try:
                series.append(Series.from_dict(item))
            except ValueError as exc:
                log.warning("skipping %s series[%d]: %s", where or "a snapshot query", index, exc)
        warnings = data.get("warnings") or ()
        if not isinstance(warnings, list | tuple):
            warnings = ()
        return cls(expr, result_type, tuple(series), error, tuple(str(w) for w in warnings))


@dataclass(frozen=True)
class Snapshot:
    ts: datetime
    source: str  # the Prometheus URL without credentials
    queries: dict[str, QueryResult]
    id: str = ""

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError("snapshot time has no time zone")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": rfc3339(self.ts),
            "source": self.source,
            "id": self.id,
            "queries": {name: q.to_dict() for name, q in self.queries.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> Snapshot:
        """Stored form -> Snapshot; a malformed query or series is skipped with a warning naming `where`."""
        if not isinstance(data, dict):
            raise ValueError(f"is {type(data).__name__}, not an object")
        if "ts" not in data:
            raise ValueError("no ts")
        ts = parse_ts(data["ts"])
        queries = data.get("queries")
        if queries is None:
            queries = {}
        if not isinstance(queries, dict):
            raise ValueError(f"queries is {type(queries).__name__}, not an object")
        parsed: dict[str, QueryResult] = {}
        for name, query in queries.items():
            at = f"{where} query {name!r}" if where else f"query {name!r}"
            try:
                parsed[name] = QueryResult.from_dict(query, at)
            except ValueError as exc:
                log.warning("skipping %s: %s", at, exc)
        source, ident = data.get("source", ""), data.get("id", "")
        return cls(
            ts, source if isinstance(source, str) else "", parsed, ident if isinstance(ident, str) else ""
        )


def event_problem(data: dict[str, Any]) -> str | None:
    """Why a stored event object breaks the record's types (naming the field), or None when it is usable.

    Cheap enough for the readers' fast path: a few type checks per line; `ts` is checked for a zone
    suffix here and parsed by whoever needs the datetime.
    """
    ts = data.get("ts")
    if (
        not isinstance(ts, str)
        or len(ts) < 20
        or ts[10] not in "Tt "
        or not (ts.endswith(("Z", "z")) or ts[-6] in "+-")
    ):
        return "field 'ts' is not an RFC3339 time with a zone"
    if not isinstance(data.get("model"), str):
        return "field 'model' is not a string"
    seconds: Any = data.get("prediction_time_seconds")
    if not is_number(seconds) or seconds < 0:
        return "field 'prediction_time_seconds' is not a non-negative number"
    if not isinstance(data.get("slow"), bool):
        return "field 'slow' is not true or false"
    rows = data.get("rows", 0)
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        return "field 'rows' is not a non-negative integer"
    for name in ("accuracy", "loss"):
        value = data.get(name)
        if value is not None and not is_number(value):
            return f"field {name!r} is not a number"
    metrics = data.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, dict):
            return "field 'metrics' is not an object"
        for name, value in metrics.items():
            if value is not None and not is_number(value):
                return f"metrics[{name[:40]!r}] is not a number"
    outputs = data.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list):
            return "field 'outputs' is not a list"
        for value in outputs:
            if value is not None and not is_number(value):
                return "field 'outputs' holds something other than numbers"
    for name in ("model_version", "mlflow_run_id", "input_digest", "source"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            return f"field {name!r} is not a string"
    if not isinstance(data.get("sampled", False), bool):
        return "field 'sampled' is not true or false"
    batch = data.get("batch")
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool)):
        return "field 'batch' is not an integer"
    return None


@dataclass(frozen=True)
class Event:
    """One recorded prediction batch (slow, or sampled as a baseline)."""

    ts: datetime
    model: str
    prediction_time_seconds: float
    slow: bool
    rows: int
    model_version: str | None = None
    accuracy: float | None = None
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # every quality metric (accuracy, f1, mae, ...)
    mlflow_run_id: str | None = None
    input_digest: str | None = None
    sampled: bool = False  # recorded as part of the fast baseline sample
    source: str = "capture-model"  # or "monitor"
    batch: int | None = None
    outputs: tuple[float, ...] | None = None  # numeric model outputs of the batch (capped), for drift
    inputs: Any = None  # the raw rows, only when model.record_inputs is "full"

    def __post_init__(self) -> None:
        # What every reader relies on; the writers never produce anything else, so a failure here is a bug.
        if self.ts.tzinfo is None:
            raise ValueError("event time has no time zone")
        if not is_number(self.prediction_time_seconds) or self.prediction_time_seconds < 0:
            raise ValueError(f"prediction_time_seconds {self.prediction_time_seconds!r} is not a duration")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ts": rfc3339(self.ts),
            "model": self.model,
            "model_version": self.model_version,
            "prediction_time_seconds": self.prediction_time_seconds,
            "slow": self.slow,
            "sampled": self.sampled,
            "rows": self.rows,
            "mlflow_run_id": self.mlflow_run_id,
            "input_digest": self.input_digest,
            "source": self.source,
        }
        if self.metrics or self.accuracy is not None or self.loss is not None:
            out["accuracy"] = self.accuracy
            out["loss"] = self.loss
            out["metrics"] = self.metrics
        if self.batch is not None:
            out["batch"] = self.batch
        if self.outputs is not None:
            out["outputs"] = list(self.outputs)
        if self.inputs is not None:
            out["inputs"] = self.inputs
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        problem = event_problem(data) if isinstance(data, dict) else "not an object"
        if problem:
            raise ValueError(problem)
        outputs = data.get("outputs")
        return cls(
            ts=parse_ts(data["ts"]),
            model=data["model"],
            prediction_time_seconds=float(data["prediction_time_seconds"]),
            slow=data["slow"],
            rows=data.get("rows", 0),
            model_version=data.get("model_version"),
            accuracy=data.get("accuracy"),
            loss=data.get("loss"),
            metrics=dict(data.get("metrics") or {}),
            mlflow_run_id=data.get("mlflow_run_id"),
            input_digest=data.get("input_digest"),
            sampled=data.get("sampled", False),
            source=data.get("source") or "capture-model",
            batch=data.get("batch"),
            outputs=tuple(outputs) if outputs is not None else None,
            inputs=data.get("inputs"),
        )
