"""Monitor: wrap a model in a serving process; slow and sampled calls become events, written in background.

The fast path (under the threshold, not sampled) costs one perf_counter pair, a comparison and a random draw.

At exit: buffered events are written at interpreter exit (atexit), and on SIGTERM when nobody else
handles it: if the process has no SIGTERM handler of its own (SIG_DFL) when the first Monitor is made
in the main thread, Monitor installs one that writes every Monitor's buffer (for at most
SIGTERM_FLUSH_SECONDS) and then dies of SIGTERM as it would have. A server that handles SIGTERM itself
(gunicorn, uvicorn, ...) keeps its handler and exits through atexit. docs/reliability.md.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import signal
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mlprom.config import Config
    from mlprom.events.log import EventBuffer
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

DEFAULT_FLUSH_INTERVAL = 10.0  # seconds: events reach storage at most this late
DEFAULT_MAX_EVENTS = 10_000  # events per object; with the interval, bounds PUTs per event
DEFAULT_MAX_BUFFERED = 100_000  # while storage is down: beyond this the oldest events are dropped, counted
# Kubernetes' default grace period is 30 s, systemd's 90 s: a flush gets a third of the shorter.
SIGTERM_FLUSH_SECONDS = 10.0

_live: weakref.WeakSet[Monitor] = weakref.WeakSet()
_sigterm_installed = False


def _flush_all() -> None:
    for monitor in list(_live):
        monitor._flush_quietly()


def _on_sigterm(signum: int, frame: object) -> None:
    """Write what every Monitor buffered, then die of SIGTERM exactly as without mlprom."""
    # A second SIGTERM, or a kill while we flush, ends the process at once, as it always did.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The flush runs in a thread: the interrupted main thread may hold a buffer's lock, and waiting on
    # it here would hang; after SIGTERM_FLUSH_SECONDS the process dies with what could not be written.
    writer = threading.Thread(target=_flush_all, name="mlprom-monitor-sigterm", daemon=True)
    writer.start()
    writer.join(SIGTERM_FLUSH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm_flush() -> None:
    """Only where it cannot intrude: the main thread, and no SIGTERM handler set by the host process."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    _sigterm_installed = True


