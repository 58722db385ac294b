"""`mlprom correlate --all-models` over a generated day of many models in one local store: wall time, seconds
per model-day and peak RSS at each --jobs, against the models run one cron line (one process) each.

The store holds one day of snapshots (1,440, eight queries of 20 series: correlate_scale.py's) shared by
every model, and --events events per model (1% slow, in the slow windows), one object per --chunk.

A fleet run reads the date's infra once for all the models (stages/fleet.py `Shared`); --unshared also
runs --all-models as it ran before that (every model loading the day's snapshots again), for the ratio.
With --s3 the store is a local moto_server and each run's S3 requests are counted from its request log.

Run: python bench/fleet.py                                  (20 models x 5,000 events; about 5 minutes on 2 CPUs)
     python bench/fleet.py --models 5 --events 2000 --jobs 1,2 --shards 2
     python bench/fleet.py --jobs '' --single 0 --shards 1,2,4   (only sharded runs: cron lines with --model lists)
     python bench/fleet.py --models 20 --events 10000 --jobs 1 --unshared --single 2 --shards ''
     python bench/fleet.py --models 20 --events 10000 --jobs 1 --single 2 --shards '' --s3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from correlate_scale import DAY, write_day_events, write_day_snapshots
from scaffold import machine_line, run_measured, start_moto

from mlprom.config import load_config
from mlprom.storage import open_storage

# The fleet run as before its models shared the date's infra: every model loads it again.
_UNSHARED = (
    "import sys; from mlprom.stages import fleet; fleet.Shared.get = lambda self, key, load: load(); "
    "from mlprom.cli import main; sys.argv[0] = 'mlprom'; main()"
)
_MOTO_LOG: list[Path] = []  # the moto_server's request log, with --s3


def _s3_requests() -> int:
    """Requests the moto_server logged so far (one line per request)."""
    if not _MOTO_LOG:
        return 0
    text = _MOTO_LOG[0].read_text(errors="replace")
    return sum(1 for line in text.splitlines() if '"GET ' in line or '"PUT ' in line or '"HEAD ' in line)


def _correlate(
    config: Path, tmp: Path, *flags: str, shared: bool = True
) -> tuple[float, float, list[dict[str, object]]]:
    """One `mlprom correlate` child process: (wall seconds, peak RSS MiB, its JSON documents)."""
    start = [sys.executable, "-m", "mlprom"] if shared else [sys.executable, "-c", _UNSHARED]
    argv = [*start, "-c", str(config), "-o", "json"]
    argv += ["correlate", "--date", DAY.isoformat(), "--fail-on", "never", *flags]
    out_path, err_path = tmp / "fleet.out", tmp / "fleet.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        seconds, mib, code = run_measured(argv, out, err, _env(), tmp)
    if code != 0:
        sys.exit(
            f"correlate {' '.join(flags)} failed ({code}): {err_path.read_text(errors='replace')[-2000:]}"
        )
    document = json.loads(out_path.read_bytes())
    return seconds, mib, document if isinstance(document, list) else [document]


def _env() -> dict[str, str]:
    return {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


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
        processes.append((subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=_env()), err))
    for process, err in processes:
        if process.wait() != 0:
            sys.exit(f"a shard failed ({process.returncode}): see {err.name}")
        err.close()
    seconds = time.perf_counter() - started
    per_model = seconds / len(models)
    return f"| {shards} processes at once, --model lists | {len(models)} | {seconds:.1f} | {per_model:.2f} | - | - |"


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
    parser.add_argument(
        "--unshared", action="store_true", help="also --all-models with every model loading the infra again"
    )
    parser.add_argument("--s3", action="store_true", help="the store on a local moto_server; count requests")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlprom-fleet-") as name:
        tmp = Path(name)
        config = tmp / "mlprom.yaml"
        moto = None
        if args.s3:
            moto, endpoint = start_moto(tmp)
            _MOTO_LOG.append(tmp / "moto.log")
            store = f"{{url: 's3://bench/mlprom', endpoint_url: '{endpoint}', region: us-east-1}}"
        else:
            store = f"{{url: {tmp / 'store'}}}"
        config.write_text(f"storage: {store}\ncorrelate: {{infra_source: snapshots}}\n")
        os.environ.update(_env())
        storage = open_storage(load_config(str(config)))
        if args.s3:
            storage.client.create_bucket(Bucket="bench")  # type: ignore[attr-defined]
        started = time.perf_counter()
        write_day_snapshots(storage, workers=8 if args.s3 else 1)
        models = [f"model-{i:03d}" for i in range(args.models)]
        with ThreadPoolExecutor(8 if args.s3 else 1) as pool:
            list(pool.map(lambda model: write_day_events(storage, model, args.events, args.chunk), models))
        print(f"store written in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        try:
            rows = _runs(args, config, tmp, models)
        finally:
            if moto is not None:
                moto.terminate()
                moto.wait(timeout=10)

    print(machine_line())
    where = "moto_server (S3)" if args.s3 else "local"
    print(
        f"{args.models} models x {args.events:,} events (one day each), 1,440 shared snapshots, {where} store\n"
    )
    print("| run | models | wall s | s per model-day | peak RSS MiB | S3 requests per model |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


def _runs(args: argparse.Namespace, config: Path, tmp: Path, models: list[str]) -> list[str]:
    rows = []

    def requests_since(before: int, n: int) -> str:
        return f"{(_s3_requests() - before) / n:.0f}" if args.s3 else "-"

    before = _s3_requests()
    measured = [_correlate(config, tmp, "--model", model)[:2] for model in models[: args.single]]
    if measured:
        per_model = sum(m[0] for m in measured) / len(measured)
        rows.append(
            f"| one process per model (mean of {len(measured)}) | 1 | {per_model:.2f} | {per_model:.2f} "
            f"| {max(m[1] for m in measured):.0f} | {requests_since(before, len(measured))} |"
        )
        rows.append(
            f"| {len(models)} processes one after another (extrapolated from the mean) | {len(models)} "
            f"| {per_model * len(models):.0f} | {per_model:.2f} | - | - |"
        )
        print(rows[-2], file=sys.stderr)
    variants = [(int(j), True) for j in args.jobs.split(",") if j]
    if args.unshared:
        variants.append((1, False))
    for jobs, shared in variants:
        before = _s3_requests()
        seconds, mib, documents = _correlate(config, tmp, "--all-models", "--jobs", str(jobs), shared=shared)
        assert sorted(str(d["model"]) for d in documents) == models, "a model is missing from the run"
        what = "" if shared else ", every model loading the infra (as before)"
        rows.append(
            f"| --all-models --jobs {jobs}{what} | {len(documents)} | {seconds:.1f} | "
            f"{seconds / len(documents):.2f} | {mib:.0f} | {requests_since(before, len(documents))} |"
        )
        print(rows[-1], file=sys.stderr)
    for shards in (int(n) for n in args.shards.split(",") if n):
        rows.append(_sharded(config, tmp, models, shards))
        print(rows[-1], file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
