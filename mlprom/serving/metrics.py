"""Monitor's Prometheus metrics: a prediction-time histogram and prediction counters per model.

    mlprom_prediction_duration_seconds{model}   histogram of the wrapped model's time per predict call
    mlprom_predictions_total{model}             predict calls
    mlprom_slow_predictions_total{model}        calls slower than model.latency_threshold

They live in a prometheus_client registry: the process-wide default one (which the app's own exporter,
`start_http_server` or `make_wsgi_app`, already serves), or one handed in. Under gunicorn or any
pre-fork server, set PROMETHEUS_MULTIPROC_DIR before the app imports anything: prometheus_client then
keeps each worker's values in files there, and serve_metrics() (or MultiProcessCollector) sums them.
prometheus_client is imported here, never by `import mlprom`.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# Prometheus' default buckets up to 10 s (the default latency threshold), then 15, 30 and 60 s for
# models slower than a web request. Every bound is a place where `le` can answer "how many under X".
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_lock = threading.Lock()
# One set of families per registry: a second Monitor (another model) in the same process shares them.
_families: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Any]] = weakref.WeakKeyDictionary()
_servers: dict[tuple[str, int], Any] = {}


class PredictionMetrics:
    """The three series of one model; observe() is the whole hot-path cost (about a microsecond)."""

    __slots__ = ("_duration", "_predictions", "_slow", "threshold")

    def __init__(self, model: str, threshold: float, registry: CollectorRegistry | None = None) -> None:
        duration, predictions, slow = _families_for(registry)
        # Children made now, so every series exists at 0 before the first call (rate() needs the 0).
        self._duration = duration.labels(model=model)
        self._predictions = predictions.labels(model=model)
        self._slow = slow.labels(model=model)
        self.threshold = threshold

    def observe(self, seconds: float) -> None:
        self._duration.observe(seconds)
        self._predictions.inc()
        if seconds > self.threshold:
            self._slow.inc()


def _families_for(registry: CollectorRegistry | None) -> tuple[Any, Any, Any]:
    from prometheus_client import REGISTRY, Counter, Histogram

    registry = REGISTRY if registry is None else registry
    with _lock:
        families = _families.get(registry)
        if families is None:
            families = (
                Histogram(
                    "mlprom_prediction_duration_seconds",
                    "Time the wrapped model took per predict call, measured by mlprom.Monitor.",
                    ["model"],
                    buckets=BUCKETS,
                    registry=registry,
                ),
                Counter(
                    "mlprom_predictions_total",
                    "Predict calls through mlprom.Monitor.",
                    ["model"],
                    registry=registry,
                ),
                Counter(
                    "mlprom_slow_predictions_total",
                    "Predict calls slower than model.latency_threshold.",
                    ["model"],
                    registry=registry,
                ),
            )
            _families[registry] = families
    return families


def exposition_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """What to serve: in multiprocess mode a registry that sums every process' files, else `registry`."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get(MULTIPROC_ENV):
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
        return combined
    return REGISTRY if registry is None else registry


def serve_metrics(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry | None = None) -> Any:
    """Serve /metrics on addr:port in a daemon thread (once per address in a process); returns the server.

    Under gunicorn call it from the master (`when_ready` in gunicorn.conf.py), not from each worker:
    one port serves the sum of every worker's values.
    """
    from prometheus_client import start_http_server

    with _lock:
        server = _servers.get((addr, port))
        if server is None:
            server, _thread = start_http_server(port, addr, exposition_registry(registry))
            _servers[(addr, port)] = server
    return server
