"""The model's serving form: what scoring executes instead of unpickling the scikit-learn Pipeline.

A pickle executes code when loaded and drags scikit-learn and scipy into every scoring process
(~1 CPU-s of imports), and ``predict_proba`` spends most of its time in the ColumnTransformer.
For a Pipeline whose last step is a binary logistic regression over scaled numbers and one-hot
category levels, the same probability is a sum: one weight per number (the scaler folded in),
one weight per declared category level, an intercept, then the logistic function. Training
exports that sum as data (``serving.json`` beside the model, kind ``linear_logistic``), proves it
equal to ``predict_proba`` on the held-out split (``LINEAR_TOLERANCE``) and records the kind,
md5, largest difference and tolerance in the model card; the model store verifies the file by
md5 like the model. Any other model is served as ``pipeline``: the verified pickle, as before.

The linear form also carries the reference point reason codes are measured from
(``ReasonReference``, ``core.reason_codes``): chosen at training from the training rows, so it is
frozen with the model and verified with it.

This module needs numpy and pandas only; the export from a fitted Pipeline is training's
(``training.serving_export``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

SERVING_FILE = "serving.json"  # beside the model, in the champion's folder and in every model directory
LINEAR_LOGISTIC = "linear_logistic"
PIPELINE = "pipeline"  # no serving form: the unpickled Pipeline's predict_proba scores
# The largest difference to predict_proba the exact linear form may show on the held-out split
# (double-precision sums in another order differ by ~1e-15; anything near 1e-9 is a wrong export).
LINEAR_TOLERANCE = 1e-9


def serving_path(model_path: str) -> str:
    """The serving form's path in the DVC project, beside the model at ``model_path`` (both relative)."""
    return str(PurePosixPath(model_path).parent / SERVING_FILE)


@dataclass(frozen=True)
class ReasonReference:
    """The point every input's contribution is measured from: a value per numeric input, a level per categorical one.

    ``typical``: the inputs whose reference is the training mean or most common level; every other
    input's is its most favourable value seen in training (the one giving the lowest score).
    """

    numeric: dict[str, float]
    categorical: dict[str, str]
    typical: tuple[str, ...] = ()

    def as_record(self) -> dict[str, Any]:
        return {"numeric": dict(self.numeric), "categorical": dict(self.categorical), "typical": list(self.typical)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ReasonReference:
        numeric = {name: float(value) for name, value in record["numeric"].items()}
        return cls(
            numeric, {name: str(level) for name, level in record["categorical"].items()}, tuple(record["typical"])
        )


@dataclass(frozen=True)
class LinearForm:
    """A binary logistic regression as data: P(positive) = logistic(intercept + sum of the inputs' weights).

    ``numeric``: one weight per numeric input, applied to its raw value (the scaler folded in);
    ``categorical``: per categorical input, its declared levels and one weight per level (the
    one-hot coefficient). ``positive_is_second``: the positive class is the Pipeline's second
    class, whose probability is the logistic of the sum (else it is one minus it). ``reference``:
    where reason codes measure contributions from (None in a form written before reason codes).
    """

    intercept: float
    numeric: dict[str, float]
    categorical: dict[str, tuple[tuple[str, ...], np.ndarray]]
    classes: tuple[Any, ...]
    positive_class: Any
    reference: ReasonReference | None = None

    @property
    def positive_is_second(self) -> bool:
        return self.classes.index(self.positive_class) == 1

    def positive_scores(self, inputs: pd.DataFrame) -> np.ndarray:
        """The positive class's probability per row of ``inputs`` (``core.features.build_features``' dtypes).

        Refuses, as ``predict_proba`` does, a missing number or a category outside the levels.
        """
        decision = np.full(len(inputs), self.intercept, dtype="float64")
        for name, weight in self.numeric.items():
            decision += weight * inputs[name].to_numpy(dtype="float64")
        for name, (levels, weights) in self.categorical.items():
            column = inputs[name]
            if tuple(column.cat.categories) != levels:
                raise ValueError(f"{name} is coded with levels {list(column.cat.categories)}, not {list(levels)}")
            codes = column.cat.codes.to_numpy()
            if len(codes) and codes.min() < 0:
                raise ValueError(f"{name} has values outside its levels {list(levels)}: it cannot be scored")
            decision += weights[codes]
        if np.isnan(decision).any():
            missing = [name for name in self.numeric if inputs[name].isna().any()]
            raise ValueError(f"missing values in {missing}: they cannot be scored")
        with np.errstate(over="ignore"):  # exp of a large margin is inf: the probability is then exactly 0
            second = 1.0 / (1.0 + np.exp(-decision))
        return second if self.positive_is_second else 1.0 - second

    def as_record(self) -> dict[str, Any]:
        """The form as JSON values (floats written exactly: JSON keeps every float64 digit)."""
        reference = {} if self.reference is None else {"reason_reference": self.reference.as_record()}
        return {
            **reference,
            "kind": LINEAR_LOGISTIC,
            "classes": list(self.classes),
            "positive_class": self.positive_class,
            "intercept": self.intercept,
            "numeric": dict(self.numeric),
            "categorical": {
                name: {"levels": list(levels), "weights": [float(weight) for weight in weights]}
                for name, (levels, weights) in self.categorical.items()
            },
        }

    @classmethod
    def from_record(cls, record: Any) -> LinearForm:
        """The form ``as_record`` wrote; ``ValueError`` naming what is wrong with anything else."""
        if not isinstance(record, dict) or record.get("kind") != LINEAR_LOGISTIC:
            raise ValueError(f"its kind is not {LINEAR_LOGISTIC!r}")
        try:
            classes = tuple(record["classes"])
            categorical = {
                name: (tuple(part["levels"]), np.asarray(part["weights"], dtype="float64"))
                for name, part in record["categorical"].items()
            }
            form = cls(
                intercept=float(record["intercept"]),
                numeric={name: float(weight) for name, weight in record["numeric"].items()},
                categorical=categorical,
                classes=classes,
                positive_class=record["positive_class"],
                reference=ReasonReference.from_record(record["reason_reference"])
                if "reason_reference" in record
                else None,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ValueError(f"it is not a linear form ({type(error).__name__}: {error})") from None
        if len(classes) != 2:
            raise ValueError(f"it has {len(classes)} classes, not the two of a binary model")
        if any(len(levels) != len(weights) for levels, weights in categorical.values()):
            raise ValueError("a categorical input has not one weight per level")
        reference = form.reference
        if reference is not None and (
            list(reference.numeric) != list(form.numeric)
            or any(reference.categorical.get(name) not in levels for name, (levels, _) in categorical.items())
        ):
            raise ValueError("its reason reference does not give every input a value (a declared level)")
        return form


@dataclass(frozen=True)
class ServingArtifact:
    """What scores a verified model: its linear form (``linear``), or the Pipeline itself (kind ``pipeline``).

    ``md5``: of the file that computes the scores (``serving.json``, or the pickle for kind
    ``pipeline``); ``max_abs_diff``: the largest difference to ``predict_proba`` training measured
    on the held-out split, within ``tolerance`` (both 0 for the Pipeline itself).
    """

    kind: str
    path: Path
    md5: str
    max_abs_diff: float = 0.0
    tolerance: float = 0.0
    linear: LinearForm | None = None

    def as_record(self) -> dict[str, Any]:
        """The ``serving`` part of a manifest: which artifact scored, and how close it is to the Pipeline."""
        return {"kind": self.kind, "md5": self.md5, "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance}
