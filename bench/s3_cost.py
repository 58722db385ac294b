"""S3 requests of `capture-model` per 10,000 recorded events, counted against a local moto_server.

Run: python bench/s3_cost.py [--events 10000] [--batch-size 1]
Prune's requests are measured by bench/prune_requests.py.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from scaffold import machine_line, start_moto

GOAL_PUTS = 10

MODEL_MODULE = '''"""A tiny model for the S3 cost benchmark: the first feature, rounded."""


def predict(frame):
    return [round(x) for x in frame["x"].tolist()]
'''


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000, help="batches, all recorded (threshold 0)")
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    import logging

    import mlflow  # noqa: F401 - imported first, so the levels below outlast its logging set-up

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)

    from mlprom.config import Config
    from mlprom.stages import capture_model
    from mlprom.storage import RequestCounter
    from mlprom.storage.s3 import S3Storage

    with tempfile.TemporaryDirectory(prefix="mlprom-bench-") as name:
        tmp = Path(name)
        (tmp / "s3_cost_model.py").write_text(MODEL_MODULE)
        sys.path.insert(0, str(tmp))
        rows = args.events * args.batch_size
        input_path = tmp / "input.csv"
        with input_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["x", "label"])
            for i in range(rows):
                writer.writerow([(i % 10) / 10, i % 2])
        process, endpoint = start_moto(tmp)
        try:
            counter = RequestCounter()
            storage = S3Storage("bench", "mlprom", endpoint_url=endpoint, region="us-east-1", counter=counter)
            storage.client.create_bucket(Bucket="bench")
            counter.counts.clear()  # the bucket is set-up, not the stage's cost
            config = Config.model_validate(
                {
                    "storage": {"url": "s3://bench/mlprom", "endpoint_url": endpoint, "region": "us-east-1"},
                    "mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}", "experiment": "s3-cost"},
                    "model": {"name": "s3-cost", "latency_threshold": 0, "sample_rate": 0},
                }
            )
            started = time.perf_counter()
            result = capture_model.run(
                config,
                input_path=str(input_path),
                model_ref="s3_cost_model:predict",
                label_column="label",
                batch_size=args.batch_size,
                day=datetime.now(UTC).date(),
                storage=storage,
            )
            elapsed = time.perf_counter() - started
            counts = dict(counter.counts)  # before the listing below, which is the benchmark's own
            sizes = [info.size for info in storage.list("model/")]
        finally:
            process.terminate()
            process.wait(timeout=10)
            sys.path.remove(str(tmp))

    puts = counts.get("PutObject", 0)
    per_10k = puts * 10_000 / max(result.events, 1)
    print(machine_line())
    print(
        f"capture-model --model s3_cost_model:predict --batch-size {args.batch_size}: {rows:,} rows, "
        f"{result.batches:,} batches, {result.events:,} events recorded (latency_threshold 0), "
        f"{elapsed:.1f} s; storage s3:// on moto_server, MLflow on sqlite\n"
    )
    print("| operation | requests |")
    print("| --- | ---: |")
    for operation, count in sorted(counts.items()):
        print(f"| {operation} | {count} |")
    print(f"| total | {sum(counts.values())} |")
    total_bytes = sum(sizes)
    print(
        f"\nobjects written: {len(sizes)}, {total_bytes / 1e6:.2f} MB in all "
        f"({total_bytes / max(result.events, 1):.0f} bytes per event, gzip above 64 KiB)"
    )
    print(f"PutObject per 10,000 recorded events: {per_10k:.1f} (goal <= {GOAL_PUTS})")
    sys.exit(0 if math.isfinite(per_10k) and per_10k <= GOAL_PUTS else 1)


if __name__ == "__main__":
    main()
