"""Export a fitted Pipeline's serving form at training time, proved equal to ``predict_proba`` before it is written.

The serving form (``core.serving``) is what scoring executes. For the logistic regression
candidate it is the exact linear form: the StandardScaler's mean and scale folded into one weight
per number and into the intercept, one weight per declared category level (the one-hot
coefficient of that level's code). It is written only if, on the held-out split, it differs from
``predict_proba`` by at most ``LINEAR_TOLERANCE`` and gives the same label wherever the score is
further than that from the threshold; otherwise training fails, saying by how much.

The linear form carries the reference point of reason codes (``core.serving.ReasonReference``),
chosen here from the training rows: per input its most favourable value seen in training (the
training minimum or maximum of a number, whichever scores lower; the level seen with the lowest
weight), or its training mean / most common level where the use case declares it typical.

Any other model (the gradient boosting candidate) is served as ``pipeline``: ONNX would serve it
without scikit-learn, but skl2onnx and onnxruntime are not dependencies of this project, so
``serving.json`` then says the pickle is what scores.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring_assets.core.category_codes import CategoryCodes
from scoring_assets.core.files import atomic_path, file_md5
from scoring_assets.core.serving import LINEAR_LOGISTIC, LINEAR_TOLERANCE, PIPELINE, LinearForm, ReasonReference
from scoring_assets.core.use_case import FeatureSet, Reasons

NOT_LINEAR = (
    "its last step is not a logistic regression over scaled numbers and one-hot levels; an ONNX serving form "
    "would need skl2onnx and onnxruntime, which this project does not install"
)


class ServingFormMismatch(ValueError):
    """The exported serving form does not reproduce ``predict_proba`` on the held-out split: nothing is written."""


def linear_form_of(pipeline: Pipeline, feature_set: FeatureSet, positive_class: Any) -> LinearForm | None:
    """The Pipeline's binary logistic regression as a ``LinearForm``; None when the Pipeline is not of that shape."""
    preprocess, classifier = pipeline[0], pipeline[-1]
    if len(pipeline) != 2 or not isinstance(preprocess, ColumnTransformer):
        return None
    if not isinstance(classifier, LogisticRegression) or len(classifier.classes_) != 2:
        return None
    coefficients, intercept = classifier.coef_[0], float(classifier.intercept_[0])
    numeric: dict[str, float] = {}
    categorical: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for name, transformer, columns in preprocess.transformers_:
        block = coefficients[preprocess.output_indices_[name]]
        if transformer == "drop" and block.size == 0:
            continue
        if isinstance(transformer, StandardScaler) or transformer == "passthrough":
            weights, offset = _numeric_weights(transformer, block)
            numeric.update(zip(columns, weights.tolist(), strict=True))
            intercept -= offset
        elif (levels := _one_hot_levels(transformer, columns)) is not None:
            categorical.update(_level_weights(levels, transformer[-1].categories_, block))
        else:
            return None
    if list(numeric) != list(feature_set.numeric) or {n: list(v[0]) for n, v in categorical.items()} != {
        name: list(levels) for name, levels in feature_set.categorical.items()
    }:
        return None
    classes = tuple(value.item() if isinstance(value, np.generic) else value for value in classifier.classes_)
    return LinearForm(intercept, numeric, categorical, classes, positive_class)


def reason_reference(form: LinearForm, training: pd.DataFrame, reasons: Reasons | None) -> ReasonReference:
    """Where reason codes measure from, chosen from ``training`` (model inputs as ``build_features`` makes them).

    Most favourable: the value (of the training min and max) or the level seen in training that
    gives the positive class the lowest score, so a row scored positive has positive contributions.
    """
    typical = tuple(reasons.typical_reference) if reasons else ()
    sign = 1.0 if form.positive_is_second else -1.0
    numeric = {}
    for name, weight in form.numeric.items():
        values = training[name].to_numpy(dtype="float64")
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        favourable = low if sign * weight * low <= sign * weight * high else high
        numeric[name] = float(np.nanmean(values)) if name in typical else favourable
    categorical = {}
    for name, (levels, weights) in form.categorical.items():
        counts = pd.Categorical(training[name], categories=levels).value_counts().to_numpy()
        seen = np.flatnonzero(counts)
        chosen = int(np.argmax(counts)) if name in typical else int(seen[np.argmin(sign * weights[seen])])
        categorical[name] = levels[chosen]
    return ReasonReference(
        numeric, categorical, tuple(name for name in form.numeric | form.categorical if name in typical)
    )


