"""Train a use case's model: the better of two candidate pipelines, a tuned threshold, and a model card.

DVC stage ``<use case>_train``: ``python -m scoring_assets.training.train <use case>`` (settings:
``params.yaml`` section ``<use case>.train``). Everything about the table comes from the use
case: its contract, label, features and where the model and card go. The extract is read and
validated exactly as scoring reads it, so the model never learns from rows scoring would
refuse. Labels are 1 for the label's positive value, 0 for its negative one. Rows are split
once, deterministically and stratified, into train / validation / test parts:
- candidates are compared by cross-validated ROC AUC on the train part only;
- the winner is fitted on the train part and its decision threshold is chosen on the
  validation part by the rule ``params.yaml`` names (``training.thresholds``: F1 by default, a
  target precision, a top share of rows or a cost ratio). The model is not refitted on train +
  validation afterwards: the threshold was tuned against exactly this model's scores;
- the test part is written for ``evaluate``; here only the serving form's scores are compared on it
  with the Pipeline's (its labels are never read here).
The reference profile for drift checks (``core.drift.build_reference_profile``: bins of the
train part's model inputs, the validation part's scores) is written beside the model when the
use case declares ``model.profile_path``; the card records its path and md5. The serving form
(``training.serving_export``: ``serving.json`` beside the model, what scoring executes instead of
the pickle) is proved equal to ``predict_proba`` on the test part and recorded in the card's ``serving``.

Every output is byte-identical across runs on the same inputs (fixed seeds, sorted JSON, no
timestamps), so ``dvc repro`` on a clean clone rebuilds the md5s recorded in ``dvc.lock``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring_assets.core.category_codes import CategoryCodes
from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.drift import build_reference_profile
from scoring_assets.core.features import build_features
from scoring_assets.core.files import atomic_path, file_md5
from scoring_assets.core.paths import REPO_ROOT, repo_relative
from scoring_assets.core.serving import serving_path
from scoring_assets.core.use_case import FeatureSet, UseCase
from scoring_assets.training import held_out_path, load_params, repo_path, trained_use_case
from scoring_assets.training.metrics import binary_labels, classification_metrics, describe_metrics
from scoring_assets.training.serving_export import write_serving_form
from scoring_assets.training.thresholds import ThresholdRule

POSITIVE_CLASS = 1  # labels are encoded 0/1: the score is the probability of class 1, the label's positive value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a use case's model on its labelled extract.")
    parser.add_argument("use_case", help="the use case whose model to train, e.g. telco_churn")
    use_case = trained_use_case(parser.parse_args(argv).use_case)
    params = load_params(use_case.name, "train")
    train_model(use_case, repo_path(params["extract"]), params, repo_outputs(use_case))


@dataclass(frozen=True)
class TrainingOutputs:
    """Where one training writes the model, its held-out test split, its card and its reference profile."""

    model: Path
    test_split: Path
    card: Path
    profile: Path | None
    serving: Path  # the serving form (core.serving), beside the model


def repo_outputs(use_case: UseCase) -> TrainingOutputs:
    """The champion's outputs: the paths the use case declares in this repository's DVC project."""
    source = use_case.model
    profile = repo_path(source.profile_path) if source.profile_path else None
    return TrainingOutputs(
        repo_path(source.model_path),
        held_out_path(use_case),
        repo_path(source.card_path),
        profile,
        repo_path(serving_path(source.model_path)),
    )


@dataclass(frozen=True)
class TrainedModel:
    """What ``train_model`` fitted: the Pipeline, its card, and the held-out test rows it never looked at."""

    model: Pipeline
    card: dict[str, Any]
    test_rows: pd.DataFrame


def train_model(use_case: UseCase, extract_path: Path, params: dict, outputs: TrainingOutputs) -> TrainedModel:
    """Train on ``extract_path`` exactly as the DVC stage does (``params``: its section) and write ``outputs``."""
    accepted, rows_read, rows_rejected = load_training_rows(use_case, extract_path, params["max_rejected_fraction"])
    features = build_features(use_case.features, accepted)
    labels = binary_labels(use_case.label, accepted)
    parts = split_rows(labels, params["seed"], params["validation_fraction"], params["test_fraction"])
    fitted = fit_best_candidate(use_case, features.iloc[parts["train"]], labels[parts["train"]], params)

    validation_labels = labels[parts["validation"]]
    validation_scores = fitted.model.predict_proba(features.iloc[parts["validation"]])[:, 1]
    rule = ThresholdRule.from_params(params.get("threshold"))
    threshold = rule.choose(validation_labels, validation_scores)
    validation_metrics = classification_metrics(validation_labels, validation_scores, threshold)
    print(f"chose {fitted.chosen}; on the validation split: {describe_metrics(validation_metrics)}")

    positive_rate = round(float(labels.mean()), 6)
    written = write_model_and_held_out_split(use_case, fitted.model, accepted.iloc[parts["test"]], outputs)
    reference_profile = None
    if outputs.profile is not None:
        profile = build_reference_profile(
            use_case, features.iloc[parts["train"]], validation_scores, threshold, positive_rate
        )
        reference_profile = write_json(outputs.profile, profile)
        written.append(outputs.profile)
    rows = (features.iloc[parts["train"]], features.iloc[parts["test"]])  # the reason reference's, the proof's
    paths = (outputs.serving, outputs.model)
    serving = write_serving_form(fitted.model, use_case.features, POSITIVE_CLASS, rows, paths, use_case.reasons)
    written.append(outputs.serving)
    training_data = {
        "path": _display_path(extract_path),
        "md5": file_md5(extract_path),
        "rows_read": rows_read,
        "rows_rejected": rows_rejected,
        "rows_accepted": len(accepted),
        "positive_rate": positive_rate,
        "split_rows": {part: len(positions) for part, positions in parts.items()},
    }
    card = model_card(
        use_case=use_case,
        chosen=fitted.chosen,
        candidates=fitted.candidates,
        cv_scores=fitted.cv_scores,
        threshold=threshold,
        threshold_rule=rule,
        validation_metrics=validation_metrics,
        training_data=training_data,
        reference_profile=reference_profile,
        serving=serving,
        params=params,
    )
    write_json(outputs.card, card)
    print(f"wrote {', '.join(_display_path(path) for path in (*written, outputs.card))}")
    return TrainedModel(fitted.model, card, accepted.iloc[parts["test"]])


@dataclass(frozen=True)
class FittedCandidate:
    """The candidate chosen by cross-validated ROC AUC, refitted on the whole training split."""

    chosen: str
    model: Pipeline
    candidates: dict[str, Pipeline]
    cv_scores: dict[str, list[float]]


def fit_best_candidate(use_case: UseCase, train_features: pd.DataFrame, train_labels, params: dict) -> FittedCandidate:
    """Cross-validate every candidate on the training split, print the figures, refit the best one."""
    candidates = candidate_pipelines(use_case.features, params)
    cv_scores = {
        name: cross_validated_roc_auc(pipeline, train_features, train_labels, params["cv_folds"], params["seed"])
        for name, pipeline in candidates.items()
    }
    for name, folds in cv_scores.items():
        print(f"{name}: cross-validated ROC AUC {np.mean(folds):.4f} (folds: {', '.join(f'{s:.4f}' for s in folds)})")
    chosen = max(cv_scores, key=lambda name: np.mean(cv_scores[name]))  # ties keep the first, simpler one
    return FittedCandidate(chosen, candidates[chosen].fit(train_features, train_labels), candidates, cv_scores)


def write_model_and_held_out_split(
    use_case: UseCase, model: Pipeline, test_rows: pd.DataFrame, outputs: TrainingOutputs
) -> list[Path]:
    """The fitted model and the held-out test rows (contract columns and label), written atomically."""
    model_path, test_split_path = outputs.model, outputs.test_split
    with atomic_path(model_path) as temporary:
        joblib.dump(model, temporary)
    with atomic_path(test_split_path) as temporary:
        test_rows[[*use_case.contract_columns, use_case.label.column]].to_parquet(temporary)
    return [model_path, test_split_path]


def write_json(path: Path, document: dict) -> dict[str, str]:
    """``document`` as sorted, indented JSON, atomically; returns its display path and md5."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {"path": _display_path(path), "md5": file_md5(path)}


