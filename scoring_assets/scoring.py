"""Stage 3 and 4: accepted rows -> feature matrix -> scores -> the scored CSV handoff.

Each stage streams Parquet record batches, so memory does not grow with the file. The
feature matrix keeps ``row_number`` and ``customerID`` beside the model inputs (and the
``Churn`` label when the file had one, for back-testing); none of those reach the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from scoring_assets.contract import LABEL_COLUMN
from scoring_assets.csv_safety import SpreadsheetSafeCsvWriter
from scoring_assets.features import (
    CATEGORICAL_FEATURES,
    CATEGORY_CODE_DTYPE,
    CATEGORY_LEVELS,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    build_features,
)
from scoring_assets.files import atomic_path, file_sha256
from scoring_assets.ingest import read_accepted_frame
from scoring_assets.input_csv import BATCH_ROWS, PARQUET_COMPRESSION, ROW_NUMBER, batch_to_frame, lake_reader
from scoring_assets.model_store import LoadedModel

SCORE_COLUMNS = ["customer_id", "churn_score", "predicted_label", "model_version", "scoring_timestamp", ROW_NUMBER]
SCORES_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("churn_score", pa.float64(), nullable=False),
        pa.field("predicted_label", pa.int8(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("scoring_timestamp", pa.string(), nullable=False),
        pa.field(ROW_NUMBER, pa.int64(), nullable=False),
    ]
)
HISTOGRAM_BINS = 10_000


def feature_schema(has_label: bool) -> pa.Schema:
    """Arrow schema of the feature matrix file: keys, model inputs, optional label."""
    fields = [pa.field(ROW_NUMBER, pa.int64(), nullable=False), pa.field("customerID", pa.string(), nullable=False)]
    fields += [pa.field(name, pa.float64()) for name in NUMERIC_FEATURES]
    fields += [pa.field(name, pa.int8()) for name in CATEGORICAL_FEATURES]  # codes into CATEGORY_LEVELS
    if has_label:
        fields.append(pa.field(LABEL_COLUMN, pa.string()))
    return pa.schema(fields)


def write_feature_parquet(accepted_path: Path, features_path: Path) -> int:
    """Build the feature matrix for every accepted row, in input order; returns the row count."""
    source = lake_reader(accepted_path)
    has_label = LABEL_COLUMN in source.schema_arrow.names
    schema = feature_schema(has_label)
    rows = 0
    with (
        atomic_path(features_path) as temporary,
        pq.ParquetWriter(temporary, schema, compression=PARQUET_COMPRESSION) as writer,
    ):
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            accepted = read_accepted_frame(batch)
            features = build_features(accepted)
            for name in CATEGORICAL_FEATURES:
                features[name] = features[name].cat.codes.astype(CATEGORY_CODE_DTYPE)
            features.insert(0, "customerID", accepted["customerID"])
            if has_label:
                features[LABEL_COLUMN] = accepted[LABEL_COLUMN]
            table = pa.Table.from_pandas(features.reset_index(), schema=schema, preserve_index=False)
            writer.write_table(table)
            rows += len(features)
    return rows


def read_feature_frame(batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch of the feature matrix file with the exact dtypes ``build_features`` produces."""
    frame = batch_to_frame(batch)
    for name in CATEGORICAL_FEATURES:
        codes = frame[name].to_numpy(CATEGORY_CODE_DTYPE)
        frame[name] = pd.Categorical.from_codes(codes, categories=CATEGORY_LEVELS[name])
    return frame


