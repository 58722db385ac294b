"""Monitor's prometheus_client metrics: histogram and counters per model, shared families, promtool-clean."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlprom.config import Config
from mlprom.serving.metrics import BUCKETS
from mlprom.serving.monitor import Monitor
from tests.fixtures.clock import FakeClock
from tests.fixtures.servers import require_binary


def _config(tmp_path: Path) -> Config:
    return Config.model_validate(
        {
            "storage": {"url": str(tmp_path / "data")},
            "model": {"name": "svc", "sample_rate": 0.0, "latency_threshold": "1s"},
        }
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr("mlprom.serving.monitor.time", SimpleNamespace(perf_counter=fake.perf_counter))
    yield fake


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"model": "svc", **labels})


def test_every_call_is_counted_and_timed_and_slow_ones_counted_apart(
    tmp_path: Path, clock: FakeClock
) -> None:
    registry = CollectorRegistry()
    with Monitor(lambda X: X, _config(tmp_path), registry=registry) as monitor:
        # Before any call the series exist at 0, so rate() sees the first increase.
        assert _value(registry, "mlprom_predictions_total") == 0.0
        clock.pending = [0.02, 0.02, 0.3, 2.0]
        for _ in range(4):
            monitor.predict([1])
    assert _value(registry, "mlprom_predictions_total") == 4.0
    assert _value(registry, "mlprom_slow_predictions_total") == 1.0  # only the 2 s call passed 1 s
    assert _value(registry, "mlprom_prediction_duration_seconds_count") == 4.0
    assert _value(registry, "mlprom_prediction_duration_seconds_sum") == pytest.approx(2.34)
    assert _value(registry, "mlprom_prediction_duration_seconds_bucket", le="0.025") == 2.0
    assert _value(registry, "mlprom_prediction_duration_seconds_bucket", le="0.5") == 3.0
    assert _value(registry, "mlprom_prediction_duration_seconds_bucket", le="+Inf") == 4.0


def test_monitors_of_two_models_share_one_registry(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with Monitor(lambda X: X, _config(tmp_path), name="a", registry=registry) as a:
        with Monitor(lambda X: X, _config(tmp_path), name="b", registry=registry) as b:
            a.predict([1])
            b.predict([1])
            b.predict([1])
    assert registry.get_sample_value("mlprom_predictions_total", {"model": "a"}) == 1.0
    assert registry.get_sample_value("mlprom_predictions_total", {"model": "b"}) == 2.0


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with Monitor(lambda X: X, _config(tmp_path), registry=registry, metrics=False) as monitor:
        monitor.predict([1])
    assert generate_latest(registry) == b""


def test_buckets_include_the_default_latency_threshold_and_minute_long_calls() -> None:
    assert 10.0 in BUCKETS and BUCKETS[-1] == 60.0 and list(BUCKETS) == sorted(BUCKETS)


def test_exposition_passes_promtool_check_metrics(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with Monitor(lambda X: X, _config(tmp_path), registry=registry) as monitor:
        monitor.predict([1])
    checked = subprocess.run(
        [require_binary("promtool"), "check", "metrics"],
        input=generate_latest(registry),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0 and checked.stdout + checked.stderr == b"", checked.stdout + checked.stderr
