"""capture-model: run a model over an input batch by batch, time and score it, record events, one MLflow run.

Order: input header and label column, model, MLflow run (fail fast: nothing written), then the batches.

Operators' hands (docs/reliability.md): what the model prints goes to stderr, never into the result;
a model that raises, or exits, at import or on a batch is a model failure (exit 2) with what was
measured kept and the run FAILED; SIGTERM/SIGINT keep what was measured and end the run KILLED.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlprom.analysis.quality import QualityAccumulator, Task, infer_task, numeric_outputs, percentile
from mlprom.errors import ConfigError, InputError, Interrupted, MlpromError, UpstreamError, require_extra
from mlprom.reports.results import CaptureResult
from mlprom.runtime import interrupts
from mlprom.runtime.stdio import stdout_redirected

if TYPE_CHECKING:
    from mlprom.clients.mlflow_tracking import LoadedModel
    from mlprom.config import Config
    from mlprom.storage.inputs import Batch, InputFile
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

FLUSH_INTERVAL = 60.0  # seconds between event flushes of a long capture, so a crash loses little
MAX_BATCH_SIZE = 10_000_000
PLAIN_PROGRESS_INTERVAL = 30.0  # seconds between progress log lines when stderr is not a terminal


# ---------------------------------------------------------------- models


def load_model_ref(ref: str) -> Callable[[Any], Any]:
    """`module:attr` (attr may be dotted) -> the object's .predict, or the callable itself."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"--model {ref!r}: expected module:attr, e.g. mypkg.models:classifier")
    # The console script does not put the working directory on sys.path; `python -m` does. Be like the latter.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        # The module's own code runs here: its prints go to stderr like the model's.
        with stdout_redirected("stderr"):
            obj: Any = importlib.import_module(module_name)
    except Interrupted:
        raise
    except ModuleNotFoundError as exc:
        raise InputError(f"--model {ref!r}: cannot import {module_name}: {exc}") from None
    except BaseException as exc:  # noqa: BLE001 - the model's code: SyntaxError, ValueError, sys.exit() alike
        raise InputError(
            f"--model {ref!r}: importing {module_name} failed: {describe_failure(exc)}"
        ) from None
    finally:
        interrupts.reassert()  # a module that installed its own SIGTERM handler does not get to keep it
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InputError(f"--model {ref!r}: {module_name} has no attribute {attr}") from None
        except Exception as exc:  # noqa: BLE001 - a module __getattr__ is the model's code too
            raise InputError(
                f"--model {ref!r}: {module_name}.{part} failed: {describe_failure(exc)}"
            ) from None
    if isinstance(obj, type):
        raise InputError(f"--model {ref!r} is a class; name an instance or a function")
    predict = getattr(obj, "predict", None)
    if callable(predict):
        return predict
    if callable(obj):
        return obj
    raise InputError(f"--model {ref!r} is neither callable nor has a .predict method")


def describe_failure(exc: BaseException) -> str:
    """One line about an exception raised by a model's code: its type, message, and where for a SyntaxError."""
    if isinstance(exc, SystemExit):
        return f"the model's code called sys.exit({exc.code!r})"
    text = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    if isinstance(exc, SyntaxError) and exc.filename:
        text += f" ({exc.filename}:{exc.lineno})"
    return " ".join(text.split())[:500]


def as_prediction_list(output: Any, rows: int) -> list[Any] | None:
    """A model's output as one value per row, or None when it has another shape (several columns)."""
    try:
        return _as_prediction_list(output, rows)
    except Exception:  # noqa: BLE001 - an odd output object (a len() that raises, a broken tolist()) is not one value per row
        return None


def _as_prediction_list(output: Any, rows: int) -> list[Any] | None:
    import numpy as np
    import pandas as pd

    values: Any
    if isinstance(output, pd.DataFrame):
        if output.shape[1] == 1:
            values = output.iloc[:, 0].tolist()
        else:
            named = [c for c in ("prediction", "predictions", "label") if c in output.columns]
            if not named:
                return None
            values = output[named[0]].tolist()
    elif isinstance(output, pd.Series):
        values = output.tolist()
    elif isinstance(output, np.ndarray):
        if output.ndim == 2 and output.shape[1] == 1:
            output = output[:, 0]
        if output.ndim != 1:
            return None
        values = output.tolist()
    elif isinstance(output, list | tuple):
        values = list(output)
    else:
        return None
    return values if len(values) == rows else None


# ---------------------------------------------------------------- progress


