"""report: read a date's stored correlation report, to render it again without recomputing anything."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from mlprom import layout
from mlprom.errors import NoDataError, ObjectNotFound
from mlprom.reports.correlation import CorrelationReport

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")


@dataclass(frozen=True)
class StoredReport:
    """A report as stored: the document exactly as written (every field, known to this mlprom or not)
    and its parsed form for the table and markdown views."""

    report: CorrelationReport
    document: dict[str, Any] = field(compare=False)
    key: str = ""
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.document


def run(config: Config, day: date, storage: Storage | None = None) -> StoredReport:
    """Read reports/dt=D/correlation.json; NoDataError (exit 4) when it is missing or unreadable."""
    import orjson

    if storage is None:
        from mlprom.storage import open_storage

        storage = open_storage(config)
    key = layout.report_key(day)
    url = storage.url_for(key)
    try:
        body = storage.get_bytes(key)
    except ObjectNotFound:
        raise NoDataError(f"no report for {day} at {url}: run `mlprom correlate --date {day}`") from None
    try:
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise TypeError("not a JSON object")
        report = CorrelationReport.from_dict(document, key=key, url=url)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise NoDataError(
            f"report {url} is unreadable ({exc.__class__.__name__}): re-run `mlprom correlate --date {day}`"
        ) from None
    if report.date != day:
        raise NoDataError(
            f"report {url} is for {report.date}, not {day}: re-run `mlprom correlate --date {day}`"
        )
    log.debug("read report %s (generated %s)", url, document.get("generated_at"))
    return StoredReport(report, document, key, url)
