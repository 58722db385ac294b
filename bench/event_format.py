"""Events as gzipped JSON Lines (what mlprom stores) against Parquet: size, write time and read time.

Run: python bench/event_format.py                  (1,000,000 events in 10 objects, a few minutes)
     python bench/event_format.py --events 200000

The events are correlate_scale.py's generated day (capture-style: digest, metrics, 4 outputs). Each
100,000-event object is also written as one Parquet file (pyarrow, zstd and snappy). Reads are timed
the way correlate would use them: every event as a dict (what correlate's single pass consumes today),
and, for Parquet, only the columns correlate needs, as Python lists (what a columnar rewrite would
read). `import pyarrow` is timed in a fresh interpreter, since it would be paid by every run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from correlate_scale import DAY, write_day_events
from scaffold import machine_line

from mlprom.events.log import iter_event_keys, iter_event_objects
from mlprom.storage.local import LocalStorage

COLUMNS = ("ts", "slow", "prediction_time_seconds", "accuracy", "loss", "metrics", "outputs", "mlflow_run_id")


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def read_jsonl(storage: LocalStorage, day: date) -> int:
    n = 0
    for _key, _line, data in iter_event_objects(storage, day, "bench"):
        n += data["slow"]  # touch one field, as correlate touches several
    return n


def read_parquet_rows(files: list[Path]) -> int:
    import pyarrow.parquet as pq

    n = 0
    for path in files:
        for data in pq.read_table(path).to_pylist():
            n += data["slow"]
    return n


def read_parquet_columns(files: list[Path]) -> int:
    import pyarrow.parquet as pq

    n = 0
    for path in files:
        table = pq.read_table(path, columns=list(COLUMNS))
        columns = {name: table.column(name).to_pylist() for name in COLUMNS}
        n += sum(columns["slow"])
    return n


def import_seconds(module: str, runs: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(runs)]
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    print(machine_line(), f"pyarrow={pa.__version__}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        storage = LocalStorage(tmp / "jsonl")
        objects = write_day_events(storage, "bench", args.events, args.chunk)
        keys = list(iter_event_keys(storage, DAY, "bench"))
        jsonl_bytes = sum((tmp / "jsonl" / k).stat().st_size for k in keys)
        print(f"{args.events:,} events in {objects} objects")

        from mlprom.events.log import decode_lines

        sizes: dict[str, int] = {}
        write_times: dict[str, float] = {}
        files: dict[str, list[Path]] = {}
        for codec in ("zstd", "snappy"):
            out = tmp / f"parquet-{codec}"
            out.mkdir()
            files[codec] = []
            write_times[codec] = 0.0
            for i, key in enumerate(keys):
                rows = [data for _line, data in decode_lines(key, storage.get_bytes(key))]
                started = time.perf_counter()
                table = pa.Table.from_pylist(rows)
                path = out / f"{i:03d}.parquet"
                pq.write_table(table, path, compression=codec)
                write_times[codec] += time.perf_counter() - started
                files[codec].append(path)
            sizes[codec] = sum(p.stat().st_size for p in files[codec])

        # Writing JSON Lines the way EventBuffer does: orjson per line, gzip of the object.
        import gzip

        sample = [data for _line, data in decode_lines(keys[0], storage.get_bytes(keys[0]))]
        started = time.perf_counter()
        for _ in keys:
            gzip.compress(b"".join(orjson.dumps(row) + b"\n" for row in sample), compresslevel=6)
        jsonl_write = time.perf_counter() - started

        import duckdb

        jsonl_glob = str(tmp / "jsonl" / "model" / "dt=*" / "model=*" / "*.jsonl*")
        duck_sql = (
            "SELECT count(*), count(*) FILTER (WHERE slow), quantile_cont(prediction_time_seconds, 0.95) "
            "FROM {source}"
        )
        duck = {
            "jsonl.gz (stored)": best_of(
                args.repeat,
                lambda: duckdb.sql(duck_sql.format(source=f"read_json_auto('{jsonl_glob}')")).fetchall(),
            )
        }
        for codec in files:
            glob = str(tmp / f"parquet-{codec}" / "*.parquet")
            duck["parquet " + codec] = best_of(
                args.repeat,
                lambda g=glob: duckdb.sql(duck_sql.format(source=f"read_parquet('{g}')")).fetchall(),
            )
        jsonl_read = best_of(args.repeat, lambda: read_jsonl(storage, DAY))
        rows_read = {c: best_of(args.repeat, lambda c=c: read_parquet_rows(files[c])) for c in files}
        cols_read = {c: best_of(args.repeat, lambda c=c: read_parquet_columns(files[c])) for c in files}

    print(f"import pyarrow (fresh interpreter, median of 5): {import_seconds('pyarrow.parquet'):.3f} s")
    header = f"{'format':<22} {'MB':>8} {'vs jsonl.gz':>11} {'write s':>8} {'read dicts s':>13}"
    print(header + f" {'read columns s':>15} {'duckdb s':>9}")
    print(
        f"{'jsonl.gz (stored)':<22} {jsonl_bytes / 1e6:8.1f} {1.0:11.2f} {jsonl_write:8.2f} {jsonl_read:13.2f} "
        f"{'-':>15} {duck['jsonl.gz (stored)']:9.2f}"
    )
    for codec in files:
        print(
            f"{'parquet ' + codec:<22} {sizes[codec] / 1e6:8.1f} {sizes[codec] / jsonl_bytes:11.2f} "
            f"{write_times[codec]:8.2f} {rows_read[codec]:13.2f} {cols_read[codec]:15.2f} "
            f"{duck['parquet ' + codec]:9.2f}"
        )


if __name__ == "__main__":
    main()
