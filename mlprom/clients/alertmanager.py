"""Alertmanager API v2 client: POST alerts to every replica, find out which alerts a replica refused.

Alertmanager answers 400 for a whole POST when one alert in it is invalid. Then the batch is split in
halves and each half posted again, down to single alerts, so the valid ones are delivered and each
refused alert is named with Alertmanager's reason. Everything sent to one replica in one run, splits
included, ends within `alertmanager.timeout`; replicas are posted to concurrently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlprom.clients.deadline import scope
from mlprom.clients.http import Answer, request
from mlprom.errors import UpstreamError
from mlprom.redact import redact_url

if TYPE_CHECKING:
    import requests

    from mlprom.config import Config

ALERTS_PATH = "/api/v2/alerts"
MAX_ANSWER_BYTES = 1024 * 1024
# Answers that judge the alerts themselves; anything else (401, 404, 429, 5xx) judges the replica.
PER_ALERT_STATUSES = (400, 422)

# Prometheus' label name rules, which Alertmanager 0.2x enforces.
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def clean_label_name(name: str) -> str:
    """`name` made valid: invalid characters become `_`, a leading digit gets a `_` in front."""
    cleaned = _INVALID_CHARS.sub("_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    if cleaned.startswith("__"):
        # Names starting with __ are reserved for Prometheus' internal use.
        cleaned = "_" + cleaned.lstrip("_")
    return cleaned


def sanitize_label_names(labels: Mapping[str, str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """Labels whose names Alertmanager accepts; values are kept exactly as they are.

    Valid names that are not reserved keep their name. The others, in sorted order, become
    `exported_<name>` (reserved) or `clean_label_name(name)`; a name already taken gets `_2`, `_3`, ...
    so two source labels never collapse into one, and the result does not depend on dict order.
    """
    reserved = set(reserved)
    out: dict[str, str] = {}
    for name in sorted(labels):
        if LABEL_NAME.match(name) and name not in reserved:
            out[name] = labels[name]
    taken = set(out) | reserved
    for name in sorted(n for n in labels if n not in out):
        base = "exported_" + clean_label_name(name) if name in reserved else clean_label_name(name)
        stem, candidate, n = base.rstrip("_"), base, 2
        while candidate in taken:
            candidate, n = (f"{stem}_{n}" if stem else f"_{n}"), n + 1
        taken.add(candidate)
        out[candidate] = labels[name]
    return out


# C0 and C1 controls, DEL and the bidi controls (LRM/RLM, embeddings and overrides U+202A-U+202E,
# isolates U+2066-U+2069): from a label or a report they would reorder or break the text a person reads in
# Alertmanager's UI, an email or a chat message. The same set render/literal.py escapes on a terminal.
_UNSAFE_IN_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible_escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def annotation_text(text: str) -> str:
    """An annotation value with every control character replaced by a visible escape (`\\x1b`, `\\u202e`):
    the text a person reads shows what the data held, and nothing in it reorders or hides the rest."""
    return _UNSAFE_IN_TEXT.sub(_visible_escape, text)


def describe_alert(alert: Mapping[str, Any]) -> str:
    """alertname{label="value", ...} of a postable alert, for messages."""
    labels = dict(alert.get("labels") or {})
    name = str(labels.pop("alertname", "alert"))
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    text = f"{name}{{{inner}}}"
    return text if len(text) <= 200 else text[:199] + "…"


@dataclass(frozen=True)
class Rejection:
    """One alert a replica refused, by its position in the payload, with the replica's reason."""

    index: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason}


@dataclass(frozen=True)
class Delivery:
    """One replica's answer to one run's alerts."""

    url: str  # redacted: no credentials, no query string
    accepted: bool  # took every alert
    status: int | None  # HTTP status of the whole batch; None when no Alertmanager answer came
    error: str | None = None  # what went wrong (transport failure, error body, refused alerts)
    delivered: tuple[int, ...] = ()  # positions in the payload of the alerts it took
    rejected: tuple[Rejection, ...] = ()  # alerts it refused one by one

    @property
    def reachable(self) -> bool:
        """Answered like a working Alertmanager: something other than 429/5xx, or took some alerts."""
        if self.delivered:
            return True
        return self.status is not None and self.status < 500 and self.status != 429

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "accepted": self.accepted,
            "status": self.status,
            "error": self.error,
            "delivered": len(self.delivered),
            "rejected": [r.to_dict() for r in self.rejected],
        }


