"""Records that cross module boundaries and their JSON forms: Event, Series, QueryResult, Snapshot.

Contract fields are always present; extra fields are allowed and ignored by readers that don't know them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlprom.dates import rfc3339


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def number_or_raw(raw: str) -> tuple[float | None, str | None]:
    """Prometheus sample text -> (value, raw). NaN and ±Inf are not JSON: value None, raw kept."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, str(raw)
    if math.isfinite(value):
        return value, None
    return None, raw


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float | None
    raw: str | None = None  # "NaN", "+Inf", "-Inf", or a string result, when value is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"labels": self.labels, "value": self.value}
        if self.raw is not None:
            out["raw"] = self.raw
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Series:
        return cls(dict(data.get("labels") or {}), data.get("value"), data.get("raw"))


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
    def from_dict(cls, data: dict[str, Any]) -> QueryResult:
        return cls(
            data.get("expr", ""),
            data.get("result_type"),
            tuple(Series.from_dict(s) for s in data.get("series") or ()),
            data.get("error"),
            tuple(data.get("warnings") or ()),
        )


@dataclass(frozen=True)
class Snapshot:
    ts: datetime
    source: str  # the Prometheus URL without credentials
    queries: dict[str, QueryResult]
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": rfc3339(self.ts),
            "source": self.source,
            "id": self.id,
            "queries": {name: q.to_dict() for name, q in self.queries.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            parse_ts(data["ts"]),
            data.get("source", ""),
            {name: QueryResult.from_dict(q) for name, q in (data.get("queries") or {}).items()},
            data.get("id", ""),
        )


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
        outputs = data.get("outputs")
        return cls(
            ts=parse_ts(data["ts"]),
            model=data["model"],
            prediction_time_seconds=float(data["prediction_time_seconds"]),
            slow=bool(data["slow"]),
            rows=int(data.get("rows", 0)),
            model_version=data.get("model_version"),
            accuracy=data.get("accuracy"),
            loss=data.get("loss"),
            metrics=dict(data.get("metrics") or {}),
            mlflow_run_id=data.get("mlflow_run_id"),
            input_digest=data.get("input_digest"),
            sampled=bool(data.get("sampled", False)),
            source=data.get("source", "capture-model"),
            batch=data.get("batch"),
            outputs=tuple(outputs) if outputs is not None else None,
            inputs=data.get("inputs"),
        )
