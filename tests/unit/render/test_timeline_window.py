"""The stretch of the date a timeline draws (render/document.py data_window), in the page and the PNG."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlprom.render.document import data_span, data_window, document_timeline
from mlprom.render.picture import timeline_figure
from tests.fixtures.report_documents import MIDNIGHT, full_document


def at(hh: int, mm: int) -> float:
    return datetime(2026, 11, 20, hh, mm, tzinfo=UTC).timestamp()


def short_day(first: float, last: float, infra: tuple[float, float] | None = None) -> dict[str, Any]:
    """The full document with events only in the minutes [first, last) and its series' points only in
    `infra` (inclusive), or none at all."""
    document = full_document()
    timeline = document["timeline"]
    prediction = timeline["prediction"]
    for i, t in enumerate(prediction["t"]):
        if not first <= t < last:
            prediction["count"][i], prediction["slow"][i] = 0, 0
            prediction["p50"][i] = prediction["p95"][i] = None
    timeline["slow_periods"] = [p for p in timeline["slow_periods"] if first <= p[0] < last]
    for line in timeline["series"]:
        keep = [i for i, t in enumerate(line["t"]) if infra and infra[0] <= t <= infra[1]]
        line["t"], line["v"] = [line["t"][i] for i in keep], [line["v"][i] for i in keep]
    return document


def window(document: dict[str, Any]) -> tuple[float, float]:
    timeline = document_timeline(document)
    assert timeline is not None
    return data_window(timeline, document)


def test_a_short_incident_gets_five_minutes_each_side() -> None:
    # Events 10:00-10:04 (the last minute's bucket ends 10:04), no infra points.
    assert window(short_day(at(10, 0), at(10, 4))) == (at(9, 55), at(10, 9))


def test_a_longer_span_gets_a_tenth_of_it_each_side_on_whole_minutes() -> None:
    # Events 08:00-12:00, infra 07:30-12:30: 5 h of data, 30 min context each side.
    assert window(short_day(at(8, 0), at(12, 0), (at(7, 30), at(12, 30)))) == (at(7, 0), at(13, 0))


def test_context_is_clamped_to_the_date_and_a_full_day_is_the_whole_date() -> None:
    assert window(short_day(at(0, 1), at(0, 3))) == (MIDNIGHT, at(0, 8))
    assert window(full_document()) == (MIDNIGHT, MIDNIGHT + 86400)


def test_a_report_of_today_ends_when_it_was_made() -> None:
    document = short_day(at(10, 0), at(10, 4))
    document["generated_at"] = "2026-11-20T10:06:30Z"
    assert window(document) == (at(9, 55), at(10, 6) + 30)


def test_no_data_draws_the_date_up_to_the_generation_time() -> None:
    document = short_day(at(0, 0), at(0, 0))
    timeline = document_timeline(document)
    assert timeline is not None and data_span(timeline) is None
    assert window(document) == (MIDNIGHT, MIDNIGHT + 86400)  # made after the date: the whole date
    document["generated_at"] = "2026-11-20T13:00:00Z"
    assert window(document) == (MIDNIGHT, at(13, 0))


@pytest.mark.parametrize(
    ("document", "expected", "ticks"),
    [
        (short_day(at(10, 0), at(10, 4)), (at(9, 55), at(10, 9)), ["09:55", "10:00", "10:05"]),
        (
            full_document(),
            (MIDNIGHT, MIDNIGHT + 86400),
            ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "24:00"],
        ),
    ],
    ids=["short incident", "whole day"],
)
def test_the_png_draws_the_same_stretch(
    document: dict[str, Any], expected: tuple[float, float], ticks: list[str]
) -> None:
    timeline = document_timeline(document)
    assert timeline is not None
    figure = timeline_figure(document, timeline)
    lo, hi = figure.axes[-1].get_xlim()
    assert (MIDNIGHT + lo * 3600, MIDNIGHT + hi * 3600) == pytest.approx(expected)
    assert [t.get_text() for t in figure.axes[-1].get_xticklabels()] == ticks
