"""Monitor fast-path overhead vs a bare call and vs one MLflow run per prediction; S3 PUTs per 10k events.

Run: python bench/monitor_overhead.py   (needs moto_server on PATH for the PUT count; --no-s3 skips it)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scaffold import free_port, machine_line


def model(X: list[float]) -> list[float]:
    return X


def best_ns_per_call(fn, arg, calls: int, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for _ in range(calls):
            fn(arg)
        best = min(best, (time.perf_counter_ns() - started) / calls)
    return best


def monitor_ns(tmp: Path, sample_rate: float, calls: int, metrics: bool = False) -> float:
    from prometheus_client import CollectorRegistry

    from mlprom.config import Config
    from mlprom.serving.monitor import Monitor

    config = Config.model_validate(
        {
            "storage": {"url": str(tmp / f"data-{sample_rate}")},
            "model": {"latency_threshold": "10s", "sample_rate": sample_rate},
        }
    )
    with Monitor(model, config, metrics=metrics, registry=CollectorRegistry()) as monitor:
        return best_ns_per_call(monitor.predict, [1.0], calls)


def mlflow_per_prediction_ns(tmp: Path, calls: int) -> float:
    """The old design: a run, a param and a metric for every prediction, on a local sqlite store."""
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench")

    def old_predict(X: list[float]) -> list[float]:
        with mlflow.start_run():
            mlflow.log_param("input", str(X))
            started = time.perf_counter()
            out = model(X)
            mlflow.log_metric("prediction_time", time.perf_counter() - started)
        return out

    old_predict([0.0])  # schema creation is not part of the per-call cost
    return best_ns_per_call(old_predict, [1.0], calls, repeats=1)


def puts_per_10k_events(tmp: Path) -> dict[str, int]:
    import boto3
    import requests

    from mlprom.config import Config
    from mlprom.serving.monitor import Monitor
    from mlprom.storage import RequestCounter
    from mlprom.storage.s3 import S3Storage

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(key, value)
    port = free_port()
    server = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(endpoint + "/moto-api/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        counter = RequestCounter()
        storage = S3Storage("bench", "m", endpoint_url=endpoint, region="us-east-1", counter=counter)
        config = Config.model_validate(
            {"storage": {"url": "s3://bench/m", "endpoint_url": endpoint}, "model": {"latency_threshold": 0}}
        )
        # Every call recorded (threshold 0): 10,000 events at the default flush interval and object size.
        with Monitor(model, config, storage=storage) as monitor:
            for i in range(10_000):
                monitor.predict([float(i)])
        return dict(counter.counts)
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--mlflow-calls", type=int, default=200)
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bare = best_ns_per_call(model, [1.0], args.calls)
        fast = monitor_ns(tmp, 0.0, args.calls)
        sampled = monitor_ns(tmp, 0.01, args.calls)
        with_metrics = monitor_ns(tmp, 0.0, args.calls, metrics=True)
        old = mlflow_per_prediction_ns(tmp, args.mlflow_calls)
        print(f"bare call:                         {bare:12.0f} ns/call")
        print(f"Monitor, sample_rate 0 (fast path): {fast:11.0f} ns/call  overhead {fast - bare:.0f} ns")
        print(
            f"Monitor, sample_rate 0.01:          {sampled:11.0f} ns/call  overhead {sampled - bare:.0f} ns"
        )
        print(
            f"Monitor, fast path + Prometheus metrics (default): {with_metrics:11.0f} ns/call  "
            f"overhead {with_metrics - bare:.0f} ns"
        )
        print(f"MLflow run per prediction (sqlite): {old:11.0f} ns/call")
        print(f"ratio Monitor/bare {fast / bare:.1f}x; MLflow-per-prediction/Monitor {old / fast:,.0f}x")
        if not args.no_s3:
            counts = puts_per_10k_events(tmp)
            print(f"S3 requests for 10,000 recorded events: {counts}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
