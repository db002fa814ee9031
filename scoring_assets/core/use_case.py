"""What a scoring use case is: one declaration per table, everything the generic code needs to know.

A use case names its table's input contract (a pandera ``DataFrameModel``), its optional id and
label columns, the training-aligned features, the scored file's leading columns and where its
model comes from. The generic code (CSV reading, validation, features, scoring, manifest, the
Dagster wiring) takes a ``UseCase`` and names no column of any table. Each use case lives in its
own package under ``scoring_assets/use_cases/`` and exposes it as ``USE_CASE``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from scoring_assets.core.row_number import ROW_NUMBER

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"  # a use case name is an asset key prefix, a folder and a CLI word


def value_sets(schema: pa.DataFrameSchema) -> dict[str, tuple]:
    """The allowed values of every column a contract restricts with ``isin``, in column order.

    The one reading of a contract's value sets: use cases take their category levels from it.
    """
    return {
        name: tuple(check.statistics["allowed_values"])
        for name, column in schema.columns.items()
        for check in column.checks
        if check.name == "isin"
    }


@dataclass(frozen=True)
class Label:
    """The label column of a labelled extract and which of its values is the positive class."""

    column: str
    positive: str
    negative: str


@dataclass(frozen=True)
class FeatureSet:
    """The model inputs: names in order, and the one function that derives them from accepted rows.

    ``build(accepted)`` gets the rows that passed the contract (typed as the contract says, index =
    row numbers) and returns a frame with every ``numeric`` column (float64) and every
    ``categorical`` column (text, or a categorical with the declared levels), same index and order.
    Training and scoring both call it through ``core.features.build_features``, which fixes the
    category levels, so training and serving cannot drift apart.

    ``build_arrow``, when given, is the same ``build`` in Arrow compute, for scoring only: it gets
    a validated batch's columns as Arrow arrays (categories as dictionaries, missing values as
    nulls) and returns every feature column, so scoring needs no pandas frame
    (``core.features.arrow_feature_arrays``). ``tests/test_features.py`` holds its output equal,
    value for value, to ``build``'s on the real extracts and on generated rows.
    """

    numeric: tuple[str, ...]
    categorical: Mapping[str, tuple[str, ...]]  # name -> its fixed levels, usually the contract's value set
    build: Callable[[pd.DataFrame], pd.DataFrame]
    build_arrow: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


@dataclass(frozen=True)
class DriftThresholds:
    """PSI levels at which a scored file's drift from the training reference is ``warn`` and ``alert``.

    The defaults (0.1 / 0.25) are rules of thumb from credit scoring, not laws: PSI grows with
    the number of bins and shrinks with smoothing, so a use case may set its own, and
    ``per_feature`` sets them for one model input (``"score"``: for the score). A level is reached
    when the PSI is at or above it. Drift is measured by ``scoring_assets.core.drift``.
    """

    warn: float = 0.1
    alert: float = 0.25
    per_feature: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, (warn, alert) in {"": (self.warn, self.alert), **self.per_feature}.items():
            if not 0.0 <= warn <= alert:
                where = f" for {name!r}" if name else ""
                raise ValueError(f"drift thresholds{where} need 0 <= warn <= alert, got warn {warn}, alert {alert}")

    def for_feature(self, name: str) -> tuple[float, float]:
        """(warn, alert) for a model input, or for the score when ``name`` is ``"score"``."""
        warn, alert = self.per_feature.get(name, (self.warn, self.alert))
        return float(warn), float(alert)


@dataclass(frozen=True)
class ModelSource:
    """Where the model and its card are, relative to a DVC project root.

    Trained here: both are outputs of the use case's DVC stages, verified against ``dvc.lock``.
    Brought in: both are added with ``dvc add`` (a ``<file>.dvc`` beside each), verified against
    those. ``root`` None means the deployment's DVC project (the ``ModelStore`` resource's root).
    ``profile_path``: the reference profile training wrote beside the model (what the training data
    and held-out scores looked like, for drift checks), verified like the model; None: no drift
    measurement (e.g. a model brought in without one).
    """

    model_path: str
    card_path: str
    metrics_path: str | None = None
    root: Path | None = None
    profile_path: str | None = None


@dataclass(frozen=True)
class Segment:
    """The groups the adverse-impact criterion compares: a column's values, or below / at or above ``cut``."""

    column: str
    cut: float | None = None

    def groups(self, rows: pd.DataFrame) -> pd.Series:
        """Each row's group name, e.g. ``age < 25`` / ``age >= 25``, or ``SeniorCitizen = 1``."""
        values = rows[self.column]
        if self.cut is None:
            return values.astype(str).radd(f"{self.column} = ")
        below = pd.to_numeric(values, errors="coerce") < self.cut
        return below.map({True: f"{self.column} < {self.cut:g}", False: f"{self.column} >= {self.cut:g}"})


