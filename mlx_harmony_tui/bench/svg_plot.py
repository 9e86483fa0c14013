"""Line charts as standalone SVG files, written directly (no plotting library).

A chart has a title, a plot area with a frame, grid lines and tick labels on
both axes, an axis label on each, one coloured line with point markers per
series, and a legend to the right. Every element carries a class
(``plot-area``, ``series``, ``point``, ``legend``, ...) so a reader or a test
can find it; each point has a ``<title>`` that browsers show on hover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

COLOURS = ("#1f6fb2", "#d9602b", "#2e9e4f", "#8e44ad", "#c0392b", "#7f8c8d")
LEFT, RIGHT, TOP, BOTTOM = 78, 190, 52, 62  # margins around the plot area, in pixels
FONT = "font-family='Helvetica, Arial, sans-serif'"


@dataclass
class Series:
    """One line: a name for the legend and (x, y) points; non-finite points are left out."""

    name: str
    points: list[tuple[float, float]] = field(default_factory=list)

    def finite(self) -> list[tuple[float, float]]:
        return [(x, y) for x, y in self.points if math.isfinite(x) and math.isfinite(y)]


def nice_ticks(low: float, high: float, most: int = 8, whole: bool = False) -> list[float]:
    """Round tick values covering ``low``..``high`` in at most ``most`` steps.

    Steps are 1, 2 or 5 times a power of ten, the smallest that fits;
    ``whole``: steps of at least 1, for counts such as turns.
    """
    if high < low:
        low, high = high, low
    if high == low:  # one value: give it some room either side
        pad = abs(low) / 2 or 1.0
        low, high = low - pad, high + pad
    power = 10 ** math.floor(math.log10((high - low) / most))
    for m in (1, 2, 5, 10, 20, 50):
        step = max(m * power, 1) if whole else m * power
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if last - first <= most:
            break
    return [round(i * step, 12) for i in range(first, last + 1)]


def _label(value: float, ticks: list[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{value:,.{decimals}f}"


def _axis(values: list[float], from_zero: bool) -> list[float]:
    if not values:
        return nice_ticks(0.0, 1.0)
    low, high = min(values), max(values)
    if from_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    return nice_ticks(low, high, whole=all(float(v).is_integer() for v in values))


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: list[Series],
    width: int = 760,
    height: int = 420,
    y_from_zero: bool = True,
) -> str:
    """An SVG document (a string) drawing ``series`` as lines with point markers.

    Axes start at round numbers that cover every point (the y axis includes
    zero when ``y_from_zero``). Empty series still get their legend entry; a
    chart with no points at all says "no data" in its plot area.
    """
    points = [p for s in series for p in s.finite()]
    x_ticks = _axis([x for x, _ in points], from_zero=False)
    y_ticks = _axis([y for _, y in points], from_zero=y_from_zero)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * plot_h

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT} font-size='12'>",
        f"<title>{escape(title)}</title>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
        f"<text class='title' x='{LEFT + plot_w / 2:.1f}' y='{TOP / 2 + 4:.1f}' text-anchor='middle' font-size='16' font-weight='bold'>{escape(title)}</text>",
        f"<rect class='plot-area' x='{LEFT}' y='{TOP}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#333'/>",
        "<g class='grid' stroke='#ddd'>",
    ]
    for x in x_ticks[1:-1]:
        out.append(f"<line x1='{sx(x):.1f}' y1='{TOP}' x2='{sx(x):.1f}' y2='{TOP + plot_h}'/>")
    for y in y_ticks[1:-1]:
        out.append(f"<line x1='{LEFT}' y1='{sy(y):.1f}' x2='{LEFT + plot_w}' y2='{sy(y):.1f}'/>")
    out.append("</g>")
    out.append("<g class='x-axis' text-anchor='middle'>")
    for x in x_ticks:
        out.append(f"<line x1='{sx(x):.1f}' y1='{TOP + plot_h}' x2='{sx(x):.1f}' y2='{TOP + plot_h + 5}' stroke='#333'/>")
        out.append(f"<text x='{sx(x):.1f}' y='{TOP + plot_h + 19}'>{_label(x, x_ticks)}</text>")
    out.append("</g>")
    out.append("<g class='y-axis' text-anchor='end'>")
    for y in y_ticks:
        out.append(f"<line x1='{LEFT - 5}' y1='{sy(y):.1f}' x2='{LEFT}' y2='{sy(y):.1f}' stroke='#333'/>")
        out.append(f"<text x='{LEFT - 8}' y='{sy(y) + 4:.1f}'>{_label(y, y_ticks)}</text>")
    out.append("</g>")
    out.append(f"<text class='x-label' x='{LEFT + plot_w / 2:.1f}' y='{height - 16}' text-anchor='middle' font-size='13'>{escape(x_label)}</text>")
    mid_y = TOP + plot_h / 2
    out.append(
        f"<text class='y-label' x='18' y='{mid_y:.1f}' text-anchor='middle' font-size='13' "
        f"transform='rotate(-90 18 {mid_y:.1f})'>{escape(y_label)}</text>"
    )
    if not points:
        out.append(f"<text class='no-data' x='{LEFT + plot_w / 2:.1f}' y='{mid_y:.1f}' text-anchor='middle' fill='#888'>no data</text>")
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        mine = s.finite()
        out.append(f"<g class='series' data-name={quoteattr(s.name)} stroke={quoteattr(colour)} fill={quoteattr(colour)}>")
        if len(mine) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in mine)
            out.append(f"<polyline points='{path}' fill='none' stroke-width='2'/>")
        radius = 3 if len(mine) <= 60 else 1.5  # dense series read better as a line
        for x, y in mine:
            out.append(
                f"<circle class='point' cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='{radius}'>"
                f"<title>{escape(s.name)}: {x:g}, {y:.4g}</title></circle>"
            )
        out.append("</g>")
    legend_x = LEFT + plot_w + 16
    out.append("<g class='legend'>")
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        y = TOP + 10 + i * 22
        out.append(f"<line x1='{legend_x}' y1='{y}' x2='{legend_x + 22}' y2='{y}' stroke={quoteattr(colour)} stroke-width='3'/>")
        out.append(f"<text x='{legend_x + 28}' y='{y + 4}'>{escape(s.name)}</text>")
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_line_chart(path: Path, title: str, x_label: str, y_label: str, series: list[Series], **options) -> Path:
    """Write :func:`line_chart` to ``path`` (UTF-8) and return the path."""
    path.write_text(line_chart(title, x_label, y_label, series, **options), encoding="utf-8")
    return path
