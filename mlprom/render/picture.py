"""`-o markdown --assets DIR`: a PNG of the report's timeline, drawn with matplotlib, linked from the markdown.

The same picture as the HTML page's timeline, for places that show markdown but not HTML (CI job
summaries, pull-request comments). matplotlib is imported here only, and only when --assets is given.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlprom.render.document import (
    clock,
    data_window,
    finding_spans,
    format_number,
    label_text,
    prediction_threshold,
    report_document,
    time_ticks,
)
from mlprom.render.literal import literal
from mlprom.reports.sections import Timeline

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PANELS = 3  # suspect series under the prediction panel
# Okabe-Ito, as in the HTML page.
VERMILLION, BLUE, SKY_BLUE, BLUISH_GREEN, ORANGE = "#D55E00", "#0072B2", "#56B4E9", "#009E73", "#E69F00"


def picture_name(document: dict[str, Any], model: str | None = None) -> str:
    """`timeline-D.png`, or `timeline-MODEL-D.png` for one of several models sharing a directory (the
    date has a fixed length, so two models' names never meet)."""
    day = str(document.get("date") or "undated")
    safe = "".join(c for c in day if c.isalnum() or c == "-") or "undated"
    if model is not None:
        own = "".join(c for c in model if c.isascii() and (c.isalnum() or c in "-._"))
        return f"timeline-{own}-{safe}.png"
    return f"timeline-{safe}.png"


def _md_text(text: str) -> str:
    """Alt text inside ![...]: control characters as escapes, brackets and backslashes escaped, one line."""
    out = literal(text).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return " ".join(out.split())


def with_timeline_picture(
    result: Any, markdown: str, assets: str, link_from: str | None = None, model: str | None = None
) -> str:
    """Write the timeline PNG into `assets` and put a link to it under the markdown's first line.

    The link is relative to `link_from` (the directory of the --out file) when given, so the markdown
    and its picture can be published together; else it is the path as given. `model`: the PNG's name
    carries it (picture_name).
    """
    from mlprom.errors import InputError

    report = report_document(result)
    document, timeline = report.document, report.timeline
    try:
        # Made even when there is no picture to put in it, so `--out DIR/summary.md` beside it works.
        os.makedirs(assets or ".", exist_ok=True)
    except OSError as exc:
        raise InputError(f"--assets {assets}: cannot create the directory: {exc.strerror or exc}") from None
    if timeline is None:
        block = (
            "_No timeline in this report, so no picture: it was made by an mlprom that did not store one._"
        )
    else:
        from mlprom.render.files import write_bytes_atomically

        path = os.path.join(assets, picture_name(document, model))
        write_bytes_atomically(path, timeline_png(document, timeline))
        alt = _md_text(f"Timeline of {document.get('model') or 'the model'} on {document.get('date')} (UTC)")
        if link_from is not None:
            path = os.path.relpath(path, link_from or ".")
        target = path.replace(os.sep, "/").replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        block = f"![{alt}]({target})"
    head, sep, rest = markdown.partition("\n")
    return f"{head}\n\n{block}\n{sep}{rest}" if sep else f"{markdown}\n\n{block}\n"


def _wrapped(text: str, width: int = 130) -> str:
    """A title broken into lines that fit the figure, rather than running past its right edge."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_long_words=True)) or text


def _hours(values: Sequence[float], start: float) -> list[float]:
    return [(v - start) / 3600.0 for v in values]


def _nan(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def _frame(ax: Axes, timeline: Timeline, y_label: str) -> None:
    for a, b in timeline.slow_periods:
        ax.axvspan(
            (a - timeline.start) / 3600,
            (max(b, a + timeline.step) - timeline.start) / 3600,
            color="black",
            alpha=0.10,
            linewidth=0,
        )
    from matplotlib.ticker import FuncFormatter

    ax.set_ylabel(y_label, parse_math=False)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_number(value)))
    ax.grid(axis="y", color="#e4e4e4")
    ax.set_axisbelow(True)
    # Never a truncated axis: zero is always on it.
    bottom, top = ax.get_ylim()
    ax.set_ylim(min(0.0, bottom), max(0.0, top) or 1.0)


# matplotlib is not thread-safe, and `report --out DIR --jobs N` renders models in threads: one figure
# at a time (drawing holds the GIL anyway, so nothing is lost).
_DRAWING = threading.Lock()


def timeline_png(document: dict[str, Any], timeline: Timeline, dpi: int = 100) -> bytes:
    """The timeline figure as PNG bytes."""
    import io

    with _DRAWING:
        figure = timeline_figure(document, timeline, dpi)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": "mlprom"})
    return buffer.getvalue()


def timeline_figure(document: dict[str, Any], timeline: Timeline, dpi: int = 100) -> Any:
    """The prediction panel, the event counts and up to PANELS suspect series on one UTC time axis, over
    the data's span with context (document.data_window), as the HTML page draws it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = timeline.series[:PANELS]
    ratios = [2.2, 1.2, *([1.6] * len(series))]
    figure = Figure(figsize=(10, 1.2 + 1.35 * sum(ratios)), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    xs = _hours(timeline.t, timeline.start)

    ax = axes[0]
    if xs:
        ax.plot(xs, _nan(timeline.p95), color=VERMILLION, linewidth=1.3, label="p95")
        ax.plot(xs, _nan(timeline.p50), color=BLUE, linewidth=1.3, linestyle="--", label="p50 (median)")
    else:
        ax.text(0.5, 0.5, "no events on this date", transform=ax.transAxes, ha="center", parse_math=False)
    threshold = prediction_threshold(document)
    if threshold is not None:
        ax.axhline(
            threshold, color=VERMILLION, linestyle=":", linewidth=1.2, label=f"threshold {threshold:g} s"
        )
    ax.legend(loc="upper right", fontsize=8, frameon=False, ncols=3)
    _frame(ax, timeline, "prediction time (s)")
    title = (
        f"{literal(document.get('model') or 'model')} on {literal(document.get('date'))}:"
        " prediction time and suspects (UTC)"
    )
    ax.set_title(_wrapped(title, 100), loc="left", fontsize=11, parse_math=False)

    ax = axes[1]
    width = timeline.step / 3600.0
    if xs:
        ax.bar(xs, _nan(timeline.count), width=width, align="edge", color=SKY_BLUE, label="recorded events")
        ax.bar(xs, _nan(timeline.slow), width=width, align="edge", color=VERMILLION, label="slow events")
        ax.legend(loc="upper right", fontsize=8, frameon=False, ncols=2)
    _frame(ax, timeline, "events / min")

    for ax, line in zip(axes[2:], series, strict=False):
        name = literal(line.metric + (" " + label_text(line.labels) if line.labels else ""))
        unit = literal(line.unit or "unit not configured")
        sx = _hours(line.t, timeline.start)
        if any(v is not None for v in line.v):
            ax.plot(sx, _nan(line.v), color=BLUISH_GREEN, linewidth=1.3)
        else:
            ax.text(
                0.5,
                0.5,
                f"no values from {literal(line.source or 'any source')}",
                transform=ax.transAxes,
                ha="center",
                parse_math=False,
            )
        op = "≤" if line.direction == "below" else "≥"
        for level, value, colour, style in (
            ("warning", line.warning, ORANGE, "--"),
            ("critical", line.critical, VERMILLION, ":"),
        ):
            if value is not None:
                ax.axhline(
                    value,
                    color=colour,
                    linestyle=style,
                    linewidth=1.2,
                    label=f"{level} {op} {format_number(value)}",
                )
        for first, last, _severity in finding_spans(document, line.metric, line.labels)[:1]:
            ax.axvline((first - timeline.start) / 3600, color="black", linestyle="--", linewidth=0.9)
            ax.axvline((last - timeline.start) / 3600, color="black", linestyle=":", linewidth=0.9)
        if line.warning is not None or line.critical is not None:
            ax.legend(loc="upper right", fontsize=8, frameon=False, ncols=2)
        ax.set_title(_wrapped(name), loc="left", fontsize=9, parse_math=False)
        _frame(ax, timeline, f"{literal(line.metric)} ({unit})" if len(line.metric) < 18 else f"({unit})")

    last = axes[-1]
    lo, hi = data_window(timeline, document)
    ticks = time_ticks(lo, hi)
    last.set_xticks(_hours(ticks, timeline.start), [clock(t, timeline.start) for t in ticks])
    last.set_xlim((lo - timeline.start) / 3600.0, (hi - timeline.start) / 3600.0)
    last.set_xlabel(f"time of day, UTC ({literal(document.get('date'))})", parse_math=False)
    return figure
