"""The charts every report draws, as inline SVG: lines per file, curves on the unit square, paired bars.

Each helper takes plain numbers and names and returns one ``<svg>`` element (``markupsafe.Markup``,
so a template inserts it as it is while escaping everything else). Values that are None or not
finite are gaps, values outside the axes are drawn at its edge, and an empty or constant series
still gives a valid chart: a report never fails, nor draws ``nan``, because of its data.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from scoring_assets.core.reports import svg
from scoring_assets.core.reports.palette import FRAME_GREY, GRID_GREY, REFERENCE_GREY, SERIES_COLOURS

LARGEST = sys.float_info.max


@dataclass(frozen=True)
class Frame:
    """A canvas of ``width`` x ``height`` pixels and the plotting rectangle inside it."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float

    def x(self, fraction: float) -> float:
        """The pixel at ``fraction`` of the width of the plot (0 left, 1 right), clamped to the plot."""
        return self.left + _clamped(fraction) * (self.right - self.left)

    def y(self, fraction: float) -> float:
        """The pixel at ``fraction`` of the height of the plot (0 bottom, 1 top), clamped to the plot."""
        return self.bottom - _clamped(fraction) * (self.bottom - self.top)

    def box(self) -> str:
        return svg.element(
            "rect",
            x=self.left,
            y=self.top,
            width=self.right - self.left,
            height=self.bottom - self.top,
            fill="none",
            stroke=FRAME_GREY,
        )


@dataclass(frozen=True)
class Series:
    """One line of values per position (file 1, 2, ...); None is a gap (that file has no such figure)."""

    name: str
    values: Sequence[float | None]
    colour: str = SERIES_COLOURS[0]
    dashed: bool = False


@dataclass(frozen=True)
class Curve:
    """One named curve of (x, y) points on the unit square: a model's ROC curve, its calibration, ..."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    colour: str = SERIES_COLOURS[0]
    dashed: bool = False
    markers: bool = False


@dataclass(frozen=True)
class Level:
    """A horizontal reference line across a chart: a threshold such as the warn or alert PSI."""

    name: str
    value: float
    colour: str


@dataclass(frozen=True)
class LegendEntry:
    """What a legend row shows: a short line in the series' colour and dash, then its name."""

    name: str
    colour: str
    dashed: bool = False


LINE_FRAME = Frame(780, 300, left=56, right=500, top=36, bottom=260)  # the legend sits right of the plot
CURVE_FRAME = Frame(520, 440, left=70, right=500, top=56, bottom=380)  # the legend sits above the plot


