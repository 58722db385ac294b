"""`mlprom correlate --all-models` over a generated day of many models in one local store: wall time, seconds
per model-day and peak RSS at each --jobs, against the models run one cron line (one process) each.

The store holds one day of snapshots (1,440, eight queries of 20 series: correlate_scale.py's) shared by
every model, and --events events per model (1% slow, in the slow windows), one object per --chunk.

Run: python bench/fleet.py                                  (20 models x 5,000 events; about 5 minutes on 2 CPUs)
     python bench/fleet.py --models 5 --events 2000 --jobs 1,2 --shards 2
     python bench/fleet.py --jobs '' --single 0 --shards 1,2,4   (only sharded runs: cron lines with --model lists)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from correlate_scale import DAY, write_day_events, write_day_snapshots
from scaffold import machine_line, run_measured

from mlprom.config import load_config
from mlprom.storage import open_storage


def _correlate(config: Path, tmp: Path, *flags: str) -> tuple[float, float, list[dict[str, object]]]:
    """One `mlprom correlate` child process: (wall seconds, peak RSS MiB, its JSON documents)."""
    argv = [sys.executable, "-m", "mlprom", "-c", str(config), "-o", "json"]
    argv += ["correlate", "--date", DAY.isoformat(), "--fail-on", "never", *flags]
    out_path, err_path = tmp / "fleet.out", tmp / "fleet.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        seconds, mib, code = run_measured(argv, out, err, dict(os.environ), tmp)
    if code != 0:
        sys.exit(
            f"correlate {' '.join(flags)} failed ({code}): {err_path.read_text(errors='replace')[-2000:]}"
        )
    document = json.loads(out_path.read_bytes())
    return seconds, mib, document if isinstance(document, list) else [document]


def _sharded(config: Path, tmp: Path, models: list[str], shards: int) -> str:
    """The models split over `shards` processes started together (cron lines with --model lists)."""
    import subprocess

    groups = [models[i::shards] for i in range(shards)]
    started = time.perf_counter()
    processes = []
    for index, group in enumerate(groups):
        argv = [
            sys.executable,
            "-m",
            "mlprom",
            "-q",
            "-c",
            str(config),
            "correlate",
            "--date",
            DAY.isoformat(),
        ]
        argv += ["--fail-on", "never", *(arg for model in group for arg in ("--model", model))]
        err = open(tmp / f"shard-{index}.err", "wb")  # noqa: SIM115 - closed when the process is reaped
        processes.append((subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err), err))
    for process, err in processes:
        if process.wait() != 0:
            sys.exit(f"a shard failed ({process.returncode}): see {err.name}")
        err.close()
    seconds = time.perf_counter() - started
    per_model = seconds / len(models)
    return (
        f"| {shards} processes at once, --model lists | {len(models)} | {seconds:.1f} | {per_model:.2f} | - |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--events", type=int, default=5_000, help="events per model and day")
    parser.add_argument("--chunk", type=int, default=100, help="events per object (one flush)")
    parser.add_argument("--jobs", default="1,2", help="--jobs values to measure, comma-separated")
    parser.add_argument("--single", type=int, default=2, help="models run one process each, for the baseline")
    parser.add_argument(
        "--shards",
        default="2",
        help="processes run at once, each with its share of the models as --model flags",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlprom-fleet-") as name:
        tmp = Path(name)
        config = tmp / "mlprom.yaml"
        config.write_text(f"storage: {{url: {tmp / 'store'}}}\ncorrelate: {{infra_source: snapshots}}\n")
        storage = open_storage(load_config(str(config)))
        started = time.perf_counter()
        write_day_snapshots(storage, workers=1)
        models = [f"model-{i:03d}" for i in range(args.models)]
        for model in models:
            write_day_events(storage, model, args.events, args.chunk)
        print(f"store written in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        rows = []
        singles = [_correlate(config, tmp, "--model", model)[0] for model in models[: args.single]]
        if singles:
            per_model = sum(singles) / len(singles)
            rows.append(
                f"| one process per model (mean of {len(singles)}) | 1 | {per_model:.2f} | {per_model:.2f} | - |"
            )
        for jobs in (int(j) for j in args.jobs.split(",") if j):
            seconds, mib, documents = _correlate(config, tmp, "--all-models", "--jobs", str(jobs))
            assert sorted(str(d["model"]) for d in documents) == models, "a model is missing from the run"
            rows.append(
                f"| --all-models --jobs {jobs} | {len(documents)} | {seconds:.1f} | "
                f"{seconds / len(documents):.2f} | {mib:.0f} |"
            )
            print(rows[-1], file=sys.stderr)
        for shards in (int(n) for n in args.shards.split(",") if n):
            rows.append(_sharded(config, tmp, models, shards))
            print(rows[-1], file=sys.stderr)

    print(machine_line())
    print(f"{args.models} models x {args.events:,} events (one day each), 1,440 shared snapshots\n")
    print("| run | models | wall s | s per model-day | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