@contextmanager
def progress_display(source: InputFile) -> Iterator[Callable[[int, int], None]]:
    """Yields update(rows, batches): a transient rich bar on a terminal, a log line every 30 s otherwise."""
    if log.getEffectiveLevel() > logging.INFO:
        yield lambda rows, batches: None
        return
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [
            TextColumn("capture-model"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]} rows"),
        ]
        with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("capture", total=source.size, rows=0)

            def update(rows: int, batches: int) -> None:
                bar.update(task, completed=source.consumed, rows=rows)

            yield update
        return
    started = last = time.monotonic()

    def plain(rows: int, batches: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PLAIN_PROGRESS_INTERVAL:
            last = now
            share = f" ({100 * source.consumed / source.size:.0f}% of the input)" if source.size else ""
            log.info(
                "capture-model: %d rows in %d batches after %.0fs%s", rows, batches, now - started, share
            )

    yield plain


# ---------------------------------------------------------------- the stage


def run(
    config: Config,
    *,
    input_path: str,
    model_uri: str | None = None,
    model_ref: str | None = None,
    label_column: str | None = None,
    batch_size: int = 100,
    day: date | None = None,
    sample_rate: float | None = None,
    with_infra: bool = False,
    storage: Storage | None = None,
    predict: Callable[[Any], Any] | None = None,
    rng: random.Random | None = None,
) -> CaptureResult:
    """Capture one input file; `predict` (a callable) may replace --model/--model-uri for library use."""
    require_extra(
        ("mlflow", "pandas"), "mlflow", "capture-model (its batches are pandas frames, its run MLflow's)"
    )
    from mlprom.clients.mlflow_tracking import MlflowRun, describe_model_uri, describe_uri, require_stores
    from mlprom.storage.inputs import open_input

    rate = _checked_rate(config, model_uri, model_ref, predict, batch_size, sample_rate)
    started_at = datetime.now(UTC)
    day = day or started_at.date()
    # A past --date replays an input into that partition: timestamps keep their time of day.
    shift = timedelta(days=(day - started_at.date()).days)
    if with_infra and shift:
        raise ConfigError(f"--with-infra snapshots Prometheus now; it cannot be combined with --date {day}")
    snapshot_fn = _infra_snapshotter() if with_infra else None

    source = open_input(input_path, config)
    try:
        _check_label_column(source, input_path, label_column)
        require_stores(config)  # a database store on mlflow-skinny: exit 2 before the model loads, no run
        version: str | None = None
        loaded: LoadedModel | None = None
        if predict is None:
            predict, version, loaded = _load_model(config, model_uri, model_ref)
        if storage is None:
            from mlprom.storage import open_storage

            storage = open_storage(config)
        params = {
            **_model_params(config, model_uri, model_ref, loaded, version),
            "input": input_path,
            "label_column": label_column,
            "batch_size": batch_size,
            "latency_threshold_seconds": config.model.latency_threshold,
            "sample_rate": rate,
            "record_inputs": config.model.record_inputs,
            "task": config.model.task,
            "date": day.isoformat(),
            "with_infra": with_infra,
            "storage": storage.location,
        }
        run_name = _run_name(config, day, started_at)
        # From the run's creation on, a signal waits for a point where stopping loses nothing (the model
        # call itself is still cut short): the run then always ends KILLED, never left RUNNING.
        with interrupts.deferred():
            tracker = MlflowRun.start(
                config, params, _run_tags(config, day, loaded), run_name, model=loaded, input_file=source
            )
            try:
                capture = _Capture(
                    config=config,
                    storage=storage,
                    predict=predict,
                    tracker=tracker,
                    label_column=label_column,
                    rate=rate,
                    shift=shift,
                    version=version,
                    rng=rng or random.Random(),
                    snapshot_fn=snapshot_fn,
                    model_desc=f"--model-uri {describe_model_uri(model_uri)}"
                    if model_uri
                    else f"--model {model_ref}",
                    day=day,
                    input_path=input_path,
                    tracking_uri=describe_uri(tracker.uri),
                )
            except BaseException:
                tracker.abort()  # the run exists: it ends FAILED, not RUNNING
                raise
            capture.consume(source, batch_size)
    finally:
        source.close()
    return capture.result()


def _checked_rate(
    config: Config,
    model_uri: str | None,
    model_ref: str | None,
    predict: Callable[[Any], Any] | None,
    batch_size: int,
    sample_rate: float | None,
) -> float:
    """Refuse a wrong combination of model flags, batch size or sample rate; the sample rate to use."""
    given = sum(x is not None for x in (model_uri, model_ref, predict))
    if given != 1:
        raise ConfigError("give exactly one of --model-uri and --model")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ConfigError(f"--batch-size {batch_size}: must be from 1 to {MAX_BATCH_SIZE:,}")
    rate = config.model.sample_rate if sample_rate is None else sample_rate
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"--sample-rate {rate}: must be between 0 and 1")
    return rate


