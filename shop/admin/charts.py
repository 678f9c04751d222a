"""Charts for the admin pages, drawn on the server as SVG: no JavaScript, no CDN.

Pure functions from data to an SVG string. Each chart is an image to assistive
technology (``role="img"``) named by its ``<title>`` and described by its ``<desc>``,
which says what the chart shows in words; the page shows the same figures as a table
next to it. Every piece of text is XML-escaped (labels come from merchants' product
names). Geometry uses floats: these are pixels, not money; the figures printed on a
chart are the strings the caller formatted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape as _escape

Number = int | float | Decimal

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
BAR_COLOUR = "#2f6f9f"
LINE_COLOUR = "#b5452b"
GRID_COLOUR = "#d9d9d9"
TEXT_COLOUR = "#222"


@dataclass(frozen=True)
class Datum:
    """One bar or one point: its label, its value (for the geometry) and the figure
    printed or shown as its tooltip (default: the value as is)."""

    label: str
    value: Number
    shown: str | None = None

    @property
    def text(self) -> str:
        return self.shown if self.shown is not None else str(self.value)


def escape(text: object) -> str:
    return _escape(str(text))


def chart_dom_id(name: str) -> str:
    """An id safe in XML and HTML, from a caller's name for the chart."""
    return "chart-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x")


