"""Retention: delete whole date partitions older than --keep-days, never one a firing alert cites.

Keys outside the layout and the alert states (alerts/model=NAME/state.json) are never deleted. See docs/retention.md.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mlprom import layout
from mlprom.errors import ConfigError, ObjectNotFound, StorageError
from mlprom.reports.results import PartitionSummary, PruneResult, human_bytes
from mlprom.storage.interface import RequestCounter, Storage

if TYPE_CHECKING:
    from mlprom.config import Config

log = logging.getLogger("mlprom")

DELETE_BATCH = 1000  # keys per delete_many call: one S3 DeleteObjects request each
HOLD_KEYS_MAX = 100_000  # keys kept from the listing for deletion; past it, expired partitions are re-listed
MAX_KEEP_DAYS = 36500
REPORTED_MAX = 1000  # failed or unknown keys listed in the result; the counts are always exact

PartitionId = tuple[str, date]


# ---------------------------------------------------------------- firing alerts


def firing_alert_dates(storage: Storage) -> frozenset[date]:
    """Dates cited by alerts still firing in any model's alert state (alerts/model=NAME/state.json) or
    in the previous layout's shared alerts/state.json; no file means none.

    A file that cannot be read as the alert stage writes it raises StorageError: pruning blind
    could delete the evidence behind an alert someone is looking at.
    """
    keys = [layout.LEGACY_ALERT_STATE_KEY]
    keys += [
        i.key
        for i in storage.list(f"{layout.stage_prefix('alerts')}model=")
        if layout.is_alert_state_key(i.key)
    ]
    dates: set[date] = set()
    for key in keys:
        dates |= _state_dates(storage, key)
    return frozenset(dates)


def _state_dates(storage: Storage, key: str) -> set[date]:
    """Dates cited by alerts still firing in one alert state."""
    import orjson

    try:
        body = storage.get_bytes(key)
    except ObjectNotFound:
        return set()
    where = storage.url_for(key)

    def corrupt(why: str) -> StorageError:
        return StorageError(
            f"{where}: {why}; refusing to prune while the firing alerts are unknown "
            "(fix the file, or let `mlprom alert` rewrite it)"
        )

    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise corrupt("not valid JSON") from None
    if not isinstance(document, dict):
        raise corrupt("expected a JSON object with an 'alerts' list")
    alerts = document.get("alerts", [])
    if not isinstance(alerts, list):
        raise corrupt("'alerts' is not a list")
    dates: set[date] = set()
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise corrupt(f"alerts[{index}] is not an object")
        status = alert.get("status")
        if status == "resolved":
            continue
        if status != "firing":
            raise corrupt(f"alerts[{index}].status is {status!r}, expected 'firing' or 'resolved'")
        cited = _cited_dates(alert)
        if not cited:
            raise corrupt(f"alerts[{index}] is firing but names no valid 'date' or 'report'")
        dates.update(cited)
    return dates


def _cited_dates(alert: dict[str, Any]) -> set[date]:
    cited: set[date] = set()
    text = alert.get("date")
    if isinstance(text, str):
        try:
            cited.add(date.fromisoformat(text))
        except ValueError:
            pass  # judged below: a firing alert must cite at least one valid date
    report = alert.get("report")
    if isinstance(report, str):
        # The report may be given as a key or as its full storage URL; the partition is what counts.
        marker = report.find("reports/dt=")
        parsed = layout.parse_partition(report[marker:]) if marker >= 0 else None
        if parsed is not None:
            cited.add(parsed[1])
    return cited


def shown_key(key: str) -> str:
    """A key as prune reports it: bytes of a local file name that are not UTF-8 (held as lone surrogates,
    os.fsdecode's surrogateescape) shown as \\xNN escapes, so every renderer and JSON can show it."""
    try:
        return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate no file name decodes to: its code point, escaped
        return key.encode("utf-8", "backslashreplace").decode("utf-8")


# ---------------------------------------------------------------- progress


class _Progress:
    """A rich progress bar on stderr when it is a terminal; a no-op otherwise (cron, CI, pipes)."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)

    def task(self, description: str, total: int | None = None) -> Any:
        return None if self._bar is None else self._bar.add_task(description, total=total)

    def advance(self, task: Any, n: int = 1) -> None:
        if self._bar is not None and task is not None:
            self._bar.advance(task, n)

    def done(self, task: Any) -> None:
        if self._bar is not None and task is not None:
            self._bar.update(task, visible=False)


# ---------------------------------------------------------------- planning


@dataclass
class _Plan:
    """What the listing found; internal and mutable while the listing streams in."""

    expired: dict[PartitionId, list[int]] = field(default_factory=dict)  # -> [objects, bytes]
    protected: dict[PartitionId, list[int]] = field(default_factory=dict)
    held: list[tuple[str, int]] | None = field(default_factory=list)  # None once past HOLD_KEYS_MAX
    unknown: list[str] = field(default_factory=list)
    unknown_count: int = 0
    newest_write: datetime | None = None  # the latest modification time of a key in the layout
    recent: dict[PartitionId, list[int]] = field(default_factory=dict)  # expired by the clock only

    @property
    def objects(self) -> int:
        return sum(v[0] for v in self.expired.values())

    @property
    def bytes(self) -> int:
        return sum(v[1] for v in self.expired.values())


def _plan(
    storage: Storage,
    stages: tuple[str, ...],
    cutoff: date,
    protected_dates: frozenset[date],
    hold_keys_max: int,
    progress: _Progress,
) -> _Plan:
    plan = _Plan()
    held_count = 0
    for stage in stages:
        task = progress.task(f"listing {stage}/")
        for info in storage.list(layout.stage_prefix(stage)):
            progress.advance(task)
            if layout.is_alert_state_key(info.key):
                continue
            where = layout.parse_partition(info.key)
            if where is None or where[0] != stage:
                plan.unknown_count += 1
                if len(plan.unknown) < REPORTED_MAX:
                    plan.unknown.append(shown_key(info.key))
                continue
            if info.last_modified is not None and (
                plan.newest_write is None or info.last_modified > plan.newest_write
            ):
                plan.newest_write = info.last_modified
            day = where[1]
            if day >= cutoff:
                continue
            if day in protected_dates:
                plan.protected.setdefault(where, [0, 0])
                plan.protected[where][0] += 1
                plan.protected[where][1] += info.size
                continue
            totals = plan.expired.setdefault(where, [0, 0])
            totals[0] += 1
            totals[1] += info.size
            if plan.held is not None:
                held_count += 1
                if held_count > hold_keys_max:
                    # Too many to hold: forget them and re-list the expired partitions when deleting.
                    plan.held = None
                else:
                    plan.held.append((info.key, info.size))
        progress.done(task)
    return plan


def _keys_to_delete(storage: Storage, plan: _Plan) -> Iterator[tuple[str, int]]:
    if plan.held is not None:
        yield from plan.held
        return
    for stage, day in plan.expired:
        for info in storage.list(layout.partition_prefix(stage, day)):
            # The prefix guarantees it, but a deletion is the one place a second check is cheap.
            if not layout.is_alert_state_key(info.key) and layout.parse_partition(info.key) == (stage, day):
                yield info.key, info.size


def summary_text(
    location: str,
    plan_objects: int,
    plan_bytes: int,
    partitions: int,
    cutoff: date,
    protected: int,
    recent: int = 0,
) -> str:
    text = (
        f"Delete {partitions} partition(s) ({plan_objects} objects, {human_bytes(plan_bytes)}) "
        f"dated before {cutoff.isoformat()} from {location}?"
    )
    if protected:
        text += f" ({protected} expired partition(s) kept: a firing alert cites their date)"
    if recent:
        text += f" ({recent} partition(s) kept: not expired by the newest write of the store)"
    return text


def _keep_recent_by_the_store(plan: _Plan, keep_days: int, cutoff: date, location: str) -> None:
    """Keep the expired partitions that the store's newest write says are recent.

    Whatever the clock says, the store's newest object was written no later than now, so a partition
    dated on or after (that write's day + 1 - keep_days) is not expired; the one day of slack lets a
    write late yesterday and a prune early today go by the clock. A clock far ahead (400 days) would
    otherwise have prune delete today's real data. With the clock right, this keeps nothing.
    """
    if plan.newest_write is None:
        return
    store_cutoff = plan.newest_write.date() + timedelta(days=1 - keep_days)
    if store_cutoff >= cutoff:
        return
    for where in [w for w in plan.expired if w[1] >= store_cutoff]:
        plan.recent[where] = plan.expired.pop(where)
    if not plan.recent:
        return
    if plan.held is not None:
        plan.held = [(k, n) for k, n in plan.held if _partition_of(k) not in plan.recent]
    log.warning(
        "kept %d partition(s) dated %s or later in %s: the newest object there was written %s, "
        "but the clock says today is %s (is the clock ahead, or was nothing written since?)",
        len(plan.recent),
        store_cutoff.isoformat(),
        location,
        plan.newest_write.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (cutoff + timedelta(days=keep_days)).isoformat(),
    )


# ---------------------------------------------------------------- the stage


def run(
    config: Config,
    keep_days: int,
    stages: list[str] | tuple[str, ...] | None = None,
    dry_run: bool = False,
    confirm: Callable[[str], bool] | None = None,
    *,
    storage: Storage | None = None,
    counter: RequestCounter | None = None,
    today: date | None = None,
    progress: bool | None = None,
    hold_keys_max: int = HOLD_KEYS_MAX,
) -> PruneResult:
    """Delete (or, with dry_run, list) the partitions dated before today − keep_days (UTC).

    The partition dated exactly today − keep_days is kept: --keep-days N keeps N whole days plus today.
    `confirm(summary)` is asked before anything is deleted, even when nothing is due, so a cron line
    lacking --yes fails on its first run rather than on the first day data expires.
    """
    chosen = _checked(keep_days, stages)
    if storage is None:
        from mlprom.storage import open_storage

        storage = open_storage(config, counter=counter)
    if today is None:
        from mlprom.dates import utcnow

        today = utcnow().date()
    cutoff = today - timedelta(days=keep_days)
    protected_dates = firing_alert_dates(storage)
    show = sys.stderr.isatty() if progress is None else progress

    with _Progress(show) as bar:
        plan = _plan(storage, chosen, cutoff, protected_dates, hold_keys_max, bar)
        _keep_recent_by_the_store(plan, keep_days, cutoff, storage.location)
        base = PruneResult(
            location=storage.location,
            keep_days=keep_days,
            cutoff=cutoff,
            stages=chosen,
            dry_run=dry_run,
            cancelled=False,
            partitions=(),
            protected=(
                *_summaries(plan.protected, "kept_firing_alert"),
                *_summaries(plan.recent, "kept_newer_than_stored_data"),
            ),
            protected_dates=tuple(sorted(protected_dates)),
            objects=0,
            bytes=0,
            unknown_keys=tuple(plan.unknown),
            unknown_count=plan.unknown_count,
        )
        if plan.unknown_count:
            log.warning(
                "left alone %d key(s) outside the layout in %s, e.g. %s",
                plan.unknown_count,
                storage.location,
                ", ".join(plan.unknown[:3]),
            )
        if dry_run:
            return replace(
                base,
                partitions=_summaries(plan.expired, "would_delete"),
                objects=plan.objects,
                bytes=plan.bytes,
            )
        summary = summary_text(
            storage.location,
            plan.objects,
            plan.bytes,
            len(plan.expired),
            cutoff,
            len(plan.protected),
            len(plan.recent),
        )
        if confirm is not None and not confirm(summary):
            return replace(base, cancelled=True, partitions=_summaries(plan.expired, "cancelled"))
        return _delete(storage, plan, bar, base)


def _checked(keep_days: int, stages: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Refuse a --keep-days or --stage out of bounds; the stages to prune."""
    if keep_days < 1:
        raise ConfigError(
            f"--keep-days must be at least 1 (got {keep_days}): retention is counted in whole days"
        )
    if keep_days > MAX_KEEP_DAYS:
        # today - 999999 days is before year 1: refuse rather than overflow (docs/reliability.md).
        raise ConfigError(f"--keep-days {keep_days}: at most {MAX_KEEP_DAYS} (100 years)")
    chosen = tuple(stages) if stages else layout.STAGES
    for stage in chosen:
        if stage not in layout.STAGES:
            raise ConfigError(f"--stage {stage!r}: expected one of {', '.join(layout.STAGES)}")
    return chosen


def _summaries(partitions: dict[PartitionId, list[int]], status: str) -> tuple[PartitionSummary, ...]:
    """One summary per partition of the listing ([objects, bytes] each), all with `status`."""
    return tuple(
        PartitionSummary(stage=stage, day=day, objects=totals[0], bytes=totals[1], status=status)
        for (stage, day), totals in partitions.items()
    )


def _delete(storage: Storage, plan: _Plan, bar: _Progress, base: PruneResult) -> PruneResult:
    done: dict[PartitionId, list[int]] = {pid: [0, 0, 0] for pid in plan.expired}  # deleted, bytes, failed
    failures: list[tuple[str, str]] = []
    aborted = False
    task = bar.task("deleting", total=plan.objects)
    batch: list[tuple[str, int]] = []

    def flush() -> bool:
        """Delete one batch; False when the store refused every key of it (stop: it refuses us)."""
        if not batch:
            return True
        sizes = dict(batch)
        outcome = storage.delete_many(list(sizes))
        for key in outcome.deleted:
            tally = done[_partition_of(key)]
            tally[0] += 1
            tally[1] += sizes.get(key, 0)
        for key, reason in outcome.failed:
            done[_partition_of(key)][2] += 1
            if len(failures) < REPORTED_MAX:
                failures.append((shown_key(key), reason))
        bar.advance(task, len(batch))
        refused_all = len(outcome.failed) == len(batch)
        batch.clear()
        return not refused_all

    for key, size in _keys_to_delete(storage, plan):
        batch.append((key, size))
        if len(batch) == DELETE_BATCH and not flush():
            aborted = True
            break
    if not aborted:
        flush()
    bar.done(task)

    partitions = []
    not_attempted = 0
    for (stage, day), (deleted, nbytes, failed) in done.items():
        # After an abort, what the listing found and no batch reached is still there.
        left = max(plan.expired[(stage, day)][0] - deleted - failed, 0) if aborted else 0
        not_attempted += left
        status = "failed" if failed else "not_attempted" if left else "deleted"
        partitions.append(
            PartitionSummary(
                stage=stage, day=day, objects=deleted, bytes=nbytes, status=status, failed=failed + left
            )
        )
    failed_count = sum(t[2] for t in done.values())
    if failed_count or not_attempted:
        first_key, first_reason = failures[0] if failures else ("", "")
        log.error(
            "%d key(s) not deleted from %s%s; re-run prune to finish (first: %s: %s)",
            failed_count + not_attempted,
            storage.location,
            f", {not_attempted} not attempted after the store refused a whole batch" if not_attempted else "",
            first_key,
            first_reason,
        )
    return replace(
        base,
        partitions=tuple(partitions),
        objects=sum(t[0] for t in done.values()),
        bytes=sum(t[1] for t in done.values()),
        failures=tuple(failures),
        failed_count=failed_count,
        not_attempted=not_attempted,
    )


def _partition_of(key: str) -> PartitionId:
    where = layout.parse_partition(key)
    assert where is not None  # only keys inside a partition are ever handed to delete_many
    return where
