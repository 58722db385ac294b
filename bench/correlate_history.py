"""`mlprom correlate` with infra from Prometheus history: requests per date, wall time and peak RSS.

A stand-in Prometheus on 127.0.0.1 answers /api/v1/query_range for the default queries with 20
series each at the requested step (host-07's CPU saturated while the slow events happen) and counts
the requests. correlate runs with `correlate.infra_source: prometheus` in a child process, as cron
would run it, for each event count: the request count must not depend on the events.

Run: python bench/correlate_history.py                          (1,000 and 100,000 events)
     python bench/correlate_history.py --sizes 1000,100000,1000000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from correlate_scale import DAY, START, in_slow_window, write_day_events
from scaffold import free_port, machine_line

from mlprom.config import DEFAULT_QUERIES
from mlprom.infra.history import chunks, margin_seconds

SERIES = 20
EXPR_TO_NAME = {q["expr"]: name for name, q in DEFAULT_QUERIES.items()}


class FakePrometheus(BaseHTTPRequestHandler):
    requests: dict[str, int] = {}
    lock = threading.Lock()
    # Answers by request form: built once (in Python, on the same cores as correlate), then served as
    # bytes, as a real Prometheus serves them from Go without taking mlprom's CPU.
    answers: dict[tuple[tuple[str, str], ...], bytes] = {}

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        with self.lock:
            self.requests[self.path] = self.requests.get(self.path, 0) + 1
        if self.path != "/api/v1/query_range":
            self.send_error(404)
            return
        cached = self.answers.get(tuple(sorted(form.items())))
        if cached is not None:
            self._send(200, cached)
            return
        name = EXPR_TO_NAME.get(form["query"], "other")
        start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
        if (end - start) / step > 11_000:
            self._answer(
                400, {"status": "error", "errorType": "bad_data", "error": "exceeded maximum resolution"}
            )
            return
        count = int(math.floor((end - start) / step)) + 1
        times = [start + i * step for i in range(count)]
        result = []
        for host in range(SERIES):
            rng = random.Random(f"{name}{host}")
            values = []
            for t in times:
                value = rng.uniform(0.2, 0.5) if name.startswith("cpu") else rng.uniform(10, 60)
                at = START + timedelta(seconds=t - START.timestamp())
                if name == "cpu_usage" and host == 7 and in_slow_window(at):
                    value = rng.uniform(0.93, 0.99)
                values.append([t, f"{value:.6g}"])
            result.append({"metric": {"instance": f"host-{host:02d}:9100", "job": "node"}, "values": values})
        body = self._answer(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
        self.answers[tuple(sorted(form.items()))] = body

    def _answer(self, status: int, document: dict[str, object]) -> bytes:
        body = json.dumps(document).encode()
        self._send(status, body)
        return body

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,100000", help="event counts")
    parser.add_argument("--step", default="30s", help="correlate.step")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    from correlate_scale import correlate_once

    from mlprom.config import load_config_text
    from mlprom.storage.local import LocalStorage

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), FakePrometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = []
    expected = None
    try:
        with tempfile.TemporaryDirectory(prefix="mlprom-bench-history-") as name:
            tmp = Path(name)
            storage = LocalStorage(tmp / "data")
            for n in sizes:
                model = f"bench-{n}"
                write_day_events(storage, model, n, 100_000)
                config = tmp / f"{n}.yaml"
                config.write_text(
                    f"storage: {{url: '{tmp / 'data'}'}}\nmodel: {{name: {model}}}\n"
                    f"prometheus: {{url: 'http://127.0.0.1:{port}'}}\n"
                    f"correlate: {{infra_source: prometheus, step: {args.step}}}\ndrift: {{reference_days: 1}}\n"
                )
                parsed = load_config_text(config.read_text())
                step = parsed.correlate.step_seconds
                midnight = START.timestamp()
                margin = margin_seconds(parsed)
                # The date lies in the past: the whole window is asked, in this many chunks per query.
                first = math.floor((midnight - margin) / step) * step
                last = math.ceil((midnight + 86400 + margin) / step) * step
                expected = len(DEFAULT_QUERIES) * len(chunks(first, last, step))
                # One unmeasured run fills the stand-in's answers (and the page cache): the measured runs
                # time mlprom, not this Python server building JSON on the same 2 cores.
                correlate_once(config, dict(os.environ), tmp, DAY)
                for _ in range(args.repeat):
                    FakePrometheus.requests.clear()
                    seconds, mib, report = correlate_once(config, dict(os.environ), tmp, DAY)
                    sent = sum(FakePrometheus.requests.values())
                    suspects = [s for s in report["suspects"] if s["kind"] == "infra"]  # type: ignore[index,union-attr]
                    top = suspects[0] if suspects else {}
                    rows.append(
                        f"| {n:,} | {sent} | {expected} | {seconds:.2f} | {mib:.0f} | "
                        f"{top.get('metric')} {top.get('labels', {}).get('instance', '')} | {top.get('significant')} |"
                    )
                    print(rows[-1], file=sys.stderr)
                    if sent != expected:
                        sys.exit(f"{sent} requests for {n} events, expected {expected}")
    finally:
        server.shutdown()
    print(machine_line())
    print(f"step {args.step}; {len(DEFAULT_QUERIES)} queries x {SERIES} series; one correlate per row\n")
    print(
        "| events | requests | expected (queries x chunks) | wall s | peak RSS MiB | top infra suspect | significant |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for row in rows:
        print(row)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)", file=sys.stderr)
