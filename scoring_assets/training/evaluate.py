"""Measure a use case's model on its held-out test split, and define how any model is measured.

DVC stage ``<use case>_evaluate``: ``python -m scoring_assets.training.evaluate <use case>``
(settings: ``params.yaml`` section ``<use case>.evaluate``). The model is loaded through the
integrity-checked loader, so the numbers describe exactly the artifact dvc.lock records.
Outputs: the use case's ``metrics_path`` (e.g. ``data/metrics/telco_churn/metrics.json``) for
``dvc metrics show``, and the ROC, precision-recall, calibration and confusion-matrix charts in
``plots/`` beside it for ``dvc plots show``.

The charts are static SVG images rather than data for DVC's Vega templates: DVC embeds images
as plain ``<img>`` tags, so the page it writes works offline (its Vega pages load their
scripts from a CDN and stay blank without a network). The SVG is written by hand with fixed
number formatting, so a rebuild produces the same bytes and ``dvc repro`` stays reproducible.

``binary_labels`` and ``classification_metrics`` are the one definition of the label (1 for the
use case's positive class, 0 for its negative one) and of the metrics; training uses them for
its validation numbers too.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from scoring_assets.core.features import build_features
from scoring_assets.core.files import atomic_path
from scoring_assets.core.model_store import LoadedModel, load_model
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import Label, UseCase
from scoring_assets.training import held_out_path, load_params, metrics_path, plots_dir, trained_use_case


def binary_labels(label: Label, frame: pd.DataFrame) -> np.ndarray:
    """1 for the positive class, 0 for the negative one; any other label value is an error."""
    values = frame[label.column]
    known = [label.positive, label.negative]
    unexpected = sorted(set(values.unique()) - set(known), key=str)
    if unexpected:
        raise ValueError(
            f"{label.column} must be '{label.positive}' or '{label.negative}'; found {unexpected[:5]} "
            f"in {int((~values.isin(known)).sum()):,} rows"
        )
    return (values == label.positive).to_numpy(dtype=np.int64)


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Ranking quality (ROC AUC, PR AUC), calibration (Brier) and the decisions made at ``threshold``."""
    predicted = scores >= threshold
    metrics = {
        "roc_auc": roc_auc_score(labels, scores),
        "pr_auc": average_precision_score(labels, scores),
        "precision": precision_score(labels, predicted, zero_division=0),
        "recall": recall_score(labels, predicted, zero_division=0),
        "f1": f1_score(labels, predicted, zero_division=0),
        "brier": brier_score_loss(labels, scores),
        "threshold": threshold,
    }
    return {name: round(float(value), 6) for name, value in metrics.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure a use case's model on its held-out test split.")
    parser.add_argument("use_case", help="the use case whose model to measure, e.g. telco_churn")
    use_case = trained_use_case(parser.parse_args(argv).use_case)
    params = load_params(use_case.name, "evaluate")
    model, labels, scores = scored_test_split(use_case)
    metrics = {**classification_metrics(labels, scores, model.threshold), "n_test": len(labels)}
    with atomic_path(metrics_path(use_case)) as temporary:
        temporary.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_plots(use_case.label, labels, scores, metrics, params["calibration_bins"], plots_dir(use_case))
    print(f"{model.version} on the test split: {describe_metrics(metrics)}")


def scored_test_split(use_case: UseCase) -> tuple[LoadedModel, np.ndarray, np.ndarray]:
    """The use case's model, its test split's labels (0/1) and the model's scores for those rows.

    The model is the one this repository's DVC stages built, checked against its ``dvc.lock``.
    """
    model = load_model(use_case, REPO_ROOT)
    test = pd.read_parquet(held_out_path(use_case))
    scores = model.pipeline.predict_proba(build_features(use_case.features, test))[:, 1]
    return model, binary_labels(use_case.label, test), scores


def describe_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value}" for name, value in metrics.items())