def _check_label_column(source: InputFile, input_path: str, label_column: str | None) -> None:
    """Refuse a --label-column the input's header does not have, before the model is loaded."""
    if label_column is not None and label_column not in (source.columns or []):
        known = ", ".join(source.columns or []) or "none"
        raise InputError(f"{input_path}: no label column {label_column!r} (columns: {known})")


def _load_model(
    config: Config, model_uri: str | None, model_ref: str | None
) -> tuple[Callable[[Any], Any], str | None, LoadedModel | None]:
    """The model's predict, its version and, for --model-uri, what MLflow loaded."""
    from mlprom.clients.mlflow_tracking import load_pyfunc

    if model_uri is not None:
        loaded = load_pyfunc(model_uri, config)
        predict, version = loaded.predict, loaded.version
        interrupts.reassert()  # a model's code may have replaced the signal handlers
        return predict, version, loaded
    assert model_ref is not None
    return load_model_ref(model_ref), None, None


def _model_params(
    config: Config,
    model_uri: str | None,
    model_ref: str | None,
    loaded: LoadedModel | None,
    version: str | None,
) -> dict[str, str | None]:
    """The MLflow run's parameters that say which model ran (credentials left out of its URI)."""
    from mlprom.clients.mlflow_tracking import describe_model_uri

    return {
        "model_uri": describe_model_uri(model_uri) if model_uri else None,
        "model_loaded_uri": loaded.uri if loaded is not None and loaded.uri != model_uri else None,
        "model_ref": model_ref,
        "model_name": config.model.name,
        "model_version": version,
        "registered_model_name": loaded.name if loaded is not None else None,
    }


def _run_name(config: Config, day: date, started_at: datetime) -> str:
    """capture-<model>-<date>-<hhmmss>-<4 hex digits>: the partition it wrote, when (UTC) it started, and a
    random suffix so that runs started in the same second (a loop over inputs, parallel jobs) differ."""
    import secrets

    return f"capture-{config.model.name}-{day.isoformat()}-{started_at:%H%M%S}-{secrets.token_hex(2)}"


def _run_tags(config: Config, day: date, loaded: LoadedModel | None) -> dict[str, str]:
    tags = {
        "mlprom.command": "capture-model",
        "mlprom.model": config.model.name,
        "mlprom.date": day.isoformat(),
    }
    if loaded is not None and loaded.name:
        tags["mlprom.registered_model"] = f"{loaded.name}/{loaded.version}"
    return tags


def _infra_snapshotter() -> Callable[..., Any]:
    try:
        from mlprom.infra.snapshot import capture_snapshot
    except ImportError as exc:
        raise ConfigError(f"--with-infra is not available in this build: {exc}") from None
    return capture_snapshot


