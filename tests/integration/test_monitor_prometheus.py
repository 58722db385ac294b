"""Monitor's metrics scraped by the real Prometheus of the test stack; the default http_latency query reads them."""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry

from mlprom.config import DEFAULT_QUERIES, Config
from mlprom.serving.monitor import Monitor
from tests.fixtures.clock import FakeClock
from tests.fixtures.servers import PrometheusStack, free_port

pytestmark = pytest.mark.integration


def _query(stack: PrometheusStack, expr: str) -> list[dict[str, Any]]:
    body = requests.get(stack.prometheus_url + "/api/v1/query", params={"query": expr}, timeout=5).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _poll(stack: PrometheusStack, expr: str, done: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
    # Waits for scrapes to land (every second); the assertions are on values, never on time taken.
    deadline = time.monotonic() + timeout
    result = _query(stack, expr)
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.5)
        result = _query(stack, expr)
    assert done(result), f"{expr} never settled: {result}"
    return result


def test_prometheus_scrapes_monitor_and_histogram_quantile_returns_the_planted_latency(
    prometheus_stack: PrometheusStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = f"planted-{uuid.uuid4().hex[:8]}"
    config = Config.model_validate(
        {
            "storage": {"url": str(tmp_path / "data")},
            "model": {"name": model, "sample_rate": 0.0, "latency_threshold": "1s"},
        }
    )
    clock = FakeClock()
    monkeypatch.setattr("mlprom.serving.monitor.time", SimpleNamespace(perf_counter=clock.perf_counter))
    port = free_port()
    with Monitor(lambda X: X, config, registry=CollectorRegistry(), metrics_port=port) as monitor:
        prometheus_stack.add_scrape_target(f"127.0.0.1:{port}")
        # First a scrape of the zero state, so the calls below are an increase rate() can see.
        _poll(prometheus_stack, f'mlprom_predictions_total{{model="{model}"}}', lambda r: len(r) == 1)
        clock.pending = [0.02] * 90 + [3.0] * 10  # 90 calls of 20 ms, 10 of 3 s
        for _ in range(100):
            monitor.predict([1.0])
        total = _poll(
            prometheus_stack,
            f'mlprom_predictions_total{{model="{model}"}}',
            lambda r: r and r[0]["value"][1] == "100",
        )
        assert total[0]["metric"]["job"] == "apps"

        slow = _query(prometheus_stack, f'mlprom_slow_predictions_total{{model="{model}"}}')
        assert slow[0]["value"][1] == "10"

        def quantile(q: float) -> float:
            expr = (
                f"histogram_quantile({q}, sum by (le) "
                f'(rate(mlprom_prediction_duration_seconds_bucket{{model="{model}"}}[5m])))'
            )
            (sample,) = _poll(prometheus_stack, expr, lambda r: r and math.isfinite(float(r[0]["value"][1])))
            return float(sample["value"][1])

        assert 2.5 < quantile(0.95) <= 5.0  # the bucket holding the planted 3 s calls
        assert 0.01 < quantile(0.5) <= 0.025  # the bucket holding the planted 20 ms calls

        # The default http_latency query reads what Monitor exports, one series per model and instance.
        default = _poll(
            prometheus_stack,
            DEFAULT_QUERIES["http_latency"]["expr"],
            lambda r: any(
                s["metric"].get("model") == model and math.isfinite(float(s["value"][1])) for s in r
            ),
        )
        (mine,) = [s for s in default if s["metric"].get("model") == model]
        assert set(mine["metric"]) == {"model", "instance"}
        assert 2.5 < float(mine["value"][1]) <= 5.0
