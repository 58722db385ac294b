"""Monitor: outputs pass through unchanged, slow calls become events, many threads, flush at close."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mlprom.config import Config
from mlprom.serving.monitor import Monitor
from mlprom.storage.local import LocalStorage
from tests.fixtures.recent import recent_events


def config(tmp_path: Path, **model: object) -> Config:
    return Config.model_validate(
        {"storage": {"url": str(tmp_path / "data")}, "model": {"name": "svc", "sample_rate": 0.0, **model}}
    )


def today_events(tmp_path: Path) -> list:  # type: ignore[type-arg]
    return recent_events(LocalStorage(tmp_path / "data"), "svc")


class Doubler:
    def predict(self, X: list[float]) -> list[float]:
        if X and X[0] < 0:
            time.sleep(0.3)  # "slow" calls, far above the 0.1 s threshold below
        return [2 * x for x in X]


def test_predict_returns_the_model_output_unchanged(tmp_path: Path) -> None:
    sentinel = object()
    with Monitor(lambda X: sentinel, config(tmp_path)) as monitor:
        assert monitor.predict([1]) is sentinel


def test_slow_calls_are_recorded_with_quality_and_fast_ones_are_not(tmp_path: Path) -> None:
    with Monitor(Doubler(), config(tmp_path, latency_threshold="100ms")) as monitor:
        assert monitor.predict([1.0, 2.0]) == [2.0, 4.0]
        monitor.predict([-1.0, 3.0], y_true=[-2.0, 0.0])
    (event,) = today_events(tmp_path)
    assert event.slow and event.source == "monitor" and event.rows == 2
    assert event.outputs == (-2.0, 6.0)
    assert event.metrics["accuracy"] == 0.5
    assert event.input_digest and event.input_digest.startswith("sha256:")


def test_many_threads_lose_no_events(tmp_path: Path) -> None:
    monitor = Monitor(lambda X: X, config(tmp_path, latency_threshold=0), flush_interval=0.05, max_events=50)
    threads = [threading.Thread(target=lambda: [monitor.predict([i]) for i in range(200)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monitor.close()
    assert len(today_events(tmp_path)) == 1600
    assert monitor.events_written == 1600


def test_close_flushes_what_is_buffered_and_is_idempotent(tmp_path: Path) -> None:
    monitor = Monitor(lambda X: X, config(tmp_path, latency_threshold=0), flush_interval=3600)
    monitor.predict([1])
    assert today_events(tmp_path) == []  # nothing written before the flush
    monitor.close()
    monitor.close()
    assert len(today_events(tmp_path)) == 1


def test_sampled_fast_calls_are_flagged(tmp_path: Path) -> None:
    with Monitor(lambda X: X, config(tmp_path, sample_rate=1.0)) as monitor:
        monitor.predict([1])
    (event,) = today_events(tmp_path)
    assert event.sampled and not event.slow


class FlakyStorage(LocalStorage):
    """Local storage whose writes fail while `down` is set."""

    down = True

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        if self.down:
            from mlprom.errors import StorageError

            raise StorageError(f"{self.location}: cannot write {key}: injected outage")
        super().put_bytes(key, data, content_type)


def test_storage_outage_keeps_newest_events_up_to_the_cap_and_counts_the_rest(tmp_path: Path) -> None:
    storage = FlakyStorage(tmp_path / "data")
    monitor = Monitor(lambda X: X, config(tmp_path, sample_rate=1.0), storage=storage, max_buffered=50)
    try:
        for i in range(80):
            monitor.predict([float(i)])
        monitor._flush_quietly()  # the flusher's own path: the failure is logged, nothing raised
        assert monitor.flush_errors >= 1
        assert len(monitor.buffer) == 50 and monitor.events_dropped == 30
        storage.down = False
    finally:
        monitor.close()
    outputs = sorted(e.outputs[0] for e in today_events(tmp_path) if e.outputs)
    assert outputs == [float(i) for i in range(30, 80)]


@pytest.mark.parametrize("name", ["a/b", "svc\n", "line\nbreak", " svc", "modèle", "", "..", "-x", "a" * 129])
def test_a_name_that_is_not_a_model_name_is_refused_before_anything_is_written(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ValueError) as caught:
        Monitor(lambda X: X, config(tmp_path, latency_threshold=0), name=name, metrics=False)
    assert repr(name) in str(caught.value)
    assert "model name" in str(caught.value)
    assert not (tmp_path / "data").exists()


def test_a_valid_name_given_to_monitor_partitions_its_events(tmp_path: Path) -> None:
    with Monitor(lambda X: X, config(tmp_path, latency_threshold=0), name="fraud-v2.1_b", metrics=False) as m:
        m.predict([1.0])
    assert len(recent_events(LocalStorage(tmp_path / "data"), "fraud-v2.1_b")) == 1
