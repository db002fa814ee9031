"""The reason columns as stored, judged again: what the ``reasons_consistent`` check of ``scores`` reports.

Re-read from the scores file rather than trusted from the code that wrote it: every row
predicted positive has a first reason; every reason is a text of the use case's dictionary (or
blank); and, on a sample of rows spread over the file, moving the input named by a row's first
reason to its reference value (``core.reason_codes``) and scoring the row again with the model
lowers its score: never raises it, and never leaves it as it was (a reason is an input with a
positive contribution), unless the stored score is exactly 0 or 1 (a probability that no longer
moves in double precision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring_assets.core.arrow_contract import per_value
from scoring_assets.core.lake import BATCH_ROWS, lake_reader
from scoring_assets.core.model_store import LoadedModel
from scoring_assets.core.reason_codes import BLANK, LinearContributions, reason_columns
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.scoring import positive_scorer, read_feature_frame
from scoring_assets.core.use_case import UseCase

SAMPLE_ROWS = 200  # rows whose first reason is moved to its reference, every run


@dataclass
class ReasonsVerdict:
    """What the stored reason columns show; ``passed`` when all three properties hold."""

    rows: int = 0
    positive_without_reason: int = 0
    unknown_texts: int = 0
    rows_only_never_reasons: int = 0
    sampled: int = 0
    sample_not_lowered: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.positive_without_reason or self.unknown_texts or self.sample_not_lowered)


def judge_reasons(
    use_case: UseCase, model: LoadedModel, scores_path: Path, features_path: Path, sample_rows: int = SAMPLE_ROWS
) -> ReasonsVerdict:
    """The verdict on the reason columns of ``scores_path``, against the feature matrix they were computed from."""
    reasons = use_case.reasons
    dictionary = pa.array([BLANK, *reasons.texts.values(), reasons.only_never_text], pa.string())
    explained_texts = pa.array(list(reasons.texts.values()), pa.string())
    columns = reason_columns(reasons)
    verdict, explained, offset = ReasonsVerdict(), [], 0
    source = lake_reader(scores_path, columns)  # as dictionaries: each text is judged once (``per_value``)
    per_batch = -(-sample_rows // max(1, -(-source.metadata.num_rows // BATCH_ROWS)))  # memory: O(sample), not O(rows)
    for batch in source.iter_batches(
        batch_size=BATCH_ROWS, columns=[use_case.score_column, "predicted_label", *columns]
    ):
        first = batch.column(columns[0])
        positive = pc.equal(batch.column("predicted_label"), 1)
        verdict.rows += batch.num_rows
        blank = per_value(lambda texts: pc.equal(texts, BLANK), first)
        verdict.positive_without_reason += pc.sum(pc.and_(positive, blank)).as_py() or 0
        verdict.rows_only_never_reasons += (
            pc.sum(per_value(lambda texts: pc.equal(texts, reasons.only_never_text), first)).as_py() or 0
        )
        for name in columns:
            known = per_value(lambda texts: pc.is_in(texts, dictionary), batch.column(name))
            verdict.unknown_texts += pc.sum(pc.invert(known)).as_py() or 0
        # rows whose first reason names an input: (position in the file, stored score, index of that input's text)
        where = per_value(lambda texts: pc.index_in(texts, explained_texts), first).to_numpy(zero_copy_only=False)
        rows = _spread(np.flatnonzero(~np.isnan(where.astype("float64"))), per_batch)
        score = batch.column(use_case.score_column).to_numpy()
        explained.append((rows + offset, score[rows], where[rows].astype(int)))
        offset += batch.num_rows
    if verdict.positive_without_reason:
        verdict.examples.append(f"{verdict.positive_without_reason:,} row(s) predicted positive have no reason")
    if verdict.unknown_texts:
        verdict.examples.append(f"{verdict.unknown_texts:,} reason cell(s) are not texts of the dictionary")
    positions, stored, text_index = (np.concatenate(part) for part in zip(*explained, strict=True))
    if len(positions):
        chosen = _spread(np.arange(len(positions)), sample_rows)
        names = np.array(list(reasons.texts), dtype=object)[text_index[chosen]]
        _judge_sample(use_case, model, features_path, (positions[chosen], stored[chosen], names), verdict)
    return verdict


def _spread(rows: np.ndarray, most: int) -> np.ndarray:
    """At most ``most`` of ``rows``, evenly spread, first and last included."""
    if len(rows) <= most:
        return rows
    return rows[np.unique(np.linspace(0, len(rows) - 1, most).astype(int))]


def _judge_sample(use_case: UseCase, model: LoadedModel, features_path: Path, sample: tuple, verdict) -> None:
    """Move each sampled row's first-reason input to its reference value, score it again, count scores not lowered.

    ``sample``: the rows' positions in the file (ascending), their stored scores and first-reason inputs.
    """
    positions, stored, names = sample
    frames, offset = [], 0
    columns = [ROW_NUMBER, *use_case.features.columns]  # the row number is the frame's index
    for batch in lake_reader(features_path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
        inside = positions[(positions >= offset) & (positions < offset + batch.num_rows)] - offset
        if len(inside):
            frames.append(read_feature_frame(use_case, batch.take(pa.array(inside))))
        offset += batch.num_rows
    inputs = pd.concat(frames)
    moved = LinearContributions(model.serving.linear).at_reference(inputs.reset_index(drop=True), names)
    rescored = positive_scorer(model)(moved)
    saturated = (stored == 0.0) | (stored == 1.0)
    not_lowered = (rescored > stored) | ((rescored == stored) & ~saturated)
    verdict.sampled, verdict.sample_not_lowered = len(positions), int(not_lowered.sum())
    if not_lowered.any():
        first = int(np.argmax(not_lowered))
        verdict.examples.append(
            f"moving {names[first]} of row {positions[first] + 1} of the scores to its reference left its score as high"
        )