class _Capture:
    """The batch loop's state: timings, quality, the event buffer, the MLflow run, the infra rate limit."""

    def __init__(
        self,
        *,
        config: Config,
        storage: Storage,
        predict: Callable[[Any], Any],
        tracker: Any,
        label_column: str | None,
        rate: float,
        shift: timedelta,
        version: str | None,
        rng: random.Random,
        snapshot_fn: Callable[..., Any] | None,
        model_desc: str = "the model",
        day: date | None = None,
        input_path: str = "",
        tracking_uri: str = "",
    ) -> None:
        from mlprom.analysis.sketch import LatencySketch
        from mlprom.events.log import EventBuffer

        self.config = config
        self.storage = storage
        self.predict = predict
        self.tracker = tracker
        self.label_column = label_column
        self.rate = rate
        self.shift = shift
        self.version = version
        self.rng = rng
        self.snapshot_fn = snapshot_fn
        self.model_desc = model_desc
        self.day = day or datetime.now(UTC).date()
        self.input_path = input_path
        self.tracking_uri = tracking_uri
        self.threshold = config.model.latency_threshold
        self.buffer = EventBuffer(storage)
        # Every batch's time, by minute: correlate re-classifies slow at any threshold from it.
        self.sketch = LatencySketch()
        self.latencies = array("d")
        self.rows = 0
        self.slow = 0
        self.sampled = 0
        self.quality: QualityAccumulator | None = None
        self.task: Task | None = None
        self.warnings: list[str] = []
        self.snapshots: list[str] = []
        self.infra_errors: list[str] = []
        self._last_snapshot: float | None = None
        self._last_flush = time.monotonic()
        self._shape_warned = False

    def consume(self, source: InputFile, batch_size: int) -> None:
        try:
            with interrupts.deferred(), progress_display(source) as update:
                batches = source.batches(batch_size)
                while True:
                    interrupts.checkpoint()  # a signal received during bookkeeping stops here
                    batch = interrupts.interruptibly(next, batches, None)
                    if batch is None:
                        break
                    self.one_batch(batch, source.location)
                    update(self.rows, len(self.latencies))
                    if time.monotonic() - self._last_flush >= FLUSH_INTERVAL:
                        self._flush()
                interrupts.checkpoint()
        except Interrupted as exc:
            exc.detail = self._stop()
            raise
        except BaseException:
            if interrupts.received() is not None:
                self._stop()  # the model turned the signal into another error: still a kill
            else:
                self._close(False)
            raise
        self._close(True)

    def _stop(self) -> str:
        """After SIGTERM/SIGINT: write the events measured so far, end the run KILLED; say what was kept."""
        with interrupts.cleanup():
            kept = f"{len(self.latencies)} batch(es) measured"
            try:
                self._flush()
                kept += f", {self.buffer.written_events} event(s) written"
            except MlpromError as exc:
                kept += f", events NOT written ({exc})"
                log.warning("events of this run not written: %s", exc)
            try:
                self.tracker.finish(self.summary_metrics(), status="KILLED", document=self.summary_document())
                kept += f"; MLflow run {self.tracker.run_id} ended KILLED"
            except UpstreamError as exc:
                kept += f"; MLflow run {self.tracker.run_id} not ended ({exc})"
                log.warning("%s", exc)
            return kept

    def _flush(self) -> None:
        self.buffer.flush()
        self._flush_sketch()
        self._last_flush = time.monotonic()

    def _flush_sketch(self) -> None:
        from mlprom.analysis.sketch import LatencySketch
        from mlprom.events.sketches import write_sketch

        if not self.sketch:
            return
        sketch, self.sketch = self.sketch, LatencySketch()
        try:
            write_sketch(self.storage, self.config.model.name, sketch, self.threshold, "capture-model")
        except Exception:
            self.sketch.merge(sketch)  # kept for the next flush
            raise

    def _close(self, finished: bool) -> None:
        """Flush events, end the MLflow run; after a failure, keep what was captured and let it propagate."""
        with interrupts.cleanup():
            self._close_now(finished)

    def _close_now(self, finished: bool) -> None:
        if not finished:
            try:
                self._flush()
            except MlpromError as exc:
                log.warning("events of this run not written: %s", exc)
            try:
                self.tracker.flush()
            except UpstreamError as exc:
                log.warning("%s", exc)
            self.tracker.abort()
            return
        try:
            self._flush()
        except MlpromError:
            self.tracker.abort()
            raise
        self.tracker.finish(self.summary_metrics(), document=self.summary_document())

    def one_batch(self, batch: Batch, location: str) -> None:
        frame = batch.frame
        labels = None
        if self.label_column is not None:
            if self.label_column not in frame.columns:
                raise InputError(
                    f"{location}: line {batch.first_line}: "
                    f"no label column {self.label_column!r} in this batch"
                )
            labels = frame[self.label_column].tolist()
            frame = frame.drop(columns=[self.label_column])
        rows = len(frame)
        try:
            # stdout is the result's: the model's prints (Python or C) go to stderr while it runs.
            with stdout_redirected("stderr"):
                started = time.perf_counter()
                output = interrupts.interruptibly(self.predict, frame)
                elapsed = time.perf_counter() - started
        except Interrupted:
            raise
        except BaseException as exc:  # noqa: BLE001 - any model failure, sys.exit() included, is reported with its rows
            last_line = batch.first_line + rows - 1
            raise InputError(
                f"{location}: lines {batch.first_line}-{last_line}: {self.model_desc} failed on batch "
                f"{batch.index}: {describe_failure(exc)}"
            ) from None
        ts = datetime.now(UTC) + self.shift
        self.latencies.append(elapsed)
        self.sketch.add(ts.timestamp(), elapsed)
        self.rows += rows

        predictions = as_prediction_list(output, rows)
        if predictions is None and not self._shape_warned:
            self._shape_warned = True
            kind = type(output).__name__
            message = f"the model's output ({kind}) is not one value per row: no quality metrics"
            self.warnings.append(message)
            log.warning("%s", message)
        metrics: dict[str, float] = {}
        if labels is not None and predictions is not None:
            if self.quality is None:
                # model.task auto is settled on the first batch, so every batch is scored the same way.
                self.task = infer_task(labels) if self.config.model.task == "auto" else self.config.model.task
                self.quality = QualityAccumulator(self.task)
            try:
                metrics = self.quality.add(labels, predictions)
            except (TypeError, ValueError, ArithmeticError) as exc:
                # Labels and predictions that cannot be compared: the batch is timed, not scored.
                message = f"batch {batch.index} not scored: {exc.__class__.__name__}: {exc}"
                self.warnings.append(message)
                log.warning("%s", message)

        step = batch.index
        self.tracker.log_metrics(
            {"batch_prediction_time_seconds": elapsed, **{f"batch_{k}": v for k, v in metrics.items()}},
            step=step,
        )
        slow = elapsed > self.threshold
        sampled = not slow and self.rate > 0 and self.rng.random() < self.rate
        if not (slow or sampled):
            return
        self.slow += slow
        self.sampled += sampled
        self._record(batch, frame, rows, elapsed, ts, slow, metrics, predictions)
        if slow and self.snapshot_fn is not None:
            self._snapshot(ts)

    def _record(
        self,
        batch: Batch,
        frame: Any,
        rows: int,
        elapsed: float,
        ts: datetime,
        slow: bool,
        metrics: dict[str, float],
        predictions: list[Any] | None,
    ) -> None:
        from mlprom.records import Event
        from mlprom.storage.inputs import batch_digest, batch_rows

        mode = self.config.model.record_inputs
        event = Event(
            ts=ts,
            model=self.config.model.name,
            prediction_time_seconds=elapsed,
            slow=slow,
            rows=rows,
            model_version=self.version,
            accuracy=metrics.get("accuracy"),
            loss=metrics.get("loss"),
            metrics=metrics,
            mlflow_run_id=self.tracker.run_id,
            input_digest=batch_digest(frame) if mode != "none" else None,
            sampled=not slow,
            source="capture-model",
            batch=batch.index,
            outputs=numeric_outputs(predictions) if predictions is not None else None,
            inputs=batch_rows(frame) if mode == "full" else None,
        )
        if self.buffer.add(event):
            self._flush()

    def _snapshot(self, at: datetime) -> None:
        # At most one snapshot per correlate.max_skew: any event in that window can join it.
        now = time.monotonic()
        if self._last_snapshot is not None and now - self._last_snapshot < self.config.correlate.max_skew:
            return
        self._last_snapshot = now
        assert self.snapshot_fn is not None
        try:
            _snapshot, key = self.snapshot_fn(self.config, self.storage, at=at)
        except UpstreamError as exc:
            self.infra_errors.append(str(exc))
            log.warning("infra snapshot failed: %s", exc)
            return
        self.snapshots.append(key)

    def latency_summary(self) -> dict[str, float]:
        if not self.latencies:
            return {}
        values = list(self.latencies)
        return {
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
            "max": max(values),
            "mean": sum(values) / len(values),
        }

    def summary_document(self) -> dict[str, Any]:
        """capture-summary.json: the document `-o json` prints, its schema_version included."""
        from mlprom.reports.results import SCHEMA_VERSION

        return {**self.result().to_dict(), "schema_version": SCHEMA_VERSION}

    def summary_metrics(self) -> dict[str, float]:
        out: dict[str, float] = {
            "rows": float(self.rows),
            "batches": float(len(self.latencies)),
            "slow_batches": float(self.slow),
            "sampled_batches": float(self.sampled),
            "events": float(self.buffer.written_events),
        }
        for name, value in self.latency_summary().items():
            out[f"prediction_time_{name}_seconds"] = value
        if self.quality is not None:
            out.update(self.quality.summary())
        if self.snapshot_fn is not None:
            out["infra_snapshots"] = float(len(self.snapshots))
        return out

    def result(self) -> CaptureResult:
        return CaptureResult(
            model=self.config.model.name,
            date=self.day,
            input=self.input_path,
            rows=self.rows,
            batches=len(self.latencies),
            slow_batches=self.slow,
            sampled_batches=self.sampled,
            events=self.buffer.written_events,
            event_keys=tuple(self.buffer.written_keys),
            latency=self.latency_summary(),
            quality=self.quality.summary() if self.quality is not None else {},
            task=self.task,
            latency_threshold=self.threshold,
            mlflow_run_id=self.tracker.run_id,
            tracking_uri=self.tracking_uri,
            model_version=self.version,
            snapshots=tuple(self.snapshots),
            infra_errors=tuple(self.infra_errors),
            warnings=tuple(self.warnings),
        )
