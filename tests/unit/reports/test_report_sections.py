"""The report's typed sections and its one reader: the stored form survives a read unchanged, a stored
document from another writer is read as far as it is usable, and the reader's refusals name the report."""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlprom import layout
from mlprom.errors import NoDataError
from mlprom.reports import correlation
from mlprom.reports.correlation import CorrelationReport, read_stored_report
from mlprom.reports.sections import InfraSection, Significance, Skew, Timeline
from mlprom.storage.local import LocalStorage
from tests.fixtures.report_documents import DAY, MIDNIGHT, full_document

SECTIONS = {"infra": InfraSection, "skew": Skew, "significance": Significance}


def _sorted(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def test_a_stored_report_reads_back_to_the_same_json_bytes() -> None:
    document = full_document()
    document["infra"]["requests"] = 3
    document["timeline"]["prediction"]["source"] = "sketches"
    report = CorrelationReport.from_dict(copy.deepcopy(document))
    again = report.to_dict()
    for name in ("infra", "skew", "significance", "timeline"):
        assert _sorted(again[name]) == _sorted(document[name]), name
    # Whole numbers stay whole: 60 is written as 60, not 60.0.
    assert _sorted(again["timeline"]["step_seconds"]) == b"60"
    assert report.timeline is not None and report.timeline.prediction_source == "sketches"


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_each_section_reads_what_it_writes(name: str) -> None:
    document = full_document()
    document["infra"]["requests"] = 0
    section = SECTIONS[name].from_dict(document[name])
    assert section.to_dict() == document[name]
    assert SECTIONS[name].from_dict(section.to_dict()) == section


def test_a_timeline_keeps_what_is_usable_and_drops_points_without_a_time() -> None:
    timeline = Timeline.from_dict(
        {
            "start": MIDNIGHT,
            "end": MIDNIGHT + 86400,
            "prediction": {"t": [MIDNIGHT, "x", MIDNIGHT + 120], "count": [3, 4], "p50": [0.1, 0.2, True]},
            "slow_periods": [[MIDNIGHT, MIDNIGHT + 60], [5, 1], "no", [1, 2, 3]],
            "series": [None, {"metric": "cpu", "t": [MIDNIGHT], "v": [float("inf")], "threshold": 5}],
        }
    )
    assert (timeline.start, timeline.end, timeline.step) == (MIDNIGHT, MIDNIGHT + 86400, 60)
    assert timeline.t == (MIDNIGHT, MIDNIGHT + 120)
    assert timeline.count == (3, None) and timeline.p50 == (0.1, None) and timeline.p95 == (None, None)
    assert timeline.slow_periods == ((MIDNIGHT, MIDNIGHT + 60),)
    (series,) = timeline.series
    assert (series.metric, series.t, series.v, series.threshold, series.direction) == (
        "cpu",
        (MIDNIGHT,),
        (None,),
        None,
        "above",
    )
    assert timeline.prediction_source == "events"


@pytest.mark.parametrize(
    "raw",
    [
        {"start": 10, "end": 10},
        {"start": 10, "end": 5},
        {"start": "x", "end": 10},
        {"end": 86400},
        {"start": 0},
    ],
)
def test_a_timeline_without_a_valid_range_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="no valid time range"):
        Timeline.from_dict(raw)


def test_sections_that_are_not_objects_are_refused_and_the_report_ignores_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for kind in (InfraSection, Skew, Significance, Timeline):
        with pytest.raises(TypeError):
            kind.from_dict([1])
    document = full_document()
    document.update({"infra": "x", "skew": [1], "timeline": 3, "significance": {"fdr": 1.5}})
    with caplog.at_level(logging.WARNING, "mlprom"):
        report = CorrelationReport.from_dict(document, key="reports/k.json")
    assert (report.infra, report.skew, report.timeline, report.significance) == (None, None, None, None)
    assert "ignoring infra of reports/k.json: not an object" in caplog.text
    assert "ignoring significance of reports/k.json: fdr 1.5 is not a rate" in caplog.text