def _encode(alerts: Sequence[Mapping[str, Any]]) -> bytes:
    import orjson

    return orjson.dumps(list(alerts))


class AlertmanagerClient:
    """Posts to every URL: each replica gets every alert, as Prometheus does, and they deduplicate."""

    def __init__(self, http: requests.Session, urls: list[str], timeout: float = 30.0) -> None:
        self.http = http
        self.urls = [u.rstrip("/") for u in urls]
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Config) -> AlertmanagerClient:
        from mlprom.clients.http import build_session

        http = build_session(
            config.alertmanager, "alertmanager", pool_size=max(10, len(config.alertmanager.urls))
        )
        return cls(http, list(config.alertmanager.urls), config.alertmanager.timeout)

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> list[Delivery]:
        """POST `alerts` to every replica concurrently; never raises for one replica's failure."""
        if len(self.urls) <= 1:
            return [self._deliver(url, alerts) for url in self.urls]
        with ThreadPoolExecutor(max_workers=len(self.urls), thread_name_prefix="alertmanager") as pool:
            return list(pool.map(lambda url: self._deliver(url, alerts), self.urls))

    def _post(self, url: str, alerts: Sequence[Mapping[str, Any]]) -> Answer:
        # The HTTP client retries connection errors, 429 and 5xx within the deadline; what comes back is final.
        return request(
            self.http,
            "POST",
            url,
            "Alertmanager",
            self.timeout,
            max_bytes=MAX_ANSWER_BYTES,
            data=_encode(alerts),
            headers={"Content-Type": "application/json"},
        )

    def _deliver(self, base: str, alerts: Sequence[Mapping[str, Any]]) -> Delivery:
        url = base + ALERTS_PATH
        shown = redact_url(url)
        everything = tuple(range(len(alerts)))
        with scope(self.timeout):
            try:
                answer = self._post(url, alerts)
            except UpstreamError as exc:
                return Delivery(shown, False, None, str(exc))
            if answer.ok and answer.is_html:
                return Delivery(
                    shown, False, None, f"Alertmanager at {shown} answered with an HTML page, not its API"
                )
            if answer.ok:
                return Delivery(shown, True, answer.status_code, delivered=everything)
            problem = (
                f"Alertmanager at {shown} answered {answer.status_code}{answer.attempts_note()}: "
                f"{answer.snippet(500)}"
            )
            if answer.status_code not in PER_ALERT_STATUSES:
                return Delivery(shown, False, answer.status_code, problem)
            return self._split(url, shown, alerts, answer)

    def _split(self, url: str, shown: str, alerts: Sequence[Mapping[str, Any]], first: Answer) -> Delivery:
        """Find out which alerts the replica refuses by posting halves of the refused batch."""
        delivered: list[int] = []
        rejected: list[Rejection] = []
        unsent: list[int] = []
        failure: str | None = None
        pending = [tuple(range(len(alerts)))]
        answers = {pending[0]: first}
        while pending:
            part = pending.pop()
            answer = answers.pop(part, None)
            if answer is None:
                try:
                    answer = self._post(url, [alerts[i] for i in part])
                except UpstreamError as exc:
                    failure = str(exc)
                    unsent.extend(part)
                    continue
            if answer.ok and not answer.is_html:
                delivered.extend(part)
            elif answer.status_code in PER_ALERT_STATUSES and len(part) == 1:
                rejected.append(Rejection(part[0], answer.snippet(300)))
            elif answer.status_code in PER_ALERT_STATUSES:
                middle = len(part) // 2
                pending += [part[middle:], part[:middle]]
            else:
                failure = (
                    f"Alertmanager at {shown} answered {answer.status_code}{answer.attempts_note()}: "
                    f"{answer.snippet(300)}"
                )
                unsent.extend(part)
        rejected.sort(key=lambda r: r.index)
        parts = []
        if rejected:
            first_rejected = rejected[0]
            parts.append(
                f"Alertmanager at {shown} refused {len(rejected)} of {len(alerts)} alert(s), e.g. "
                f"{describe_alert(alerts[first_rejected.index])}: {first_rejected.reason}"
            )
        if unsent:
            parts.append(f"{len(unsent)} alert(s) not delivered: {failure}")
        return Delivery(
            shown,
            False,
            first.status_code,
            "; ".join(parts) or None,
            tuple(sorted(delivered)),
            tuple(rejected),
        )
