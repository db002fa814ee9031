"""Measure a use case's model on its held-out test split: its metrics and its charts.

DVC stage ``<use case>_evaluate``: ``python -m scoring_assets.training.evaluate <use case>``
(settings: ``params.yaml`` section ``<use case>.evaluate``). The model is loaded through the
integrity-checked loader, so the numbers describe exactly the artifact dvc.lock records.
Outputs: the use case's ``metrics_path`` (e.g. ``data/metrics/telco_churn/metrics.json``) for
``dvc metrics show``, and the ROC, precision-recall, calibration and confusion-matrix charts in
``plots/`` beside it for ``dvc plots show``.

The charts are static SVG images (``core.reports.evaluation``) rather than data for DVC's Vega
templates: DVC embeds images as plain ``<img>`` tags, so the page it writes works offline (its
Vega pages load their scripts from a CDN and stay blank without a network). They are written
with fixed number formatting, so a rebuild produces the same bytes and ``dvc repro`` stays
reproducible. The metrics are defined once, in ``training.metrics``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

import scoring_assets.core.category_codes  # noqa: F401  (the Pipeline this stage unpickles runs it: a dependency)
from scoring_assets.core.features import build_features
from scoring_assets.core.files import atomic_path
from scoring_assets.core.model_store import LoadedModel, load_model
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.reports.charts import Curve
from scoring_assets.core.reports.evaluation import calibration_chart, confusion_chart, precision_recall_chart, roc_chart
from scoring_assets.core.use_case import Label, UseCase
from scoring_assets.training import held_out_path, load_params, metrics_path, plots_dir, trained_use_case
from scoring_assets.training.metrics import binary_labels, classification_metrics, describe_metrics


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


def write_plots(
    label: Label,
    labels: np.ndarray,
    scores: np.ndarray,
    metrics: dict[str, float],
    calibration_bins: int,
    directory: Path,
) -> None:
    """The curves behind ``metrics`` as one SVG image each; the titles quote the same figures.

    The texts name the use case's label (``label.column = label.positive`` is the positive class).
    """
    false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    observed_fraction, mean_predicted = calibration_curve(labels, scores, n_bins=calibration_bins)
    threshold = metrics["threshold"]
    predicted = (scores >= threshold).astype(np.int64)
    charts = {
        "roc.svg": roc_chart(
            f"ROC curve (test split), AUC {metrics['roc_auc']:.3f}",
            [Curve("model", false_positive_rate, true_positive_rate)],
        ),
        "precision_recall.svg": precision_recall_chart(
            f"Precision-recall curve (test split), AP {metrics['pr_auc']:.3f}",
            [Curve("model", recall, precision)],
            positive_rate=float(labels.mean()),
        ),
        "calibration.svg": calibration_chart(
            f"Calibration (test split), Brier {metrics['brier']:.3f}",
            [Curve("model", mean_predicted, observed_fraction, markers=True)],
            label,
        ),
        "confusion.svg": confusion_chart(
            f"Confusion matrix at threshold {threshold:.3f} (test split)",
            confusion_matrix(labels, predicted, labels=[0, 1]),
            label,
        ),
    }
    for name, chart in charts.items():
        with atomic_path(directory / name) as temporary:
            temporary.write_text(f"{chart}\n", encoding="utf-8", newline="\n")


if __name__ == "__main__":
    main()
