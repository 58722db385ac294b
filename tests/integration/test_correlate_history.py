"""correlate from Prometheus history alone: a real CPU load on this machine, scraped by the real
Prometheus of the test stack, is found and ranked first, with no capture-infra run at all."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.config import DEFAULT_QUERIES, load_config
from mlprom.events.log import write_events
from mlprom.infra.history import chunks, margin_seconds
from mlprom.records import Event
from mlprom.storage import open_storage

pytestmark = pytest.mark.integration

# Memory, disk and network series of this machine follow other jobs sharing it (a neighbour's 20 GB test
# run lined up with the load windows in trials); the test measures correlate, not the neighbours, so it
# keeps every default query of the CPU family and the pressure series, and leaves those out.
NEIGHBOURS = {"memory_usage", "disk_read_io", "disk_write_io", "network_receive_io", "network_transmit_io"}
QUERIES = {name: query for name, query in DEFAULT_QUERIES.items() if name not in NEIGHBOURS}
CPU_FAMILY = {"cpu_usage", "cpu_usage_short", "cpu_pressure", "procs_running", "system_load"}
BURNERS = 6  # busy loops: on 2 cores, three times as many runnable tasks as cores
# Four load windows alternating with quiet ones: other work on a shared machine (disk, memory) may line
# up with one window by chance, hardly with four; a [1m] rate smears over them, short windows do not.
# Irregular lengths: the suspect test shifts the slow steps in time against each series, and a regular
# on/off pattern shifted by one period lines up again (a young Prometheus holds only these ~2 minutes).
CYCLES = ((15.0, 9.0), (12.0, 15.0), (15.0, 6.0), (10.0, 12.0))  # (load, quiet) seconds
# Quiet before the first load: the test's smallest possible p-value is one over the steps analysed, and a
# neighbouring series one step off may reach the top one; 30 s more history leaves room for two.
LEAD_SECONDS = 30.0


@contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """Busy-loop processes for as long as the block runs; always stopped afterwards."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait(timeout=10)


def _event(at: datetime, slow: bool) -> Event:
    return Event(ts=at, model="default", prediction_time_seconds=12.0 if slow else 0.2, slow=slow, rows=10)


def _events_between(start: float, end: float, slow: bool) -> list[Event]:
    """One event a second over [start, end): what a model serving through that period recorded."""
    out = []
    at = float(int(start) + 1)
    while at < end:
        out.append(_event(datetime.fromtimestamp(at, UTC), slow))
        at += 1.0
    return out


