"""The trend of a use case's recent scored files as one self-contained HTML page.

Written by the monitoring asset after each scored file (records from ``core.monitoring``):
line charts of PSI per file for the score and the most drifted inputs (with the warn and alert
levels as dashed lines), the score mean and the share at or above the threshold, the reject
rate, the backtest precision and recall (files with labels) beside the precision and recall
expected from the calibrated scores, then a table of the files. Charts are inline SVG and the
page names no external resource, so it opens offline, from a mail attachment or an archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from scoring_assets.core.files import atomic_path
from scoring_assets.core.monitoring import at_alert
from scoring_assets.core.use_case import UseCase

DRIFTED_INPUTS_CHARTED = 5
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
WARN_COLOUR, ALERT_COLOUR, GRID_COLOUR = "#e6a700", "#d62728", "#e6e6e6"
WIDTH, HEIGHT = 780, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 500, 36, 260  # the plotting frame; the legend sits right of it


@dataclass(frozen=True)
class Series:
    """One line: a value per file (None: the file has none, drawn as a gap)."""

    name: str
    values: Sequence[float | None]
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class Level:
    """A horizontal reference line (a threshold)."""

    name: str
    value: float
    colour: str


def write_trend_report(path: Path, use_case: UseCase, records: list[dict[str, Any]]) -> Path:
    """Write the report for ``records`` (oldest first) to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(trend_html(use_case, records), encoding="utf-8", newline="\n")
    return path


def trend_html(use_case: UseCase, records: list[dict[str, Any]]) -> str:
    alerts = sum(at_alert(record) for record in records)
    intro = (
        f"{len(records)} most recent scored file(s), oldest first; {alerts} at drift level alert. "
        "Files are numbered on the horizontal axis as in the table below."
        if records
        else "No file has been scored yet."
    )
    charts = trend_charts(use_case, records) if records else []
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(use_case.name)}: monitoring</title>",
            "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}th{text-align:left}"
            ".alert{color:#d62728;font-weight:bold}.warn{color:#b07f00}svg{display:block;margin:12px 0}</style>",
            "</head><body>",
            f"<h1>Monitoring: {escape(use_case.name)}</h1>",
            f"<p>{escape(use_case.title)}</p>",
            f"<p>{escape(intro)}</p>",
            f"<p>{escape(_reading_guide(use_case))}</p>",
            *charts,
            _files_table(records) if records else "",
            "</body></html>",
            "",
        ]
    )


def trend_charts(use_case: UseCase, records: list[dict[str, Any]]) -> list[str]:
    thresholds = use_case.drift_thresholds
    drifted = sorted(
        {name for record in records for name in record["psi"]},
        key=lambda name: -max(record["psi"].get(name, 0.0) for record in records),
    )[:DRIFTED_INPUTS_CHARTED]
    psi_series = [Series("score", _column(records, "score_psi"), PALETTE[0])] + [
        Series(name, [record["psi"].get(name) for record in records], PALETTE[1 + index % (len(PALETTE) - 1)])
        for index, name in enumerate(drifted)
    ]
    levels = [Level("warn", thresholds.warn, WARN_COLOUR), Level("alert", thresholds.alert, ALERT_COLOUR)]
    return [
        line_chart("Drift from the training reference (PSI, square-root scale)", psi_series, levels, root_scale=True),
        line_chart(
            "Score",
            [
                Series("mean score", _column(records, "score_mean"), PALETTE[0]),
                Series("share at or above threshold", _column(records, "share_at_or_above_threshold"), PALETTE[1]),
                Series("reference share", _column(records, "reference_share_at_or_above_threshold"), PALETTE[1], True),
            ],
            y_max=1.0,
        ),
        line_chart("Rejected rows", [Series("share of the input", _column(records, "reject_rate"), PALETTE[0])]),
        line_chart(
            "Precision and recall at the threshold; ROC AUC where files carried labels",
            [
                Series("backtest ROC AUC", _column(records, "backtest_roc_auc"), PALETTE[3]),
                Series("backtest precision", _column(records, "backtest_precision"), PALETTE[0]),
                Series("expected precision", _column(records, "expected_precision"), PALETTE[0], True),
                Series("backtest recall", _column(records, "backtest_recall"), PALETTE[2]),
                Series("expected recall", _column(records, "expected_recall"), PALETTE[2], True),
            ],
            y_max=1.0,
        ),
    ]


