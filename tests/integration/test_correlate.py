"""correlate end to end through storage: the report, its outputs, bad input, NaN, and a planted suspect."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events, write_snapshot
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.reports.correlation import CorrelationReport
from mlprom.stages import correlate
from mlprom.storage import open_storage

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
QUERIES = {
    "cpu_usage": '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))',
    "memory_usage": "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
    "system_load": "node_load1",
}

runner = CliRunner()


def _snapshot(at: datetime, values: dict[str, float | None], instance: str = "host-a:9100") -> Snapshot:
    queries = {}
    for name, value in values.items():
        raw = "NaN" if value is None else None
        series = (Series({"instance": instance, "job": "node"}, value, raw),)
        queries[name] = QueryResult(QUERIES[name], "vector", series)
    return Snapshot(at, "http://prometheus.test", queries)


def _event(
    at: datetime, slow: bool, seconds: float | None = None, model: str = "default", **extra: Any
) -> Event:
    return Event(
        ts=at,
        model=model,
        prediction_time_seconds=seconds if seconds is not None else (12.0 if slow else 0.2),
        slow=slow,
        rows=100,
        sampled=not slow,
        **extra,
    )


def _config(write_config: Callable[..., Path], **sections: Any) -> tuple[Path, Any]:
    document: dict[str, Any] = {
        "queries": QUERIES,
        "thresholds": {"cpu_usage": {"warning": 0.7, "critical": 0.9}},
    }
    document.update(sections)
    # These tests store their infra as snapshots; no Prometheus is asked for history.
    document["correlate"] = {"infra_source": "snapshots", **document.get("correlate", {})}
    path = write_config(document)
    return path, load_config(str(path))


def _invoke(path: Path, *args: str) -> Any:
    return runner.invoke(app, ["-c", str(path), *args])


def test_critical_series_makes_a_critical_finding_and_exit_1(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    for minute, cpu in enumerate([0.2, 0.95, 0.3]):
        write_snapshot(storage, _snapshot(START + timedelta(hours=10, minutes=minute), {"cpu_usage": cpu}))
    # cpu_usage is a rate over [1m]: the value at 10:01 describes 10:00-10:01, where this event lies.
    write_events(storage, [_event(START + timedelta(hours=10, seconds=40), slow=True)])

    result = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat())

    assert result.exit_code == 1, result.output
    report = orjson.loads(result.stdout)
    assert report["status"] == "critical" and report["events"]["slow"] == 1 and report["snapshots"] == 3
    (finding,) = [f for f in report["findings"] if f["metric"] == "cpu_usage"]
    assert finding["labels"] == {"instance": "host-a:9100", "job": "node"}
    assert (finding["severity"], finding["value"], finding["threshold"]) == ("critical", 0.95, 0.9)
    assert finding["slow_events"] == 1 and finding["first_seen"] == "2026-11-20T10:01:00.000Z"


def test_each_label_set_is_evaluated_separately(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    storage = open_storage(config)
    at = START + timedelta(hours=1)
    snapshot = Snapshot(
        at,
        "http://prometheus.test",
        {
            "cpu_usage": QueryResult(
                QUERIES["cpu_usage"],
                "vector",
                (
                    Series({"instance": "a"}, 0.75),
                    Series({"instance": "b"}, 0.95),
                    Series({"instance": "c"}, 0.1),
                ),
            )
        },
    )
    write_snapshot(storage, snapshot)
    report = correlate.run(config, DAY)
    assert {(f.labels["instance"], f.severity) for f in report.findings} == {
        ("a", "warning"),
        ("b", "critical"),
    }


def test_warning_only_and_fail_on_levels(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    write_snapshot(open_storage(config), _snapshot(START + timedelta(hours=2), {"cpu_usage": 0.8}))
    assert _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat()).exit_code == 0
    assert (
        _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat(), "--fail-on", "warning").exit_code
        == 1
    )


def test_model_metrics_are_thresholds_too(write_config: Callable[..., Path]) -> None:
    _, config = _config(
        write_config,
        thresholds={
            "prediction_time": {"warning": "5s", "critical": "10s"},
            "accuracy": {"critical": 0.8, "direction": "below"},
            "f1": {"warning": 0.5, "direction": "below"},
        },
    )
    storage = open_storage(config)
    at = START + timedelta(hours=3)
    write_events(
        storage,
        [
            _event(at, slow=True, seconds=14.0, accuracy=0.95, metrics={"accuracy": 0.95, "f1": 0.9}),
            _event(at + timedelta(seconds=5), slow=False, seconds=6.0, accuracy=0.7, metrics={"f1": 0.4}),
            _event(at + timedelta(seconds=9), slow=False, seconds=0.1),
        ],
    )
    report = correlate.run(config, DAY)
    found = {f.metric: f for f in report.findings}
    assert found["prediction_time"].severity == "critical" and found["prediction_time"].value == 14.0
    assert found["prediction_time"].slow_events == 1 and found["prediction_time"].labels == {}
    # Quality is judged over the date: each batch's value weighs its rows, a sampled fast batch 1/sample_rate
    # (0.01) times more, as the batches it stands for.
    slow_weight, sampled_weight = 100 * 1, 100 * 100
    accuracy = (0.95 * slow_weight + 0.7 * sampled_weight) / (slow_weight + sampled_weight)
    assert found["accuracy"].value == pytest.approx(accuracy) and found["accuracy"].direction == "below"
    assert found["accuracy"].rows == 200 and found["accuracy"].slow_events == 0
    f1 = (0.9 * slow_weight + 0.4 * sampled_weight) / (slow_weight + sampled_weight)
    assert (found["f1"].severity, found["f1"].value) == ("warning", pytest.approx(f1))


def test_nan_values_produce_no_finding(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config, thresholds={"cpu_usage": -1})
    storage = open_storage(config)
    for minute in range(3):
        write_snapshot(storage, _snapshot(START + timedelta(minutes=minute), {"cpu_usage": None}))
    report = correlate.run(config, DAY)
    assert report.findings == () and report.status == "ok" and report.snapshots == 3


def test_event_joins_only_a_snapshot_within_max_skew(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config, correlate={"max_skew": "1m"})
    storage = open_storage(config)
    write_snapshot(storage, _snapshot(START + timedelta(hours=5), {"cpu_usage": 0.95}))
    # cpu_usage is a [1m] rate: the 05:00 value describes 04:59-05:00, centred on 04:59:30, so an
    # event joins it when it lies within max_skew of 04:59:30 (docs/correlation.md).
    write_events(
        storage,
        [
            _event(START + timedelta(hours=5, seconds=30), slow=True),
            _event(START + timedelta(hours=5, seconds=31), slow=True),
        ],
    )
    report = correlate.run(config, DAY)
    assert (report.events.total, report.events.joined, report.events.slow_joined) == (2, 1, 1)
    (finding,) = [f for f in report.findings if f.metric == "cpu_usage"]
    assert finding.slow_events == 1


def test_report_is_written_and_a_rerun_replaces_it(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    storage = open_storage(config)
    write_snapshot(storage, _snapshot(START + timedelta(hours=1), {"cpu_usage": 0.95}))
    correlate.run(config, DAY)
    write_snapshot(storage, _snapshot(START + timedelta(hours=2), {"cpu_usage": 0.1}))
    second = correlate.run(config, DAY)
    keys = [info.key for info in storage.list("reports/")]
    assert keys == [layout.report_key(DAY, "default")]
    stored = CorrelationReport.from_dict(orjson.loads(storage.get_bytes(keys[0])))
    assert stored.snapshots == 2 and stored.findings == second.findings


def test_json_output_parses_and_is_stable(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    for minute, cpu in enumerate([0.2, 0.95, 0.8]):
        write_snapshot(
            storage, _snapshot(START + timedelta(minutes=minute), {"cpu_usage": cpu, "system_load": 1.0})
        )
    outputs = []
    for _ in range(2):
        result = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
        assert result.exit_code == 0, result.output
        document = orjson.loads(result.stdout)
        assert document.pop("generated_at").endswith("Z")
        outputs.append(document)
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) >= {"date", "status", "events", "snapshots", "findings", "suspects"}
    # No events on the date or before it: drift is reported as not comparable, not as an error.
    assert outputs[0]["drift"]["status"] == "insufficient_reference"


def test_markdown_and_table_outputs(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    write_snapshot(open_storage(config), _snapshot(START + timedelta(hours=1), {"cpu_usage": 0.95}))
    markdown = _invoke(path, "-o", "markdown", "correlate", "--date", DAY.isoformat())
    assert markdown.exit_code == 1
    assert markdown.stdout.startswith("## mlprom correlation 2026-11-20: **critical**")
    assert "| critical | cpu_usage | instance=host-a:9100, job=node | 0.95 | >= 0.9 |" in markdown.stdout
    table = _invoke(path, "-o", "table", "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
    # The runner's terminal is 80 columns wide, so cells may be cut: check the structure only.
    assert table.exit_code == 0 and "Findings" in table.stdout and "status critical" in table.stdout


def test_date_with_nothing_exits_4_without_traceback(write_config: Callable[..., Path]) -> None:
    path, _ = _config(write_config)
    result = _invoke(path, "correlate", "--date", "2026-01-02")
    assert result.exit_code == 4
    assert "no data for 2026-01-02" in result.stderr and "Traceback" not in result.output


def test_allow_empty_reports_no_data_and_exits_0(write_config: Callable[..., Path]) -> None:
    path, _ = _config(write_config)
    result = _invoke(path, "-o", "json", "correlate", "--date", "2026-01-02", "--allow-empty")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["status"] == "no_data"


def test_corrupt_snapshot_is_skipped_with_a_warning_naming_its_key(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    write_snapshot(storage, _snapshot(START + timedelta(hours=1), {"cpu_usage": 0.95}))
    bad_key = layout.snapshot_key(DAY, START + timedelta(hours=2))
    storage.put_bytes(bad_key, b'{"ts": "2026-11-20T02:00:00Z", "queries": {')
    result = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat())
    assert result.exit_code == 1, result.output
    assert bad_key in result.stderr and "Traceback" not in result.output
    assert orjson.loads(result.stdout)["snapshots"] == 1


def test_corrupt_event_line_is_skipped_with_a_warning(write_config: Callable[..., Path]) -> None:
    path, config = _config(write_config)
    storage = open_storage(config)
    key = layout.event_key(DAY, "default", START)
    good = orjson.dumps(_event(START + timedelta(hours=1), slow=True).to_dict())
    storage.put_bytes(key, good + b"\n{not json\n")
    result = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat())
    assert result.exit_code == 0, result.output
    assert f"{key} line 2" in result.stderr
    assert orjson.loads(result.stdout)["events"]["total"] == 1


def test_planted_metric_ranks_first_among_suspects(write_config: Callable[..., Path]) -> None:
    """One metric rises only around slow events; the others are noise. Fixed seed."""
    _, config = _config(write_config, correlate={"max_skew": "2m"})
    storage = open_storage(config)
    rng = random.Random(42)
    slow_minutes = set(rng.sample(range(60, 1380), 40))
    hot = {m + d for m in slow_minutes for d in (-1, 0, 1)}
    for minute in range(0, 1440, 1):
        at = START + timedelta(minutes=minute)
        values: dict[str, float | None] = {
            "cpu_usage": rng.gauss(0.85, 0.03) if minute in hot else rng.gauss(0.35, 0.05),
            "memory_usage": rng.gauss(60, 5),
            "system_load": rng.gauss(2.0, 0.4),
        }
        write_snapshot(storage, _snapshot(at, values))
    events = [_event(START + timedelta(minutes=m, seconds=10), slow=True) for m in sorted(slow_minutes)]
    events += [
        _event(START + timedelta(minutes=rng.randrange(1440), seconds=30), slow=False) for _ in range(400)
    ]
    write_events(storage, events)

    report = correlate.run(config, DAY)

    top = report.suspects[0]
    assert (top.metric, top.rank) == ("cpu_usage", 1)
    assert top.effect > 5 and top.slow_count == 40 and top.baseline_count >= 400
    assert all(abs(s.effect) < 2 for s in report.suspects[1:])
    assert {s.metric for s in report.suspects} == {"cpu_usage", "memory_usage", "system_load"}
    # The contract's 2026-12-01 fields: the date's episodes, a headline naming the cause, and each
    # suspect's direction and causal role.
    stored = orjson.loads(storage.get_bytes(layout.report_key(DAY, "default")))
    assert stored["episodes"] == report.episodes and report.episodes is not None and report.episodes >= 2
    assert top.significant and top.direction == "rise" and top.role == "cause"
    assert "cpu_usage" in stored["headline"] and " rose " in stored["headline"]
    assert all(s["direction"] in ("rise", "fall", None) for s in stored["suspects"])
    assert all(s["role"] in ("cause", "consequence") for s in stored["suspects"])


def test_suspects_need_enough_observations(write_config: Callable[..., Path]) -> None:
    _, config = _config(write_config)
    storage = open_storage(config)
    write_snapshot(storage, _snapshot(START, {"cpu_usage": 0.5}))
    write_events(storage, [_event(START, slow=True)])
    assert correlate.run(config, DAY).suspects == ()


@pytest.mark.integration
def test_correlate_reads_and_writes_s3(
    write_config: Callable[..., Path], moto_s3: str, s3_bucket: str
) -> None:
    path, config = _config(
        write_config,
        storage={"url": f"s3://{s3_bucket}/mlprom", "endpoint_url": moto_s3, "region": "us-east-1"},
    )
    storage = open_storage(config)
    write_snapshot(storage, _snapshot(START + timedelta(hours=1), {"cpu_usage": 0.95}))
    result = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat())
    assert result.exit_code == 1, result.output
    assert storage.exists(layout.report_key(DAY, "default"))


def test_quiet_correlate_keeps_notes_on_the_data_in_the_report_not_on_stderr(
    write_config: Callable[..., Path],
) -> None:
    """-q in cron: "the test has little power" is a property of the data, not something for an operator.
    It stays in the report's warnings; stderr stays empty (without -q it is still printed)."""
    import subprocess
    import sys

    path, config = _config(write_config)
    storage = open_storage(config)
    for minute in range(0, 60, 5):
        write_snapshot(
            storage, _snapshot(START + timedelta(minutes=minute), {"cpu_usage": 0.2 + minute / 100})
        )
    write_events(
        storage,
        [_event(START + timedelta(minutes=m), slow=m in (10, 30)) for m in range(0, 60, 5)],
    )
    args = [sys.executable, "-m", "mlprom", "-c", str(path), "correlate", "--date", DAY.isoformat()]
    quiet = subprocess.run([*args[:3], "-q", *args[3:], "--fail-on", "never"], capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout == ""
    loud = subprocess.run([*args, "--fail-on", "never"], capture_output=True, text=True)
    assert "little power" in loud.stderr
    stored = orjson.loads(storage.get_bytes(layout.report_key(DAY, "default")))
    assert any("little power" in warning for warning in stored["warnings"])


def test_a_date_with_only_its_neighbours_snapshots_has_no_data(write_config: Callable[..., Path]) -> None:
    """Snapshots of the day before, inside the skew window of this date's midnight, are not this date's
    data: exit 4 (unless --allow-empty), not a report of 24 empty hours."""
    path, config = _config(write_config, correlate={"max_skew": "2m"})
    storage = open_storage(config)
    for seconds in (30, 60, 90):
        write_snapshot(storage, _snapshot(START - timedelta(seconds=seconds), {"cpu_usage": 0.5}))
    result = _invoke(path, "correlate", "--date", DAY.isoformat())
    assert result.exit_code == 4, result.output
    assert not list(storage.list(layout.partition_prefix("reports", DAY)))
    allowed = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat(), "--allow-empty")
    assert allowed.exit_code == 0, allowed.output
    assert orjson.loads(allowed.stdout)["status"] == "no_data"


