"""What a real incident taught: clock skew, near-zero series, no infra, a threshold changed after capture,
joins across midnight, model-side suspects, and noise days that must yield no significant suspect."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events, write_snapshot
from mlprom.infra.history import RANGE_VERSION, range_object_id
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.stages import correlate
from mlprom.storage import open_storage

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
runner = CliRunner()

QUERIES = {
    "procs": {"expr": "node_procs_running", "unit": "tasks"},
    "mem": {
        "expr": "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
        "unit": "percent",
    },
    "net": {"expr": "irate(node_network_transmit_bytes_total[1m])", "unit": "bytes_per_second"},
}


def _config(write_config: Callable[..., Path], **correlate_keys: Any) -> tuple[Path, Any]:
    settings = {"infra_source": "snapshots", "step": "10s", "max_skew": "10s", **correlate_keys}
    path = write_config({"queries": QUERIES, "thresholds": {"prediction_time": "10s"}, "correlate": settings})
    return path, load_config(str(path))


def _snapshot(at: datetime, values: dict[str, float]) -> Snapshot:
    queries = {
        name: QueryResult(QUERIES[name]["expr"], "vector", (Series({"instance": "a:9100"}, value),))
        for name, value in values.items()
    }
    return Snapshot(at, "http://prometheus.test", queries)


def _store(storage: Any, points: dict[str, list[tuple[datetime, float]]]) -> None:
    """Infra values as capture-infra --from/--to archives them: one range object per query (and date)."""
    for name, pairs in points.items():
        times = [at.timestamp() for at, _ in pairs]
        start, end = times[0], times[-1]
        document = {
            "version": RANGE_VERSION,
            "kind": "range",
            "query": name,
            "expr": QUERIES[name]["expr"],
            "source": "http://prometheus.test",
            "start": start,
            "end": end,
            "step": 10.0,
            "series": [{"labels": {"instance": "a:9100"}, "t": times, "v": [v for _, v in pairs]}],
        }
        key = layout.range_key(pairs[0][0].date(), pairs[0][0], range_object_id(name, "", start, end, 10.0))
        storage.put_bytes(key, orjson.dumps(document))


def _event(at: datetime, slow: bool, **extra: Any) -> Event:
    return Event(
        ts=at, model="default", prediction_time_seconds=12.0 if slow else 0.2, slow=slow, rows=10, **extra
    )


WINDOWS = [START + timedelta(hours=h, minutes=m) for h in range(2, 10) for m in (0,)]
WINDOW = timedelta(seconds=120)


def _in_window(at: datetime) -> bool:
    return any(w <= at < w + WINDOW for w in WINDOWS)


def _incident_day(
    storage: Any, rng: random.Random, clock_ahead: float = 0.0, planted: bool = True, net_bump: bool = False
) -> None:
    """Snapshots every 10 s from 01:00 to 11:00; slow events each second of eight 2-minute windows, fast
    events every 20 s elsewhere. `procs` rises in the windows (when planted); events' clock may be ahead."""
    at = START + timedelta(hours=1)
    points: dict[str, list[tuple[datetime, float]]] = {"procs": [], "mem": [], "net": []}
    while at < START + timedelta(hours=11):
        hot = planted and _in_window(at)
        points["procs"].append((at, rng.gauss(9.0, 1.0) if hot else rng.gauss(3.0, 1.0)))
        points["mem"].append((at, rng.gauss(40.0, 3.0)))
        net = (13.0 if _in_window(at) else 0.0) if net_bump else rng.choice([0.0, 0.0, 2.0])
        points["net"].append((at, net))
        at += timedelta(seconds=10)
    _store(storage, points)
    events = []
    shift = timedelta(seconds=clock_ahead)
    for window in WINDOWS:
        events += [_event(window + timedelta(seconds=s) + shift, True) for s in range(0, 120, 2)]
    at = START + timedelta(hours=1)
    while at < START + timedelta(hours=11):
        if not any(w - timedelta(seconds=30) <= at < w + WINDOW + timedelta(seconds=30) for w in WINDOWS):
            events.append(_event(at + shift, False))
        at += timedelta(seconds=20)
    write_events(storage, events)