@dataclass(frozen=True)
class PromotionPolicy:
    """What a challenger must show before it may replace the champion (``core.promotion_gate``).

    AUC gain on the latest labelled production rows (the last ``holdout_rows``, which no model
    trained on), AUC and Brier losses on the champion's held-out test split, the share of
    decisions that would flip on the last ``flip_files`` scored files, and the four-fifths
    adverse-impact rule across ``segment``. ``auto_promote``: the train job promotes a challenger
    the gate passed (whoever started it: the CLI, the UI or a retraining trigger).
    ``retrain_after_alerts``: how many consecutive scored files at drift level ``alert`` (inputs or
    score) make the ``<use case>__retrain_on_drift`` sensor train a challenger on production rows;
    it asks once per such run of files, and a file below ``alert`` starts the count again.
    """

    min_auc_gain: float = 0.0
    max_test_auc_loss: float = 0.01
    max_brier_loss: float = 0.005
    max_flip_share: float = 0.2
    flip_files: int = 5
    holdout_rows: int = 500
    segment: Segment | None = None
    auto_promote: bool = False
    retrain_after_alerts: int = 3

    def __post_init__(self) -> None:
        if self.retrain_after_alerts < 1:
            raise ValueError(f"retrain_after_alerts must be at least 1, got {self.retrain_after_alerts}")


@dataclass(frozen=True)
class Reasons:
    """The reason codes a use case writes beside every score: why the model scored a row up, in plain words.

    ``texts``: per model input (not per one-hot column), the words given when that input pushes
    the score up, phrased for any value that does so (the model's sign decides which values do).
    A row's reasons are the texts of its inputs with the largest positive contributions to the
    model's decision function, measured from a reference point frozen at training
    (``core.reason_codes``), at most ``max_reasons`` of them, largest first. ``never_reasons``:
    inputs never given as a reason (e.g. a prohibited basis under US Regulation B); the next
    input is taken instead, and a declined row whose only positive contributions come from them
    gets ``only_never_text``. Leaving an input out of the reasons does not take it out of the
    model: whether the model may use it at all is a question reasons cannot answer.
    ``derived_from``: for an engineered input, the contract columns it is built from (what the
    ``reason_N_input`` columns name). ``typical_reference``: inputs measured from the training mean
    (numeric) or most common level (categorical) instead of their most favourable value seen in
    training. ``name_inputs``: write the ``reason_N_input`` columns unless a run says otherwise.
    """

    texts: Mapping[str, str]
    max_reasons: int = 4
    never_reasons: tuple[str, ...] = ()
    derived_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    only_never_text: str = "No reason can be given from the inputs allowed as reasons"
    typical_reference: tuple[str, ...] = ()
    name_inputs: bool = False

    def __post_init__(self) -> None:
        if self.max_reasons < 1:
            raise ValueError(f"max_reasons must be at least 1, got {self.max_reasons}")
        words = [*self.texts.values(), self.only_never_text]
        if not all(isinstance(text, str) and text.strip() for text in words):
            raise ValueError("every reason text (and only_never_text) must be non-empty words")
        repeated = sorted({text for text in words if words.count(text) > 1})
        if repeated:  # a text names exactly one input, so a reason can be traced back to it
            raise ValueError(f"reason texts must differ from each other: {repeated} repeated")
        both = sorted(set(self.texts) & set(self.never_reasons))
        if both:
            raise ValueError(f"{both} have a reason text but are in never_reasons")

    @property
    def version(self) -> str:
        """The dictionary's version: a hash of what decides the reason columns (texts, maximum, exclusions)."""
        declared = {
            "texts": dict(self.texts),
            "max_reasons": self.max_reasons,
            "never_reasons": list(self.never_reasons),
            "only_never_text": self.only_never_text,
        }
        return hashlib.sha256(json.dumps(declared, sort_keys=True).encode("utf-8")).hexdigest()[:16]

    def problems(self, inputs: list[str], contract_columns: list[str]) -> list[str]:
        """What keeps this declaration from fitting a use case with these model inputs and contract columns."""
        named = {*self.texts, *self.never_reasons, *self.derived_from, *self.typical_reference}
        problems = [f"{name!r} is not a model input" for name in sorted(named - set(inputs))]
        problems += [
            f"model input {name!r} has no reason text (nor is it in never_reasons)"
            for name in inputs
            if name not in self.texts and name not in self.never_reasons
        ]
        for name, columns in self.derived_from.items():
            problems += [
                f"{name!r} derives from {column!r}, not a contract column"
                for column in columns
                if column not in contract_columns
            ]
        problems += [
            f"engineered input {name!r} needs derived_from (the contract columns it is built from)"
            for name in self.texts
            if name not in contract_columns and name not in self.derived_from
        ]
        return problems

    def contract_columns_of(self, name: str) -> str:
        """What a ``reason_N_input`` cell says for input ``name``: its contract columns, comma-separated."""
        return ",".join(self.derived_from.get(name, (name,)))