def test_the_timeline_shades_exactly_the_episodes_the_report_counts(
    write_config: Callable[..., Path],
) -> None:
    # Bursts at 00:00:50 and 00:02:10 are one episode (80 s of quiet, less than 3 steps) though the
    # minute between them has no slow batch; a third, an hour later, is another: the report says 2
    # episodes and the timeline shades two periods, not three runs of slow minutes.
    _, config = _config(write_config)
    storage = open_storage(config)
    seconds = (50, 55, 130, 135, 3600, 3605)
    events = [_event(START + timedelta(seconds=s), slow=True) for s in seconds]
    write_events(storage, events)
    report = correlate.run(config, DAY)
    stored = orjson.loads(storage.get_bytes(layout.report_key(DAY, "default")))
    periods = stored["timeline"]["slow_periods"]
    assert report.episodes == len(periods) == 2, periods
    assert all(b > a and a % 60 == 0 and b % 60 == 0 for a, b in periods)


def test_one_episode_gets_a_headline_that_names_no_cause_and_says_why(
    write_config: Callable[..., Path],
) -> None:
    # One 20-minute slow period while cpu_usage is high: a single coincidence, however strong. The
    # headline must not name cpu_usage as the cause; it says why the date cannot name one.
    path, config = _config(write_config, correlate={"max_skew": "2m"})
    storage = open_storage(config)
    rng = random.Random(7)
    for minute in range(0, 1440):
        at = START + timedelta(minutes=minute)
        hot = 600 <= minute < 620
        values: dict[str, float | None] = {
            "cpu_usage": rng.gauss(0.9, 0.02) if hot else rng.gauss(0.3, 0.05),
            "memory_usage": rng.gauss(60, 5),
            "system_load": rng.gauss(2.0, 0.4),
        }
        write_snapshot(storage, _snapshot(at, values))
    events = [_event(START + timedelta(minutes=600 + m, seconds=10), slow=True) for m in range(20)]
    events += [
        _event(START + timedelta(minutes=rng.randrange(1440), seconds=30), slow=False) for _ in range(300)
    ]
    write_events(storage, events)

    result = _invoke(path, "-o", "json", "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["episodes"] == 1
    assert not [s for s in report["suspects"] if s["significant"]]
    headline = report["headline"]
    assert "1 episode(s)" in headline and "cannot name an infrastructure cause" in headline, headline
    assert "1 slow episode(s): at least 2 are needed" in headline, headline
    table = _invoke(path, "correlate", "--date", DAY.isoformat(), "--fail-on", "never")
    assert "cannot name an infrastructure cause" in table.stdout