def load_training_rows(use_case: UseCase, path: Path, max_rejected_fraction: float) -> tuple[pd.DataFrame, int, int]:
    """The extract's rows that pass the input contract, with the counts read and rejected.

    Refuses to train when more than ``max_rejected_fraction`` of the rows break the contract:
    past that point the extract is more likely wrong than a few rows broken.
    """
    raw = read_csv_frame(path, use_case)
    if use_case.label.column not in raw.columns:
        raise ValueError(f"{path} has no {use_case.label.column} column: training needs a labelled extract")
    validation = validate_frame(use_case, raw)
    rows_rejected = validation.rejected_row_count
    print(f"{path}: {len(raw):,} rows read, {rows_rejected:,} rejected by the input contract")
    if rows_rejected > max_rejected_fraction * len(raw):
        first_rules = validation.rejects.head(10).to_string(index=False)
        raise ValueError(
            f"{path}: {rows_rejected:,} of {len(raw):,} rows break the input contract, more than the allowed "
            f"{max_rejected_fraction:.1%} (params.yaml {use_case.name}.train.max_rejected_fraction); fix the extract. "
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


def candidate_pipelines(feature_set: FeatureSet, params: dict[str, Any]) -> dict[str, Pipeline]:
    """The models compared, each one Pipeline that owns its preprocessing, in order of simplicity.

    Category levels are fixed by the use case, so encoding never depends on which levels
    happen to occur in the training rows.
    """
    numeric, categorical = list(feature_set.numeric), list(feature_set.categorical)
    # Both start from integer codes into the declared levels (core.features.CategoryCodes): the
    # same encoding as the level strings, an order of magnitude faster to transform.
    codes = CategoryCodes({name: list(levels) for name, levels in feature_set.categorical.items()})
    code_levels = [list(range(len(levels))) for levels in feature_set.categorical.values()]
    # Dense: the column transformer would densify a sparse one-hot block beside the dense numbers
    # anyway (~20% of predict_proba's time); the same coefficients, so the same scores.
    one_hot = OneHotEncoder(categories=code_levels, sparse_output=False)
    logistic_regression = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), numeric),
                        (
                            "categorical",
                            Pipeline([("codes", codes), ("one_hot", one_hot)]),
                            categorical,
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
                        ("categorical", codes, categorical),
                        ("numeric", "passthrough", numeric),
                    ]
                ),
            ),
            (
                "classifier",
                HistGradientBoostingClassifier(
                    categorical_features=[True] * len(categorical) + [False] * len(numeric),
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


def model_card(
    *,
    use_case: UseCase,
    chosen: str,
    candidates: dict[str, Pipeline],
    cv_scores: dict[str, list[float]],
    threshold: float,
    threshold_rule: ThresholdRule,
    validation_metrics: dict[str, float],
    training_data: dict[str, Any],
    params: dict[str, Any],
    reference_profile: dict[str, str] | None = None,
    serving: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a reader, a drift check or the model loader needs to know about the model."""
    model = candidates[chosen]
    label = use_case.label
    feature_set = use_case.features
    return {
        "use_case": use_case.name,
        "model": {"name": use_case.model_name, "candidate": chosen, "kind": type(model[-1]).__name__},
        "candidates": {
            name: {
                "kind": type(pipeline[-1]).__name__,
                "cv_roc_auc_mean": _rounded(np.mean(cv_scores[name])),
                "cv_roc_auc_std": _rounded(np.std(cv_scores[name])),
                "cv_roc_auc_folds": _rounded(cv_scores[name]),
            }
            for name, pipeline in candidates.items()
        },
        "label": {"column": label.column, "positive": label.positive, "negative": label.negative},
        "classes": [int(value) for value in model.classes_],
        "positive_class": POSITIVE_CLASS,
        "threshold": threshold,
        "threshold_rule": (
            f"{threshold_rule.describe()}; predict {label.column} = {label.positive} "
            f"(class {POSITIVE_CLASS}) when score >= threshold"
        ),
        "threshold_policy": threshold_rule.as_record(),
        "validation_metrics": validation_metrics,
        "feature_contract": {
            "input_columns": list(use_case.contract_columns),
            "numeric_features": list(feature_set.numeric),
            "categorical_features": list(feature_set.categorical),
            "category_levels": {name: list(levels) for name, levels in feature_set.categorical.items()},
        },
        "sklearn_version": sklearn.__version__,
        "training_data": training_data,
        **({"reference_profile": reference_profile} if reference_profile else {}),
        **({"serving": serving} if serving else {}),
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