class Monitor:
    """`Monitor(model).predict(X, y_true=None)` returns the model's output unchanged and records slow calls.

    `model` is an object with .predict or a callable. `config` is a Config, a path to a YAML file,
    or None for the usual lookup (--config is absent here: $MLPROM_CONFIG, ./mlprom.yaml, defaults).
    `name` (default `model.name`) follows `model.name`'s rule; any other name is a ValueError.
    Thread-safe: many threads may call predict at once. Every call is also counted and timed in
    Prometheus metrics (mlprom/serving/metrics.py) in `registry` (default: prometheus_client's own),
    served on `metrics_port` when given; `metrics=False` turns them off.
    """

    def __init__(
        self,
        model: Any,
        config: Config | str | Path | None = None,
        name: str | None = None,
        *,
        storage: Storage | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        model_version: str | None = None,
        mlflow_run_id: str | None = None,
        metrics: bool = True,
        registry: CollectorRegistry | None = None,
        metrics_port: int | None = None,
    ) -> None:
        from mlprom.config import Config, load_config
        from mlprom.config.schema import check_model_name
        from mlprom.events.log import EventBuffer
        from mlprom.storage import open_storage

        if isinstance(config, Config):
            self.config = config
        else:
            self.config = load_config(str(config) if config is not None else None)
        predict = getattr(model, "predict", None)
        if callable(predict):
            self._call: Callable[[Any], Any] = predict
        elif callable(model):
            self._call = model
        else:
            kind = type(model).__name__
            raise TypeError(f"Monitor needs a callable or an object with .predict, got {kind}")
        # The same rule as model.name: the name is the events' partition (model=NAME) and a label, so a
        # name with '/', a line break or a leading space would write where no reader looks.
        self.name = check_model_name(name) if name is not None else self.config.model.name
        self.model_version = model_version
        self.mlflow_run_id = mlflow_run_id
        self.threshold = self.config.model.latency_threshold
        self.sample_rate = self.config.model.sample_rate
        self.storage = storage if storage is not None else open_storage(self.config)
        self.buffer: EventBuffer = EventBuffer(self.storage, max_events=max_events, max_buffered=max_buffered)
        from mlprom.serving.recorder import SketchRecorder

        # Every call's latency by minute (not only the recorded ones), written beside the events.
        self._sketch = SketchRecorder()
        self._sketch_add = self._sketch.add
        self.flush_interval = flush_interval
        self.flush_errors = 0
        self._random = random.random  # the module's generator: thread-safe and cheap
        # Prometheus metrics of every call (mlprom/serving/metrics.py): into `registry`, else the default
        # one the app's exporter serves; metrics_port also serves it on /metrics.
        self._observe: Callable[[float], None] = _ignore
        if metrics:
            from mlprom.serving.metrics import PredictionMetrics, serve_metrics

            self._observe = PredictionMetrics(self.name, self.threshold, registry).observe
            if metrics_port is not None:
                serve_metrics(metrics_port, registry=registry)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._flusher, name=f"mlprom-monitor-{self.name}", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        _live.add(self)
        _install_sigterm_flush()

    # The hot path: keep it free of locks, allocation and attribute chains beyond the minimum.
    def predict(self, X: Any, y_true: Any = None) -> Any:
        started = time.perf_counter()
        output = self._call(X)
        elapsed = time.perf_counter() - started
        self._observe(elapsed)
        self._sketch_add(started, elapsed)
        if elapsed > self.threshold or self._random() < self.sample_rate:
            self._record(X, output, y_true, elapsed)
        return output

    __call__ = predict

    def _record(self, X: Any, output: Any, y_true: Any, elapsed: float) -> None:
        # Recording must never break serving: a failure here is logged and the output still returned.
        try:
            event = self._event(X, output, y_true, elapsed)
            if self.buffer.add(event):
                self._wake.set()
        except Exception as exc:  # noqa: BLE001 - any failure to describe a call must not reach the caller
            log.warning("mlprom monitor %s: event not recorded: %s: %s", self.name, type(exc).__name__, exc)

    def _event(self, X: Any, output: Any, y_true: Any, elapsed: float) -> Any:
        from mlprom.records import Event

        slow = elapsed > self.threshold
        values = _as_list(output)
        rows = len(values) if values is not None else _rows(X)
        metrics: dict[str, float] = {}
        if y_true is not None and values is not None:
            from mlprom.analysis.quality import quality_metrics

            labels = _as_list(y_true)
            if labels is not None and len(labels) == len(values):
                task = self.config.model.task
                metrics = quality_metrics(labels, values, task)
        mode = self.config.model.record_inputs
        outputs = None
        if values is not None:
            from mlprom.analysis.quality import numeric_outputs

            outputs = numeric_outputs(values)
        return Event(
            ts=datetime.now(UTC),
            model=self.name,
            prediction_time_seconds=elapsed,
            slow=slow,
            rows=rows,
            model_version=self.model_version,
            accuracy=metrics.get("accuracy"),
            loss=metrics.get("loss"),
            metrics=metrics,
            mlflow_run_id=self.mlflow_run_id,
            input_digest=_digest(X) if mode != "none" else None,
            sampled=not slow,
            source="monitor",
            outputs=outputs,
            inputs=_plain(X) if mode == "full" else None,
        )

    def _flusher(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.buffer.flush()
            self._flush_sketch()
        except Exception as exc:  # noqa: BLE001 - the events stay buffered; the next flush retries
            self.flush_errors += 1
            kept, dropped = len(self.buffer), self.buffer.dropped_events
            log.warning(
                "mlprom monitor %s: flush failed, %d events kept, %d dropped so far: %s",
                self.name,
                kept,
                dropped,
                exc,
            )

    def _flush_sketch(self) -> list[str]:
        from mlprom.events.sketches import write_sketch

        sketch = self._sketch.drain()
        if not sketch:
            return []
        try:
            return write_sketch(self.storage, self.name, sketch, self.threshold, "monitor")
        except Exception:
            self._sketch.restore(sketch)  # the next flush retries it
            raise

    def flush(self) -> list[str]:
        """Write every buffered event now; returns the keys written. Raises the storage error, if any."""
        keys = self.buffer.flush()
        self._flush_sketch()
        return keys

    def close(self) -> None:
        """Stop the flusher and write what is buffered. Called at interpreter exit too; safe to call twice."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=max(self.flush_interval, 30.0))
        self._flush_quietly()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def events_written(self) -> int:
        return self.buffer.written_events

    @property
    def events_dropped(self) -> int:
        """Events dropped because storage failed for longer than the buffer could hold."""
        return self.buffer.dropped_events


def _ignore(_: float) -> None:
    pass


def _as_list(value: Any) -> list[Any] | None:
    """A model output or labels as one value per row, without importing numpy or pandas."""
    if isinstance(value, list | tuple):
        return list(value)
    tolist = getattr(value, "tolist", None)  # numpy arrays, pandas Series
    if callable(tolist) and getattr(value, "ndim", 1) == 1:
        result = tolist()
        return result if isinstance(result, list) else None
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 1 and hasattr(value, "iloc"):
        return list(value.iloc[:, 0].tolist())
    if shape is not None and len(shape) == 2 and shape[1] == 1 and callable(tolist):
        return [row[0] for row in tolist()]
    return None


def _rows(X: Any) -> int:
    try:
        return len(X)
    except TypeError:
        return 1


def _plain(X: Any) -> Any:
    import orjson

    if hasattr(X, "to_dict") and hasattr(X, "columns"):
        X = X.to_dict(orient="records")
    elif hasattr(X, "tolist"):
        X = X.tolist()
    return orjson.loads(orjson.dumps(X, default=str, option=orjson.OPT_SERIALIZE_NUMPY))


def _digest(X: Any) -> str:
    import hashlib

    import orjson

    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        from mlprom.storage.inputs import batch_digest

        return batch_digest(X)
    body = orjson.dumps(_plain(X))
    return "sha256:" + hashlib.sha256(body).hexdigest()