def line_chart(
    title: str,
    series: Sequence[Series],
    levels: Sequence[Level] = (),
    y_max: float | None = None,
    root_scale: bool = False,
    x_caption: str = "scored file (oldest first)",
) -> Markup:
    """Values per position (x = 1..n, labelled as such) with dots, dashed levels and a legend at the right.

    The axis starts at 0. ``y_max`` fixes its top (1 for shares), else it fits the values (at least
    0.05); ``root_scale`` draws the square root of the values, so a PSI of 5 and the 0.1 / 0.25
    levels are readable on one chart.
    """
    frame = LINE_FRAME
    count = max([len(line.values) for line in series] + [1])
    top = y_max if finite(y_max) and y_max > 0 else _fitted_top(series, levels)
    power = 0.5 if root_scale else 1.0

    def x(index: int) -> float:
        return frame.x((index + 0.5) / count)

    def y(value: float) -> float:
        return frame.y(fraction(value, 0.0, top) ** power)

    body = [svg.text(frame.left, 22, title, anchor="start", font_size=14, font_weight="bold")]
    for step in range(5):
        value = top * (step / 4) ** (1 / power)
        body.append(svg.line(frame.left, y(value), frame.right, y(value), svg.stroke(GRID_GREY)))
        body.append(svg.text(frame.left - 6, y(value) + 4, f"{value:.3g}", anchor="end"))
    body += [svg.text(x(index), frame.bottom + 16, str(index + 1)) for index in range(0, count, max(1, count // 15))]
    body.append(svg.text((frame.left + frame.right) / 2, frame.bottom + 34, x_caption))
    shown_levels = [level for level in levels if finite(level.value)]
    for level in shown_levels:
        body.append(
            svg.line(frame.left, y(level.value), frame.right, y(level.value), svg.stroke(level.colour, 2, True))
        )
    for line in series:
        body += _dotted_line(line, x, y)
    entries = [LegendEntry(f"{level.name} ({level.value:g})", level.colour, True) for level in shown_levels]
    entries += [LegendEntry(line.name, line.colour, line.dashed) for line in series]
    body += legend(entries, frame.right + 12, frame.top + 6)
    body.append(frame.box())
    return svg.document(frame.width, frame.height, body, title, font_size=11)


def _dotted_line(line: Series, x: Callable[[int], float], y: Callable[[float], float]) -> list[str]:
    """A dot per value (smaller on dashed lines), joined where consecutive positions both have one."""
    points = [(index, value) for index, value in enumerate(line.values) if finite(value)]
    style = svg.stroke(line.colour, 2, line.dashed)
    drawn = [svg.polyline([(x(i), y(v)) for i, v in run], style) for run in _runs(points) if len(run) > 1]
    radius = 2.5 if line.dashed else 4.0
    return drawn + [svg.element("circle", cx=x(i), cy=y(v), r=radius, fill=line.colour) for i, v in points]


def curve_chart(
    title: str,
    axis_labels: tuple[str, str],
    curves: Sequence[Curve],
    references: Sequence[Curve] = (),
    standalone: bool = False,
) -> Markup:
    """Curves on the unit square (ROC, precision-recall, calibration) of one model or several, named in a legend.

    ``references`` are drawn thinner and dashed in their own colour (chance, the base rate,
    perfect calibration), under the curves; ``standalone`` makes an image file rather than a
    chart inside a page.
    """
    frame = CURVE_FRAME
    body = unit_grid(frame)
    drawn = [(reference, 1.5) for reference in references] + [(curve, 2.0) for curve in curves]
    for curve, width in drawn:
        points = [(frame.x(x), frame.y(y)) for x, y in zip(curve.xs, curve.ys, strict=True) if finite(x) and finite(y)]
        if points:
            body.append(svg.polyline(points, svg.stroke(curve.colour, width, curve.dashed)))
        if curve.markers:
            body += [svg.element("circle", cx=px, cy=py, r=3.5, fill=curve.colour) for px, py in points]
    entries = [LegendEntry(curve.name, curve.colour, curve.dashed) for curve in [*curves, *references]]
    top_legend = legend(entries, frame.left, frame.top - 18, across=True)
    return framed_chart(frame, title, top_legend, body, axis_labels, standalone)


def framed_chart(
    frame: Frame, title: str, top: Sequence[str], body: Sequence[str], axis_labels: tuple[str, str], standalone: bool
) -> Markup:
    """A chart with its title centred above, ``top`` (a legend, a note) under it, a frame and both axis labels."""
    x_label, y_label = axis_labels
    middle_y = (frame.top + frame.bottom) / 2
    return svg.document(
        frame.width,
        frame.height,
        [
            svg.element("rect", width=frame.width, height=frame.height, fill="white"),
            svg.text(frame.width / 2, 22, title, font_size=15, font_weight="bold"),
            *top,
            *body,
            frame.box(),
            svg.text((frame.left + frame.right) / 2, frame.height - 16, x_label, font_size=13),
            svg.text(0, 0, y_label, font_size=13, transform=f"translate(20 {svg.number(middle_y)}) rotate(-90)"),
        ],
        title,
        standalone=standalone,
        font_size=12,
    )


def unit_grid(frame: Frame, steps: int = 5) -> list[str]:
    """Grid lines and tick labels at 0, 0.2, ... 1 on both axes of a unit-square chart."""
    grid = []
    for step in range(steps + 1):
        tick = step / steps
        grid += [
            svg.line(frame.x(tick), frame.top, frame.x(tick), frame.bottom, svg.stroke(GRID_GREY)),
            svg.line(frame.left, frame.y(tick), frame.right, frame.y(tick), svg.stroke(GRID_GREY)),
            svg.text(frame.x(tick), frame.bottom + 18, f"{tick:.1f}"),
            svg.text(frame.left - 8, frame.y(tick) + 4, f"{tick:.1f}", anchor="end"),
        ]
    return grid


def bar_pairs(
    title: str, labels: Sequence[str], reference: Sequence[float], batch: Sequence[float], colour: str
) -> Markup:
    """Two bars per bin, the reference's share (grey) beside this file's (``colour``), each with its value on hover.

    The axis runs from 0 to the highest share (at least 1%); long bin labels are shortened and slanted.
    """
    slot, left, top, plot_height = 56, 48, 12, 160
    width, height = left + slot * len(labels) + 12, top + plot_height + 90
    highest = max([value for value in [*reference, *batch] if finite(value)] + [0.01])
    shapes = []
    for tick in (0.0, 0.5, 1.0):
        y = top + plot_height * (1 - tick)
        shapes.append(svg.line(left, y, width - 8, y, svg.stroke(GRID_GREY)))
        shapes.append(svg.text(left - 4, y + 4, f"{tick * highest:.0%}", anchor="end", font_size=10))
    for index, label in enumerate(labels):
        x, bottom = left + slot * index + 6, top + plot_height
        for offset, value, fill, who in (
            (0, reference[index], REFERENCE_GREY, "reference"),
            (22, batch[index], colour, "this file"),
        ):
            bar = plot_height * (fraction(value, 0.0, highest) if finite(value) else 0.0)
            tooltip = svg.element("title", str(escape(f"{label}: {value:.1%} ({who})")))
            shapes.append(svg.element("rect", tooltip, x=x + offset, y=bottom - bar, width=20, height=bar, fill=fill))
        slant = f"rotate(-35 {x + 21} {bottom + 12})"
        shapes.append(svg.text(x + 21, bottom + 12, _short(label), anchor="end", font_size=10, transform=slant))
    return svg.document(width, height, shapes, title)


def swatch(colour: str) -> Markup:
    """A small square of ``colour``, to name a chart's colours in the text around it."""
    return svg.document(12, 12, [svg.element("rect", width=12, height=12, fill=colour)], label=None)


def legend(entries: Sequence[LegendEntry], x: float, y: float, across: bool = False) -> list[str]:
    """One row per entry down from (x, y), or all in one row when ``across`` (text widths estimated, not measured)."""
    drawn = []
    for entry in entries:
        drawn.append(svg.line(x, y, x + 24, y, svg.stroke(entry.colour, 2, entry.dashed)))
        drawn.append(svg.text(x + 30, y + 4, entry.name, anchor="start"))
        if across:
            x += 50 + 7 * len(entry.name)
        else:
            y += 18
    return drawn


def fraction(value: float, low: float, high: float) -> float:
    """Where ``value`` sits between ``low`` and ``high`` (0 to 1), without overflow for any finite floats."""
    span = high / 2 - low / 2
    return 0.0 if span <= 0 else _clamped((value / 2 - low / 2) / span)


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _clamped(value: float) -> float:
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)


def _fitted_top(series: Sequence[Series], levels: Sequence[Level]) -> float:
    """The top of an axis from 0: a tenth above the highest value (or a level's 1.2 times), at least 0.055."""
    present = [value for line in series for value in line.values if finite(value)]
    highest = max([*present, *(level.value * 1.2 for level in levels if finite(level.value)), 0.05])
    return min(highest * 1.1, LARGEST)


def _runs(points: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """``points`` split where positions are not consecutive: the stretches a line connects."""
    runs: list[list[tuple[int, float]]] = []
    for index, value in points:
        if not runs or runs[-1][-1][0] != index - 1:
            runs.append([])
        runs[-1].append((index, value))
    return runs


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"