def _numeric_weights(scaler: StandardScaler | str, block: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights on the raw values, and what the centring subtracts from the intercept."""
    if scaler == "passthrough":
        return block, 0.0
    scale = scaler.scale_ if scaler.with_std else np.ones_like(block)
    mean = scaler.mean_ if scaler.with_mean else np.zeros_like(block)
    weights = block / scale
    return weights, float(np.dot(weights, mean))


def _one_hot_levels(transformer: Any, columns: list[str]) -> dict[str, list[str]] | None:
    """Each column's declared levels when ``transformer`` is CategoryCodes then a plain OneHotEncoder, else None."""
    if not isinstance(transformer, Pipeline) or len(transformer) != 2:
        return None
    codes, encoder = transformer[0], transformer[1]
    if not isinstance(codes, CategoryCodes) or not isinstance(encoder, OneHotEncoder) or encoder.drop is not None:
        return None
    if getattr(encoder, "infrequent_categories_", None) and any(c is not None for c in encoder.infrequent_categories_):
        return None
    levels = {column: list(codes.levels[column]) for column in columns}
    every_level_coded = all(
        sorted(int(code) for code in categories) == list(range(len(levels[column])))
        for column, categories in zip(columns, encoder.categories_, strict=True)
    )
    return levels if every_level_coded else None


def _level_weights(levels: dict[str, list[str]], categories: list[np.ndarray], block: np.ndarray) -> dict:
    """Per column, its levels and the one-hot coefficient of each level's code, in level order."""
    weighted, start = {}, 0
    for (column, names), codes in zip(levels.items(), categories, strict=True):
        weights = np.zeros(len(names))
        weights[np.asarray(codes, dtype=int)] = block[start : start + len(codes)]
        weighted[column] = (tuple(names), weights)
        start += len(codes)
    return weighted


def write_serving_form(
    pipeline: Pipeline,
    feature_set: FeatureSet,
    positive_class: Any,
    rows: tuple[pd.DataFrame, pd.DataFrame],
    paths: tuple[Path, Path],
    reasons: Reasons | None = None,
) -> dict[str, Any]:
    """Write ``serving.json`` (``paths``: it, and the model it serves) and return the card's ``serving`` section.

    ``rows``: the training rows (where the reason reference is chosen) and the held-out ones; raises
    ``ServingFormMismatch`` when the linear form does not reproduce ``predict_proba`` on the held-out rows.
    """
    serving_file, model_file = paths
    training, held_out = rows
    form = linear_form_of(pipeline, feature_set, positive_class)
    if form is not None:
        form = replace(form, reference=reason_reference(form, training, reasons))
    if form is None:
        model_md5 = file_md5(model_file)
        _write(serving_file, _as_text({"kind": PIPELINE, "model_md5": model_md5, "why": NOT_LINEAR}))
        return {"kind": PIPELINE, "file": model_file.name, "md5": model_md5, "why": NOT_LINEAR}
    # Proved as scoring will read it back: the JSON text, its keys sorted (the order of the sums included).
    text = serving_text(form, file_md5(model_file))
    written = LinearForm.from_record(json.loads(text))
    expected = pipeline.predict_proba(held_out)[:, list(form.classes).index(positive_class)]
    largest = prove_equal(written.positive_scores(held_out), expected, LINEAR_TOLERANCE)
    _write(serving_file, text)
    return {
        "kind": LINEAR_LOGISTIC,
        "file": serving_file.name,
        "md5": file_md5(serving_file),
        "max_abs_diff": largest,
        "tolerance": LINEAR_TOLERANCE,
        "proved_on": f"the held-out test split ({len(expected):,} rows)",
    }


def prove_equal(served: np.ndarray, expected: np.ndarray, tolerance: float) -> float:
    """The largest difference (two significant digits), provided it is within ``tolerance``.

    Then no label can differ where ``predict_proba`` is further than ``tolerance`` from the
    threshold: a label flips only between two scores on either side of it.
    """
    largest = float(np.abs(served - expected).max()) if len(expected) else 0.0
    if not largest <= tolerance:
        raise ServingFormMismatch(
            f"the serving form differs from predict_proba by up to {largest:.3g} on the held-out split (tolerance "
            f"{tolerance:g}): not written. The export does not match this Pipeline's steps (training.serving_export)"
        )
    return float(f"{largest:.1e}")


def serving_text(form: LinearForm, model_md5: str) -> str:
    """``serving.json``'s text: the form, bound to the md5 of the pickle it was proved against."""
    return _as_text({**form.as_record(), "model_md5": model_md5})


def _as_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
