"""How any model is measured: the one definition of the 0/1 label and of the classification metrics.

Training uses them for its validation numbers and ``evaluate`` for the test split's, so both
speak of the same thing; this module draws nothing, so training does not depend on the charts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from scoring_assets.core.use_case import Label


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


def describe_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value}" for name, value in metrics.items())