def nice_ticks(maximum: Number, count: int = 5) -> list[float]:
    """Gridline values from 0 to at least ``maximum`` on a 1-2-5 step, about
    ``count`` of them: 0, 50, 100, 150 for 137."""
    top = float(maximum)
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw_step = top / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def tick_label(value: float) -> str:
    """Short axis figures: 1500 -> 1.5k, 2000000 -> 2M, 0.25 -> 0.25."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def x_labels(count: int, most: int = 8) -> set[int]:
    """Which points get an x label: every few, and the last one, dropping the label
    before it when the two would overlap."""
    every = max(1, math.ceil(count / most))
    chosen = set(range(0, count, every))
    last = count - 1
    if last not in chosen:
        if last - max(chosen) < every * 0.6:
            chosen.discard(max(chosen))
        chosen.add(last)
    return chosen


def _open(dom_id: str, width: float, height: float, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}" '
        f'viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-labelledby="{dom_id}-title {dom_id}-desc" class="chart" {FONT}>',
        f'<title id="{dom_id}-title">{escape(title)}</title>',
        f'<desc id="{dom_id}-desc">{escape(description)}</desc>',
    ]


def _empty(dom_id: str, width: float, title: str, description: str) -> str:
    height = 60.0
    parts = _open(dom_id, width, height, title, description)
    parts.append(
        f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" '
        f'fill="{TEXT_COLOUR}">No data in this range</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _clip(text: str, characters: int) -> str:
    return text if len(text) <= characters else text[: characters - 1] + "…"


def bar_chart(
    *,
    name: str,
    title: str,
    description: str,
    bars: Sequence[Datum],
    value_axis_label: str,
    width: int = 640,
    label_width: int = 200,
    bar_height: int = 22,
) -> str:
    """Horizontal bars, one per row, labelled on the left (long labels are clipped, the
    full text is the bar's tooltip), the figure at each bar's end, the value axis with
    gridlines below."""
    dom_id = chart_dom_id(name)
    if not bars:
        return _empty(dom_id, width, title, description)
    values = [max(float(bar.value), 0.0) for bar in bars]
    ticks = nice_ticks(max(values))
    top = ticks[-1]
    left, right, top_pad, gap = float(label_width), 60.0, 10.0, 6.0
    plot_width = width - left - right
    plot_height = len(bars) * (bar_height + gap)
    axis_y = top_pad + plot_height
    height = axis_y + 44
    parts = _open(dom_id, width, height, title, description)
    for tick in ticks:
        x = left + plot_width * tick / top
        parts.append(
            f'<line x1="{x:.1f}" y1="{top_pad:g}" x2="{x:.1f}" y2="{axis_y:g}" '
            f'stroke="{GRID_COLOUR}" />'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 16:g}" text-anchor="middle" '
            f'fill="{TEXT_COLOUR}">{escape(tick_label(tick))}</text>'
        )
    # About 7 px a character at 12 px: what fits left of the bars, the gap kept.
    fitting = max(4, (label_width - 12) // 7)
    for index, (bar, value) in enumerate(zip(bars, values, strict=True)):
        y = top_pad + index * (bar_height + gap) + gap / 2
        length = plot_width * value / top
        shown = bar.text
        middle = y + bar_height / 2 + 4
        parts.append(
            f'<text x="{left - 8:g}" y="{middle:.1f}" text-anchor="end" '
            f'fill="{TEXT_COLOUR}">{escape(_clip(bar.label, fitting))}</text>'
        )
        parts.append(
            f'<rect x="{left:g}" y="{y:.1f}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{BAR_COLOUR}"><title>{escape(bar.label)}: {escape(shown)}</title></rect>'
        )
        parts.append(
            f'<text x="{left + length + 4:.1f}" y="{middle:.1f}" '
            f'fill="{TEXT_COLOUR}">{escape(shown)}</text>'
        )
    parts.append(
        f'<line x1="{left:g}" y1="{axis_y:g}" x2="{left + plot_width:g}" y2="{axis_y:g}" '
        f'stroke="{TEXT_COLOUR}" />'
    )
    parts.append(
        f'<text x="{left + plot_width / 2:g}" y="{axis_y + 36:g}" text-anchor="middle" '
        f'fill="{TEXT_COLOUR}">{escape(value_axis_label)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    *,
    name: str,
    title: str,
    description: str,
    points: Sequence[Datum],
    x_axis_label: str,
    y_axis_label: str,
    width: int = 640,
    height: int = 260,
) -> str:
    """A line over evenly spaced points (days), a dot on each with its label and value
    as a tooltip; about eight x labels whatever the number of points."""
    dom_id = chart_dom_id(name)
    if not points:
        return _empty(dom_id, width, title, description)
    values = [max(float(point.value), 0.0) for point in points]
    ticks = nice_ticks(max(values))
    top = ticks[-1]
    left, right, top_pad, bottom = 56.0, 16.0, 12.0, 48.0
    plot_width, plot_height = width - left - right, height - top_pad - bottom
    axis_y = top_pad + plot_height
    parts = _open(dom_id, width, height, title, description)
    for tick in ticks:
        y = axis_y - plot_height * tick / top
        parts.append(
            f'<line x1="{left:g}" y1="{y:.1f}" x2="{left + plot_width:g}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}" />'
        )
        parts.append(
            f'<text x="{left - 6:g}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="{TEXT_COLOUR}">{escape(tick_label(tick))}</text>'
        )
    spacing = plot_width / max(len(points) - 1, 1)
    xy = [
        (left + (index * spacing if len(points) > 1 else plot_width / 2),
         axis_y - plot_height * value / top)
        for index, value in enumerate(values)
    ]  # fmt: skip
    parts.append(
        f'<polyline fill="none" stroke="{LINE_COLOUR}" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        + '" />'
    )
    labelled = x_labels(len(points))
    for index, (point, (x, y)) in enumerate(zip(points, xy, strict=True)):
        label = point.label
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE_COLOUR}">'
            f"<title>{escape(label)}: {escape(point.text)}</title></circle>"
        )
        if index in labelled:
            parts.append(
                f'<text x="{x:.1f}" y="{axis_y + 16:g}" text-anchor="middle" '
                f'fill="{TEXT_COLOUR}">{escape(label)}</text>'
            )
    parts.append(
        f'<line x1="{left:g}" y1="{axis_y:g}" x2="{left + plot_width:g}" y2="{axis_y:g}" '
        f'stroke="{TEXT_COLOUR}" />'
    )
    parts.append(
        f'<text x="{left + plot_width / 2:g}" y="{height - 8:g}" text-anchor="middle" '
        f'fill="{TEXT_COLOUR}">{escape(x_axis_label)}</text>'
    )
    parts.append(
        f'<text transform="rotate(-90)" x="{-(top_pad + plot_height / 2):g}" y="14" '
        f'text-anchor="middle" fill="{TEXT_COLOUR}">{escape(y_axis_label)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


__all__ = ["Datum", "bar_chart", "chart_dom_id", "line_chart", "nice_ticks"]
