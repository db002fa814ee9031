"""A model's evaluation charts: ROC, precision-recall and calibration curves, and the confusion matrix.

Standalone SVG images (the DVC stage ``<use case>_evaluate`` writes them for ``dvc plots show``,
which embeds images as plain ``<img>`` tags, so its page works offline), or charts inside a page
(``standalone=False``). The curve charts take any number of named curves, so two models can be
compared on one chart. Titles are the caller's: they quote the figures the caller reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from markupsafe import Markup

from scoring_assets.core.reports import svg
from scoring_assets.core.reports.charts import CURVE_FRAME, Curve, curve_chart, framed_chart
from scoring_assets.core.reports.palette import REFERENCE_GREY, SERIES_COLOURS
from scoring_assets.core.use_case import Label

OUTCOMES = (("true negatives", "false positives"), ("false negatives", "true positives"))


def roc_chart(title: str, curves: Sequence[Curve], standalone: bool = True) -> Markup:
    """True against false positive rate, with the chance diagonal."""
    chance = Curve("chance", (0, 1), (0, 1), REFERENCE_GREY, dashed=True)
    return curve_chart(title, ("False positive rate", "True positive rate"), curves, [chance], standalone)


def precision_recall_chart(
    title: str, curves: Sequence[Curve], positive_rate: float, standalone: bool = True
) -> Markup:
    """Precision against recall, with the positive rate: the precision of a model that guesses."""
    base = Curve(f"positive rate {positive_rate:.3f}", (0, 1), (positive_rate, positive_rate), REFERENCE_GREY, True)
    return curve_chart(title, ("Recall", "Precision"), curves, [base], standalone)


def calibration_chart(title: str, curves: Sequence[Curve], label: Label, standalone: bool = True) -> Markup:
    """The observed fraction of the positive class against the mean predicted probability, per bin.

    ``curves`` are (mean predicted, observed fraction) per bin, drawn with a dot per bin; the
    diagonal is perfect calibration.
    """
    positive_class = f"{label.column} = {label.positive}"
    ideal = Curve("perfect calibration", (0, 1), (0, 1), REFERENCE_GREY, dashed=True)
    axis_labels = (f"Mean predicted probability of {positive_class}", f"Observed fraction of {positive_class}")
    return curve_chart(title, axis_labels, curves, [ideal], standalone)


def confusion_chart(title: str, counts: np.ndarray, label: Label, standalone: bool = True) -> Markup:
    """The 2x2 counts (rows actual, columns predicted; negative class first), shaded by each cell's share of its row."""
    frame = CURVE_FRAME
    class_names = [label.negative, label.positive]
    cell_width, cell_height = (frame.right - frame.left) / 2, (frame.bottom - frame.top) / 2
    body = []
    for row in range(2):
        row_total = max(int(counts[row].sum()), 1)
        top = frame.top + row * cell_height
        body.append(svg.text(frame.left - 8, top + cell_height / 2 + 4, class_names[row], anchor="end"))
        for column in range(2):
            count = int(counts[row, column])
            corner = (frame.left + column * cell_width, top)
            caption = (OUTCOMES[row][column], f"{count / row_total:.1%} of actual {class_names[row]}")
            body += _confusion_cell(corner, (cell_width, cell_height), count, count / row_total, caption)
    for column in range(2):
        body.append(svg.text(frame.left + (column + 0.5) * cell_width, frame.bottom + 18, class_names[column]))
    note = svg.text(frame.width / 2, 42, f"{int(counts.sum()):,} rows; shading is the share of the actual class")
    axis_labels = (f"Predicted {label.column}", f"Actual {label.column}")
    return framed_chart(frame, title, [note], body, axis_labels, standalone)


def _confusion_cell(
    corner: tuple[float, float], size: tuple[float, float], count: int, share: float, caption: tuple[str, str]
) -> list[str]:
    """One cell: shaded by ``share`` (darker is more of the row), the count large, what it is and its share under it."""
    (left, top), (width, height) = corner, size
    ink = "white" if share > 0.5 else None
    centre_x, centre_y = left + width / 2, top + height / 2
    return [
        svg.element(
            "rect",
            x=float(left),
            y=float(top),
            width=float(width),
            height=float(height),
            fill=SERIES_COLOURS[0],
            fill_opacity=f"{0.08 + 0.85 * share:.3f}",
            stroke="white",
            stroke_width=2,
        ),
        svg.text(centre_x, centre_y - 8, f"{count:,}", font_size=22, font_weight="bold", fill=ink),
        svg.text(centre_x, centre_y + 14, caption[0], fill=ink),
        svg.text(centre_x, centre_y + 30, caption[1], fill=ink),
    ]
