"""capture-infra: one snapshot of every configured PromQL query at one evaluation time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlprom.dates import rfc3339
from mlprom.infra import capture_snapshot
from mlprom.records import Snapshot
from mlprom.storage import open_storage

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.storage.interface import Storage


@dataclass(frozen=True)
class InfraResult:
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
class InfraAdapters:
    storage: Storage


def default_adapters(config: Config) -> InfraAdapters:
    return InfraAdapters(open_storage(config))


def run(config: Config, adapters: InfraAdapters, at: datetime) -> InfraResult:
    snapshot, key = capture_snapshot(config, adapters.storage, at, require_series=True)
    return InfraResult(snapshot, key, adapters.storage.url_for(key))
