"""`mlprom correlate` over a generated day at several event counts: wall time and peak RSS, local and S3.

Run: python bench/correlate_scale.py                       (small sizes, local storage, about a minute)
     python bench/correlate_scale.py --sizes 250000,500000,1000000 --s3-sizes 250000
     python bench/correlate_scale.py --sizes 1000000 --s3-sizes '' --reference-days 7 --repeat 1

With --reference-days N the date's events are stored again under the N dates before it. The date is
then correlated once with no drift samples (the first run: every reference day read from its events),
each reference day is correlated oldest first as a daily cron would (storing its drift sample), and
the date is correlated again --repeat times (the steady state: reference days read from samples).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from scaffold import machine_line, run_measured, start_moto

from mlprom import layout
from mlprom.events.log import iter_event_keys, write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.storage.interface import Storage

DAY = date(2026, 3, 1)
START = datetime(2026, 3, 1, tzinfo=UTC)
SNAPSHOTS = 1440  # one a minute
SERIES = 20  # instances per query
# The built-in queries (config defaults), so the default thresholds apply to them.
QUERIES = (
    "cpu_usage",
    "memory_usage",
    "disk_read_io",
    "disk_write_io",
    "network_receive_io",
    "network_transmit_io",
    "system_load",
    "http_latency",
)
# Slow events happen in these half hours, while host-07's CPU is saturated: the planted suspect.
SLOW_WINDOWS = tuple(START + timedelta(hours=h) for h in (3, 11, 17))
WINDOW = timedelta(minutes=30)
GOAL_SECONDS = 10.0
GOAL_RSS_MIB = 500.0


def in_slow_window(at: datetime) -> bool:
    return any(start <= at < start + WINDOW for start in SLOW_WINDOWS)


def write_day_snapshots(storage: Storage, workers: int) -> None:
    rng = random.Random(1)

    def one(minute: int) -> None:
        at = START + timedelta(minutes=minute)
        hot = in_slow_window(at)
        queries = {}
        for name in QUERIES:
            series = []
            for host in range(SERIES):
                value = rng.uniform(0.2, 0.5) if name == "cpu_usage" else rng.uniform(10, 60)
                if name == "cpu_usage" and host == 7 and hot:
                    value = rng.uniform(0.93, 0.99)
                labels = {"instance": f"host-{host:02d}:9100", "job": "node"}
                series.append(Series(labels, value))
            queries[name] = QueryResult(f"expr of {name}", "vector", tuple(series))
        write_snapshot(storage, Snapshot(at, "http://prometheus.bench:9090", queries, f"{minute:016x}"))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(SNAPSHOTS)))


def write_day_events(storage: Storage, model: str, n: int, chunk: int) -> int:
    """n events spread over the day, 1% slow (inside the slow windows), one object per `chunk` as a flush."""
    rng = random.Random(n)
    objects = 0
    window_seconds = WINDOW.total_seconds()
    batch: list[Event] = []
    step = 86400.0 / max(n, 1)
    for i in range(n):
        slow = rng.random() < 0.01
        if slow:
            at = rng.choice(SLOW_WINDOWS) + timedelta(seconds=rng.uniform(0, window_seconds))
        else:
            at = START + timedelta(seconds=i * step)
        accuracy = rng.uniform(0.7, 0.85) if slow else rng.uniform(0.9, 0.99)
        batch.append(
            Event(
                ts=at,
                model=model,
                prediction_time_seconds=rng.uniform(10.5, 14.0) if slow else rng.uniform(0.05, 0.4),
                slow=slow,
                rows=100,
                model_version="7",
                accuracy=accuracy,
                loss=1 - accuracy,
                metrics={"accuracy": accuracy, "loss": 1 - accuracy},
                mlflow_run_id="0f3c2b1a9d8e4f6a8b7c6d5e4f3a2b1c",
                input_digest=f"sha256:{rng.getrandbits(256):064x}",
                sampled=not slow,
                batch=i,
                outputs=(0.0, 1.0, 1.0, 0.0),
            )
        )
        if len(batch) == chunk:
            write_events(storage, batch)
            objects += 1
            batch = []
    if batch:
        write_events(storage, batch)
        objects += 1
    return objects


def copy_to_reference_days(storage: Storage, model: str, days: int) -> None:
    """The date's event objects again under each of the `days` dates before it: the drift reference window.

    Their lines keep the date's timestamps; the reference side only samples values, so that is harmless.
    """
    keys = list(iter_event_keys(storage, DAY, model))
    for back in range(1, days + 1):
        for key in keys:
            target = layout.event_key(DAY - timedelta(days=back), model, START, gzip=key.endswith(".gz"))
            storage.put_bytes(target, storage.get_bytes(key))


def correlate_once(
    config: Path, env: dict[str, str], tmp: Path, day: date = DAY
) -> tuple[float, float, dict[str, object]]:
    """One `mlprom correlate` in a child process: (wall seconds, peak RSS MiB, the JSON report)."""
    # Not -q: a clean run with -q prints nothing, not even the report (stderr goes to a file anyway).
    argv = [sys.executable, "-m", "mlprom", "-c", str(config), "-o", "json"]
    argv += ["correlate", "--date", day.isoformat(), "--fail-on", "never"]
    out_path, err_path = tmp / "correlate.out", tmp / "correlate.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        elapsed, rss_mib, code = run_measured(argv, out, err, env, tmp)
    if code != 0:
        sys.exit(f"correlate failed ({code}): {err_path.read_text(errors='replace')}")
    return elapsed, rss_mib, json.loads(out_path.read_bytes())


def measure(
    backend: str,
    storage: Storage,
    storage_yaml: str,
    sizes: list[int],
    args: argparse.Namespace,
    tmp: Path,
    reference_rows: list[str],
) -> list[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    started = time.perf_counter()
    write_day_snapshots(storage, workers=8 if backend == "s3" else 1)
    print(
        f"[{backend}] {SNAPSHOTS} snapshots written in {time.perf_counter() - started:.1f} s", file=sys.stderr
    )
    rows = []
    for n in sizes:
        model = f"bench-{n}"
        started = time.perf_counter()
        objects = write_day_events(storage, model, n, args.chunk)
        print(
            f"[{backend}] {n:,} events in {objects} object(s), {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        copy_to_reference_days(storage, model, args.reference_days)
        config = tmp / f"{backend}-{n}.yaml"
        config.write_text(
            f"{storage_yaml}\nmodel: {{name: {model}}}\ncorrelate: {{infra_source: snapshots}}\n"
        )
        if args.reference_days:
            reference_rows.append(
                reference_window(backend, storage, config, env, tmp, n, args.reference_days)
            )
            print(reference_rows[-1], file=sys.stderr)
        walls, rss = [], []
        report: dict[str, object] = {}
        for _ in range(args.repeat):
            seconds, mib, report = correlate_once(config, env, tmp)
            walls.append(seconds)
            rss.append(mib)
        events = report["events"]
        suspects = [s for s in report.get("suspects") or [] if s.get("kind", "infra") == "infra"]  # type: ignore[union-attr]
        top = suspects[0] if suspects else {}
        top_name = f"{top.get('metric')} {top.get('labels', {}).get('instance', '')}".strip() if top else "-"
        median = statistics.median(walls)
        rate = f"{n / median / 1000:,.0f}k" if n else "-"
        rows.append(
            f"| {backend} | {n:,} | {objects} | {median:.2f} | {min(walls):.2f} | {rate} | {max(rss):.0f} "
            f"| {events['slow'] if isinstance(events, dict) else '?'} | {top_name} |"  # type: ignore[index]
        )
        print(rows[-1], file=sys.stderr)
    return rows


def reference_window(
    backend: str, storage: Storage, config: Path, env: dict[str, str], tmp: Path, n: int, days: int
) -> str:
    """First run (reference from events), then the cron's runs of the reference days, then one steady run."""
    first, first_rss, _ = correlate_once(config, env, tmp)
    started = time.perf_counter()
    for back in range(days, 0, -1):
        correlate_once(config, env, tmp, DAY - timedelta(days=back))
    seeding = time.perf_counter() - started
    sample_bytes = len(storage.get_bytes(layout.drift_sample_key(DAY - timedelta(days=1), f"bench-{n}")))
    steady, steady_rss, _ = correlate_once(config, env, tmp)
    return (
        f"| {backend} | {n:,} | {days} | {first:.2f} | {first_rss:.0f} | {seeding / days:.2f} "
        f"| {steady:.2f} | {steady_rss:.0f} | {sample_bytes / 1e6:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="0,50000,100000,200000", help="event counts, local storage")
    parser.add_argument("--s3-sizes", default="50000", help="event counts against moto_server ('' to skip)")
    parser.add_argument("--chunk", type=int, default=100_000, help="events per object (one flush)")
    parser.add_argument(
        "--reference-days",
        type=int,
        default=0,
        help="also store the events under the N dates before (drift.reference_days, default 7 in config)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="correlate runs per size (median wall time)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    s3_sizes = [int(s) for s in args.s3_sizes.split(",") if s.strip()]

    rows: list[str] = []
    reference_rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mlprom-bench-") as name:
        tmp = Path(name)
        if sizes:
            from mlprom.storage.local import LocalStorage

            root = tmp / "data"
            local = LocalStorage(root)
            rows += measure("local", local, f"storage: {{url: '{root}'}}", sizes, args, tmp, reference_rows)
        if s3_sizes:
            from mlprom.storage.s3 import S3Storage

            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            process, endpoint = start_moto(tmp)
            try:
                storage = S3Storage("bench", "mlprom", endpoint_url=endpoint, region="us-east-1")
                storage.client.create_bucket(Bucket="bench")
                yaml = f"storage: {{url: 's3://bench/mlprom', endpoint_url: '{endpoint}', region: us-east-1}}"
                rows += measure("s3 (moto)", storage, yaml, s3_sizes, args, tmp, reference_rows)
            finally:
                process.terminate()
                process.wait(timeout=10)

    print(machine_line())
    print(
        f"day: {SNAPSHOTS} snapshots x {len(QUERIES)} queries x {SERIES} series; 1% slow events; "
        f"{args.chunk:,} events per object; {args.reference_days} reference day(s) of the same events "
        f"before the date; median of {args.repeat} runs\n"
    )
    print(
        "| storage | events | objects | median s | best s | events/s | peak RSS MiB | slow | top infra suspect |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        print(row)
    if reference_rows:
        print(
            "\nreference window: first run reads every reference day's events; each reference day is then "
            "correlated once (oldest first), storing its drift sample; steady state reads the samples\n"
        )
        print(
            "| storage | events a day | reference days | first run s | RSS MiB | per reference day s "
            "| steady s | RSS MiB | sample MB |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in reference_rows:
            print(row)


if __name__ == "__main__":
    main()
