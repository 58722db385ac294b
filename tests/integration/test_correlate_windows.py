"""`mlprom correlate` on a local store: a latency threshold that re-classifies most of the date is warned
about with both counts and both thresholds, and quality thresholds are judged on the date's rows (here
batches of 5 from a real `capture-model` run), the finding saying how many rows it rests on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom.analysis.sketch import LatencySketch
from mlprom.cli import app
from mlprom.config import load_config
from mlprom.events.log import write_events
from mlprom.events.sketches import write_sketch
from mlprom.records import Event
from mlprom.storage import open_storage

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 9, tzinfo=UTC)
runner = CliRunner()


def _captured_at_10s(config_path: Path) -> None:
    """3,000 batches over 50 minutes, captured at 10s: 12 slow (15 s) and every 100th fast one (0.3 s)
    stored as events, every batch in the latency sketch."""
    storage = open_storage(load_config(str(config_path)))
    sketch = LatencySketch()
    events = []
    for i in range(3000):
        at = START + timedelta(seconds=i)
        seconds = 15.0 if i % 250 == 0 else 0.3
        sketch.add(at.timestamp(), seconds)
        slow, sampled = seconds > 10.0, seconds <= 10.0 and i % 100 == 1
        if slow or sampled:
            events.append(Event(at, "default", seconds, slow, rows=5, sampled=sampled))
    write_events(storage, events)
    write_sketch(storage, "default", sketch, 10.0, "capture-model")


def _correlate(config_path: Path, *args: str) -> Any:
    return runner.invoke(app, ["-c", str(config_path), "correlate", "--date", DAY.isoformat(), *args])


def test_a_threshold_that_reclassifies_most_of_the_date_is_warned_about(
    write_config: Callable[..., Path],
) -> None:
    captured = write_config({"model": {"latency_threshold": "10s"}})
    _captured_at_10s(captured)
    lowered = write_config({"model": {"latency_threshold": "200ms"}}, name="lowered.yaml")

    result = _correlate(lowered, "-o", "json", "--fail-on", "never")

    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    # 42 events (12 slow, 30 sampled), all slower than 200ms; the sketch knows 2,958 more.
    assert report["events"] == {
        "total": 3000,
        "slow": 3000,
        "from_sketches": 2958,
        "joined": 0,
        "slow_joined": 0,
    }
    warning = (
        "model.latency_threshold 200ms classifies 42 of 42 events slow and 2,958 more batch(es) known only "
        "from latency sketches; their capture flagged 12 (captured at 10s): slow and fast sides, findings "
        "and suspects describe another picture than the capture's"
    )
    assert warning in report["warnings"]
    assert warning in result.stderr


def test_the_capture_threshold_reclassifies_nothing_and_says_nothing(
    write_config: Callable[..., Path],
) -> None:
    captured = write_config({"model": {"latency_threshold": "10s"}})
    _captured_at_10s(captured)

    result = _correlate(captured, "-o", "json", "--fail-on", "never")

    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["events"]["total"] == 42 and report["events"]["slow"] == 12
    assert report["events"]["from_sketches"] == 0
    assert not [w for w in report["warnings"] if w.startswith("model.latency_threshold")]


def _labelled_input(path: Path) -> Path:
    """50 rows for sum_rule_predict (class 1 when x1 + x2 > 1): the label agrees with it except for 3 rows
    of the first batch of 5 and 1 row of the fourth, so the run's accuracy is 46/50 = 0.92 and the first
    batch's 0.4."""
    wrong = {0, 1, 2, 17}
    lines = ["x1,x2,label"]
    for i in range(50):
        x1 = 0.9 if i % 2 else 0.1
        predicted = int(x1 + 0.5 > 1)
        lines.append(f"{x1},0.5,{1 - predicted if i in wrong else predicted}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_quality_is_judged_on_the_dates_rows_not_per_batch(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    config = write_config(
        {
            "mlflow": {"tracking_uri": mlflow_sqlite_uri, "experiment": f"quality-{uuid.uuid4().hex[:8]}"},
            "model": {"sample_rate": 1.0},  # every batch stored: the events are the whole run
            "thresholds": {"accuracy": {"warning": 0.95, "critical": 0.5, "direction": "below"}},
        }
    )
    capture = [
        "capture-model",
        "--input",
        str(_labelled_input(tmp_path / "in.csv")),
        "--label-column",
        "label",
    ]
    capture += ["--model", "tests.fixtures.mlflow_server:sum_rule_predict", "--batch-size", "5"]
    captured = runner.invoke(app, ["-c", str(config), "-o", "json", *capture, "--date", DAY.isoformat()])
    assert captured.exit_code == 0, captured.output
    assert orjson.loads(captured.stdout)["quality"]["accuracy"] == pytest.approx(0.92)

    result = _correlate(config, "-o", "json", "--fail-on", "never")

    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    (finding,) = [f for f in report["findings"] if f["metric"] == "accuracy"]
    # The first batch alone (0.4) would be critical; the date's 50 rows are at 0.92, a warning.
    assert (finding["severity"], finding["threshold"]) == ("warning", 0.95)
    assert finding["value"] == pytest.approx(0.92) and finding["rows"] == 50
    assert finding["slow_events"] == 0 and finding["detail"]["observations"] == 10
    markdown = _correlate(config, "-o", "markdown", "--fail-on", "never").stdout
    (row,) = [line for line in markdown.splitlines() if line.startswith("| warning | accuracy |")]
    assert "| 0.92 over 50 rows | <= 0.95 | - |" in row
