"""Hand-written SVG charts for the HTML report: scales, ticks, axes, lines, bars and shaded bands.

Every string that reaches the markup goes through `esc`; numbers are rounded to 0.1 px so a day of
per-minute points stays small. See docs/report.md for why this is not matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from mlprom.render.document import format_number
from mlprom.render.literal import literal

# Okabe & Ito (2008), the colour-blind-safe qualitative palette; every colour is also told apart by
# a dash pattern or a text label, never by hue alone.
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#8C8C8C"

WIDTH = 960  # every chart shares the width and the margins, so stacked time axes line up
LEFT = 78
RIGHT = 24
TOP = 30
BOTTOM = 34


def esc(text: object) -> str:
    """Text for an element body or an attribute value: control and bidi characters shown as escapes
    (render/literal.py: a U+202E in a label must not reverse what follows it), then &, <, >, " and '."""
    return escape(literal(text), quote=True)


def _r(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_step(span: float, target: int) -> float:
    """A 1/2/2.5/5 x 10^k step giving about `target` intervals over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10.0 * power


def value_ticks(lo: float, hi: float, target: int = 4) -> list[float]:
    """Ticks covering [lo, hi] at a nice step; the first tick is <= lo and the last >= hi."""
    if hi <= lo:
        hi = lo + 1.0
    step = nice_step(hi - lo, target)
    first = math.floor(lo / step + 1e-9) * step
    ticks = [first]
    while ticks[-1] < hi - 1e-9 * step and len(ticks) < 50:
        ticks.append(first + step * len(ticks))
    return [0.0 if abs(t) < step * 1e-9 else t for t in ticks]


@dataclass(frozen=True)
class Linear:
    """Maps a domain [lo, hi] onto pixels [a, b]."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.a + (value - self.lo) / span * (self.b - self.a)


def y_domain(values: Sequence[float], extra: Sequence[float] = (), target: int = 4) -> list[float]:
    """Ticks of a y axis that always includes zero: no truncated axis makes a small move look big."""
    finite = [v for v in (*values, *extra) if v is not None and math.isfinite(v)]
    lo = min([0.0, *finite])
    hi = max([0.0, *finite])
    if hi == lo:
        hi = lo + 1.0
    return value_ticks(lo, hi, target)


def _fit(text: str, room: float, char_px: float) -> str:
    """textLength squeezing a text that would run past `room` px (at about `char_px` a character) into
    it: a long metric name stays whole and inside the picture rather than cut off at its right edge."""
    if len(literal(text)) * char_px <= room:
        return ""
    return f' textLength="{_r(room)}" lengthAdjust="spacingAndGlyphs"'


@dataclass
class Chart:
    """One SVG chart: a plot area with axes, to which layers are added in drawing order."""

    title: str  # the accessible name, also shown above the plot
    description: str  # what the picture says, for screen readers
    y_label: str  # the y axis' quantity and unit, shown at its top
    x_label: str
    height: int = 170
    ident: str = "c"  # unique within the page: ids of the title, description and clip path
    css_class: str = "chart"
    layers: list[str] = field(default_factory=list)
    # Labels of reference lines, placed at output time so they neither overlap nor leave the plot.
    line_labels: list[tuple[float, str, str]] = field(default_factory=list)
    point_labels: list[str] = field(default_factory=list)
    x: Linear = field(init=False)
    y: Linear = field(init=False)
    y_ticks: list[float] = field(init=False, default_factory=list)
    x_ticks: list[tuple[float, str]] = field(init=False, default_factory=list)
    # Extra attributes of the <svg> element (data-start/data-end of a time axis, data-empty).
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def plot_top(self) -> float:
        return float(TOP)

    @property
    def plot_bottom(self) -> float:
        return float(self.height - BOTTOM)

    def set_x(self, lo: float, hi: float, ticks: Sequence[tuple[float, str]]) -> None:
        self.x = Linear(lo, hi, LEFT, WIDTH - RIGHT)
        self.x_ticks = list(ticks)

    def set_y(self, ticks: Sequence[float]) -> None:
        self.y_ticks = list(ticks)
        self.y = Linear(ticks[0], ticks[-1], self.plot_bottom, self.plot_top)

    # ------------------------------------------------------------------ layers

    def band(self, x0: float, x1: float, fill: str, opacity: float, label: str = "") -> None:
        """A vertical band over the whole plot height (a slow period, a gap in the data)."""
        px0, px1 = self.x(x0), self.x(x1)
        width = max(px1 - px0, 1.0)
        title = f"<title>{esc(label)}</title>" if label else ""
        self.layers.append(
            f'<rect x="{_r(px0)}" y="{_r(self.plot_top)}" width="{_r(width)}" '
            f'height="{_r(self.plot_bottom - self.plot_top)}" fill="{fill}" fill-opacity="{opacity}">'
            f"{title}</rect>"
        )

    def gap(self, x0: float, x1: float, text: str) -> None:
        """A stretch without data: hatched, and the reason written in it when there is room."""
        self.band(x0, x1, GREY, 0.12, text)
        px0, px1 = self.x(x0), self.x(x1)
        mid = (self.plot_top + self.plot_bottom) / 2
        if px1 - px0 >= 7 * len(text) * 0.6:
            self.layers.append(
                f'<text x="{_r((px0 + px1) / 2)}" y="{_r(mid)}" text-anchor="middle" class="gap">{esc(text)}</text>'
            )

    def line(
        self,
        xs: Sequence[float],
        ys: Sequence[float | None],
        colour: str,
        *,
        width: float = 1.6,
        dash: str = "",
        max_gap: float = math.inf,
        label: str = "",
        dots: bool = False,
    ) -> None:
        """A polyline through the finite points; broken where a value is missing for over `max_gap`."""
        parts: list[str] = []
        points: list[tuple[float, float]] = []
        previous: float | None = None
        for t, v in zip(xs, ys, strict=False):
            if v is None or not math.isfinite(v):
                continue
            px, py = self.x(t), self.y(v)
            command = "M" if previous is None or t - previous > max_gap else "L"
            parts.append(f"{command}{_r(px)} {_r(py)}")
            points.append((px, py))
            previous = t
        if not parts:
            return
        style = f' stroke-dasharray="{dash}"' if dash else ""
        title = f"<title>{esc(label)}</title>" if label else ""
        self.layers.append(
            f'<path d="{"".join(parts)}" fill="none" stroke="{colour}" stroke-width="{width}"'
            f' stroke-linejoin="round"{style}>{title}</path>'
        )
        if dots or len(points) <= 60:
            r = 2.2
            dot = "".join(
                f"M{_r(px - r)} {_r(py)}a{r} {r} 0 1 0 {2 * r} 0a{r} {r} 0 1 0 {-2 * r} 0"
                for px, py in points
            )
            self.layers.append(f'<path d="{dot}" fill="{colour}"/>')

    def bars(
        self,
        xs: Sequence[float],
        ys: Sequence[float | None],
        width: float,
        colour: str,
        label: str,
        pad: float = 0.0,
    ) -> None:
        """Vertical bars from zero, one per x, `width` in x units, `pad` px trimmed each side (one path)."""
        zero = self.y(0.0)
        parts = []
        pw = max(self.x(xs[0] + width) - self.x(xs[0]) - 2 * pad, 0.6) if xs else 1.0
        for t, v in zip(xs, ys, strict=False):
            if v is None or not math.isfinite(v) or v == 0:
                continue
            top = self.y(v)
            parts.append(f"M{_r(self.x(t) + pad)} {_r(zero)}V{_r(top)}h{_r(pw)}V{_r(zero)}z")
        if parts:
            self.layers.append(
                f'<path d="{"".join(parts)}" fill="{colour}"><title>{esc(label)}</title></path>'
            )

    def hline(self, value: float, colour: str, dash: str, text: str) -> None:
        """A horizontal reference line (a threshold) labelled at its right end."""
        py = self.y(value)
        self.layers.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_r(py)}" y2="{_r(py)}" stroke="{colour}" '
            f'stroke-width="1.4" stroke-dasharray="{dash}"><title>{esc(text)}</title></line>'
        )
        self.line_labels.append((py, text, colour))

    def vline(self, at: float, colour: str, dash: str, text: str, row: int = 0) -> None:
        """A vertical marker (first or last seen) with its label at the top of the plot."""
        px = self.x(at)
        anchor = "start" if px < WIDTH - RIGHT - 160 else "end"
        dx = 3 if anchor == "start" else -3
        self.layers.append(
            f'<line x1="{_r(px)}" x2="{_r(px)}" y1="{_r(self.plot_top)}" y2="{_r(self.plot_bottom)}" '
            f'stroke="{colour}" stroke-width="1.2" stroke-dasharray="{dash}"><title>{esc(text)}</title></line>'
            f'<text x="{_r(px + dx)}" y="{_r(self.plot_top + 11 + 12 * row)}" text-anchor="{anchor}" class="ref"'
            f' fill="{colour}">{esc(text)}</text>'
        )

    def note(self, text: str) -> None:
        """A message in the middle of an empty plot."""
        self.layers.append(
            f'<text x="{_r((LEFT + WIDTH - RIGHT) / 2)}" y="{_r((self.plot_top + self.plot_bottom) / 2)}" '
            f'text-anchor="middle" class="empty">{esc(text)}</text>'
        )

    def label(self, x: float, y: float, text: str) -> None:
        """A short text just above the point (x, y) of the data, drawn over the plot's edge if need be."""
        px = self.x(x)
        # Near an edge the text runs inwards, so it is never cut off by the picture's border.
        half = len(literal(text)) * 3.5
        anchor = "end" if px + half > WIDTH - 2 else "start" if px - half < 2 else "middle"
        self.point_labels.append(
            f'<text x="{_r(px)}" y="{_r(max(self.y(y) - 4, 12.0))}" text-anchor="{anchor}" class="ref">'
            f"{esc(text)}</text>"
        )

    def raw(self, markup: str) -> None:
        self.layers.append(markup)

    # ------------------------------------------------------------------ output

    def _line_labels(self) -> str:
        """Reference-line labels just above their line, pushed apart (12 px) and kept inside the plot."""
        placed: list[tuple[float, str, str]] = []
        for py, text, colour in sorted(self.line_labels):
            y = max(py - 4, self.plot_top + 10)
            if placed and y - placed[-1][0] < 12:
                y = placed[-1][0] + 12
            placed.append((min(y, self.plot_bottom - 2), text, colour))
        x = WIDTH - RIGHT - 4
        return "".join(
            f'<text x="{x}" y="{_r(y)}" text-anchor="end" class="ref" fill="{colour}">{esc(text)}</text>'
            for y, text, colour in placed
        )

    def _axes(self) -> str:
        out = []
        left, right = LEFT, WIDTH - RIGHT
        step = self.y_ticks[1] - self.y_ticks[0] if len(self.y_ticks) > 1 else None
        for tick in self.y_ticks:
            py = self.y(tick)
            out.append(
                f'<line x1="{left}" x2="{right}" y1="{_r(py)}" y2="{_r(py)}" class="grid"/>'
                f'<text x="{left - 6}" y="{_r(py + 4)}" text-anchor="end">{esc(format_number(tick, step))}</text>'
            )
        for t, label in self.x_ticks:
            px = self.x(t)
            bottom = self.plot_bottom
            out.append(
                f'<line x1="{_r(px)}" x2="{_r(px)}" y1="{_r(bottom)}" y2="{_r(bottom + 4)}" class="axis"/>'
                f'<text x="{_r(px)}" y="{_r(self.plot_bottom + 16)}" text-anchor="middle">{esc(label)}</text>'
            )
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{_r(self.plot_bottom)}" y2="{_r(self.plot_bottom)}" class="axis"/>'
            f'<line x1="{left}" x2="{left}" y1="{_r(self.plot_top)}" y2="{_r(self.plot_bottom)}" class="axis"/>'
            f'<text x="{left}" y="{TOP - 10}" class="ylabel"{_fit(self.y_label, right - left, 7.2)}>'
            f"{esc(self.y_label)}</text>"
            f'<text x="{right}" y="{_r(self.height - 4)}" text-anchor="end" class="xlabel">{esc(self.x_label)}</text>'
        )
        return "".join(out)

    def svg(self) -> str:
        ident = esc(self.ident)
        extra = "".join(f' {name}="{esc(value)}"' for name, value in sorted(self.attrs.items()))
        return (
            f'<svg class="{esc(self.css_class)}" viewBox="0 0 {WIDTH} {self.height}" role="img"{extra} '
            f'aria-labelledby="{ident}t {ident}d" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{ident}t">{esc(self.title)}</title><desc id="{ident}d">{esc(self.description)}</desc>'
            f'<clipPath id="{ident}p"><rect x="{LEFT}" y="{TOP - 1}" width="{WIDTH - LEFT - RIGHT}" '
            f'height="{_r(self.plot_bottom - self.plot_top + 2)}"/></clipPath>'
            f"{self._axes()}"
            f'<g clip-path="url(#{ident}p)">{"".join(self.layers)}</g>'
            f"{self._line_labels()}{''.join(self.point_labels)}"
            "</svg>"
        )
