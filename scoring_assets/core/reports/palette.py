"""The reports' colours, defined once so a level or a reference looks the same on every page and chart."""

from __future__ import annotations

# Drift levels (and any verdict shown as a badge): green, orange, red.
LEVEL_COLOURS = {"ok": "#2e7d32", "warn": "#ef6c00", "alert": "#c62828"}
# What a figure is compared with: training data, chance, perfect calibration.
REFERENCE_GREY = "#9e9e9e"
GRID_GREY = "#e0e0e0"
FRAME_GREY = "#444444"
INK = "#212121"
SOFT_INK = "#424242"
# Lines and bars of data, in order: the first series of a chart is always blue.
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def level_colour(level: str) -> str:
    """The colour of a level; an unknown level is drawn as ok rather than failing a report."""
    return LEVEL_COLOURS.get(level, LEVEL_COLOURS["ok"])


def series_colour(index: int) -> str:
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]
