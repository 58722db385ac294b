"""Taking one infra snapshot: every configured query, concurrently, at one evaluation time, then stored."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlprom.clients.prometheus import PrometheusClient, QueryError
from mlprom.errors import UpstreamError
from mlprom.events.log import write_snapshot
from mlprom.layout import new_object_id
from mlprom.records import QueryResult, Snapshot

if TYPE_CHECKING:
    from mlprom.config import Config, Query
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

MAX_PARALLEL_QUERIES = 8


def _run_one(client: PrometheusClient, name: str, query: Query, at: datetime) -> QueryResult | UpstreamError:
    try:
        parsed = client.query(query.expr, at)
    except QueryError as exc:
        return QueryResult(query.expr, None, (), str(exc))
    except UpstreamError as exc:
        return UpstreamError(f"{exc} (query {name})")
    for warning in parsed.warnings:
        log.warning("Prometheus warning for %s: %s", query.expr, warning)
    skipped = tuple(f"mlprom: skipped {reason}" for reason in parsed.skipped)
    if skipped:
        # Wrong-shaped series are never stored; the snapshot says they were left out.
        log.warning(
            "Prometheus at %s: query %s: skipped %d series of the wrong shape (first: %s)",
            client.source,
            name,
            len(skipped),
            parsed.skipped[0],
        )
    return QueryResult(query.expr, parsed.result_type, parsed.series, None, parsed.warnings + skipped)


def take_snapshot(client: PrometheusClient, queries: dict[str, Query], at: datetime) -> Snapshot:
    """Run all queries concurrently at `at`. One failing query is kept with its error; all failing raises."""
    if not queries:
        raise UpstreamError("no queries configured: nothing to snapshot")
    at = at.astimezone(UTC)
    names = list(queries)
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_QUERIES, len(names)), thread_name_prefix="promql")
    try:
        outcomes = list(pool.map(lambda name: _run_one(client, name, queries[name], at), names))
    finally:
        # On SIGTERM the answers no longer matter: do not wait for queries still in flight.
        pool.shutdown(wait=False, cancel_futures=True)
    results: dict[str, QueryResult] = {}
    transport_errors: list[UpstreamError] = []
    for name, outcome in zip(names, outcomes, strict=True):
        if isinstance(outcome, UpstreamError):
            transport_errors.append(outcome)
            results[name] = QueryResult(queries[name].expr, None, (), str(outcome))
        else:
            results[name] = outcome
    if all(r.error for r in results.values()):
        # Nothing usable: write nothing, so an empty snapshot is never mistaken for a quiet system.
        if transport_errors:
            raise transport_errors[0]
        first = next(iter(results.items()))
        raise UpstreamError(
            f"Prometheus at {client.source}: every query failed (first: {first[0]}: {first[1].error})"
        )
    for name, result in results.items():
        if result.error:
            log.warning("query %s failed: %s", name, result.error)
    return Snapshot(at, client.source, results, new_object_id())


def capture_snapshot(
    config: Config, storage: Storage, at: datetime, require_series: bool = False
) -> tuple[Snapshot, str]:
    """Take a snapshot with the configured Prometheus and queries, store it, return it with its key.

    require_series: a snapshot in which no query returned a single series is NoDataError, not stored
    (a time before Prometheus' data or past its retention looks exactly like that).
    """
    client = PrometheusClient.from_config(config.prometheus, pool_size=MAX_PARALLEL_QUERIES)
    snapshot = take_snapshot(client, config.queries, at)
    if require_series and not any(result.series for result in snapshot.queries.values()):
        from mlprom.dates import rfc3339
        from mlprom.errors import NoDataError

        raise NoDataError(
            f"Prometheus at {client.source} returned no series for any of the {len(snapshot.queries)} "
            f"queries at {rfc3339(snapshot.ts)} (before its data, or past its retention?): nothing stored"
        )
    return snapshot, write_snapshot(storage, snapshot)
