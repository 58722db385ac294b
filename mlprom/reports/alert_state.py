"""alerts/model=NAME/state.json: one model's alerts firing or recently resolved, and the pure step from
one alert run to the next.

The format is read by `prune` (to keep partitions cited by firing alerts): change it only additively.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlprom import layout
from mlprom.dates import rfc3339

if TYPE_CHECKING:
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

# Resolved alerts are re-sent for this long, as Prometheus does, so a replica that missed one still learns.
RESOLVED_RETENTION = timedelta(minutes=15)


def fingerprint(labels: dict[str, str]) -> str:
    """A stable hash of the sorted label set: the alert's identity across runs and days."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ts(text: str | None) -> datetime | None:
    from mlprom.records import parse_ts

    return parse_ts(text) if text else None


@dataclass(frozen=True)
class StoredAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    generator_url: str
    status: str  # "firing" | "resolved"
    date: date  # the report's date partition
    report: str  # the report's key
    resolved_at: datetime | None = None
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    def payload(self) -> dict[str, Any]:
        """The Alertmanager API v2 postableAlert."""
        from mlprom.clients.alertmanager import annotation_text, sanitize_label_names

        out: dict[str, Any] = {
            # New alerts carry valid names and clean annotations already; this also fixes stored ones.
            "labels": sanitize_label_names(self.labels),
            "annotations": {name: annotation_text(value) for name, value in self.annotations.items()},
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
        }
        # Alertmanager validates generatorURL as a URI; model metrics have none, so it is left out.
        if self.generator_url:
            out["generatorURL"] = self.generator_url
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "generatorURL": self.generator_url,
            "status": self.status,
            "resolved_at": rfc3339(self.resolved_at) if self.resolved_at else None,
            "date": self.date.isoformat(),
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredAlert:
        from mlprom.clients.alertmanager import sanitize_label_names

        raw = {str(k): str(v) for k, v in (data.get("labels") or {}).items()}
        # An alert stored with a name Alertmanager refuses (before names were made valid) is the same
        # alert as today's with the valid name: same labels, same fingerprint, so it is not resolved.
        labels = sanitize_label_names(raw)
        starts_at = _ts(data["startsAt"])
        ends_at = _ts(data["endsAt"])
        assert starts_at is not None and ends_at is not None
        status = data.get("status", "firing")
        if status not in ("firing", "resolved"):
            raise ValueError(f"unknown status {status!r}")
        from mlprom.dates import latest_date

        if date.fromisoformat(data["date"]) > latest_date():
            # Written by an unbounded --date 9999-12-31: it would outrank every real report's alerts.
            raise ValueError(f"alert dated {data['date']}, after tomorrow")
        return cls(
            labels=labels,
            annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
            starts_at=starts_at,
            ends_at=ends_at,
            generator_url=data.get("generatorURL") or "",
            status=status,
            date=date.fromisoformat(data["date"]),
            report=data.get("report", ""),
            resolved_at=_ts(data.get("resolved_at")),
            fingerprint=(data.get("fingerprint") if labels == raw else None) or fingerprint(labels),
        )


