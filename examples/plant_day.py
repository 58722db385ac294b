"""Write a planted day into mlprom storage: one snapshot a minute and a day of events, where disk_write_io on
node-b rises exactly while predictions are slow (03:00-03:30 and 14:00-14:45 UTC) and every other series
stays put. Snapshots are missing 05:00-06:30, as when the capture cron stops. For demos, screenshots,
tests and benchmarks of the report.

Usage: python examples/plant_day.py DIR DATE [EVENTS] [--reference-days N]
       stores into DIR/data, writes DIR/mlprom.yaml and prints its path; then
       mlprom -c DIR/mlprom.yaml -o html correlate --date DATE > report.html
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mlprom.events.log import write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.storage.interface import Storage

# name -> (PromQL, unit); the config below declares the same, so thresholds and units apply.
QUERIES = {
    "cpu_usage": ('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))', "ratio"),
    "memory_usage": ("100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)", "percent"),
    "disk_write_io": ("sum by (instance) (rate(node_disk_written_bytes_total[1m]))", "bytes/s"),
}
INSTANCES = ("node-a:9100", "node-b:9100", "node-c:9100")
PLANTED = ("disk_write_io", "node-b:9100")
SLOW_WINDOWS = ((3 * 3600, 1800), (14 * 3600, 2700))  # (seconds after midnight, length)
MISSING_SNAPSHOTS = (5 * 3600, 6 * 3600 + 1800)
SLOW_SHARE = 0.01


def config_yaml(storage_url: str, model: str = "default", snapshots_only: bool = False) -> str:
    """A config for the planted day: its queries with units, thresholds, a 1 s latency threshold.

    `snapshots_only` sets correlate.infra_source: snapshots, for a day with no Prometheus behind it
    (else correlate tries Prometheus for history and warns that it could not).
    """
    queries = "\n".join(
        f"  {name}: {{expr: '{expr}', unit: '{unit}'}}" for name, (expr, unit) in QUERIES.items()
    )
    return (
        f"storage: {{url: '{storage_url}'}}\n"
        f"model: {{name: {model}, latency_threshold: 1s}}\n"
        f"queries:\n{queries}\n"
        "thresholds:\n"
        "  cpu_usage: {warning: 0.8, critical: 0.9}\n"
        "  memory_usage: {warning: 85, critical: 95}\n"
        "  disk_write_io: {warning: 40000000, critical: 50000000}\n"
        "  prediction_time: {warning: 5s, critical: 10s}\n"
        + ("correlate: {infra_source: snapshots}\n" if snapshots_only else "")
    )


def _in_window(offset: float) -> bool:
    return any(start <= offset < start + length for start, length in SLOW_WINDOWS)


def write_snapshots(storage: Storage, day: date, seed: int = 1) -> int:
    """One snapshot a minute (none in MISSING_SNAPSHOTS); returns how many were written."""
    rng = random.Random(seed)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    written = 0
    for minute in range(1440):
        offset = minute * 60
        if MISSING_SNAPSHOTS[0] <= offset < MISSING_SNAPSHOTS[1]:
            continue
        # A [1m] rate evaluated at `offset` averages the minute before it: it is high when that minute
        # overlaps a slow window, as Prometheus would show it.
        hot = any(_in_window(offset - back) for back in (1, 30, 59))
        queries = {}
        for name, (expr, _) in QUERIES.items():
            series = []
            for instance in INSTANCES:
                if name == "cpu_usage":
                    value = rng.uniform(0.25, 0.45)
                elif name == "memory_usage":
                    value = rng.uniform(55.0, 65.0)
                else:
                    value = rng.uniform(2e6, 4e6)
                    if (name, instance) == PLANTED and hot:
                        value = rng.uniform(5.5e7, 6.0e7)
                series.append(Series({"instance": instance, "job": "node"}, value))
            queries[name] = QueryResult(expr, "vector", tuple(series))
        at = midnight + timedelta(seconds=offset)
        write_snapshot(
            storage, Snapshot(at, "http://prometheus.example:9090", queries, f"{day:%Y%m%d}{minute:08x}")
        )
        written += 1
    return written


def write_day_events(
    storage: Storage,
    day: date,
    n: int,
    model: str = "default",
    slow: bool = True,
    seed: int = 1,
    chunk: int = 50_000,
) -> int:
    """`n` recorded events over the day; with `slow`, 1% of them slow and inside the slow windows."""
    rng = random.Random(seed)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    batch: list[Event] = []
    step = 86400.0 / max(n, 1)
    for i in range(n):
        is_slow = slow and rng.random() < SLOW_SHARE
        if is_slow:
            start, length = rng.choice(SLOW_WINDOWS)
            offset = start + rng.uniform(0, length)
        else:
            offset = i * step
        accuracy = rng.uniform(0.7, 0.85) if is_slow else rng.uniform(0.9, 0.99)
        batch.append(
            Event(
                ts=midnight + timedelta(seconds=offset),
                model=model,
                prediction_time_seconds=rng.uniform(10.5, 14.0) if is_slow else rng.uniform(0.05, 0.4),
                slow=is_slow,
                rows=100,
                model_version="7",
                accuracy=accuracy,
                metrics={"accuracy": accuracy},
                mlflow_run_id="0f3c2b1a9d8e4f6a8b7c6d5e4f3a2b1c",
                sampled=not is_slow,
                outputs=tuple(float(rng.random() < (0.35 if is_slow else 0.3)) for _ in range(4)),
            )
        )
        if len(batch) == chunk:
            write_events(storage, batch)
            batch = []
    if batch:
        write_events(storage, batch)
    return n


def plant(storage: Storage, day: date, events: int, model: str = "default", reference_days: int = 0) -> None:
    """The planted day, plus `reference_days` quiet days before it (events only) for the drift comparison."""
    write_snapshots(storage, day)
    write_day_events(storage, day, events, model)
    for back in range(1, reference_days + 1):
        write_day_events(
            storage, day - timedelta(days=back), max(events // 4, 1000), model, slow=False, seed=back + 1
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("date", type=date.fromisoformat)
    parser.add_argument("events", type=int, nargs="?", default=20_000)
    parser.add_argument("--reference-days", type=int, default=7)
    parser.add_argument("--model", default="default")
    parser.add_argument(
        "--snapshots-only", action="store_true", help="correlate.infra_source: snapshots (no Prometheus here)"
    )
    args = parser.parse_args()
    from mlprom.storage.local import LocalStorage

    directory = args.directory.resolve()
    (directory / "data").mkdir(parents=True, exist_ok=True)
    plant(LocalStorage(directory / "data"), args.date, args.events, args.model, args.reference_days)
    config = directory / "mlprom.yaml"
    config.write_text(config_yaml(str(directory / "data"), args.model, args.snapshots_only))
    print(config)


if __name__ == "__main__":
    main()
