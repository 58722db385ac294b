"""report: read a date's stored correlation report, to render it again without recomputing anything."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from mlprom.errors import NoDataError
from mlprom.reports.correlation import StoredReport, read_stored_report

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")


def run(config: Config, day: date, storage: Storage | None = None) -> StoredReport:
    """Read the model's reports/dt=D/model=NAME/correlation.json (or the previous layout's); NoDataError
    (exit 4) when it is missing, unreadable or of another date."""
    if storage is None:
        from mlprom.storage import open_storage

        storage = open_storage(config)
    stored = read_stored_report(storage, day, config.model.name)
    if stored.report.date != day:
        raise NoDataError(
            f"report {stored.url} is for {stored.report.date}, not {day}: re-run `mlprom correlate --date {day}`"
        )
    log.debug("read report %s (generated %s)", stored.url, stored.document.get("generated_at"))
    return stored
