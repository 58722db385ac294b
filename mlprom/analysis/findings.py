"""The Finding record: one metric series past a threshold (or drifted), as reports and alerts carry it;
and the suspects a model finding's alert names (the report's significant infrastructure causes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlprom.dates import rfc3339

if TYPE_CHECKING:
    from mlprom.analysis.quality import QualityVerdict
    from mlprom.analysis.suspects import Suspect

SEVERITY_RANK = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Finding:
    severity: str  # "warning" | "critical"
    metric: str  # a query name or a model metric (prediction_time, accuracy, drift_psi, ...)
    labels: dict[str, str]  # the series' identifying labels ({} for model metrics)
    value: float  # the worst value seen
    threshold: float  # the level that was crossed
    direction: str  # "above" | "below"
    slow_events: int  # slow events it co-occurred with (0 for a quality finding: it rests on a window)
    first_seen: datetime
    last_seen: datetime
    kind: str = "threshold"  # or "drift"
    detail: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None  # a quality finding: the rows its window's value rests on; else None

    @property
    def identity(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What makes two findings the same alert: the metric and the series' labels."""
        return self.metric, tuple(sorted(self.labels.items()))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "metric": self.metric,
            "labels": self.labels,
            "value": self.value,
            "threshold": self.threshold,
            "direction": self.direction,
            "slow_events": self.slow_events,
            "first_seen": rfc3339(self.first_seen),
            "last_seen": rfc3339(self.last_seen),
            "kind": self.kind,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.rows is not None:
            out["rows"] = self.rows
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Stored form -> Finding; ValueError naming the field when stored data breaks the types."""
        from mlprom.records import check_labels, is_number, parse_ts

        if not isinstance(data, dict):
            raise ValueError("not an object")
        if data.get("severity") not in ("warning", "critical"):
            raise ValueError(f"severity {str(data.get('severity'))[:40]!r} is not warning or critical")
        if data.get("direction") not in ("above", "below"):
            raise ValueError(f"direction {str(data.get('direction'))[:40]!r} is not above or below")
        if not isinstance(data.get("metric"), str):
            raise ValueError("metric is not a string")
        for name in ("value", "threshold"):
            if not is_number(data.get(name)):
                raise ValueError(f"{name} is not a finite number")
        check_labels(data.get("labels") or {})
        slow_events = data.get("slow_events", 0)
        if not isinstance(slow_events, int) or isinstance(slow_events, bool):
            raise ValueError("slow_events is not an integer")
        if not isinstance(data.get("kind", "threshold"), str) or not isinstance(
            data.get("detail") or {}, dict
        ):
            raise ValueError("kind or detail has the wrong type")
        rows = data.get("rows")
        if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
            raise ValueError("rows is not a non-negative integer")
        return cls(
            severity=data["severity"],
            metric=data["metric"],
            labels=dict(data.get("labels") or {}),
            value=float(data["value"]),
            threshold=float(data["threshold"]),
            direction=data["direction"],
            slow_events=int(data.get("slow_events", 0)),
            first_seen=parse_ts(data["first_seen"]),
            last_seen=parse_ts(data["last_seen"]),
            kind=data.get("kind", "threshold"),
            detail=dict(data.get("detail") or {}),
            rows=rows,
        )


# An alert carries the top few causes, not the report: on-call reads it in a chat message or a pager,
# and Alertmanager's notifications grow with every annotation byte.
MAX_ALERT_SUSPECTS = 3
MAX_SUSPECTS_TEXT = 1000
# One label value quoted in the text is cut here, so one long label cannot crowd out the other suspects.
MAX_QUOTED_LABEL = 120


def alert_suspects(suspects: Sequence[Suspect]) -> tuple[Suspect, ...]:
    """The significant infrastructure causes, in the report's rank order, at most MAX_ALERT_SUSPECTS.

    A consequence (a series that moved the way the slowness would push it) or a model metric explains
    nothing about the infrastructure, and an untested or rejected one claims more than the test did.
    """
    causes = [s for s in suspects if s.kind == "infra" and s.role == "cause" and s.significant]
    return tuple(causes[:MAX_ALERT_SUSPECTS])


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def suspect_series(suspect: Suspect, braces: bool = True) -> str:
    """`io_pressure{instance=node-b}`, or `io_pressure on instance=node-b` with braces=False."""
    labels = ", ".join(f"{k}={_cut(v, MAX_QUOTED_LABEL)}" for k, v in sorted(suspect.labels.items()))
    if not labels:
        return suspect.metric
    return f"{suspect.metric}{{{labels}}}" if braces else f"{suspect.metric} on {labels}"


def suspect_movement(suspect: Suspect) -> str:
    """`rising 30 s before`: how the series moved, and how long before the slow predictions."""
    moving = "falling" if suspect.direction == "fall" else "rising"
    lag = suspect.lag_seconds
    when = f"{lag:g} s before" if lag >= 0 else f"{-lag:g} s after"
    return f"{moving} {when}"


def suspect_phrase(suspect: Suspect) -> str:
    """`io_pressure on instance=node-b rising 0 s before`, for a summary; the series cut at 240 characters."""
    return f"{_cut(suspect_series(suspect, braces=False), 240)} {suspect_movement(suspect)}"


def suspects_text(suspects: Sequence[Suspect]) -> str:
    """`io_pressure{instance=node-b} rising 0 s before (+4.1 σ, q = 0.002); ...`, at most
    MAX_SUSPECTS_TEXT characters; "" for no suspect."""
    parts = []
    for suspect in suspects[:MAX_ALERT_SUSPECTS]:
        q = f", q = {suspect.q_value:.2g}" if suspect.q_value is not None else ""
        parts.append(f"{suspect_series(suspect)} {suspect_movement(suspect)} ({suspect.effect:+.1f} σ{q})")
    return _cut("; ".join(parts), MAX_SUSPECTS_TEXT)


def quality_finding(metric: str, verdict: QualityVerdict) -> Finding:
    """A quality metric judged over its window (docs/correlation.md, "Quality findings"): the window's
    value, the rows and events it rests on; no slow events, which a window's mean does not have."""
    # observations: the events of the window, what a threshold's min_events counts for a quality finding.
    detail: dict[str, Any] = {"source": "model", "window": "date", "observations": verdict.events}
    if verdict.run_id:
        detail["mlflow_run_id"] = verdict.run_id  # alert's MLflow run link reads it
    return Finding(
        severity=verdict.severity,
        metric=metric,
        labels={},
        value=verdict.value,
        threshold=verdict.threshold,
        direction=verdict.direction,
        slow_events=0,
        first_seen=datetime.fromtimestamp(verdict.first, UTC),
        last_seen=datetime.fromtimestamp(verdict.last, UTC),
        detail=detail,
        rows=verdict.rows,
    )
