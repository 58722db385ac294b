"""The correlation report: what `correlate` writes to reports/dt=D/model=NAME/correlation.json and
`alert` reads back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from mlprom import layout
from mlprom.analysis.distinguish import Distinction
from mlprom.analysis.findings import SEVERITY_RANK, Finding
from mlprom.analysis.suspects import Suspect
from mlprom.dates import rfc3339
from mlprom.errors import NoDataError, ObjectNotFound
from mlprom.records import is_number
from mlprom.reports.results import SCHEMA_VERSION, Clean
from mlprom.reports.sections import InfraSection, Significance, Skew, Timeline

if TYPE_CHECKING:
    from mlprom.analysis.profile import DayProfile
    from mlprom.reports.drift_window import DriftReport
    from mlprom.storage.interface import Storage

STATUSES = ("ok", "warning", "critical", "no_data", "no_infra")
# A report is a few megabytes at most (a day of per-minute timeline, one series per suspect): an object
# far past that is not one, and parsing it would build a Python object per number in memory.
MAX_REPORT_BYTES = 64 * 1024 * 1024

log = logging.getLogger("mlprom")
T = TypeVar("T")


def _each(items: Any, parse: Callable[[Any], T], key: str, field_name: str) -> list[T]:
    """Parse each element of a stored list; a bad one is skipped with a warning naming key and index."""
    if items is None:
        return []
    if not isinstance(items, list):
        log.warning("%s: %s is not a list; ignored", key or "report", field_name)
        return []
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            log.warning("skipping %s %s[%d]: %s", key or "report", field_name, index, exc)
    return parsed


def _suspect(data: Any) -> Suspect:
    from mlprom.records import check_labels

    if not isinstance(data, dict):
        raise ValueError("not an object")
    if not isinstance(data.get("metric"), str):
        raise ValueError("metric is not a string")
    check_labels(data.get("labels") or {})
    return Suspect.from_dict(data)


@dataclass(frozen=True)
class EventCounts:
    total: int = 0
    slow: int = 0
    joined: int = 0  # events with an infra value within correlate.max_skew (of the best-covered query)
    slow_joined: int = 0
    from_sketches: int = 0  # of total and slow: slow batches known only from latency sketches

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "slow": self.slow,
            "joined": self.joined,
            "slow_joined": self.slow_joined,
            "from_sketches": self.from_sketches,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventCounts:
        return cls(
            int(data.get("total", 0)),
            int(data.get("slow", 0)),
            int(data.get("joined", 0)),
            int(data.get("slow_joined", 0)),
            int(data.get("from_sketches", 0)),
        )


def status_of(findings: tuple[Finding, ...] | list[Finding]) -> str:
    worst = max((SEVERITY_RANK.get(f.severity, 0) for f in findings), default=0)
    return {0: "ok", 1: "warning", 2: "critical"}[worst]


SEVERITY_EXIT_RANK = {"ok": 0, "no_data": 0, "no_infra": 0, "warning": 1, "critical": 2}
FAIL_ON_RANK = {"warning": 1, "critical": 2}  # --fail-on; "never" fails on no status


@dataclass(frozen=True)
class CorrelationReport(Clean):
    date: date
    generated_at: datetime
    status: str  # ok | warning | critical | no_data | no_infra
    events: EventCounts
    snapshots: int
    findings: tuple[Finding, ...] = ()
    suspects: tuple[Suspect, ...] = ()
    model: str = ""
    max_skew_seconds: float = 0.0
    key: str = ""  # where it was written (not part of the document)
    url: str = field(default="", compare=False)  # storage URL of `key`
    # The drift section as computed; a report read back keeps it as its JSON dict (alert needs only findings).
    drift: DriftReport | dict[str, Any] | None = field(default=None, compare=False)
    # The hour-of-day profile (docs/profile.md); None when a stored report has none that can be read.
    profile: DayProfile | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = ()
    # Distinct slow episodes (docs/correlation.md, "Episodes") and the one-sentence answer; absent from a
    # stored report written before them.
    episodes: int | None = None
    headline: str = ""
    # The typed sections (reports/sections.py, docs/correlation.md "Report"); None when a stored report
    # has none that can be read.
    infra: InfraSection | None = field(default=None, compare=False)
    skew: Skew | None = field(default=None, compare=False)
    significance: Significance | None = field(default=None, compare=False)
    timeline: Timeline | None = field(default=None, compare=False)
    # What told the slow predictions from the fast ones (analysis/distinguish.py); absent from a
    # stored report written before it.
    distinguishing: tuple[Distinction, ...] | None = field(default=None, compare=False)
    # Not part of the document: the history could not be had with correlate.infra_source prometheus
    # (exit 3), whether the table lists every suspect (--all-suspects), and the status that fails the
    # run (--fail-on warning|critical|never).
    partial_failure: bool = field(default=False, compare=False)
    all_suspects: bool = field(default=False, compare=False)
    fail_on: str = field(default="critical", compare=False)

    @property
    def exit_code(self) -> int:
        """1 when the status is at or above --fail-on; 3 (before 1) when history asked for was not had."""
        if self.partial_failure:
            return 3
        needed = FAIL_ON_RANK.get(self.fail_on)
        return 1 if needed is not None and SEVERITY_EXIT_RANK.get(self.status, 0) >= needed else 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "date": self.date.isoformat(),
            "generated_at": rfc3339(self.generated_at),
            "status": self.status,
            "model": self.model,
            "max_skew_seconds": self.max_skew_seconds,
            "events": self.events.to_dict(),
            "snapshots": self.snapshots,
            "findings": [f.to_dict() for f in self.findings],
            "suspects": [s.to_dict() for s in self.suspects],
            "drift": self.drift if isinstance(self.drift, dict | None) else self.drift.to_dict(),
            "profile": self.profile.to_dict() if self.profile is not None else None,
            "warnings": list(self.warnings),
        }
        if self.episodes is not None:
            out["episodes"] = self.episodes
        if self.headline:
            out["headline"] = self.headline
        for name, section in (
            ("infra", self.infra),
            ("skew", self.skew),
            ("significance", self.significance),
            ("timeline", self.timeline),
        ):
            if section is not None:
                out[name] = section.to_dict()
        if self.distinguishing is not None:
            out["distinguishing"] = [d.to_dict() for d in self.distinguishing]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], key: str = "", url: str = "") -> CorrelationReport:
        """Stored form -> report. ValueError when the report as a whole is unusable (no date, status or
        generation time); a malformed finding or suspect is skipped with a warning naming the key and index."""
        from mlprom.records import parse_ts

        if not isinstance(data, dict):
            raise ValueError("the report is not a JSON object")
        status = data.get("status")
        if status not in STATUSES:
            raise ValueError(f"unknown status {str(status)[:40]!r}")
        if not isinstance(data.get("date"), str):
            raise ValueError("date is not a string")
        try:
            day = date.fromisoformat(data["date"])
        except ValueError:
            raise ValueError(f"date {data['date'][:40]!r} is not YYYY-MM-DD") from None
        counts = data.get("events") or {}
        snapshots = data.get("snapshots", 0)
        skew = data.get("max_skew_seconds", 0.0)
        model = data.get("model", "")
        try:
            events = EventCounts.from_dict(counts if isinstance(counts, dict) else {})
        except (TypeError, ValueError, OverflowError):
            log.warning("%s: events counts unreadable; shown as 0", key or "report")
            events = EventCounts()
        drift = data.get("drift")
        episodes, headline = data.get("episodes"), data.get("headline")
        return cls(
            date=day,
            generated_at=parse_ts(data.get("generated_at")),
            status=status,
            events=events,
            snapshots=snapshots if isinstance(snapshots, int) and not isinstance(snapshots, bool) else 0,
            findings=tuple(_each(data.get("findings"), Finding.from_dict, key, "findings")),
            suspects=tuple(_each(data.get("suspects"), _suspect, key, "suspects")),
            model=model if isinstance(model, str) else "",
            max_skew_seconds=float(skew) if is_number(skew) else 0.0,
            key=key,
            url=url,
            drift=drift if isinstance(drift, dict) else None,
            profile=read_profile(data, key),
            warnings=tuple(str(w) for w in _listed(data.get("warnings"))),
            episodes=episodes if isinstance(episodes, int) and not isinstance(episodes, bool) else None,
            headline=headline if isinstance(headline, str) else "",
            infra=_section(data, "infra", key, InfraSection.from_dict),
            skew=_section(data, "skew", key, Skew.from_dict),
            significance=_section(data, "significance", key, Significance.from_dict),
            timeline=_section(data, "timeline", key, _timeline),
            distinguishing=(
                tuple(_each(data["distinguishing"], Distinction.from_dict, key, "distinguishing"))
                if "distinguishing" in data
                else None
            ),
        )

    def heartbeat(self) -> dict[str, float]:
        # Severity is a label (both always pushed, 0 included), not a metric per severity.
        return {
            f'mlprom_findings{{severity="{severity}"}}': float(
                sum(f.severity == severity for f in self.findings)
            )
            for severity in ("warning", "critical")
        }


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _section(data: dict[str, Any], name: str, key: str, parse: Callable[[Any], T]) -> T | None:
    """An optional section of the report: None when absent, or unusable (with a warning naming the key)."""
    value = data.get(name)
    if value is None:
        return None
    try:
        return parse(value)
    except (TypeError, ValueError, OverflowError) as exc:
        log.warning("ignoring %s of %s: %s", name, key or "a report", exc)
        return None


def _timeline(raw: Any) -> Timeline | None:
    """The timeline section; one without a valid time range is None without a warning (the page says so)."""
    try:
        return Timeline.from_dict(raw)
    except ValueError:
        return None


def read_profile(data: dict[str, Any], key: str = "") -> DayProfile | None:
    """The report's `profile` section; None when absent or invalid (with a warning naming the key)."""
    from mlprom.analysis.profile import DayProfile

    raw = data.get("profile")
    if raw is None:
        return None
    try:
        return DayProfile.from_dict(raw)
    except ValueError as exc:
        logging.getLogger("mlprom").warning("ignoring the profile of %s: %s", key or "a report", exc)
        return None


