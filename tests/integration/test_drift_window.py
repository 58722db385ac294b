"""drift_report over events in local storage: planted shifts found, stable days quiet, thin data reported."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlprom import layout
from mlprom.analysis.drift import SAMPLE_SIZE
from mlprom.config import load_config_text
from mlprom.events.log import iter_event_keys, write_events
from mlprom.records import Event
from mlprom.reports.drift_window import DriftReport, drift_report, read_side, write_drift_sample
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

    result = CliRunner().invoke(
        app, ["-c", str(config_path), "-o", "json", "correlate", "--date", DAY.isoformat()]
    )

    assert result.exit_code == 1, result.output  # the drift finding is critical
    document = orjson.loads(result.stdout)
    assert document["status"] == "critical"
    drift_findings = [f for f in document["findings"] if f["kind"] == "drift"]
    assert [(f["metric"], f["labels"]) for f in drift_findings] == [
        ("drift_psi", {"distribution": "outputs"})
    ]
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


# ---------------------------------------------------------------- stored per-day drift samples

REFERENCE = [DAY - timedelta(days=n) for n in range(7, 0, -1)]


def _correlate_days(storage: LocalStorage, config: Any, days: list[date]) -> None:
    """What a daily cron leaves behind: each of `days` correlated once, its drift sample stored."""
    from mlprom.stages.correlate import run

    for day in days:
        run(config, day, storage=storage, allow_empty=True)


def _drop_events(storage: LocalStorage, days: list[date]) -> None:
    """Delete the days' events, so a report that still sees them can only have read their samples."""
    for day in days:
        storage.delete_many(list(iter_event_keys(storage, day, "default")))