def test_an_invalid_timeline_range_is_none_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    document = full_document()
    document["timeline"].update({"start": 5, "end": 4})
    with caplog.at_level(logging.WARNING, "mlprom"):
        report = CorrelationReport.from_dict(document)
    assert report.timeline is None and "timeline" not in caplog.text


def _store(tmp_path: Path, body: bytes) -> LocalStorage:
    storage = LocalStorage(tmp_path)
    storage.put_bytes(layout.report_key(date.fromisoformat(DAY), "default"), body)
    return storage


def test_the_reader_returns_the_document_as_written_and_its_parsed_report(tmp_path: Path) -> None:
    document = {**full_document(), "written_by": "another tool"}
    stored = read_stored_report(_store(tmp_path, orjson.dumps(document)), date.fromisoformat(DAY), "default")
    assert stored.document == document and stored.to_dict() == document
    assert stored.report.date == date.fromisoformat(DAY) and stored.url.endswith("correlation.json")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "is unreadable (JSONDecodeError): re-run `mlprom correlate --date 2026-11-20`"),
        (b"[]", "is unreadable (ValueError)"),
        (b'{"status": "ok"}', "is unreadable (ValueError)"),
    ],
)
def test_the_reader_refuses_what_is_not_a_report(tmp_path: Path, body: bytes, expected: str) -> None:
    with pytest.raises(NoDataError, match=r"report .*correlation\.json ") as caught:
        read_stored_report(_store(tmp_path, body), date.fromisoformat(DAY), "default")
    assert expected in str(caught.value)


def test_the_reader_names_a_missing_report_and_the_command_that_writes_it(tmp_path: Path) -> None:
    with pytest.raises(
        NoDataError, match=r"no report for 2026-11-20 of model 'default' at .*: run `mlprom correlate"
    ):
        read_stored_report(LocalStorage(tmp_path), date.fromisoformat(DAY), "default")


def test_a_report_of_the_previous_layout_is_read_for_its_own_model_only_and_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprom.reports import legacy

    monkeypatch.setattr(legacy, "_told", set())
    day = date.fromisoformat(DAY)
    storage = LocalStorage(tmp_path)
    document = full_document()
    storage.put_bytes(layout.legacy_report_key(day), orjson.dumps(document))
    with caplog.at_level(logging.WARNING, "mlprom"):
        stored = read_stored_report(storage, day, document["model"])
        read_stored_report(storage, day, document["model"])
    assert stored.key == layout.legacy_report_key(day)
    assert caplog.text.count("previous layout") == 1, caplog.text
    assert f"model={document['model']}/correlation.json" in caplog.text  # where the next run writes
    with pytest.raises(NoDataError, match="of model 'another'"):
        read_stored_report(storage, day, "another")  # the shared report was another model's
    # Once the model has its own report, the old one is no longer read.
    storage.put_bytes(layout.report_key(day, document["model"]), orjson.dumps(document))
    assert read_stored_report(storage, day, document["model"]).key == layout.report_key(
        day, document["model"]
    )


def test_the_reader_refuses_an_object_too_large_to_be_a_report_before_parsing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(correlation, "MAX_REPORT_BYTES", 100)
    storage = _store(tmp_path, orjson.dumps(full_document()))
    with pytest.raises(NoDataError, match=r"bytes, more than a report has \(100\)"):
        read_stored_report(storage, date.fromisoformat(DAY), "default")


@pytest.mark.parametrize(
    ("status", "fail_on", "partial", "code"),
    [
        ("critical", "critical", False, 1),
        ("warning", "critical", False, 0),
        ("warning", "warning", False, 1),
        ("critical", "never", False, 0),
        ("no_data", "warning", False, 0),
        ("ok", "never", True, 3),
        ("critical", "critical", True, 3),
    ],
)
def test_the_exit_code_of_a_report_applies_fail_on(
    status: str, fail_on: str, partial: bool, code: int
) -> None:
    report = CorrelationReport.from_dict({**full_document(), "status": status})
    assert replace(report, fail_on=fail_on, partial_failure=partial).exit_code == code