@dataclass(frozen=True)
class StoredReport(Clean):
    """A report as stored: the document exactly as written (every field, known to this mlprom or not)
    and its parsed form for the table and markdown views."""

    report: CorrelationReport
    document: dict[str, Any] = field(compare=False)
    key: str = ""
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.document


def read_stored_report(storage: Storage, day: date, model: str) -> StoredReport:
    """reports/dt=D/model=NAME/correlation.json (else the previous layout's reports/dt=D/correlation.json
    when it is the model's), as written and parsed: the one reader of it (`report`, `alert`).

    NoDataError (exit 4) when it is missing, larger than MAX_REPORT_BYTES, not JSON, or unusable as a
    report; the message names its URL and the command that writes it again.
    """
    import orjson

    from mlprom.reports import legacy

    own = layout.report_key(day, model)
    missing = NoDataError(
        f"no report for {day} of model {model!r} at {storage.url_for(own)}: run `mlprom correlate --date {day}`"
    )
    try:
        key, body = legacy.get_bytes(storage, own, layout.legacy_report_key(day))
    except ObjectNotFound:
        raise missing from None
    url = storage.url_for(key)
    if len(body) > MAX_REPORT_BYTES:
        raise NoDataError(
            f"report {url} is {len(body)} bytes, more than a report has ({MAX_REPORT_BYTES}): "
            f"re-run `mlprom correlate --date {day}`"
        )
    try:
        document = orjson.loads(body)
        report = CorrelationReport.from_dict(document, key=key, url=url)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise NoDataError(
            f"report {url} is unreadable ({exc.__class__.__name__}): re-run `mlprom correlate --date {day}`"
        ) from None
    if key != own:
        if report.model and report.model != model:  # the previous layout's one report was another model's
            raise missing
        legacy.tell_once(storage, key, own)
    return StoredReport(report, document, key, url)