def test_planted_series_is_significant_and_first(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    _incident_day(open_storage(config), random.Random(1))
    report = correlate.run(config, DAY)
    top = report.suspects[0]
    assert (top.metric, top.significant, top.lag_seconds) == ("procs", True, 0.0)
    assert (top.direction, top.role) == ("rise", "cause") and top.slow_snapshots >= 90
    # The circular-shift test: no shift reached procs but those whose lags re-use the observed alignment
    # (shift -k at lag k), so its adjusted p-value is the smallest the window and the lags allow.
    assert report.significance is not None and report.significance.test == "circular-shift"
    details = report.significance.details or {}
    lags, steps = report.significance.lags_seconds, details["steps_analysed"]
    assert top.q_value is not None and top.q_value <= len(lags) / steps
    assert details["episodes"] == len(WINDOWS)
    assert not any(s.significant for s in report.suspects[1:])
    assert report.skew is not None and report.skew.warning is False
    assert report.skew.estimated_seconds is not None and abs(report.skew.estimated_seconds) < 10.0
    # Whole steps (10 s here) up to max_lag, at most ten past 0: every 30 s up to 5 minutes.
    assert report.significance is not None and list(report.significance.lags_seconds) == [
        30 * k for k in range(11)
    ]


def test_clock_skew_is_estimated_and_warned_about(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    _incident_day(open_storage(config), random.Random(2), clock_ahead=40.0)
    result = runner.invoke(app, ["-c", str(path), "-o", "json", "correlate", "--date", DAY.isoformat()])
    report = orjson.loads(result.stdout)
    assert report["skew"]["warning"] is True, report["skew"]
    assert 30.0 <= report["skew"]["estimated_seconds"] <= 50.0
    assert any(w.startswith("clock skew: events look") and "ahead of" in w for w in report["warnings"])
    assert "clock skew" in result.stderr


def test_series_near_zero_on_both_sides_is_not_a_suspect(write_config: Callable[..., Path]) -> None:
    """13 B/s against 0 used to score the capped effect of ~67 and outrank the real cause by name."""
    path, config = _config(write_config)
    _incident_day(open_storage(config), random.Random(3), net_bump=True)
    report = correlate.run(config, DAY)
    net = next(s for s in report.suspects if s.metric == "net")
    assert not net.significant and net.p_value is None and net.note is not None and "near zero" in net.note
    assert report.suspects[0].metric == "procs" and report.suspects[0].significant
    table = runner.invoke(
        app, ["-c", str(path), "correlate", "--date", DAY.isoformat()], env={"COLUMNS": "250"}
    )

    def suspect_rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if " infra " in line]

    assert any(" procs " in row for row in suspect_rows(table.stdout))
    assert not any(" net " in row for row in suspect_rows(table.stdout))
    every = runner.invoke(
        app,
        ["-c", str(path), "correlate", "--date", DAY.isoformat(), "--all-suspects"],
        env={"COLUMNS": "250"},
    )
    assert any(" net " in row for row in suspect_rows(every.stdout))


def test_change_below_the_units_minimum_is_not_significant(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    storage = open_storage(config)
    rng = random.Random(4)
    at = START + timedelta(hours=1)
    mem = []
    while at < START + timedelta(hours=11):
        # Memory 0.5 points higher in the windows: a real difference, far below the 2-point minimum.
        mem.append((at, rng.gauss(40.5 if _in_window(at) else 40.0, 0.05)))
        at += timedelta(seconds=10)
    _store(storage, {"mem": mem})
    write_events(storage, [_event(w + timedelta(seconds=s), True) for w in WINDOWS for s in range(0, 120, 5)])
    (mem,) = correlate.run(config, DAY).suspects
    # The shift test rejects (a real difference at every window), the minimum change does not let it through.
    assert mem.q_value is not None and mem.q_value <= 0.05 and not mem.significant
    assert mem.note is not None and "below the minimum 2" in mem.note


def test_noise_days_yield_no_significant_suspect(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    for seed in range(5):
        day = DAY + timedelta(days=seed)
        rng = random.Random(100 + seed)
        base = datetime.combine(day, datetime.min.time(), UTC)
        at = base + timedelta(hours=1)
        points: dict[str, list[tuple[datetime, float]]] = {"procs": [], "mem": [], "net": []}
        while at < base + timedelta(hours=7):
            points["procs"].append((at, rng.gauss(5.0, 2.0)))
            points["mem"].append((at, rng.gauss(40.0, 5.0)))
            points["net"].append((at, rng.expovariate(1e-5)))
            at += timedelta(seconds=10)
        _store(storage, points)
        events = [
            _event(base + timedelta(seconds=rng.uniform(3600, 25200)), rng.random() < 0.3) for _ in range(600)
        ]
        write_events(storage, events)
        result = runner.invoke(
            app, ["-c", str(path), "-o", "json", "correlate", "--date", day.isoformat(), "--fail-on", "never"]
        )
        report = orjson.loads(result.stdout)
        assert report["suspects"] and report["significance"]["hypotheses"] >= 3
        assert [s for s in report["suspects"] if s["significant"]] == [], seed
        table = runner.invoke(
            app, ["-c", str(path), "correlate", "--date", day.isoformat(), "--fail-on", "never"]
        )
        assert "No significant suspects" in table.stdout


def test_no_joined_infra_is_warned_about_even_with_findings(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    write_events(
        open_storage(config), [_event(START + timedelta(hours=1, seconds=s), s % 7 == 0) for s in range(60)]
    )
    result = runner.invoke(app, ["-c", str(path), "-o", "json", "correlate", "--date", DAY.isoformat()])
    # A critical prediction_time finding keeps its status; the missing infra is still said.
    report = orjson.loads(result.stdout)
    assert report["status"] == "critical" and result.exit_code == 1
    assert any("no infra value joined any of the 60 events" in w for w in report["warnings"])


def test_no_joined_infra_and_no_finding_is_status_no_infra_exit_0(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    write_events(storage, [_event(START + timedelta(hours=1, seconds=s), False) for s in range(60)])
    write_snapshot(storage, _snapshot(START + timedelta(hours=5), {"procs": 3.0}))
    result = runner.invoke(app, ["-c", str(path), "-o", "json", "correlate", "--date", DAY.isoformat()])
    report = orjson.loads(result.stdout)
    assert result.exit_code == 0 and report["status"] == "no_infra", (report["findings"], result.output)
    (warning,) = [w for w in report["warnings"] if w.startswith("no infra value joined")]
    assert "mlprom capture-infra" in warning and "correlate.infra_source" in warning and "max_skew" in warning
    assert "no infra value joined" in result.stderr


def test_events_join_infra_across_midnight(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config, max_skew="1m")
    storage = open_storage(config)
    # 23:59:50 the day before is stored in the previous date's partition.
    write_snapshot(storage, _snapshot(START - timedelta(seconds=10), {"procs": 9.0}))
    write_snapshot(storage, _snapshot(START + timedelta(hours=3), {"procs": 2.0}))
    write_events(storage, [_event(START + timedelta(seconds=20), True)])
    report = correlate.run(config, DAY)
    assert (report.events.joined, report.events.slow_joined) == (1, 1)
    assert report.snapshots == 1  # the date's own snapshots; the neighbour's edge is read, not counted


def test_model_metrics_are_described_in_the_ranking_not_tested(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    storage = open_storage(config)
    rng = random.Random(6)
    events = []
    for i in range(400):
        slow = i % 4 == 0
        accuracy = rng.gauss(0.7 if slow else 0.92, 0.03)
        at = START + timedelta(hours=1, seconds=20 * i)
        events.append(_event(at, slow, accuracy=accuracy, metrics={"accuracy": accuracy}))
    write_events(storage, events)
    report = correlate.run(config, DAY)
    accuracy = next(s for s in report.suspects if s.metric == "accuracy")
    # Per-event metrics have no step axis for the shift test: described (medians, effect), never
    # significant by it (docs/correlation.md, "Model-side suspects").
    assert (accuracy.kind, accuracy.source, accuracy.significant) == ("model", "model", False)
    assert accuracy.q_value is None and accuracy.note is not None and "not tested" in accuracy.note
    assert accuracy.median_slow < accuracy.median_baseline and accuracy.rank == 1
    assert accuracy.direction == "fall" and accuracy.effect < -3


def test_threshold_changed_after_capture_reclassifies_from_the_sketch(
    write_config: Callable[..., Path], mlflow_sqlite_uri: str, monkeypatch: Any, tmp_path: Path
) -> None:
    """capture-model ran at a 2 s threshold with no sampling; correlate at 0.5 s finds every batch over
    0.5 s from the latency sketch, though only the ones over 2 s were recorded as events."""
    import itertools

    from mlprom.stages import capture_model

    durations = [0.1, 0.8, 3.0, 0.2] * 25  # 25 batches each of 0.8 s and 3.0 s
    clock = itertools.count()
    ticks: list[float] = []

    def fake_perf_counter() -> float:
        return ticks[-1] if ticks else 0.0

    def predict(frame: Any) -> list[int]:
        ticks.append((ticks[-1] if ticks else 0.0) + durations[next(clock) % len(durations)])
        return [0] * len(frame)

    monkeypatch.setattr(capture_model.time, "perf_counter", fake_perf_counter)
    csv = tmp_path / "in.csv"
    csv.write_text("x\n" + "\n".join(str(i) for i in range(100)) + "\n")
    path = write_config(
        {
            "mlflow": {"tracking_uri": mlflow_sqlite_uri},
            "model": {"latency_threshold": "2s", "sample_rate": 0},
            "correlate": {"infra_source": "snapshots"},
        }
    )
    captured = capture_model.run(load_config(str(path)), input_path=str(csv), predict=predict, batch_size=1)
    assert captured.events == 25  # only the 3 s batches were recorded
    day = captured.date

    lower = write_config(
        {"model": {"latency_threshold": "500ms"}, "correlate": {"infra_source": "snapshots"}},
        name="lower.yaml",
    )
    report = correlate.run(load_config(str(lower)), day)
    # 25 events (the 3 s batches) and 25 slow batches known only from the sketch (the 0.8 s ones).
    assert (report.events.total, report.events.slow, report.events.from_sketches) == (50, 50, 25)
    assert report.timeline is not None and report.timeline.prediction_source == "sketches"
    assert (
        sum(report.timeline.count) == 100  # type: ignore[arg-type]
        and sum(report.timeline.slow) == 50  # type: ignore[arg-type]
    )

    higher = write_config(
        {"model": {"latency_threshold": "5s"}, "correlate": {"infra_source": "snapshots"}}, name="higher.yaml"
    )
    report = correlate.run(load_config(str(higher)), day)
    assert report.events.slow == 0 and report.timeline is not None and sum(report.timeline.slow) == 0  # type: ignore[arg-type]
    # Every stored flag flipped: the picture is not the capture's, and the report says so.
    assert any(
        w.startswith(
            "model.latency_threshold 5s classifies 0 of 25 events slow; their capture flagged 25 "
            "(captured at 2s)"
        )
        for w in report.warnings
    ), report.warnings
