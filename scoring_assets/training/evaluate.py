"""Measure the churn model on the held-out test split, and define how the model is measured.

DVC stage ``evaluate`` (settings: ``params.yaml`` section ``evaluate``). The model is loaded
through the integrity-checked loader, so the numbers describe exactly the artifact dvc.lock
records. Outputs: ``data/metrics/metrics.json`` for ``dvc metrics show`` and the curves under
``data/metrics/plots/`` for ``dvc plots show``.

``churn_labels`` and ``classification_metrics`` are the one definition of the label and of
the metrics; training uses them for its validation numbers too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from scoring_assets.contract import LABEL_COLUMN
from scoring_assets.features import build_features
from scoring_assets.files import atomic_path
from scoring_assets.model_store import load_model
from scoring_assets.paths import METRICS_PATH
from scoring_assets.training import TEST_SPLIT_PATH, load_params

POSITIVE_LABEL = "Yes"
NEGATIVE_LABEL = "No"
PLOTS_DIR = METRICS_PATH.parent / "plots"


def churn_labels(frame: pd.DataFrame) -> np.ndarray:
    """1 for a customer who churned, 0 for one who stayed; any other label value is an error."""
    values = frame[LABEL_COLUMN]
    unexpected = sorted(set(values.unique()) - {POSITIVE_LABEL, NEGATIVE_LABEL})
    if unexpected:
        raise ValueError(
            f"{LABEL_COLUMN} must be '{POSITIVE_LABEL}' or '{NEGATIVE_LABEL}'; found {unexpected[:5]} "
            f"in {int((~values.isin([POSITIVE_LABEL, NEGATIVE_LABEL])).sum()):,} rows"
        )
    return (values == POSITIVE_LABEL).to_numpy(dtype=np.int64)


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


def main() -> None:
    params = load_params("evaluate")
    model = load_model()
    test = pd.read_parquet(TEST_SPLIT_PATH)
    labels = churn_labels(test)
    scores = model.pipeline.predict_proba(build_features(test))[:, 1]
    metrics = {**classification_metrics(labels, scores, model.threshold), "n_test": len(test)}
    with atomic_path(METRICS_PATH) as temporary:
        temporary.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_plot_data(labels, scores, model.threshold, params["calibration_bins"])
    print(f"{model.version} on the test split: {describe_metrics(metrics)}")


def describe_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value}" for name, value in metrics.items())


def write_plot_data(labels: np.ndarray, scores: np.ndarray, threshold: float, calibration_bins: int) -> None:
    """The curves behind the metrics, one CSV each, in the shape DVC's plot templates expect."""
    false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    observed_fraction, mean_predicted = calibration_curve(labels, scores, n_bins=calibration_bins)
    as_label = np.array([NEGATIVE_LABEL, POSITIVE_LABEL])
    curves = {
        "roc.csv": {"fpr": false_positive_rate, "tpr": true_positive_rate},
        "precision_recall.csv": {"recall": recall, "precision": precision},
        "calibration.csv": {"mean_predicted": mean_predicted, "observed_fraction": observed_fraction},
        "confusion.csv": {"actual": as_label[labels], "predicted": as_label[(scores >= threshold).astype(np.int64)]},
    }
    for name, columns in curves.items():
        _write_csv(pd.DataFrame(columns), PLOTS_DIR / name)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, lineterminator="\n", float_format="%.6g")


if __name__ == "__main__":
    main()