def test_history_alone_ranks_the_loaded_cpu_first_and_significant(
    prometheus_stack: Any, write_config: Callable[..., Path]
) -> None:
    path = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "queries": QUERIES,
            "correlate": {"infra_source": "auto", "step": "2s", "max_skew": "3s"},
        }
    )
    config = load_config(str(path))
    storage = open_storage(config)
    # Timestamps of what happened come from the data (this clock), never asserted against durations.
    events: list[Event] = []
    mark = time.time()
    time.sleep(LEAD_SECONDS)
    events += _events_between(mark, time.time(), slow=False)
    for load_seconds, quiet_seconds in CYCLES:
        start = time.time()
        with cpu_load(BURNERS):
            time.sleep(load_seconds)
        end = time.time()
        # The first second of a load and the one after it are mixed steps: no event is placed there.
        events += _events_between(start + 1.0, end - 1.0, slow=True)
        quiet = time.time()
        time.sleep(quiet_seconds)
        events += _events_between(quiet + 2.0, time.time(), slow=False)
    # Wait until Prometheus has scraped past the last event (1 s scrapes; rates need two).
    prometheus_stack.wait_for(f"node_procs_running @ {time.time():.3f}")
    time.sleep(2.5)
    day = events[0].ts.date()
    stored = [e for e in events if e.ts.date() == day]
    write_events(storage, stored)

    before = time.time()
    result = CliRunner().invoke(
        app, ["-c", str(path), "-o", "json", "correlate", "--date", day.isoformat(), "--fail-on", "never"]
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)

    assert report["snapshots"] == 0  # no capture-infra at all: every value came from history
    # One range query per configured query, times the chunks (11,000 points each) from the day's start
    # (less the join margin) to now at a 2 s step; the request count does not depend on the events.
    midnight = datetime.combine(day, datetime.min.time(), UTC).timestamp()
    first = math.floor((midnight - margin_seconds(config)) / 2) * 2
    pieces = {len(chunks(first, math.floor(t / 2) * 2, 2)) for t in (before, time.time())}
    assert report["infra"]["requests"] in {len(QUERIES) * n for n in pieces}
    assert report["infra"]["source_setting"] == "auto"
    cpu = report["infra"]["queries"]["cpu_pressure"]
    assert cpu["source"] == "prometheus" and cpu["points"] > 0 and cpu["error"] is None
    top = report["suspects"][0]
    shown = ("metric", "effect", "auc", "q_value", "median_slow", "median_baseline", "slow_snapshots")
    assert top["metric"] in CPU_FAMILY, [{k: s[k] for k in shown} for s in report["suspects"][:6]]
    assert top["significant"] and top["q_value"] <= 0.05 and top["source"] == "prometheus"
    assert top["median_slow"] > top["median_baseline"] and top["lag_seconds"] == 0
    assert top["slow_snapshots"] >= 10 and top["baseline_snapshots"] >= 5
    # Every suspect with a p-value was in the test's family (near-zero series are described, not tested).
    assert report["significance"]["test"] == "circular-shift"
    assert report["significance"]["hypotheses"] >= sum(s["p_value"] is not None for s in report["suspects"])
    assert report["significance"]["episodes"] == len(CYCLES) and top["role"] == "cause"
    assert report["skew"]["warning"] is False  # one host, one clock
    assert report["status"] in ("ok", "warning", "critical")  # infra joined: not no_infra
    timeline = report["timeline"]
    assert timeline["series"][0]["metric"] == top["metric"] and timeline["series"][0]["t"]
    slow_minutes = {
        t for t, n in zip(timeline["prediction"]["t"], timeline["prediction"]["slow"], strict=True) if n
    }
    # The minutes marked slow are exactly those of the stored slow events (a load may start at :59.5).
    assert slow_minutes == {int(e.ts.timestamp() // 60) * 60 for e in stored if e.slow}

    table = CliRunner().invoke(
        app,
        ["-c", str(path), "correlate", "--date", day.isoformat(), "--fail-on", "never"],
        env={"COLUMNS": "250"},
    )
    assert table.exit_code == 0 and top["metric"] in table.stdout


def test_range_queries_are_chunked_under_prometheus_point_limit(prometheus_stack: Any) -> None:
    from mlprom.clients.http import build_session
    from mlprom.clients.prometheus import PrometheusClient, QueryError
    from mlprom.config import PrometheusConfig, Query
    from mlprom.infra.history import MAX_POINTS, fetch_history

    config = PrometheusConfig(url=prometheus_stack.prometheus_url)
    client = PrometheusClient(config.url, build_session(config, "prometheus"), 30.0)
    end = float(int(time.time()))
    start = end - 4 * 3600  # 14,401 points at 1 s: two chunks
    # The limit is Prometheus' own: a request of more than 11,000 steps is refused.
    with pytest.raises(QueryError, match="11,000 points"):
        client.query_range("node_procs_running", start, start + MAX_POINTS + 1, 1.0)
    results, requests = fetch_history(client, {"procs": Query(expr="node_procs_running")}, start, end, 1.0)
    assert requests == 2 and results["procs"].error is None
    (series,) = results["procs"].series
    assert series.times == tuple(sorted(set(series.times)))  # the chunks neither overlap nor repeat a point
    assert series.times[-1] == end


def test_capture_infra_range_archive_is_idempotent_and_feeds_correlate(
    prometheus_stack: Any, write_config: Callable[..., Path]
) -> None:
    path = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "queries": {"procs_running": "node_procs_running", "broken": "rate(node_procs_running[1m]"},
            "correlate": {"infra_source": "snapshots", "step": "5s"},
        }
    )
    prometheus_stack.wait_for("node_procs_running")
    time.sleep(6)  # a few scrapes (one a second) to archive
    end = int(time.time()) - 1
    argv = ["-c", str(path), "-o", "json", "capture-infra", "--from", str(end - 5), "--to", str(end)]
    first = CliRunner().invoke(app, [*argv, "--step", "1s"])
    # One query is invalid PromQL: the other is archived, and the run says it was partial (exit 3).
    assert first.exit_code == 3, first.output
    stored = orjson.loads(first.stdout)
    assert len(stored["stored"]) == 1 and stored["existing"] == [] and "broken" in stored["errors"]
    assert stored["points"] >= 5

    again = CliRunner().invoke(app, [*argv, "--step", "1s"])
    repeat = orjson.loads(again.stdout)
    assert repeat["stored"] == [] and repeat["existing"] == stored["stored"]  # nothing stored twice
    config = load_config(str(path))
    storage = open_storage(config)
    day = datetime.fromtimestamp(end, UTC).date()
    keys = [info.key for info in storage.list(f"infra/dt={day.isoformat()}/")]
    assert keys == stored["stored"] and "/range-" in keys[0]

    at = datetime.fromtimestamp(end - 3, UTC)
    write_events(storage, [_event(at, slow=True)])
    report = CliRunner().invoke(
        app, ["-c", str(path), "-o", "json", "correlate", "--date", day.isoformat(), "--fail-on", "never"]
    )
    document = orjson.loads(report.stdout)
    assert document["infra"]["queries"]["procs_running"]["source"] == "snapshots"
    assert document["events"]["joined"] == 1 and document["infra"]["requests"] == 0