def write_plots(
    label: Label,
    labels: np.ndarray,
    scores: np.ndarray,
    metrics: dict[str, float],
    calibration_bins: int,
    directory: Path,
) -> None:
    """The curves behind ``metrics`` as one SVG chart each; the titles quote the same figures.

    The texts name the use case's label (``label.column = label.positive`` is the positive class).
    """
    false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    observed_fraction, mean_predicted = calibration_curve(labels, scores, n_bins=calibration_bins)
    positive_rate = float(labels.mean())
    threshold = metrics["threshold"]
    positive_class = f"{label.column} = {label.positive}"
    charts = {
        "roc.svg": line_chart(
            f"ROC curve (test split), AUC {metrics['roc_auc']:.3f}",
            ("False positive rate", "True positive rate"),
            (false_positive_rate, true_positive_rate),
            reference=((0, 1), (0, 1), "chance"),
        ),
        "precision_recall.svg": line_chart(
            f"Precision-recall curve (test split), AP {metrics['pr_auc']:.3f}",
            ("Recall", "Precision"),
            (recall, precision),
            reference=((0, 1), (positive_rate, positive_rate), f"positive rate {positive_rate:.3f}"),
        ),
        "calibration.svg": line_chart(
            f"Calibration (test split), Brier {metrics['brier']:.3f}",
            (f"Mean predicted probability of {positive_class}", f"Observed fraction of {positive_class}"),
            (mean_predicted, observed_fraction),
            reference=((0, 1), (0, 1), "perfect calibration"),
            markers=True,
        ),
        "confusion.svg": confusion_chart(
            f"Confusion matrix at threshold {threshold:.3f} (test split)",
            confusion_matrix(labels, (scores >= threshold).astype(np.int64), labels=[0, 1]),
            label,
        ),
    }
    for name, svg in charts.items():
        with atomic_path(directory / name) as temporary:
            temporary.write_text(svg, encoding="utf-8", newline="\n")


# Hand-written SVG: one chart layout, the unit square [0, 1] x [0, 1] drawn in a fixed frame.
# Every number is written with a fixed number of decimals, so the bytes depend only on the data.
WIDTH, HEIGHT = 520, 440
FRAME_LEFT, FRAME_RIGHT, FRAME_TOP, FRAME_BOTTOM = 70, 500, 56, 380
CURVE_COLOUR, REFERENCE_COLOUR, GRID_COLOUR = "#1f77b4", "#888888", "#e6e6e6"


def _x(value: float) -> float:
    return FRAME_LEFT + float(value) * (FRAME_RIGHT - FRAME_LEFT)


def _y(value: float) -> float:
    return FRAME_BOTTOM - float(value) * (FRAME_BOTTOM - FRAME_TOP)


def _text(x: float, y: float, content: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, style: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def _polyline(xs: Sequence[float], ys: Sequence[float], style: str) -> str:
    """Points at a tenth of a pixel (a stable text whatever the float noise); consecutive repeats are dropped."""
    points = [f"{_x(x):.1f},{_y(y):.1f}" for x, y in zip(xs, ys, strict=True)]
    distinct = [point for index, point in enumerate(points) if index == 0 or point != points[index - 1]]
    return f'<polyline points="{" ".join(distinct)}" fill="none" {style}/>'


def _svg(title: str, legend: str, body: list[str], axis_labels: tuple[str, str]) -> str:
    x_label, y_label = axis_labels
    middle_x, middle_y = (FRAME_LEFT + FRAME_RIGHT) / 2, (FRAME_TOP + FRAME_BOTTOM) / 2
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" fill="#222222">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            _text(WIDTH / 2, 22, title, extra=' font-size="15" font-weight="bold"'),
            legend,
            *body,
            f'<rect x="{FRAME_LEFT}" y="{FRAME_TOP}" width="{FRAME_RIGHT - FRAME_LEFT}" '
            f'height="{FRAME_BOTTOM - FRAME_TOP}" fill="none" stroke="#444444"/>',
            _text(middle_x, HEIGHT - 16, x_label, extra=' font-size="13"'),
            _text(0, 0, y_label, extra=f' font-size="13" transform="translate(20 {middle_y:.1f}) rotate(-90)"'),
            "</svg>",
            "",
        ]
    )


