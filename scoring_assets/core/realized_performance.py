"""How each scored file really did, once outcomes came back, beside what was expected when it was scored.

Every registered outcomes file's joined rows stay in the lake (``lake/<use case>/outcomes/joined/<key>.parquet``,
``outcome_join``), so realized performance is recomputed from all of them whenever a file is
added, and later steps (a training set from production) can read them. When several outcomes are
about the same scored row, the last one counts, in the order outcomes are kept: by when they were
known (``outcome_date``, else arrival), then by arrival, then by row.

Per scored file with outcomes: the rows with an outcome; realized ROC AUC (None while the outcomes
hold one class only), precision and recall at the threshold the file was scored with, the Brier
score and a calibration table by score decile (scikit-learn's metrics); beside them the precision
and recall expected from its calibrated scores when it was scored (its manifest's
``estimated_performance``, the CBPE-style estimate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scoring_assets.core.files import atomic_path
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.monitoring import scored_file_record
from scoring_assets.core.outcome_files import OUTCOME
from scoring_assets.core.outcome_join import ARRIVED_AT, KNOWN_AT, PARTITION, SCORED_AT, SCORED_ROW_NUMBER
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase

JOINED = "joined"  # lake/<use case>/outcomes/joined/<key>.parquet: one outcomes file's matched rows
DECILES = 10
REALIZED_IN_TREND = ("roc_auc", "precision", "recall")


def write_joined_rows(own: UseCaseFolders, outcomes_key: str, matched: pd.DataFrame) -> None:
    """Keep an outcomes file's matched rows in the lake (replacing what the same file left before)."""
    with atomic_path(own.outcomes.lake_file(JOINED, outcomes_key)) as temporary:
        matched.to_parquet(temporary, index=False)


def joined_files(own: UseCaseFolders) -> list[Path]:
    """The lake files of every registered outcomes file's matched rows, by key."""
    return sorted((own.root / "lake" / own.outcomes.use_case / JOINED).glob("*.parquet"))


def joined_rows_at_most(own: UseCaseFolders) -> int:
    """How many matched rows are kept, counted from the Parquet footers alone (repeated outcomes included)."""
    return sum(pq.ParquetFile(path).metadata.num_rows for path in joined_files(own))


def all_joined_rows(own: UseCaseFolders) -> pd.DataFrame:
    """The matched rows of every registered outcomes file, one per scored row (the last outcome about it)."""
    parts = [pd.read_parquet(path) for path in joined_files(own)]
    if not parts:
        return pd.DataFrame(columns=[PARTITION, SCORED_ROW_NUMBER, KNOWN_AT, ARRIVED_AT, ROW_NUMBER, OUTCOME])
    rows = pd.concat(parts, ignore_index=True).sort_values([KNOWN_AT, ARRIVED_AT, ROW_NUMBER], kind="stable")
    return rows.drop_duplicates([PARTITION, SCORED_ROW_NUMBER], keep="last").reset_index(drop=True)


def realized_metrics(outcomes: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """ROC AUC, precision and recall at ``threshold`` and the Brier score of ``scores`` against 0/1 ``outcomes``."""
    # Imported here: the code location imports this module, and scoring must not import scikit-learn.
    from sklearn.metrics import brier_score_loss, precision_score, recall_score, roc_auc_score

    predicted = scores >= threshold
    return {
        "roc_auc": float(roc_auc_score(outcomes, scores)) if len(np.unique(outcomes)) == 2 else None,
        "precision": float(precision_score(outcomes, predicted, zero_division=0)),
        "recall": float(recall_score(outcomes, predicted, zero_division=0)),
        "brier": float(brier_score_loss(outcomes, scores, labels=[0, 1])),
    }


def calibration_by_decile(outcomes: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    """Rows sorted by score cut into ten groups of (nearly) equal size: mean score against the observed rate."""
    order = np.argsort(scores, kind="stable")
    decile = np.empty(len(scores), dtype=np.int64)
    decile[order] = np.arange(len(scores)) * DECILES // max(len(scores), 1)
    table = pd.DataFrame({"decile": decile + 1, "score": scores, "outcome": outcomes}).groupby("decile")
    summary = table.agg(rows=("score", "size"), mean_score=("score", "mean"), observed_rate=("outcome", "mean"))
    return [
        {
            "decile": int(index),
            "rows": int(row.rows),
            "mean_score": float(row.mean_score),
            "observed": float(row.observed_rate),
        }
        for index, row in summary.iterrows()
    ]


@dataclass(frozen=True)
class FileRealized:
    """One scored file's realized performance beside its expected one."""

    partition: str
    scored_at: str
    rows_with_outcome: int
    threshold: float
    realized: dict[str, float | None]
    expected: dict[str, float | None]
    calibration: list[dict[str, float]] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def realized_by_file(use_case: UseCase, own: UseCaseFolders, partitions: set[str] | None = None) -> list[FileRealized]:
    """Every scored file with outcomes (or those of ``partitions``), by scoring time, from all outcomes so far."""
    rows = all_joined_rows(own)
    files = []
    for partition, joined in rows.groupby(PARTITION, sort=True):
        if partitions is not None and partition not in partitions:
            continue
        record = scored_file_record(own, str(partition)) or {}
        threshold = record.get("threshold")
        if threshold is None:
            threshold = own.read_stage_summary("scores", str(partition))["threshold"]
        outcomes = joined[OUTCOME].to_numpy(dtype=np.int64)
        scores = joined[use_case.score_column].to_numpy(dtype=np.float64)
        files.append(
            FileRealized(
                partition=str(partition),
                scored_at=str(joined[SCORED_AT].iloc[0]) if not record.get("scored_at") else record["scored_at"],
                rows_with_outcome=len(joined),
                threshold=float(threshold),
                realized=realized_metrics(outcomes, scores, float(threshold)),
                expected={"precision": record.get("expected_precision"), "recall": record.get("expected_recall")},
                calibration=calibration_by_decile(outcomes, scores),
            )
        )
    return sorted(files, key=lambda each: each.scored_at)


def with_realized(records: list[dict[str, Any]], files: list[FileRealized]) -> list[dict[str, Any]]:
    """Monitoring records (``core.monitoring``) with each file's realized ROC AUC, precision and recall (None: none)."""
    by_partition = {each.partition: each.realized for each in files}
    return [
        {
            **record,
            **{f"realized_{name}": by_partition.get(record["partition"], {}).get(name) for name in REALIZED_IN_TREND},
        }
        for record in records
    ]
