"""What a scoring use case is: one declaration per table, everything the generic code needs to know.

A use case names its table's input contract (a pandera ``DataFrameModel``), its optional id and
label columns, the training-aligned features, the scored file's leading columns and where its
model comes from. The generic code (CSV reading, validation, features, scoring, manifest, the
Dagster wiring) takes a ``UseCase`` and names no column of any table. Each use case lives in its
own package under ``scoring_assets/use_cases/`` and exposes it as ``USE_CASE``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

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
    """

    numeric: tuple[str, ...]
    categorical: Mapping[str, tuple[str, ...]]  # name -> its fixed levels, usually the contract's value set
    build: Callable[[pd.DataFrame], pd.DataFrame]

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
    # Days a scored file stays a partition in Dagster before the prune schedule removes it (core.retention);
    # None: keep everything. Its scored file, manifest and lake records stay either way.
    retain_days: int | None = None

    def __post_init__(self) -> None:
        if self.retain_days is not None and self.retain_days < 1:
            raise ValueError(f"retain_days must be at least 1 (or None: keep everything), got {self.retain_days}")

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