def line_chart(
    title: str,
    axis_labels: tuple[str, str],
    curve: tuple[Sequence[float], Sequence[float]],
    reference: tuple[Sequence[float], Sequence[float], str],
    markers: bool = False,
) -> str:
    """One model curve on the unit square, with a dashed reference line (chance, base rate, ideal)."""
    reference_xs, reference_ys, reference_name = reference
    reference_style = f'stroke="{REFERENCE_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"'
    body = []
    for tick in np.linspace(0, 1, 6):
        body += [
            _line(_x(tick), FRAME_TOP, _x(tick), FRAME_BOTTOM, f'stroke="{GRID_COLOUR}"'),
            _line(FRAME_LEFT, _y(tick), FRAME_RIGHT, _y(tick), f'stroke="{GRID_COLOUR}"'),
            _text(_x(tick), FRAME_BOTTOM + 18, f"{tick:.1f}"),
            _text(FRAME_LEFT - 8, _y(tick) + 4, f"{tick:.1f}", anchor="end"),
        ]
    body += [
        _polyline(reference_xs, reference_ys, reference_style),
        _polyline(*curve, f'stroke="{CURVE_COLOUR}" stroke-width="2"'),
    ]
    if markers:
        body += [
            f'<circle cx="{_x(x):.1f}" cy="{_y(y):.1f}" r="3.5" fill="{CURVE_COLOUR}"/>'
            for x, y in zip(*curve, strict=True)
        ]
    legend_y = 42
    legend = "\n".join(
        [
            _line(FRAME_LEFT, legend_y - 4, FRAME_LEFT + 24, legend_y - 4, f'stroke="{CURVE_COLOUR}" stroke-width="2"'),
            _text(FRAME_LEFT + 30, legend_y, "model", anchor="start"),
            _line(FRAME_LEFT + 90, legend_y - 4, FRAME_LEFT + 114, legend_y - 4, reference_style),
            _text(FRAME_LEFT + 120, legend_y, reference_name, anchor="start"),
        ]
    )
    return _svg(title, legend, body, axis_labels)


def confusion_chart(title: str, counts: np.ndarray, label: Label) -> str:
    """The 2x2 counts (rows actual, columns predicted; negative class first), shaded by each cell's share of its row."""
    names = [["true negatives", "false positives"], ["false negatives", "true positives"]]
    class_names = [label.negative, label.positive]
    cell = (FRAME_RIGHT - FRAME_LEFT) / 2, (FRAME_BOTTOM - FRAME_TOP) / 2
    body = []
    for row in range(2):
        row_total = max(int(counts[row].sum()), 1)
        top = FRAME_TOP + row * cell[1]
        body.append(_text(FRAME_LEFT - 8, top + cell[1] / 2 + 4, class_names[row], anchor="end"))
        for column in range(2):
            left = FRAME_LEFT + column * cell[0]
            count = int(counts[row, column])
            share = count / row_total
            ink = "white" if share > 0.5 else "#222222"
            centre_x, centre_y = left + cell[0] / 2, top + cell[1] / 2
            body += [
                f'<rect x="{left:.1f}" y="{top:.1f}" width="{cell[0]:.1f}" height="{cell[1]:.1f}" '
                f'fill="{CURVE_COLOUR}" fill-opacity="{0.08 + 0.85 * share:.3f}" stroke="white" stroke-width="2"/>',
                _text(centre_x, centre_y - 8, f"{count:,}", extra=f' font-size="22" font-weight="bold" fill="{ink}"'),
                _text(centre_x, centre_y + 14, names[row][column], extra=f' fill="{ink}"'),
                _text(centre_x, centre_y + 30, f"{share:.1%} of actual {class_names[row]}", extra=f' fill="{ink}"'),
            ]
    for column in range(2):
        body.append(_text(FRAME_LEFT + (column + 0.5) * cell[0], FRAME_BOTTOM + 18, class_names[column]))
    legend = _text(WIDTH / 2, 42, f"{int(counts.sum()):,} rows; shading is the share of the actual class")
    return _svg(title, legend, body, (f"Predicted {label.column}", f"Actual {label.column}"))


if __name__ == "__main__":
    main()
