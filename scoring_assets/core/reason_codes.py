"""Reason codes: which inputs pushed each row's score up, exactly, for a model served in its linear form.

A linear model's log-odds of the positive class is a sum with one term per input (a weight times
a number, or a category level's weight). Measured from a reference point frozen at training
(``core.serving.ReasonReference``: by default each input's most favourable value seen in
training), each input's contribution is its term minus the reference's term; the contributions
plus the reference's log-odds are the row's log-odds, to rounding (a test holds it to 1e-9). A
row's reasons are the texts (``UseCase.reasons``) of its inputs with the largest positive
contributions, largest first: contributions to this model's score, not causes of the outcome.

Only the exact linear form has an explainer here (``EXPLAINER``). A model served as its
Pipeline (a tree ensemble, or a model brought in without a serving form) gets no reason codes:
the model is refused when it is loaded (``ReasonsUnavailable``), never given approximate or wrong
reasons. (No tree explainer is installed: ``shap`` is not a dependency of this project.)
Everything is vectorised over a batch: a handful of numpy passes over a rows x inputs matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from scoring_assets.core.model_store import ModelArtifact, ModelIntegrityError
from scoring_assets.core.serving import LinearForm
from scoring_assets.core.use_case import Reasons, UseCase

EXPLAINER = "linear_exact"
BLANK = ""  # a reason cell when the row has fewer reasons than columns
CODE_ROWS = 8_192  # rows per contribution matrix (see ReasonCoder.code)


class ReasonsUnavailable(ModelIntegrityError):
    """Reason codes are declared but the model has no exact explainer: it is refused, never explained wrongly."""


def reason_columns(reasons: Reasons | None, name_inputs: bool = False) -> list[str]:
    """``reason_1`` ... ``reason_N``, then (``name_inputs``) ``reason_1_input`` ... ``reason_N_input``."""
    if reasons is None:
        return []
    slots = range(1, reasons.max_reasons + 1)
    return [f"reason_{n}" for n in slots] + ([f"reason_{n}_input" for n in slots] if name_inputs else [])


@dataclass(frozen=True)
class LinearContributions:
    """Each input's exact contribution to the positive class's log-odds, measured from the form's reference."""

    form: LinearForm

    @cached_property
    def inputs(self) -> list[str]:
        return [*self.form.numeric, *self.form.categorical]

    @property
    def sign(self) -> float:
        """+1 when the decision function is the positive class's log-odds, -1 when it is the other class's."""
        return 1.0 if self.form.positive_is_second else -1.0

    @cached_property
    def reference_log_odds(self) -> float:
        """The positive class's log-odds at the reference point."""
        reference = self.form.reference
        decision = self.form.intercept + sum(w * reference.numeric[n] for n, w in self.form.numeric.items())
        for name, (levels, weights) in self.form.categorical.items():
            decision += weights[levels.index(reference.categorical[name])]
        return self.sign * decision

    @cached_property
    def _level_deltas(self) -> dict[str, np.ndarray]:
        """Per categorical input, each level's contribution: its weight minus the reference level's."""
        reference = self.form.reference.categorical
        return {
            name: self.sign * (weights - weights[levels.index(reference[name])])
            for name, (levels, weights) in self.form.categorical.items()
        }

    def input_arrays(self, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
        """A frame's inputs (as ``build_features`` builds them): numbers as float64, categories as codes."""
        arrays = {name: inputs[name].to_numpy(dtype="float64") for name in self.form.numeric}
        arrays.update({name: inputs[name].cat.codes.to_numpy() for name in self.form.categorical})
        return arrays

    def contributions(self, inputs: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """rows x ``self.inputs``: each input's contribution (``inputs``: a frame, or its ``input_arrays``)."""
        arrays = self.input_arrays(inputs) if isinstance(inputs, pd.DataFrame) else inputs
        result = np.empty((len(next(iter(arrays.values()))), len(self.inputs)), dtype="float64")
        reference = self.form.reference.numeric
        for column, (name, weight) in enumerate(self.form.numeric.items()):
            result[:, column] = self.sign * weight * (arrays[name] - reference[name])
        for column, name in enumerate(self.form.categorical, start=len(self.form.numeric)):
            result[:, column] = self._level_deltas[name][arrays[name]]
        return result

    def at_reference(self, inputs: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
        """``inputs`` with each row's input ``names[row]`` moved to its reference value (the others as they are)."""
        moved = inputs.copy()
        reference = self.form.reference
        for name in set(names.tolist()):
            rows = names == name
            if name in reference.numeric:
                moved.loc[rows, name] = reference.numeric[name]
            else:
                moved.loc[rows, name] = reference.categorical[name]
        return moved


@dataclass(frozen=True)
class ReasonCoder:
    """Turns a batch's contributions into its reason columns, as the use case declares them."""

    reasons: Reasons
    explainer: LinearContributions
    name_inputs: bool = False

    @cached_property
    def _texts(self) -> pa.Array:
        """Code 0 blank, code i+1 the text of input i, the last code ``only_never_text``."""
        words = [self.reasons.texts.get(name, BLANK) for name in self.explainer.inputs]
        return pa.array([BLANK, *words, self.reasons.only_never_text], pa.string())

    @cached_property
    def _input_names(self) -> pa.Array:
        names = [self.reasons.contract_columns_of(name) for name in self.explainer.inputs]
        return pa.array([BLANK, *names, BLANK], pa.string())

    @cached_property
    def _never(self) -> np.ndarray:
        return np.isin(self.explainer.inputs, self.reasons.never_reasons)

    def code(self, inputs: pd.DataFrame, predicted: np.ndarray) -> tuple[list[pa.Array], int]:
        """The reason columns for a batch (``predicted``: its predicted labels), and how many rows got
        ``only_never_text`` (predicted positive, every positive contribution from a ``never_reasons`` input).
        The columns are dictionary arrays into the texts: no text is copied per row.

        ``CODE_ROWS`` rows at a time: the contribution matrices (a float and a flag per row and input,
        several copies) are the scoring step's largest transient; each row is coded on its own.
        """
        arrays = self.explainer.input_arrays(inputs)
        parts = [
            self._codes(
                {name: values[start : start + CODE_ROWS] for name, values in arrays.items()},
                predicted[start : start + CODE_ROWS],
            )
            for start in range(0, len(inputs), CODE_ROWS)
        ]
        codes = np.concatenate([part for part, _ in parts], axis=1) if parts else self._codes(arrays, predicted)[0]
        indices = [pa.array(slot) for slot in codes]
        columns = [pa.DictionaryArray.from_arrays(each, self._texts) for each in indices]
        if self.name_inputs:
            columns += [pa.DictionaryArray.from_arrays(each, self._input_names) for each in indices]
        return columns, sum(count for _, count in parts)

    def _codes(self, inputs: Mapping[str, np.ndarray], predicted: np.ndarray) -> tuple[np.ndarray, int]:
        """max_reasons x rows: each row's reason codes (0 blank, i + 1 input i, the last ``only_never_text``)."""
        contributions = self.explainer.contributions(inputs)
        positive = contributions > 0.0
        candidates = np.where(positive & ~self._never, contributions, -np.inf)
        rows = np.arange(len(candidates))
        codes = np.zeros((self.reasons.max_reasons, len(candidates)), dtype=np.int32)
        for slot in codes:
            best = candidates.argmax(axis=1)
            slot[:] = np.where(np.isfinite(candidates[rows, best]), best + 1, 0)
            candidates[rows, best] = -np.inf
        only_never = (predicted == 1) & (codes[0] == 0) & positive[:, self._never].any(axis=1)
        codes[0][only_never] = len(self._texts) - 1
        return codes, int(only_never.sum())


def reason_coder(use_case: UseCase, model: ModelArtifact, name_inputs: bool | None = None) -> ReasonCoder | None:
    """What writes the use case's reason columns with this model; None when the use case declares none.

    ``name_inputs`` None: the use case's own setting. Raises ``ReasonsUnavailable`` (a model
    problem) when the model has no exact explainer.
    """
    reasons = use_case.reasons
    if reasons is None:
        return None
    linear = model.serving.linear if model.serving is not None else None
    if linear is None:
        kind = model.serving.kind if model.serving is not None else "pipeline"
        raise ReasonsUnavailable(
            f"use case {use_case.name} declares reason codes, but its model {model.version} is served as {kind!r} "
            f"({model.card.get('model', {}).get('kind', 'a Pipeline')}), which has no exact explainer here: reason "
            f"codes need a model with a linear serving form (a logistic regression exported by training). Serve "
            f"such a model, or remove `reasons` from the use case; no approximate reasons are written"
        )
    if linear.reference is None:
        raise ReasonsUnavailable(
            f"use case {use_case.name} declares reason codes, but the serving form of {model.version} has no "
            f"reason reference (it was written before reason codes); retrain it (`dvc repro`)"
        )
    return ReasonCoder(
        reasons, LinearContributions(linear), reasons.name_inputs if name_inputs is None else name_inputs
    )


def require_explainer(use_case: UseCase, model: ModelArtifact) -> None:
    """Refuse, when the model is loaded, a model that cannot explain the reason codes its use case declares."""
    reason_coder(use_case, model)
