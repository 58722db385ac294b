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
    range finds its objects and stores nothing twice (docs/correlation.md, "Archiving history"); an
    object found there that capture-infra would not write (unreadable, points outside its range) is
    fetched again and replaced, and listed as repaired.
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
    repaired: list[str] = []
    existing: list[str] = []
    errors: dict[str, str] = {}
    dropped: dict[str, int] = {}
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
    present, invalid = _stored_ranges(storage, config, planned, step)
    for a, b in pieces:
        wanted = {n: q for n, q in config.queries.items() if planned[(n, a, b)] not in present}
        existing += [planned[(n, a, b)] for n in config.queries if planned[(n, a, b)] in present]
        if not wanted:
            continue
        results, sent = fetch_history(client, wanted, a, b, step)
        requests += sent
        for name, result in results.items():
            key = planned[(name, a, b)]
            if result.error:
                errors.setdefault(name, result.error)
                continue
            document = range_document(result, a, b, step, client.source)
            kept = sum(len(s["t"]) for s in document["series"])
            if kept < sum(len(s.times) for s in result.series):
                dropped[name] = dropped.get(name, 0) + sum(len(s.times) for s in result.series) - kept
            if not document["series"]:
                # Nothing to archive (before its data, past its retention): no object, so a later run
                # of the same range, once there is data, is not mistaken for one already archived.
                continue
            storage.put_bytes(key, orjson.dumps(document), "application/json")
            (repaired if key in invalid else stored).append(key)
            points += kept
    if not stored and not repaired and not existing and not errors:
        raise NoDataError(
            f"Prometheus at {client.source} returned no series for any of the {len(config.queries)} queries "
            f"from {rfc3339(datetime.fromtimestamp(first, UTC))} to {rfc3339(datetime.fromtimestamp(last, UTC))} "
            "(before its data, or past its retention?): nothing stored"
        )
    if errors and not stored and not repaired and not existing:
        first_name, first_error = next(iter(sorted(errors.items())))
        raise UpstreamError(f"Prometheus at {client.source}: nothing archived ({first_name}: {first_error})")
    _warn(errors, dropped, {k: v for k, v in invalid.items() if k not in repaired})
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
        tuple(repaired),
    )


def _stored_ranges(
    storage: Storage, config: Config, planned: dict[tuple[str, float, float], str], step: float
) -> tuple[set[str], dict[str, str]]:
    """The planned keys already archived as capture-infra writes them, and those stored otherwise
    (key -> what is wrong), which this run fetches again."""
    import orjson

    from mlprom.errors import ObjectNotFound
    from mlprom.infra.history import range_problem

    present: set[str] = set()
    invalid: dict[str, str] = {}
    for (name, a, b), key in planned.items():
        try:
            body = storage.get_bytes(key)
        except ObjectNotFound:
            continue
        try:
            problem = range_problem(orjson.loads(body), name, config.queries[name].expr, a, b, step)
        except orjson.JSONDecodeError:
            problem = "not valid JSON"
        if problem is None:
            present.add(key)
        else:
            log.warning("archived range %s is invalid (%s): fetching it again", key, problem)
            invalid[key] = problem
    return present, invalid


def _warn(errors: dict[str, str], dropped: dict[str, int], left_invalid: dict[str, str]) -> None:
    for name, error in sorted(errors.items()):
        log.warning("query %s not archived: %s", name, error)
    for name, count in sorted(dropped.items()):
        log.warning(
            "query %s: %d point(s) Prometheus answered outside the range asked were left out", name, count
        )
    for key, problem in sorted(left_invalid.items()):
        log.warning(
            "archived range %s is still invalid (%s): Prometheus gave nothing to replace it", key, problem
        )
