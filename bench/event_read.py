"""Reading event objects as different writers store them: per-object decode time, and whole-day stores
for timing `mlprom correlate` from outside.

Run: python bench/event_read.py                      (per-object table: writers x gzip x lines per object)
     python bench/event_read.py --lines 1000,100000 --repeat 5
     python bench/event_read.py --store DIR --writer plain --events 1000000 --chunk 50000
         (a day of events and 1,440 snapshots under DIR, and DIR/config.yaml; then time
          python -m mlprom -c DIR/config.yaml -o json correlate --date 2026-03-01 --fail-on never)

Writers:
- own: mlprom's own writer (`write_events`): orjson, times as 2026-03-01T10:00:00.123Z, every field,
  gzip from 64 KiB on, as capture-model stores them.
- plain: another program's writer: `json.dumps` per line, times from `datetime.isoformat()`
  (2026-03-01T10:00:00.086400+00:00), `mlflow_run_id` and `input_digest` null, no `sampled`, no
  outputs; plain JSON Lines unless --gzip.
Both are events the contract allows (CONTRACT.md, "Records"); the day is correlate_scale.py's (1% slow
events inside three half hours while host-07's CPU is saturated).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from correlate_scale import DAY, SLOW_WINDOWS, START, WINDOW, write_day_events, write_day_snapshots
from scaffold import machine_line

from mlprom import layout
from mlprom.events.columns import Classification
from mlprom.events.log import encode_events
from mlprom.events.scan import scan_object
from mlprom.records import Event
from mlprom.storage.interface import Storage
from mlprom.storage.local import LocalStorage

MODEL = "bench"
WRITERS = ("own", "plain")


def day_rows(n: int) -> Iterator[tuple[datetime, bool, float, float]]:
    """(time, slow, prediction seconds, accuracy) of n events spread over the day, as correlate_scale's."""
    rng = random.Random(n)
    step = 86400.0 / max(n, 1)
    for i in range(n):
        slow = rng.random() < 0.01
        if slow:
            at = rng.choice(SLOW_WINDOWS) + timedelta(seconds=rng.uniform(0, WINDOW.total_seconds()))
        else:
            at = START + timedelta(seconds=i * step)
        seconds = rng.uniform(10.5, 14.0) if slow else rng.uniform(0.05, 0.4)
        yield at, slow, seconds, rng.uniform(0.7, 0.85) if slow else rng.uniform(0.9, 0.99)


def own_event(i: int, at: datetime, slow: bool, seconds: float, accuracy: float) -> Event:
    return Event(
        ts=at,
        model=MODEL,
        prediction_time_seconds=seconds,
        slow=slow,
        rows=100,
        model_version="7",
        accuracy=accuracy,
        loss=1 - accuracy,
        metrics={"accuracy": accuracy, "loss": 1 - accuracy},
        mlflow_run_id="0f3c2b1a9d8e4f6a8b7c6d5e4f3a2b1c",
        input_digest=f"sha256:{i:064x}",
        sampled=not slow,
        batch=i,
        outputs=(0.0, 1.0, 1.0, 0.0),
    )


def plain_line(at: datetime, slow: bool, seconds: float, accuracy: float) -> str:
    document = {
        "ts": at.isoformat(),
        "model": MODEL,
        "model_version": None,
        "prediction_time_seconds": seconds,
        "slow": slow,
        "rows": 100,
        "accuracy": accuracy,
        "loss": 1 - accuracy,
        "mlflow_run_id": None,
        "input_digest": None,
    }
    return json.dumps(document) + "\n"


def object_bodies(writer: str, n: int, chunk: int, compress: bool) -> Iterator[tuple[str, bytes]]:
    """(key, stored bytes) of each object of a day of n events in objects of `chunk` lines."""
    rows = list(day_rows(n))
    for start in range(0, n, chunk):
        part = rows[start : start + chunk]
        if writer == "own":
            body = encode_events([own_event(start + i, *row) for i, row in enumerate(part)])
        else:
            body = "".join(plain_line(*row) for row in part).encode()
        key = layout.event_key(DAY, MODEL, START, gzip=compress)
        yield key, gzip.compress(body, compresslevel=5) if compress else body


def write_store(root: Path, writer: str, n: int, chunk: int, compress: bool) -> None:
    storage: Storage = LocalStorage(root / "data")
    write_day_snapshots(storage, workers=1)
    if writer == "own":
        write_day_events(storage, MODEL, n, chunk)  # correlate_scale.py's day, as capture-model stores it
    else:
        for key, body in object_bodies(writer, n, chunk, compress):
            storage.put_bytes(key, body)
    (root / "config.yaml").write_text(
        f"storage: {{url: '{root / 'data'}'}}\nmodel: {{name: {MODEL}}}\n"
        "correlate: {infra_source: snapshots}\n"
    )


def decode_seconds(key: str, body: bytes, repeat: int) -> tuple[float, int]:
    """Best of `repeat`, in CPU seconds of this process (steadier than wall time on a shared machine), of
    what a decoding worker does with one object for correlate: decode, classify, prepare the samples."""
    from mlprom.events.columns import classify, prepare_samples

    origin = datetime.combine(DAY, datetime.min.time(), UTC).timestamp()
    how = Classification(origin, 10.0, sketch=True, day=DAY)
    best = float("inf")
    events = 0
    for _ in range(repeat):
        started = time.process_time()
        columns = scan_object(key, body)
        classify(columns, how)
        prepare_samples(columns, True)
        best = min(best, time.process_time() - started)
        events = len(columns)
    return best, events


def per_object_table(lines: list[int], repeat: int) -> None:
    import gc

    print(machine_line())
    print(f"one object, decode + classify as a correlate worker does, CPU s, best of {repeat}\n")
    print("| writer | gzip | lines | stored MB | CPU s | µs per event |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    gc.disable()  # as the event pass runs (events.log.gc_paused)
    for writer in WRITERS:
        for compress in (False, True):
            for n in lines:
                key, body = next(object_bodies(writer, n, n, compress))
                seconds, events = decode_seconds(key, body, repeat)
                if events != n:
                    sys.exit(f"{writer}: {events} of {n} events read")
                print(
                    f"| {writer} | {'yes' if compress else 'no'} | {n:,} | {len(body) / 1e6:.1f} "
                    f"| {seconds:.3f} | {seconds / n * 1e6:.2f} |",
                    flush=True,
                )
    gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", default="1000,10000,50000,100000", help="lines per object (table)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", type=Path, help="write a whole day's store here instead")
    parser.add_argument("--writer", choices=WRITERS, default="plain")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000, help="events per object")
    parser.add_argument("--gzip", action="store_true", help="plain writer: gzip each object (own: always)")
    args = parser.parse_args()
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
        write_store(args.store, args.writer, args.events, args.chunk, args.gzip)
        print(
            f"python -m mlprom -c {args.store / 'config.yaml'} -o json correlate --date {DAY} --fail-on never"
        )
        return
    per_object_table([int(n) for n in args.lines.split(",") if n.strip()], args.repeat)


if __name__ == "__main__":
    main()
