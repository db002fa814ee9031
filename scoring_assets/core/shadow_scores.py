"""Shadow scoring: while a challenger exists, every file the use case scores is also scored by it, for comparison only.

Right after the champion's scores are published, the run scores the same feature matrix with the
challenger (``challenger.dvc``, verified like the served model) and keeps what it finds in the lake:
``lake/<use case>/shadow_scores/<key>.parquet`` (row number, both scores, both predicted labels) and
``<key>.json`` (``ShadowSummary``). Nothing of it reaches ``scored/``, the manifest or the handed-off
file. Per file: the share of rows whose decision would flip, the score PSI champion -> challenger
(``core.drift.score_shift_psi``, the model change report's figure) and each model's share at or
above its threshold. The promotion gate's flip criterion reads these summaries
(``shadow_summaries``) instead of re-scoring the latest files when they are there.

The champion's side is what was handed off: its scores and predicted labels as the ``scores``
lake file holds them (at the run's threshold). The challenger decides at its own card threshold,
as the gate judges it. Memory stays flat: both files are read ``BATCH_ROWS`` rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scoring_assets.core.drift import DIGITS, SCORE_BANDS, score_band_counts, score_shift_psi
from scoring_assets.core.files import atomic_path
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.lake import BATCH_ROWS, LakeWriter, lake_reader
from scoring_assets.core.model_store import LoadedModel
from scoring_assets.core.outcome_join import scored_partitions_by_time
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.scoring import positive_scorer, read_feature_frame
from scoring_assets.core.use_case import UseCase

SHADOW_SCORES = "shadow_scores"  # the lake folder of the shadow files (the asset's name)
SHADOW_SCHEMA = pa.schema(
    [
        pa.field(ROW_NUMBER, pa.int64(), nullable=False),
        pa.field("champion_score", pa.float64(), nullable=False),
        pa.field("challenger_score", pa.float64(), nullable=False),
        pa.field("champion_predicted_label", pa.int8(), nullable=False),
        pa.field("challenger_predicted_label", pa.int8(), nullable=False),
    ]
)


@dataclass
class ShadowFigures:
    """Running counts over a file's batches: rows, flipped decisions, positives and score bands of each model."""

    rows: int = 0
    flipped_rows: int = 0
    champion_positive: int = 0
    challenger_positive: int = 0
    champion_bands: np.ndarray = field(default_factory=lambda: np.zeros(len(SCORE_BANDS) - 1, np.int64))
    challenger_bands: np.ndarray = field(default_factory=lambda: np.zeros(len(SCORE_BANDS) - 1, np.int64))

    def add(self, champion_scores, challenger_scores, champion_predicted, challenger_predicted) -> None:
        champion_predicted = np.asarray(champion_predicted, dtype=np.int64)
        challenger_predicted = np.asarray(challenger_predicted, dtype=np.int64)
        self.rows += len(champion_predicted)
        self.flipped_rows += int(np.count_nonzero(champion_predicted != challenger_predicted))
        self.champion_positive += int(champion_predicted.sum())
        self.challenger_positive += int(challenger_predicted.sum())
        self.champion_bands += score_band_counts(champion_scores)
        self.challenger_bands += score_band_counts(challenger_scores)

    def _share(self, count: int) -> float:
        return round(count / self.rows, DIGITS) if self.rows else 0.0

    def as_record(self) -> dict[str, Any]:
        """The figures a person reads: shares of all rows (0 for a file with no rows) and the score PSI."""
        return {
            "rows": self.rows,
            "flipped_rows": self.flipped_rows,
            "flip_share": self._share(self.flipped_rows),
            "score_psi": round(score_shift_psi(self.champion_bands, self.challenger_bands), DIGITS),
            "share_above_threshold_champion": self._share(self.champion_positive),
            "share_above_threshold_challenger": self._share(self.challenger_positive),
        }


@dataclass(frozen=True)
class ShadowSummary:
    """One file's shadow scoring: which two models, on which scores run, and what would change.

    ``as_record`` is the stage summary's JSON (``<key>.json``) and the materialization's figures.
    """

    partition_key: str
    challenger_md5: str
    challenger_version: str
    champion_md5: str
    champion_version: str
    threshold_champion: float  # the run's, as handed off
    threshold_challenger: float  # the challenger's card's
    scores_run_id: str  # the run whose published scores were shadowed
    lake_path: str
    rows: int
    flipped_rows: int
    flip_share: float
    score_psi: float
    share_above_threshold_champion: float
    share_above_threshold_challenger: float

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ShadowSummary:
        return cls(**{each.name: record[each.name] for each in fields(cls)})


