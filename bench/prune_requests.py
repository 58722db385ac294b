"""S3 requests `prune` makes for N expired objects against a local moto_server, printed as markdown.

Usage: python bench/prune_requests.py [--objects 20000] [--keep 2000]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from scaffold import start_moto

from mlprom import layout
from mlprom.config import load_config_text
from mlprom.stages import prune
from mlprom.storage import RequestCounter
from mlprom.storage.s3 import S3Storage

TODAY = date(2026, 3, 1)


def _keys(n: int, first_age: int) -> list[str]:
    """n event keys spread over 20 daily partitions starting `first_age` days ago."""
    keys = []
    for i in range(n):
        day = TODAY - timedelta(days=first_age + i % 20)
        keys.append(
            layout.event_key(day, "bench", datetime.combine(day, dtime(0), UTC), object_id=f"{i:016x}")
        )
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=20_000, help="expired objects to delete")
    parser.add_argument("--keep", type=int, default=2_000, help="recent objects that must stay")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

    with tempfile.TemporaryDirectory() as tmp:
        process, endpoint = start_moto(Path(tmp))
        try:
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            writer = S3Storage(bucket, "mlprom", endpoint_url=endpoint, region="us-east-1")
            writer.client.create_bucket(Bucket=bucket)
            expired, recent = _keys(args.objects, 30), _keys(args.keep, 0)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda k: writer.put_bytes(k, b"{}\n"), expired + recent))

            config = load_config_text(
                f"storage: {{url: 's3://{bucket}/mlprom', endpoint_url: '{endpoint}', region: us-east-1}}"
            )
            counter = RequestCounter()
            started = time.perf_counter()
            result = prune.run(config, keep_days=25, confirm=lambda _: True, counter=counter, today=TODAY)
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=10)

    total = args.objects + args.keep
    # The model prefix, one (empty) page per other stage, and the listing of the models' alert states
    # (alerts/model=, none here).
    expected_pages = math.ceil(total / 1000) + 3 + 1
    expected_deletes = math.ceil(args.objects / 1000)
    cpu = platform.processor() or platform.machine()
    print(f"- command: `python bench/prune_requests.py --objects {args.objects} --keep {args.keep}`")
    print(
        f"- machine: {platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, moto_server (local HTTP)"
    )
    print(
        f"- deleted {result.objects} of {args.objects} expired objects; {args.keep} recent ones kept; "
        f"exit code {result.exit_code}"
    )
    print("")
    print("| operation | requests | expected |")
    print("| --- | --- | --- |")
    print(f"| ListObjectsV2 | {counter.counts.get('ListObjectsV2', 0)} | {expected_pages} (pages of 1,000) |")
    print(f"| DeleteObjects | {counter.counts.get('DeleteObjects', 0)} | {expected_deletes} (ceil(n/1000)) |")
    print(
        f"| GetObject | {counter.counts.get('GetObject', 0)} | 1 (the previous layout's alerts/state.json, absent) |"
    )
    print(f"| total | {sum(counter.counts.values())} | {expected_pages + expected_deletes + 1} |")
    print("")
    print(f"Wall time {elapsed:.1f} s (moto on the same machine; indicative only).")
    ok = (
        counter.counts.get("DeleteObjects") == expected_deletes
        and counter.counts.get("ListObjectsV2") == expected_pages
        and counter.counts.get("GetObject") == 1
        and result.objects == args.objects
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