def line_chart(
    title: str,
    series: list[Series],
    levels: Sequence[Level] = (),
    y_max: float | None = None,
    root_scale: bool = False,
) -> str:
    """An inline SVG line chart of values per file (x = file 1..n), with dots and dashed levels.

    ``y_max`` fixes the top of the axis (1 for shares), else it fits the values (at least 0.05);
    ``root_scale`` draws the square root of the values, so a PSI of 5 and the 0.1 / 0.25 levels
    are readable on one chart.
    """
    count = max(len(line.values) for line in series)
    present = [value for line in series for value in line.values if value is not None]
    top = y_max or max([*present, *(level.value * 1.2 for level in levels), 0.05]) * 1.1
    power = 0.5 if root_scale else 1.0

    def x(index: int) -> float:
        return LEFT + (RIGHT - LEFT) * ((index + 0.5) / count)

    def y(value: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * min(max(value / top, 0.0), 1.0) ** power

    body = [f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>']
    for step in range(5):
        value = top * (step / 4) ** (1 / power)
        body.append(_line(LEFT, y(value), RIGHT, y(value), f'stroke="{GRID_COLOUR}"'))
        body.append(_text(LEFT - 6, y(value) + 4, f"{value:.3g}", "end"))
    label_every = max(1, count // 15)
    body += [_text(x(index), BOTTOM + 16, str(index + 1)) for index in range(0, count, label_every)]
    body.append(_text((LEFT + RIGHT) / 2, BOTTOM + 34, "scored file (oldest first)"))
    legend = []
    for level in levels:
        body.append(_line(LEFT, y(level.value), RIGHT, y(level.value), _stroke(level.colour, True)))
        legend.append((f"{level.name} ({level.value:g})", level.colour, True))
    for line in series:
        body += [_polyline([(x(i), y(v)) for i, v in run], _stroke(line.colour, line.dashed)) for run in _runs(line)]
        body += [
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{2.5 if line.dashed else 4}" fill="{line.colour}"/>'
            for i, v in enumerate(line.values)
            if v is not None
        ]
        legend.append((line.name, line.colour, line.dashed))
    for row, (name, colour, dashed) in enumerate(legend):
        legend_y = TOP + 6 + 18 * row
        body.append(_line(RIGHT + 12, legend_y, RIGHT + 36, legend_y, _stroke(colour, dashed)))
        body.append(_text(RIGHT + 42, legend_y + 4, name, "start"))
    frame = f'x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" height="{BOTTOM - TOP}"'
    body.append(f'<rect {frame} fill="none" stroke="#444"/>')
    return "\n".join(
        [
            f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" '
            f'font-size="11" role="img" aria-label="{escape(title)}">',
            *body,
            "</svg>",
        ]
    )


TABLE_COLUMNS = (
    ("#", None),
    ("partition", "partition"),
    ("scored at (UTC)", "scored_at"),
    ("rows in", "rows_in"),
    ("scored", "rows_scored"),
    ("reject rate", "reject_rate"),
    ("mean score", "score_mean"),
    ("share >= threshold", "share_at_or_above_threshold"),
    ("input drift", "input_level"),
    ("most drifted input", "most_drifted_feature"),
    ("its PSI", "max_input_psi"),
    ("score PSI", "score_psi"),
    ("score drift", "score_level"),
    ("backtest precision", "backtest_precision"),
    ("expected precision", "expected_precision"),
    ("backtest recall", "backtest_recall"),
    ("expected recall", "expected_recall"),
    ("ROC AUC", "backtest_roc_auc"),
)


def _files_table(records: list[dict[str, Any]]) -> str:
    header = "".join(f"<th>{escape(title)}</th>" for title, _ in TABLE_COLUMNS)
    rows = []
    for number, record in enumerate(records, start=1):
        cells = [f"<td>{number}</td>"]
        for _, key in TABLE_COLUMNS[1:]:
            value = record.get(key)
            css = f' class="{value}"' if value in ("warn", "alert") else ""
            cells.append(f"<td{css}>{escape(_formatted(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<h2>Files</h2>\n<table><tr>{header}</tr>\n" + "\n".join(rows) + "\n</table>"


def _reading_guide(use_case: UseCase) -> str:
    thresholds = use_case.drift_thresholds
    return (
        "PSI (population stability index) compares each file with the training data, per model input, and "
        "the scores with the held-out scores: below "
        f"{thresholds.warn:g} is ok, from {thresholds.warn:g} warn, from {thresholds.alert:g} alert (rules of "
        "thumb; set per use case and per input with drift_thresholds). Expected precision and recall come from "
        "the scores alone, assuming the model is calibrated; where a file carried labels the backtest shows "
        "the real values beside them. Each file's own drift report is linked from its manifest."
    )


def _column(records: list[dict[str, Any]], key: str) -> list[float | None]:
    return [None if record.get(key) is None else float(record[key]) for record in records]


def _runs(line: Series) -> list[list[tuple[int, float]]]:
    """The series split at its gaps: consecutive files that have a value."""
    runs: list[list[tuple[int, float]]] = [[]]
    for index, value in enumerate(line.values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append((index, value))
    return [run for run in runs if len(run) > 1]


def _stroke(colour: str, dashed: bool) -> str:
    return f'stroke="{colour}" stroke-width="2"' + (' stroke-dasharray="6 4"' if dashed else "")


def _line(x1: float, y1: float, x2: float, y2: float, style: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def _polyline(points: list[tuple[float, float]], style: str) -> str:
    return f'<polyline points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in points)}" fill="none" {style}/>'


def _text(x: float, y: float, content: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(content)}</text>'


def _formatted(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
