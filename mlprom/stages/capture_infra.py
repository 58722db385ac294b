"""capture-infra: one snapshot of every configured PromQL query at one evaluation time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlprom.dates import rfc3339
from mlprom.infra.snapshot import capture_snapshot
from mlprom.reports.results import InfraResult, RangeArchive
from mlprom.storage import open_storage

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")


@dataclass(frozen=True)
class InfraAdapters:
    storage: Storage


def default_adapters(config: Config) -> InfraAdapters:
    return InfraAdapters(open_storage(config))


def run(config: Config, adapters: InfraAdapters, at: datetime) -> InfraResult:
    snapshot, key = capture_snapshot(config, adapters.storage, at, require_series=True)
    return InfraResult(snapshot, key, adapters.storage.url_for(key))


def run_range(
    config: Config, adapters: InfraAdapters, start: datetime, end: datetime, step: float
) -> RangeArchive:
    """Archive [start, end] of every configured query at `step`: one object per query and UTC date.

    Keys are derived from what they hold (query, expression, range, step), so a re-run of the same
    range finds its objects and stores nothing twice (docs/correlation.md, "Archiving history").
    """
    import math

    import orjson

    from mlprom import layout
    from mlprom.clients.prometheus import PrometheusClient
    from mlprom.errors import NoDataError, UpstreamError
    from mlprom.infra.history import (
        MAX_PARALLEL,
        fetch_history,
        range_document,
        range_object_id,
        split_by_day,
    )

    storage = adapters.storage
    first = math.ceil(start.timestamp() / step) * step
    last = math.floor(end.timestamp() / step) * step
    client = PrometheusClient.from_config(config.prometheus, pool_size=MAX_PARALLEL)
    pieces = split_by_day(first, last, step)
    stored: list[str] = []
    existing: list[str] = []
    errors: dict[str, str] = {}
    empty: list[str] = []
    points = requests = 0
    planned = {
        (name, a, b): layout.range_key(
            datetime.fromtimestamp(a, UTC).date(),
            datetime.fromtimestamp(a, UTC),
            range_object_id(name, query.expr, a, b, step),
        )
        for name, query in config.queries.items()
        for a, b in pieces
    }
    present = {key for key in planned.values() if storage.exists(key)}
    for a, b in pieces:
        wanted = {n: q for n, q in config.queries.items() if planned[(n, a, b)] not in present}
        existing += [planned[(n, a, b)] for n in config.queries if planned[(n, a, b)] in present]
        if not wanted:
            continue
        results, sent = fetch_history(client, wanted, a, b, step)
        requests += sent
        for name, result in results.items():
            if result.error:
                errors.setdefault(name, result.error)
                continue
            document = range_document(result, a, b, step, client.source)
            if not document["series"]:
                # Nothing to archive (before its data, past its retention): no object, so a later run
                # of the same range, once there is data, is not mistaken for one already archived.
                empty.append(name)
                continue
            key = planned[(name, a, b)]
            storage.put_bytes(key, orjson.dumps(document), "application/json")
            stored.append(key)
            points += sum(len(s["t"]) for s in document["series"])
    if not stored and not existing and not errors:
        raise NoDataError(
            f"Prometheus at {client.source} returned no series for any of the {len(config.queries)} queries "
            f"from {rfc3339(datetime.fromtimestamp(first, UTC))} to {rfc3339(datetime.fromtimestamp(last, UTC))} "
            "(before its data, or past its retention?): nothing stored"
        )
    if errors and not stored and not existing:
        first_name, first_error = next(iter(sorted(errors.items())))
        raise UpstreamError(f"Prometheus at {client.source}: nothing archived ({first_name}: {first_error})")
    for name, error in sorted(errors.items()):
        log.warning("query %s not archived: %s", name, error)
    return RangeArchive(
        datetime.fromtimestamp(first, UTC),
        datetime.fromtimestamp(last, UTC),
        step,
        client.source,
        tuple(stored),
        tuple(existing),
        points,
        errors,
        requests,
    )
