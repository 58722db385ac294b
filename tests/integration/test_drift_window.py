"""drift_report over events in local storage: planted shifts found, stable days quiet, thin data reported."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlprom.config import load_config_text
from mlprom.drift_window import DriftReport, drift_report
from mlprom.eventlog import write_events
from mlprom.records import Event
from mlprom.storage.local import LocalStorage

DAY = date(2026, 3, 10)


def _events(
    day: date,
    rng: random.Random,
    n: int = 200,
    model: str = "default",
    output_shift: float = 0.0,
    latency_scale: float = 1.0,
    accuracy_mean: float | None = 0.9,
) -> list[Event]:
    start = datetime.combine(day, time(1, 0), UTC)
    events = []
    for i in range(n):
        accuracy = None if accuracy_mean is None else min(1.0, max(0.0, rng.gauss(accuracy_mean, 0.03)))
        events.append(
            Event(
                ts=start + timedelta(seconds=60 * i),
                model=model,
                prediction_time_seconds=rng.lognormvariate(-2.0, 0.3) * latency_scale,
                slow=False,
                rows=100,
                accuracy=accuracy,
                metrics={} if accuracy is None else {"accuracy": accuracy},
                sampled=True,
                outputs=tuple(rng.gauss(output_shift, 1.0) for _ in range(5)),
            )
        )
    return events


def _history(storage: LocalStorage, rng: random.Random, days: int = 7, **current: Any) -> None:
    """`days` reference days of the baseline, then DAY with the given changes."""
    for back in range(days, 0, -1):
        write_events(storage, _events(DAY - timedelta(days=back), rng))
    write_events(storage, _events(DAY, rng, **current))


def _config(root: Path, extra: str = "") -> Any:
    return load_config_text(f"storage: {{url: '{root}'}}\n{extra}")


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "data")


def test_a_planted_output_shift_is_a_drift_finding(storage: LocalStorage) -> None:
    _history(storage, random.Random(1), output_shift=0.8)

    report = drift_report(storage, _config(storage.root), DAY)

    assert report.status == "drift"
    [finding] = report.findings
    assert (finding.kind, finding.metric, finding.labels) == (
        "drift",
        "drift_psi",
        {"distribution": "outputs"},
    )
    assert finding.severity == "critical" and finding.value >= 0.25
    assert finding.detail["ks_pvalue"] < 0.001
    assert report.distributions["outputs"].mean_current == pytest.approx(0.8, abs=0.1)
    assert report.distributions["prediction_time"].status == "ok"


def test_a_latency_shift_is_a_drift_finding_on_prediction_time(storage: LocalStorage) -> None:
    _history(storage, random.Random(2), latency_scale=2.0)

    report = drift_report(storage, _config(storage.root), DAY)

    assert [f.labels["distribution"] for f in report.findings] == ["prediction_time"]


def test_seven_days_of_the_same_distribution_yield_no_finding(storage: LocalStorage) -> None:
    _history(storage, random.Random(3))

    report = drift_report(storage, _config(storage.root), DAY)

    assert report.status == "ok" and report.findings == []
    assert {d.status for d in report.distributions.values()} == {"ok"}
    assert report.distributions["outputs"].n_reference == 7 * 200 * 5


def test_false_positives_are_rare_across_seeds(tmp_path: Path) -> None:
    flagged = []
    for seed in range(20):
        storage = LocalStorage(tmp_path / f"seed-{seed}")
        _history(storage, random.Random(1000 + seed))
        if drift_report(storage, _config(storage.root), DAY).findings:
            flagged.append(seed)
    assert len(flagged) <= 1, flagged


def test_no_reference_data_is_reported_not_raised(storage: LocalStorage) -> None:
    write_events(storage, _events(DAY, random.Random(4)))

    report = drift_report(storage, _config(storage.root), DAY)

    assert report.status == "insufficient_reference" and report.findings == []
    assert report.distributions["outputs"].n_reference == 0 and report.distributions["outputs"].psi is None


def test_a_thin_current_day_is_insufficient_current(storage: LocalStorage) -> None:
    _history(storage, random.Random(5), n=10, output_shift=3.0)  # 10 events, 5 outputs each

    report = drift_report(storage, _config(storage.root, "drift: {min_samples: 30}"), DAY)

    assert report.distributions["prediction_time"].status == "insufficient_current"
    assert report.distributions["outputs"].status == "drift"  # 50 values: enough, and far off
    assert report.distributions["accuracy"].status == "insufficient_current"


def test_only_the_configured_models_events_count(storage: LocalStorage) -> None:
    rng = random.Random(6)
    _history(storage, rng)
    write_events(storage, _events(DAY, rng, model="other", output_shift=5.0))

    report = drift_report(storage, _config(storage.root), DAY)

    assert report.findings == [] and report.distributions["outputs"].n_current == 200 * 5


def test_configured_accuracy_drop_threshold_flags_a_worse_model(storage: LocalStorage) -> None:
    _history(storage, random.Random(7), accuracy_mean=0.8)
    config = _config(storage.root, "thresholds: {accuracy_drop: {warning: 0.05, critical: 0.08}}")

    report = drift_report(storage, config, DAY)

    [finding] = report.findings
    assert (finding.metric, finding.severity, finding.labels) == (
        "accuracy_drop",
        "critical",
        {"distribution": "accuracy"},
    )
    assert finding.value == pytest.approx(0.1, abs=0.01)
    assert report.rule == "configured"


def test_reservoirs_bound_memory_but_counts_stay_exact(storage: LocalStorage) -> None:
    _history(storage, random.Random(8), output_shift=0.8)

    report = drift_report(storage, _config(storage.root), DAY, sample_size=300)

    outputs = report.distributions["outputs"]
    assert outputs.n_reference == 7000 and outputs.n_current == 1000
    assert report.sample_size == 300 and report.status == "drift"


@pytest.mark.parametrize("fmt", ["json", "table", "markdown"])
def test_drift_reports_render_in_every_format(
    storage: LocalStorage, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlprom.render import render

    _history(storage, random.Random(9), output_shift=0.8)
    report: DriftReport = drift_report(storage, _config(storage.root), DAY)

    render(report, fmt)

    out = capsys.readouterr().out
    assert "outputs" in out and "drift" in out
    if fmt == "json":
        assert orjson.loads(out)["findings"][0]["kind"] == "drift"


def test_an_empty_store_is_insufficient_reference(storage: LocalStorage) -> None:
    report = drift_report(storage, _config(storage.root), DAY)
    assert report.status == "insufficient_reference" and report.findings == []


def test_correlate_reports_drift_findings_and_fails_on_them(storage: LocalStorage, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlprom.cli import app

    _history(storage, random.Random(1), output_shift=0.8)
    config_path = tmp_path / "mlprom.yaml"
    config_path.write_text(f"storage: {{url: '{storage.root}'}}\n")

    result = CliRunner().invoke(app, ["-c", str(config_path), "-o", "json", "correlate", "--date", DAY.isoformat()])

    assert result.exit_code == 1, result.output  # the drift finding is critical
    document = orjson.loads(result.stdout)
    assert document["status"] == "critical"
    drift_findings = [f for f in document["findings"] if f["kind"] == "drift"]
    assert [(f["metric"], f["labels"]) for f in drift_findings] == [("drift_psi", {"distribution": "outputs"})]
    assert document["drift"]["status"] == "drift"
    assert document["drift"]["distributions"]["outputs"]["n_current"] == 200 * 5


def test_correlates_single_pass_sample_matches_a_separate_read(storage: LocalStorage) -> None:
    from mlprom.stages.correlate import run

    _history(storage, random.Random(3), output_shift=0.8)
    config = _config(storage.root)

    via_correlate = run(config, DAY, storage=storage).drift
    on_its_own = drift_report(storage, config, DAY)

    assert isinstance(via_correlate, DriftReport)
    assert via_correlate.to_dict() == on_its_own.to_dict()