def shadow_score_file(use_case: UseCase, own: UseCaseFolders, partition_key: str, challenger: LoadedModel):
    """Score the partition's feature matrix with ``challenger`` beside its published scores; returns the summary.

    Writes the shadow Parquet file and its summary, each atomically; reads nothing the champion's
    run needs and writes nothing outside ``lake/<use case>/shadow_scores/``.
    """
    scored = own.read_stage_summary("scores", partition_key)
    lake_path = own.lake_file(SHADOW_SCORES, partition_key)
    figures = _write_shadow_parquet(use_case, own, partition_key, challenger, lake_path)
    summary = ShadowSummary(
        partition_key=partition_key,
        challenger_md5=challenger.md5,
        challenger_version=challenger.version,
        champion_md5=scored["model"]["md5"],
        champion_version=scored["model"]["version"],
        threshold_champion=float(scored["threshold"]),
        threshold_challenger=float(challenger.threshold),
        scores_run_id=scored["run_id"],
        lake_path=str(lake_path),
        **figures.as_record(),
    )
    own.write_stage_summary(SHADOW_SCORES, partition_key, summary.as_record())
    return summary


def _write_shadow_parquet(
    use_case: UseCase, own: UseCaseFolders, partition_key: str, challenger: LoadedModel, lake_path: Path
) -> ShadowFigures:
    challenger_scorer = positive_scorer(challenger)
    scored_columns = [ROW_NUMBER, use_case.score_column, "predicted_label"]
    features = _even_tables(lake_reader(own.lake_file("feature_matrix", partition_key)), BATCH_ROWS)
    scores = _even_tables(lake_reader(own.lake_file("scores", partition_key)), BATCH_ROWS, scored_columns)
    figures = ShadowFigures()
    with atomic_path(lake_path) as temporary, LakeWriter(temporary, SHADOW_SCHEMA) as writer:
        for feature_table, scores_table in zip(features, scores, strict=True):
            frame = read_feature_frame(use_case, feature_table)
            row_numbers = scores_table[ROW_NUMBER].to_numpy()
            if not np.array_equal(frame.index.to_numpy(dtype=np.int64), row_numbers):
                raise ValueError(
                    f"the scores and feature matrix of partition {partition_key} hold other rows: re-score the file"
                )
            champion_scores = scores_table[use_case.score_column].to_numpy()
            champion_predicted = scores_table["predicted_label"].to_numpy()
            challenger_scores = challenger_scorer(frame[use_case.features.columns])
            challenger_predicted = (challenger_scores >= challenger.threshold).astype(np.int8)
            arrays = [row_numbers, champion_scores, challenger_scores, champion_predicted, challenger_predicted]
            writer.write(pa.Table.from_arrays(arrays, schema=SHADOW_SCHEMA))
            figures.add(champion_scores, challenger_scores, champion_predicted, challenger_predicted)
    return figures


def _even_tables(source: pq.ParquetFile, rows: int, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The file's rows in tables of exactly ``rows`` rows (the last may be shorter).

    Two lake files of the same rows line up table by table however their row groups were cut.
    """
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in source.iter_batches(batch_size=rows, columns=columns):
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


def shadow_summaries(
    own: UseCaseFolders, challenger_md5: str, champion_md5: str, champion_threshold: float, files: int
) -> list[ShadowSummary]:
    """The last ``files`` scored files' shadow summaries of this challenger against this champion, oldest first.

    Only files the champion decided at ``champion_threshold`` (its card's) count, so the flips are
    the ones promoting the challenger would bring; a file shadow-scored by another challenger, or
    against another champion, does not.
    """
    found: list[ShadowSummary] = []
    for key in reversed(scored_partitions_by_time(own)):  # the latest first: stop once there are enough
        if len(found) >= files:
            break
        if not own.lake_file(SHADOW_SCORES, key, ".json").exists():
            continue
        summary = ShadowSummary.from_record(own.read_stage_summary(SHADOW_SCORES, key))
        same_models = (summary.challenger_md5, summary.champion_md5) == (challenger_md5, champion_md5)
        if same_models and summary.threshold_champion == champion_threshold:
            found.append(summary)
    return found[::-1]


def pooled_flip_share(summaries: list[ShadowSummary]) -> float | None:
    """Flipped rows over all rows of these files (each row counts once, as when their rows are re-scored)."""
    rows = sum(summary.rows for summary in summaries)
    return sum(summary.flipped_rows for summary in summaries) / rows if rows else None
