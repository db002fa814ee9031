"""Train the churn model: the better of two candidate pipelines, a tuned threshold, and a model card.

DVC stage ``train`` (settings: ``params.yaml`` section ``train``). The extract is read and
validated exactly as scoring reads it, so the model never learns from rows scoring would
refuse. Rows are split once, deterministically and stratified, into train / validation /
test parts:
- candidates are compared by cross-validated ROC AUC on the train part only;
- the winner is fitted on the train part and its decision threshold maximises F1 on the
  validation part. The model is not refitted on train + validation afterwards: the threshold
  was tuned against exactly this model's scores;
- the test part is written for ``evaluate`` and never looked at here.

Every output is byte-identical across runs on the same inputs (fixed seeds, sorted JSON, no
timestamps), so ``dvc repro`` on a clean clone rebuilds the md5s recorded in ``dvc.lock``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from scoring_assets.contract import CONTRACT_COLUMNS, LABEL_COLUMN, validate_frame
from scoring_assets.features import (
    CATEGORICAL_FEATURES,
    CATEGORY_LEVELS,
    NUMERIC_FEATURES,
    build_features,
    category_codes,
)
from scoring_assets.files import atomic_path, file_md5
from scoring_assets.input_csv import read_csv_frame
from scoring_assets.paths import MODEL_CARD_PATH, MODEL_PATH, REPO_ROOT, repo_relative
from scoring_assets.training import TEST_SPLIT_PATH, load_params, repo_path
from scoring_assets.training.evaluate import POSITIVE_LABEL, churn_labels, classification_metrics, describe_metrics

MODEL_NAME = "churn_model"
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 10


def main() -> None:
    params = load_params("train")
    extract_path = repo_path(params["extract"])
    accepted, rows_read, rows_rejected = load_training_rows(extract_path, params["max_rejected_fraction"])
    features = build_features(accepted)
    labels = churn_labels(accepted)
    parts = split_rows(labels, params["seed"], params["validation_fraction"], params["test_fraction"])
    train_features, train_labels = features.iloc[parts["train"]], labels[parts["train"]]

    candidates = candidate_pipelines(params)
    cv_scores = {
        name: cross_validated_roc_auc(pipeline, train_features, train_labels, params["cv_folds"], params["seed"])
        for name, pipeline in candidates.items()
    }
    for name, folds in cv_scores.items():
        print(f"{name}: cross-validated ROC AUC {np.mean(folds):.4f} (folds: {', '.join(f'{s:.4f}' for s in folds)})")
    chosen = max(cv_scores, key=lambda name: np.mean(cv_scores[name]))  # ties keep the first, simpler one
    model = candidates[chosen].fit(train_features, train_labels)

    validation_labels = labels[parts["validation"]]
    validation_scores = model.predict_proba(features.iloc[parts["validation"]])[:, 1]
    threshold = f1_maximising_threshold(validation_labels, validation_scores)
    validation_metrics = classification_metrics(validation_labels, validation_scores, threshold)
    print(f"chose {chosen}; on the validation split: {describe_metrics(validation_metrics)}")

    with atomic_path(MODEL_PATH) as temporary:
        joblib.dump(model, temporary)
    with atomic_path(TEST_SPLIT_PATH) as temporary:
        accepted.iloc[parts["test"]][[*CONTRACT_COLUMNS, LABEL_COLUMN]].to_parquet(temporary)
    card = model_card(
        chosen=chosen,
        candidates=candidates,
        cv_scores=cv_scores,
        threshold=threshold,
        validation_metrics=validation_metrics,
        training_data={
            "path": _display_path(extract_path),
            "md5": file_md5(extract_path),
            "rows_read": rows_read,
            "rows_rejected": rows_rejected,
            "rows_accepted": len(accepted),
            "churn_rate": round(float(labels.mean()), 6),
            "split_rows": {part: len(positions) for part, positions in parts.items()},
        },
        reference=reference_distributions(train_features),
        params=params,
    )
    with atomic_path(MODEL_CARD_PATH) as temporary:
        temporary.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {_display_path(MODEL_PATH)}, {_display_path(MODEL_CARD_PATH)}, {_display_path(TEST_SPLIT_PATH)}")


def load_training_rows(path: Path, max_rejected_fraction: float) -> tuple[pd.DataFrame, int, int]:
    """The extract's rows that pass the input contract, with the counts read and rejected.

    Refuses to train when more than ``max_rejected_fraction`` of the rows break the contract:
    past that point the extract is more likely wrong than a few rows broken.
    """
    raw = read_csv_frame(path)
    if LABEL_COLUMN not in raw.columns:
        raise ValueError(f"{path} has no {LABEL_COLUMN} column: training needs a labelled extract")
    validation = validate_frame(raw)
    rows_rejected = validation.rejected_row_count
    print(f"{path}: {len(raw):,} rows read, {rows_rejected:,} rejected by the input contract")
    if rows_rejected > max_rejected_fraction * len(raw):
        first_rules = validation.rejects.head(10).to_string(index=False)
        raise ValueError(
            f"{path}: {rows_rejected:,} of {len(raw):,} rows break the input contract, more than the allowed "
            f"{max_rejected_fraction:.1%} (params.yaml train.max_rejected_fraction); fix the extract. "
            f"First problems:\n{first_rules}"
        )
    return validation.accepted, len(raw), rows_rejected


def split_rows(
    labels: np.ndarray, seed: int, validation_fraction: float, test_fraction: float
) -> dict[str, np.ndarray]:
    """Positions of the train / validation / test rows: stratified by label, fixed by ``seed``, sorted."""
    positions = np.arange(len(labels))
    rest, test = train_test_split(positions, test_size=test_fraction, stratify=labels, random_state=seed)
    train, validation = train_test_split(
        rest, test_size=validation_fraction / (1.0 - test_fraction), stratify=labels[rest], random_state=seed
    )
    return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


def candidate_pipelines(params: dict[str, Any]) -> dict[str, Pipeline]:
    """The models compared, each one Pipeline that owns its preprocessing, in order of simplicity.

    Category levels are fixed from the contract, so encoding never depends on which levels
    happen to occur in the training rows.
    """
    # Both start from integer codes into the contract's levels (features.category_codes): the
    # same encoding as the label strings, an order of magnitude faster to transform.
    codes = FunctionTransformer(category_codes, feature_names_out="one-to-one")
    code_levels = [list(range(len(CATEGORY_LEVELS[name]))) for name in CATEGORICAL_FEATURES]
    logistic_regression = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), NUMERIC_FEATURES),
                        (
                            "categorical",
                            Pipeline([("codes", codes), ("one_hot", OneHotEncoder(categories=code_levels))]),
                            CATEGORICAL_FEATURES,
                        ),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(random_state=params["seed"], **params["logistic_regression"])),
        ]
    )
    hist_gradient_boosting = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("categorical", codes, CATEGORICAL_FEATURES),
                        ("numeric", "passthrough", NUMERIC_FEATURES),
                    ]
                ),
            ),
            (
                "classifier",
                HistGradientBoostingClassifier(
                    categorical_features=[True] * len(CATEGORICAL_FEATURES) + [False] * len(NUMERIC_FEATURES),
                    early_stopping=False,
                    random_state=params["seed"],
                    **params["hist_gradient_boosting"],
                ),
            ),
        ]
    )
    return {"logistic_regression": logistic_regression, "hist_gradient_boosting": hist_gradient_boosting}


def cross_validated_roc_auc(
    pipeline: Pipeline, features: pd.DataFrame, labels: np.ndarray, folds: int, seed: int
) -> list[float]:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [float(score) for score in cross_val_score(pipeline, features, labels, cv=splitter, scoring="roc_auc")]


def f1_maximising_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score at or above which a customer is called a churner, chosen for the best F1."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return float(thresholds[np.argmax(f1[:-1])])  # the last point has no threshold


def reference_distributions(features: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """What each feature looked like in training, for drift checks on scored batches."""
    reference: dict[str, dict[str, Any]] = {}
    for name in NUMERIC_FEATURES:
        values = features[name].to_numpy(dtype=np.float64)
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        reference[name] = {
            "kind": "numeric",
            "mean": _rounded(values.mean()),
            "std": _rounded(values.std()),
            "quantiles": {
                f"{q:g}": _rounded(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True)
            },
            "histogram": {"edges": _rounded(edges), "fractions": _rounded(counts / len(values))},
        }
    for name in CATEGORICAL_FEATURES:
        frequencies = features[name].value_counts(normalize=True)
        reference[name] = {
            "kind": "categorical",
            "frequencies": {level: _rounded(frequencies.get(level, 0.0)) for level in CATEGORY_LEVELS[name]},
        }
    return reference


def model_card(
    *,
    chosen: str,
    candidates: dict[str, Pipeline],
    cv_scores: dict[str, list[float]],
    threshold: float,
    validation_metrics: dict[str, float],
    training_data: dict[str, Any],
    reference: dict[str, dict[str, Any]],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Everything a reader, a drift check or the model loader needs to know about the model."""
    model = candidates[chosen]
    return {
        "model": {"name": MODEL_NAME, "candidate": chosen, "kind": type(model[-1]).__name__},
        "candidates": {
            name: {
                "kind": type(pipeline[-1]).__name__,
                "cv_roc_auc_mean": _rounded(np.mean(cv_scores[name])),
                "cv_roc_auc_std": _rounded(np.std(cv_scores[name])),
                "cv_roc_auc_folds": _rounded(cv_scores[name]),
            }
            for name, pipeline in candidates.items()
        },
        "label": {"column": LABEL_COLUMN, "positive": POSITIVE_LABEL},
        "classes": [int(label) for label in model.classes_],
        "threshold": threshold,
        "threshold_rule": "maximises F1 on the validation split; predict churn when score >= threshold",
        "validation_metrics": validation_metrics,
        "feature_contract": {
            "input_columns": list(CONTRACT_COLUMNS),
            "numeric_features": list(NUMERIC_FEATURES),
            "categorical_features": list(CATEGORICAL_FEATURES),
            "category_levels": {name: list(CATEGORY_LEVELS[name]) for name in CATEGORICAL_FEATURES},
        },
        "sklearn_version": sklearn.__version__,
        "training_data": training_data,
        "reference_distributions": reference,
        "params": params,
    }


def _rounded(values):
    """Plain-Python floats with 6 decimals: readable JSON that only changes when the data does."""
    if np.ndim(values) == 0:
        return round(float(values), 6)
    return [round(float(value), 6) for value in values]


def _display_path(path: Path) -> str:
    """Repository-relative when inside the repository (as in dvc.lock), else as given."""
    return repo_relative(path) if Path(path).resolve().is_relative_to(REPO_ROOT) else str(path)


if __name__ == "__main__":
    main()