@pytest.fixture
def warnings_seen(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    # The CLI stops the mlprom logger propagating (it has its own handler); caplog listens at the root.
    monkeypatch.setattr(logging.getLogger("mlprom"), "propagate", True)
    caplog.set_level(logging.INFO, logger="mlprom")
    return caplog


def test_correlate_stores_the_dates_drift_sample_under_its_layout_key(storage: LocalStorage) -> None:
    from mlprom.stages.correlate import run

    _history(storage, random.Random(1), output_shift=0.8)
    config = _config(storage.root)

    run(config, DAY, storage=storage)
    run(config, DAY, storage=storage)  # a re-run replaces it

    key = layout.drift_sample_key(DAY, "default")
    assert layout.parse_key(key) == layout.ParsedKey("reports", DAY, "default", "drift_sample")
    assert sorted(info.key for info in storage.list(layout.partition_prefix("reports", DAY))) == [
        layout.report_key(DAY, "default"),
        key,
    ]
    document = orjson.loads(storage.get_bytes(key))
    assert (document["version"], document["date"], document["model"]) == (1, DAY.isoformat(), "default")
    assert document["sample_size"] == SAMPLE_SIZE
    outputs = document["distributions"]["outputs"]
    assert outputs["seen"] == 200 * 5 and len(outputs["values"]) == 200 * 5
    assert all(type(v) is float for v in outputs["values"])
    assert outputs["mean"] == pytest.approx(outputs["sum"] / 1000) and outputs["mean"] == pytest.approx(
        0.8, abs=0.1
    )
    assert document["first"] == datetime.combine(DAY, time(1, 0), UTC).timestamp()
    assert document["last"] == document["first"] + 60 * 199


@pytest.mark.parametrize(("seed", "shift", "status"), [(1, 0.8, "drift"), (3, 0.0, "ok")])
def test_reference_days_from_samples_give_what_their_events_give(
    storage: LocalStorage, warnings_seen: pytest.LogCaptureFixture, seed: int, shift: float, status: str
) -> None:
    _history(storage, random.Random(seed), output_shift=shift)
    config = _config(storage.root)
    from_events = drift_report(storage, config, DAY)

    _correlate_days(storage, config, REFERENCE)
    _drop_events(storage, REFERENCE)
    from_samples = drift_report(storage, config, DAY)

    assert from_samples.status == status
    # A day read from events becomes the very side correlate stored for it: not close, identical.
    assert from_samples.to_dict() == from_events.to_dict()
    assert from_samples.distributions["outputs"].n_reference == 7 * 200 * 5
    assert "7 day(s) from stored samples, 0 from events" in warnings_seen.text


def test_subsampled_days_combine_the_same_from_samples_as_from_events(storage: LocalStorage) -> None:
    # 1,000 output values a day against a 300-value sample: each day's share is a subsample of its own.
    _history(storage, random.Random(8), n=200, output_shift=0.8)
    config = _config(storage.root)
    from_events = drift_report(storage, config, DAY, sample_size=300)

    for day in REFERENCE:
        write_drift_sample(storage, "default", day, read_side(storage, day, "default", 300))
    _drop_events(storage, REFERENCE)
    from_samples = drift_report(storage, config, DAY, sample_size=300)

    assert from_samples.to_dict() == from_events.to_dict()
    outputs = from_samples.distributions["outputs"]
    assert (outputs.n_reference, outputs.status) == (7000, "drift")
    assert outputs.mean_reference == pytest.approx(0.0, abs=0.05)


def test_some_days_from_samples_and_some_from_events(
    storage: LocalStorage, warnings_seen: pytest.LogCaptureFixture
) -> None:
    _history(storage, random.Random(1), output_shift=0.8)
    config = _config(storage.root)
    from_events = drift_report(storage, config, DAY)

    _correlate_days(storage, config, REFERENCE[::2])  # four days stored, three missing
    mixed = drift_report(storage, config, DAY)

    assert mixed.to_dict() == from_events.to_dict()
    assert "4 day(s) from stored samples, 3 from events" in warnings_seen.text


def _tampered(document: dict[str, Any], change: str) -> bytes:
    if change == "not json":
        return b'{"version": 1, "distributions": '
    if change == "version":
        document["version"] = 2
    elif change == "truncated":
        document["distributions"]["outputs"]["values"].pop()
    elif change == "model":
        document["model"] = "someone-else"
    elif change == "string value":
        document["distributions"]["accuracy"]["values"][0] = "0.9"
    return orjson.dumps(document)


@pytest.mark.parametrize("change", ["not json", "version", "truncated", "model", "string value"])
def test_an_unusable_sample_falls_back_to_events_with_a_warning_naming_its_key(
    storage: LocalStorage, warnings_seen: pytest.LogCaptureFixture, change: str
) -> None:
    _history(storage, random.Random(1), output_shift=0.8)
    config = _config(storage.root)
    from_events = drift_report(storage, config, DAY)
    _correlate_days(storage, config, REFERENCE)
    key = layout.drift_sample_key(REFERENCE[3], "default")
    storage.put_bytes(key, _tampered(orjson.loads(storage.get_bytes(key)), change))
    warnings_seen.clear()

    report = drift_report(storage, config, DAY)

    assert report.to_dict() == from_events.to_dict()
    [warning] = [r for r in warnings_seen.records if r.levelno == logging.WARNING]
    assert key in warning.getMessage() and "reading" in warning.getMessage()
    assert "6 day(s) from stored samples, 1 from events" in warnings_seen.text


def test_a_sample_of_another_size_is_read_from_events_without_a_warning(
    storage: LocalStorage, warnings_seen: pytest.LogCaptureFixture
) -> None:
    _history(storage, random.Random(8), output_shift=0.8)
    config = _config(storage.root)
    from_events = drift_report(storage, config, DAY, sample_size=300)
    _correlate_days(storage, config, REFERENCE)  # stored with the default sample size
    warnings_seen.clear()

    report = drift_report(storage, config, DAY, sample_size=300)

    assert report.to_dict() == from_events.to_dict()
    assert not [r for r in warnings_seen.records if r.levelno >= logging.WARNING]
    assert "0 day(s) from stored samples, 7 from events" in warnings_seen.text


def test_correlates_drift_matches_drift_report_with_stored_reference_samples(storage: LocalStorage) -> None:
    from mlprom.stages.correlate import run

    _history(storage, random.Random(3), output_shift=0.8)
    config = _config(storage.root)
    _correlate_days(storage, config, REFERENCE)

    via_correlate = run(config, DAY, storage=storage).drift

    assert isinstance(via_correlate, DriftReport) and via_correlate.status == "drift"
    assert via_correlate.to_dict() == drift_report(storage, config, DAY).to_dict()


def test_prune_deletes_an_old_dates_drift_sample_with_its_reports_partition(storage: LocalStorage) -> None:
    from mlprom.stages import prune

    _history(storage, random.Random(1))
    config = _config(storage.root)
    old, kept = REFERENCE[0], REFERENCE[-1]
    _correlate_days(storage, config, [old, kept])
    assert storage.exists(layout.drift_sample_key(old, "default"))

    result = prune.run(config, keep_days=3, storage=storage, today=DAY, progress=False)

    assert result.unknown_count == 0  # the sample is a layout key, not a stranger
    assert not storage.exists(layout.drift_sample_key(old, "default")) and not storage.exists(
        layout.report_key(old, "default")
    )
    assert storage.exists(layout.drift_sample_key(kept, "default")) and storage.exists(
        layout.report_key(kept, "default")
    )


def test_compared_distributions_carry_histograms_of_both_samples(storage: LocalStorage) -> None:
    _history(storage, random.Random(9), n=150, output_shift=0.8)

    report = drift_report(storage, _config(storage.root, "drift: {min_samples: 100}"), DAY)
    histograms = report.to_dict()["histograms"]

    assert set(histograms) == {"prediction_time", "outputs", "accuracy"}
    outputs = histograms["outputs"]
    assert sum(outputs["current"]) == report.distributions["outputs"].n_current == 750
    assert sum(outputs["reference"]) == report.distributions["outputs"].n_reference == 7 * 200 * 5
    assert len(outputs["edges"]) == len(outputs["current"]) + 1


def test_distributions_not_compared_have_no_histogram(storage: LocalStorage) -> None:
    write_events(storage, _events(DAY, random.Random(4)))

    report = drift_report(storage, _config(storage.root), DAY)

    assert report.to_dict()["histograms"] == {}