@dataclass(frozen=True)
class AlertState:
    updated_at: datetime | None
    alerts: tuple[StoredAlert, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "updated_at": rfc3339(self.updated_at) if self.updated_at else None,
            "alerts": [a.to_dict() for a in self.alerts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        return cls(
            updated_at=_ts(data.get("updated_at")),
            alerts=tuple(StoredAlert.from_dict(a) for a in data.get("alerts") or ()),
        )


def _parse_state(storage: Storage, key: str, body: bytes) -> AlertState:
    import orjson

    try:
        return AlertState.from_dict(orjson.loads(body))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
        # Alerts lost here still end at their endsAt in Alertmanager; the next run re-sends current ones.
        log.warning("ignoring corrupt %s: %s", storage.url_for(key), exc.__class__.__name__)
        return AlertState(None)


def _legacy_state(storage: Storage, model: str) -> AlertState:
    """The model's alerts in the previous layout's one state of the store (alerts/state.json), if any:
    the first run of each model in the new layout takes its own over, and leaves the others' there."""
    from mlprom.errors import ObjectNotFound
    from mlprom.reports import legacy

    key = layout.LEGACY_ALERT_STATE_KEY
    try:
        body = storage.get_bytes(key)
    except ObjectNotFound:
        return AlertState(None)
    shared = _parse_state(storage, key, body)
    mine = tuple(a for a in shared.alerts if a.labels.get("model") == model)
    if mine:
        legacy.tell_once(storage, key, layout.alert_state_key(model))
    return AlertState(shared.updated_at if mine else None, mine)


def load_state(storage: Storage, model: str) -> AlertState:
    """The model's stored state; none yet is an empty one (or its alerts in the previous layout's
    shared state), and so is a corrupt one (with a warning naming the key)."""
    return load_state_versioned(storage, model)[0]


def load_state_versioned(storage: Storage, model: str) -> tuple[AlertState, str | None]:
    """The model's stored state and the version read (None: no state of its own yet), for `save_state_if`."""
    key = layout.alert_state_key(model)
    found = storage.get_versioned(key)
    if found is None:
        return _legacy_state(storage, model), None
    return _parse_state(storage, key, found.data), found.version


def _encode(state: AlertState) -> bytes:
    import orjson

    return orjson.dumps(state.to_dict(), option=orjson.OPT_INDENT_2)


def save_state_if(storage: Storage, model: str, state: AlertState, version: str | None) -> bool:
    """Write the model's state only if it is still the version read; False when another run wrote it
    meanwhile."""
    return storage.put_if(layout.alert_state_key(model), _encode(state), version)


def keep_undelivered_as_before(new: AlertState, before: AlertState, undelivered: set[str]) -> AlertState:
    """`new`, except for alerts no Alertmanager took: those stay as they were `before` (or stay out).

    A firing alert every replica refused is not recorded as firing, and a resolution nobody took is
    not recorded as resolved: the next run tries again.
    """
    if not undelivered:
        return new
    previous = {a.fingerprint: a for a in before.alerts}
    kept = []
    for alert in new.alerts:
        if alert.fingerprint in undelivered:
            if alert.fingerprint in previous:
                kept.append(previous[alert.fingerprint])
            continue
        kept.append(alert)
    return AlertState(updated_at=new.updated_at, alerts=tuple(kept))


@dataclass(frozen=True)
class Step:
    """What one alert run sends, and the state it leaves when at least one Alertmanager accepted it."""

    send: tuple[StoredAlert, ...]
    state: AlertState

    @property
    def firing(self) -> tuple[StoredAlert, ...]:
        return tuple(a for a in self.send if a.status == "firing")

    @property
    def resolved(self) -> tuple[StoredAlert, ...]:
        return tuple(a for a in self.send if a.status == "resolved")


def next_step(state: AlertState, day: date, current: list[StoredAlert], now: datetime) -> Step:
    """Fire `current` (the alerts of `day`'s report), resolve what cleared, drop what was resolved long ago.

    A report supersedes alerts from its own date and earlier dates; alerts last set by a later date's
    report are left alone, so re-running an old date never resolves today's alerts.
    """
    previous = {a.fingerprint: a for a in state.alerts}
    send: list[StoredAlert] = []
    kept: list[StoredAlert] = []
    seen: set[str] = set()
    for alert in current:
        if alert.fingerprint in seen:
            continue
        seen.add(alert.fingerprint)
        prev = previous.get(alert.fingerprint)
        if prev is not None and prev.date > day:
            kept.append(prev)
            continue
        if prev is not None and prev.status == "firing" and prev.starts_at < alert.starts_at:
            # Still the same incident (it carried over midnight): keep its first start.
            alert = replace(alert, starts_at=prev.starts_at)
        send.append(alert)
        kept.append(alert)
    for prev in state.alerts:
        if prev.fingerprint in seen:
            continue
        if prev.date > day:
            kept.append(prev)
        elif prev.status == "firing":
            resolved = replace(prev, status="resolved", ends_at=now, resolved_at=now)
            send.append(resolved)
            kept.append(resolved)
        elif prev.resolved_at is not None and now - prev.resolved_at < RESOLVED_RETENTION:
            send.append(prev)
            kept.append(prev)
        # else: resolved long enough ago; dropped from the state.
    kept.sort(key=lambda a: (a.status, a.fingerprint))
    return Step(send=tuple(send), state=AlertState(updated_at=now, alerts=tuple(kept)))