@dataclass(frozen=True)
class UseCase:
    """One scoring use case, declared once."""

    name: str
    title: str  # one line for people: what is scored, and what the score means
    contract: type[pa.DataFrameModel]
    features: FeatureSet
    model: ModelSource
    score_column: str  # e.g. churn_score: the probability of the label's positive class
    id_column: str | None = None  # unique within a file; None: rows are identified by their row number
    scored_id_column: str = ROW_NUMBER  # the scored file's first column (the id's name there)
    label: Label | None = None
    # Cross-field rules of the contract (its @dataframe_check names) -> the columns each reads, so a
    # broken row is reported once with the values that contradict each other.
    cross_field_rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Columns whose blank is allowed, and when (for the generated docs).
    blank_allowed: Mapping[str, str] = field(default_factory=dict)
    # Input columns carried into the scored file after its fixed columns, unless a run names others.
    passthrough: tuple[str, ...] = ()
    # PSI levels for the drift of each scored file from the training reference (rules of thumb by default).
    drift_thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    # Share of an outcomes file's rows (invalid label, duplicate id...) above which the file is refused.
    max_reject_fraction: float = 0.05
    # What a challenger model must show to be promoted (core.promotion_gate).
    promotion: PromotionPolicy = field(default_factory=PromotionPolicy)
    # Reason codes beside every score (None: the scored file has no reason columns).
    reasons: Reasons | None = None
    # Days a scored file stays a partition in Dagster before the prune schedule removes it (core.retention);
    # None: keep everything. Its scored file, manifest and lake records stay either way.
    retain_days: int | None = None

    def __post_init__(self) -> None:
        if self.retain_days is not None and self.retain_days < 1:
            raise ValueError(f"retain_days must be at least 1 (or None: keep everything), got {self.retain_days}")
        problems = self.reasons.problems(self.features.columns, self.contract_columns) if self.reasons else []
        if problems:
            raise ValueError(f"use case {self.name}: its reasons do not fit its model inputs: {'; '.join(problems)}")

    @cached_property
    def schema(self) -> pa.DataFrameSchema:
        return self.contract.to_schema()

    @cached_property
    def contract_columns(self) -> list[str]:
        return list(self.schema.columns)

    @cached_property
    def integer_columns(self) -> list[str]:
        return [n for n, c in self.schema.columns.items() if str(c.dtype) == "Int64"]

    @cached_property
    def float_columns(self) -> list[str]:
        return [n for n, c in self.schema.columns.items() if str(c.dtype) == "float64"]

    @cached_property
    def value_sets(self) -> dict[str, list]:
        """Allowed values of every column the contract restricts with ``isin``."""
        return {name: list(values) for name, values in value_sets(self.schema).items()}

    @property
    def label_column(self) -> str | None:
        return self.label.column if self.label else None

    @property
    def model_name(self) -> str:
        return f"{self.name}_model"

    def model_version(self, md5: str) -> str:
        """The version written on every scored row: names the use case and the exact artifact."""
        return f"{self.model_name}-{md5[:12]}"

    @property
    def takes_outcomes(self) -> bool:
        """Whether outcomes can arrive apart from the scored file: rows need an id to be found again, and a label."""
        return self.id_column is not None and self.label is not None

    def missing_columns(self, header: list[str]) -> list[str]:
        """The contract columns a file with this header lacks (names compared stripped of surrounding spaces)."""
        names = {name.strip() for name in header}
        return [column for column in self.contract_columns if column not in names]

    def matches_header(self, header: list[str]) -> bool:
        """Whether a file with this header (names stripped of surrounding spaces) has every contract column."""
        return not self.missing_columns(header)