@dataclass
class ScoreSummary:
    """What scoring a file produced, for metadata, the manifest and the checks.

    Memory stays flat for any file size: the distribution comes from running sums and a
    histogram of 10,000 bins (quantiles to within 0.0001); only a file with ``Churn`` labels
    keeps its scores, for the exact backtest.
    """

    threshold: float = 0.5
    rows: int = 0
    total: float = 0.0
    at_or_above_threshold: int = 0
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS, dtype=np.int64), repr=False)
    labelled_scores: list[np.ndarray] = field(default_factory=list, repr=False)
    labels: list[np.ndarray] = field(default_factory=list, repr=False)

    def add(self, scores: np.ndarray, labels: np.ndarray | None) -> None:
        self.rows += len(scores)
        self.total += float(scores.sum())
        self.at_or_above_threshold += int((scores >= self.threshold).sum())
        bins = np.clip((scores * HISTOGRAM_BINS).astype(np.int64), 0, HISTOGRAM_BINS - 1)
        self.histogram += np.bincount(bins, minlength=HISTOGRAM_BINS)
        if labels is not None:
            self.labelled_scores.append(scores)
            self.labels.append(labels)

    def distribution(self) -> dict[str, float]:
        if not self.rows:
            return {}
        cumulative = np.cumsum(self.histogram)

        def quantile(q: float) -> float:
            return float((np.searchsorted(cumulative, q * self.rows) + 0.5) / HISTOGRAM_BINS)

        return {
            "mean": self.total / self.rows,
            "p05": quantile(0.05),
            "p25": quantile(0.25),
            "median": quantile(0.5),
            "p75": quantile(0.75),
            "p95": quantile(0.95),
            "share_at_or_above_threshold": self.at_or_above_threshold / self.rows,
        }

    def backtest(self) -> dict[str, float] | None:
        """Model quality on the file's own ``Churn`` labels, when it has usable ones."""
        if not self.labels:
            return None
        labels = np.concatenate(self.labels)
        scores = np.concatenate(self.labelled_scores)
        known = labels >= 0
        if known.sum() == 0 or len(np.unique(labels[known])) < 2:
            return None
        predicted = (scores[known] >= self.threshold).astype(int)
        return {
            "rows_with_label": int(known.sum()),
            "roc_auc": float(roc_auc_score(labels[known], scores[known])),
            "precision": float(precision_score(labels[known], predicted, zero_division=0)),
            "recall": float(recall_score(labels[known], predicted, zero_division=0)),
            "observed_churn_rate": float(labels[known].mean()),
        }


def positive_class_index(model: LoadedModel) -> int:
    classes = list(model.pipeline.classes_)
    for positive in (1, True, "Yes"):
        if positive in classes:
            return classes.index(positive)
    raise ValueError(f"the model's classes {classes} have no positive (churn) class")


def score_feature_parquet(
    features_path: Path, model: LoadedModel, threshold: float, scoring_timestamp: str, scores_path: Path
) -> ScoreSummary:
    """Score every row of the feature matrix with ``predict_proba``, in input order."""
    source = lake_reader(features_path)
    has_label = LABEL_COLUMN in source.schema_arrow.names
    positive = positive_class_index(model)
    summary = ScoreSummary(threshold=threshold)
    with (
        atomic_path(scores_path) as temporary,
        pq.ParquetWriter(temporary, SCORES_SCHEMA, compression=PARQUET_COMPRESSION) as writer,
    ):
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            frame = read_feature_frame(batch)
            churn_score = model.pipeline.predict_proba(frame[FEATURE_COLUMNS])[:, positive].astype("float64")
            count = len(frame)
            table = pa.Table.from_arrays(
                [
                    pa.array(frame["customerID"].to_numpy(dtype=object), pa.string()),
                    pa.array(churn_score, pa.float64()),
                    pa.array((churn_score >= threshold).astype("int8"), pa.int8()),
                    pa.array(np.full(count, model.version, dtype=object), pa.string()),
                    pa.array(np.full(count, scoring_timestamp, dtype=object), pa.string()),
                    pa.array(frame.index.to_numpy(dtype="int64"), pa.int64()),
                ],
                schema=SCORES_SCHEMA,
            )
            writer.write_table(table)
            summary.add(churn_score, _label_codes(frame[LABEL_COLUMN]) if has_label else None)
    return summary


def _label_codes(labels: pd.Series) -> np.ndarray:
    """1 for churned, 0 for stayed, -1 where the label is blank or unrecognised."""
    normalised = labels.astype("str").str.strip().str.lower()
    codes = np.full(len(labels), -1, dtype="int8")
    codes[normalised.isin(["yes", "1", "true"]).to_numpy()] = 1
    codes[normalised.isin(["no", "0", "false"]).to_numpy()] = 0
    return codes


def write_scored_csv(scores_path: Path, output_path: Path) -> tuple[str, int]:
    """Publish the staged scores as the handoff CSV, atomically.

    Returns the sha256 of what was written and how many cells were neutralised.

    Ids that a spreadsheet would read as a formula are written neutralised (``csv_safety``), so
    the hash the manifest records is the hash of the file as people receive it.
    """
    source = lake_reader(scores_path)
    with atomic_path(output_path) as temporary:
        with SpreadsheetSafeCsvWriter(temporary, SCORES_SCHEMA) as writer:
            for batch in source.iter_batches(batch_size=BATCH_ROWS):
                writer.write(batch)
        sha256 = file_sha256(temporary)
    return sha256, writer.cells_neutralised
