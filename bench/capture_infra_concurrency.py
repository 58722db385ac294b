"""capture-infra: eight queries against a server answering in 200 ms each, concurrent vs sequential vs one.

Run: python bench/capture_infra_concurrency.py [--delay 0.2] [--queries 8] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from scaffold import machine_line

from mlprom.config import Config, Query
from mlprom.infra.snapshot import MAX_PARALLEL_QUERIES, take_snapshot

GOAL = 1.5


class SlowPrometheus(BaseHTTPRequestHandler):
    """Answers every /api/v1/query after `delay` seconds with a vector of 20 series; counts overlap."""

    delay = 0.2
    lock = threading.Lock()
    in_flight = 0
    peak = 0

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        cls = type(self)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with cls.lock:
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
        time.sleep(cls.delay)
        with cls.lock:
            cls.in_flight -= 1
        series = [
            {"metric": {"instance": f"host-{i:02d}:9100", "job": "node"}, "value": [time.time(), "0.5"]}
            for i in range(20)
        ]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": series}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        pass  # keep the benchmark's output to its figures


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the server takes per answer")
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from mlprom.clients.prometheus import PrometheusClient

    SlowPrometheus.delay = args.delay
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowPrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = Config.model_validate({"prometheus": {"url": url}})
        client = PrometheusClient.from_config(config.prometheus, pool_size=MAX_PARALLEL_QUERIES)
        queries = {f"q{i}": Query(expr=f"up{{i='{i}'}}") for i in range(args.queries)}
        one = {"q0": queries["q0"]}
        at = datetime.now(UTC)
        take_snapshot(client, queries, at)  # open the pool's connections before timing

        def sequential() -> None:
            # The old design: one query after another.
            for query in queries.values():
                client.query(query.expr, at)

        single = median_seconds(lambda: take_snapshot(client, one, at), args.repeat)
        SlowPrometheus.peak = 0
        concurrent = median_seconds(lambda: take_snapshot(client, queries, at), args.repeat)
        peak = SlowPrometheus.peak
        serial = median_seconds(sequential, args.repeat)
    finally:
        server.shutdown()
        server.server_close()

    print(machine_line())
    print(
        f"server: ThreadingHTTPServer on 127.0.0.1, {args.delay * 1000:.0f} ms per answer, 20 series; "
        f"{args.queries} queries; median of {args.repeat}\n"
    )
    rows = [
        ("one query (`take_snapshot`, 1 query)", single),
        (f"`take_snapshot`, {args.queries} queries (thread pool)", concurrent),
        (f"sequential loop, {args.queries} queries (old design)", serial),
    ]
    print("| what | median ms | vs one query |")
    print("| --- | ---: | ---: |")
    for what, seconds in rows:
        print(f"| {what} | {seconds * 1000:.0f} | {seconds / single:.2f}x |")
    print(f"\npeak concurrent requests seen by the server: {peak}; goal <= {GOAL}x of one query")


if __name__ == "__main__":
    main()
