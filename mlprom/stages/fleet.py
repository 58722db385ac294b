"""One stage for many models of one store (`--model NAME`..., `--all-models`): which models have data,
each model run with its own config in a bounded pool of threads, and every failure kept to its model.

The stage a model runs is handed in as a function of its config and of the run's `Shared` values (what
several models would otherwise each read again: correlate's infra of the date), so this module imports
no other stage.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mlprom import layout
from mlprom.config.schema import check_model_name
from mlprom.errors import MlpromError
from mlprom.reports.results import FleetMember, FleetResult

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.reports.results import StageResult
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

MAX_JOBS = 64  # models run at once at most: each holds a day of events in memory while it runs


# Stages whose models run one at a time unless --jobs says otherwise: correlate is CPU-bound Python, so
# threads of one process share one CPU and --jobs 2 measured no faster (docs/scaling.md); its event
# decoding already forks a worker per CPU on large days (events/scan.py).
CPU_BOUND_STAGES = frozenset({"correlate"})


def default_jobs(stage: str) -> int:
    """1 for correlate; min(4, CPUs) for alert, report and profile, which mostly wait on storage and
    Alertmanager answers."""
    if stage in CPU_BOUND_STAGES:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def selected_models(names: Iterable[str]) -> list[str]:
    """`--model` values in the order given, each once; ValueError naming a name that is not a model name."""
    chosen: list[str] = []
    for name in names:
        check_model_name(name)
        if name not in chosen:
            chosen.append(name)
    return chosen


def models_with_data(storage: Storage, stages: tuple[str, ...], days: Iterable[date]) -> list[str]:
    """Sorted names of the models with any object under stage/dt=D/model=NAME/ for the stages and dates.

    A store in the previous layout (one report per date, without a model segment) names no model here:
    the model it belongs to is run with `--model NAME`.
    """
    found: set[str] = set()
    for day in days:
        for stage in stages:
            for info in storage.list(layout.partition_prefix(stage, day)):
                parsed = layout.parse_model_partition(info.key)
                if parsed is None or parsed[2] in found:
                    continue
                try:
                    found.add(check_model_name(parsed[2]))
                except ValueError as exc:
                    # Written by something other than mlprom (its writers check the name): not a model.
                    log.warning("skipping %s: %s", info.key, exc)
    return sorted(found)


class _ModelPrefix(logging.Filter):
    """Prefixes each log line of a model's run with `model NAME:`: runs at once interleave their lines."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        model = getattr(self.local, "model", None)
        if model is not None and not getattr(record, "fleet_model", None):
            record.msg = f"model {model}: {record.msg}"
            record.fleet_model = model
        return True


T = TypeVar("T")


@dataclass
class _Entry:
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    failed: bool = False


class Shared:
    """Values one fleet run's models share, each loaded once per key, for as long as the run lasts.

    `get` is safe from the run's threads: the first caller of a key loads it while later callers of that
    key wait for its value. A load that raises is not kept: the next caller of the key loads again (each
    model then meets its own failure, as in a run of its own). The values are handed to every model
    with that key as they are: readers must not change them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self.loads = 0  # loads that returned a value
        self.hits = 0  # gets answered with a value loaded before

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        while True:
            with self._lock:
                entry = self._entries.get(key)
                owner = entry is None
                if entry is None:
                    entry = self._entries[key] = _Entry()
            if owner:
                return cast("T", self._load(key, entry, load))
            entry.done.wait()
            if not entry.failed:
                with self._lock:
                    self.hits += 1
                return cast("T", entry.value)

    def _load(self, key: Hashable, entry: _Entry, load: Callable[[], Any]) -> Any:
        try:
            value = load()
        except BaseException:
            with self._lock:
                del self._entries[key]
            entry.failed = True
            entry.done.set()
            raise
        entry.value = value
        with self._lock:
            self.loads += 1
        entry.done.set()
        return value


# A model's run: its config and the run's shared values -> its result.
Work = Callable[["Config", Shared], "StageResult"]
# After a model's run: its config, result and duration in seconds -> an exit code folded into the model's
# (the heartbeat push: 3 when it failed on an otherwise clean run).
After = Callable[["Config", "StageResult", float], int]
# Before `After`: the model's name, config and result -> the file it wrote the result to (`report --out
# DIR`); its MlpromError is the model's, as the run's own would be.
Publish = Callable[[str, "Config", "StageResult"], str]


def run(
    config: Config,
    stage: str,
    models: list[str],
    work: Work,
    *,
    jobs: int,
    after: After | None = None,
    publish: Publish | None = None,
) -> FleetResult:
    """Run `work` once per model with `config.for_model(model)` and one `Shared` for the whole run, at
    most `jobs` at a time; `publish` each model's result as it ends, then `after`.

    A model's MlpromError (or any other exception: a bug, exit 2) ends that model's run only; its exit
    code and message are its member's. Interrupted (SIGTERM, SIGINT) ends the whole run: models not
    started are never started.
    """
    jobs = max(1, min(jobs, MAX_JOBS, len(models) or 1))

    prefix = _ModelPrefix()
    shared = Shared()  # dropped with the run: nothing a model loaded outlives it

    def one(model: str) -> FleetMember:
        prefix.local.model = model
        try:
            return _run_one(config, model, lambda own: work(own, shared), after, publish)
        finally:
            prefix.local.model = None

    # On the handlers, not the logger: lines of mlprom.* loggers reach them by propagation too.
    handlers = list(log.handlers)
    for handler in handlers:
        handler.addFilter(prefix)
    try:
        if jobs == 1:
            return FleetResult(stage, tuple(one(model) for model in models))
        pool = ThreadPoolExecutor(jobs, thread_name_prefix="mlprom-fleet")
        try:
            futures: list[Future[FleetMember]] = [pool.submit(one, model) for model in models]
            return FleetResult(stage, tuple(future.result() for future in futures))
        finally:
            # On an interrupt the models not started are dropped and those running are not waited for:
            # the CLI ends the process with 143 (cli.main), as it does after a single model's run.
            pool.shutdown(wait=False, cancel_futures=True)
    finally:
        for handler in handlers:
            handler.removeFilter(prefix)


def _run_one(
    config: Config,
    model: str,
    work: Callable[[Config], StageResult],
    after: After | None,
    publish: Publish | None = None,
) -> FleetMember:
    started = time.monotonic()
    try:
        own = config.for_model(model)
        result = work(own)
        code = result.exit_code
        out = publish(model, own, result) if publish is not None else None
        if after is not None:
            code = max(code, after(own, result, time.monotonic() - started))
        return FleetMember(model, code, result, seconds=time.monotonic() - started, out=out)
    except MlpromError as exc:
        return FleetMember(model, exc.exit_code, error=str(exc), seconds=time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - one model's bug must not stop the others; reported as exit 2
        log.debug("internal error for model %s", model, exc_info=True)
        what = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        return FleetMember(
            model,
            2,
            error=f"internal error: {what} (a bug: -v shows where)",
            seconds=time.monotonic() - started,
        )
