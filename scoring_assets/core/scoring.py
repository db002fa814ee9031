"""Stage 3 and 4: accepted rows -> feature matrix -> scores -> the scored CSV handoff.

Each stage streams Parquet record batches, so memory does not grow with the file. The
feature matrix keeps the row number and the use case's id beside the model inputs (and the
label when the file had one, for back-testing, and the columns the run carries through); none
of those reach the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring_assets.core.arrow_contract import decoded
from scoring_assets.core.category_levels import CATEGORY_CODE_DTYPE, category_dtype
from scoring_assets.core.csv_safety import SpreadsheetSafeCsvWriter
from scoring_assets.core.drift import DIGITS, FileDrift
from scoring_assets.core.features import arrow_feature_arrays, build_features, frame_feature_arrays
from scoring_assets.core.files import HashingFile, atomic_path
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.ingest import (
    CARRIED_PREFIX,
    ValidationSummary,
    carried_columns,
    categorical_text_columns,
    read_accepted_frame,
)
from scoring_assets.core.lake import BATCH_ROWS, LakeWriter, batch_to_frame, lake_reader
from scoring_assets.core.manifest import Publication, drift_report_path_for, publish_scored_file
from scoring_assets.core.manifest_model import (
    Backtest,
    DriftFigures,
    DriftThresholdFigures,
    EstimatedPerformance,
    FeatureDriftFigures,
    InputFile,
    ModelUsed,
    ReasonsUsed,
    RunLineage,
    ScoreDistribution,
    ScoreDriftFigures,
    ServingUsed,
)
from scoring_assets.core.model_store import LoadedModel
from scoring_assets.core.provenance import scoring_provenance
from scoring_assets.core.reason_codes import EXPLAINER, reason_coder, reason_columns
from scoring_assets.core.reports.drift import write_drift_report
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase

# Columns of the feature matrix and scores files beside the model inputs, named so that no
# feature or input column name can collide with them.
ID_KEY = "__id"
LABEL_KEY = "__label"
FIXED_SCORE_COLUMNS = ("predicted_label", "model_version", "scoring_timestamp")
HISTOGRAM_BINS = 10_000
PREDICT_ROWS = 32_768  # rows per predict_proba call (see predict_positive)


def scored_columns(use_case: UseCase, name_inputs: bool = False) -> list[str]:
    """The scored file's leading columns: id (or row number), score, label, model version, timestamp, row
    number, then the reason columns when the use case declares reasons (``name_inputs``: with the inputs')."""
    leading = [use_case.scored_id_column, use_case.score_column, *FIXED_SCORE_COLUMNS]
    fixed = leading if use_case.scored_id_column == ROW_NUMBER else [*leading, ROW_NUMBER]
    return [*fixed, *reason_columns(use_case.reasons, name_inputs)]


def scores_schema(use_case: UseCase, carried: list[str] = (), name_inputs: bool = False) -> pa.Schema:
    """Arrow schema of the scores file and the scored CSV: the leading columns, then the carried ones."""
    types = {
        use_case.scored_id_column: pa.string(),
        use_case.score_column: pa.float64(),
        "predicted_label": pa.int8(),
        "model_version": pa.string(),
        "scoring_timestamp": pa.string(),
        ROW_NUMBER: pa.int64(),
    }
    fields = [
        pa.field(name, types.get(name, pa.string()), nullable=False) for name in scored_columns(use_case, name_inputs)
    ]
    return pa.schema(fields + [pa.field(f"{CARRIED_PREFIX}{name}", pa.string()) for name in carried])


def repeated_text_columns(schema: pa.Schema) -> list[str]:
    """The scores file's columns of a few texts repeated on every row: model version, timestamp, reasons.

    Stored as Parquet dictionaries and read back as Arrow ones (``core.lake``), so a reader
    handles each text once, not once per row.
    """
    return [name for name in schema.names if name in FIXED_SCORE_COLUMNS[1:] or name.startswith("reason_")]


def carried_in(schema: pa.Schema) -> list[str]:
    """The input columns a feature matrix or scores file carries through, by their input names."""
    return [name[len(CARRIED_PREFIX) :] for name in schema.names if name.startswith(CARRIED_PREFIX)]


def feature_schema(use_case: UseCase, has_label: bool, carried: list[str] = ()) -> pa.Schema:
    """Arrow schema of the feature matrix file: keys, model inputs, optional label, carried columns."""
    fields = [pa.field(ROW_NUMBER, pa.int64(), nullable=False)]
    if use_case.id_column:
        fields.append(pa.field(ID_KEY, pa.string(), nullable=False))
    fields += [pa.field(name, pa.float64()) for name in use_case.features.numeric]
    fields += [pa.field(name, pa.int8()) for name in use_case.features.categorical]  # codes into the levels
    if has_label:
        fields.append(pa.field(LABEL_KEY, pa.string()))
    fields += [pa.field(f"{CARRIED_PREFIX}{name}", pa.string()) for name in carried]
    return pa.schema(fields)


def write_feature_parquet(use_case: UseCase, accepted_path: Path, features_path: Path) -> int:
    """Build the feature matrix for every accepted row, in input order; returns the row count.

    The categorical text columns are read as dictionaries (``core.lake``), so the model inputs
    (``model_input_arrays``) code each distinct text once; the row number, id, label and carried
    columns go from the stored batch to the file as they are.
    """
    source = lake_reader(accepted_path, categorical_text_columns(use_case))
    names = source.schema_arrow.names
    has_label = use_case.label_column in names
    carried = carried_columns(names)
    schema = feature_schema(use_case, has_label, [name[len(CARRIED_PREFIX) :] for name in carried])
    rows = 0
    with (
        atomic_path(features_path) as temporary,
        LakeWriter(temporary, schema) as writer,
    ):
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            writer.write(pa.Table.from_arrays(_feature_arrays(use_case, batch, has_label), schema=schema))
            rows += batch.num_rows
    return rows


def model_input_arrays(use_case: UseCase, batch: pa.RecordBatch) -> list[pa.Array]:
    """A validated batch's model inputs as the feature file stores them (``core.features``).

    In Arrow when the use case declares ``build_arrow`` (no pandas frame), else through its pandas ``build``.
    """
    if use_case.features.build_arrow is not None:
        return arrow_feature_arrays(use_case.features, dict(zip(batch.schema.names, batch.columns, strict=True)))
    built = build_features(use_case.features, read_accepted_frame(use_case, batch))
    return frame_feature_arrays(use_case.features, built)


def _feature_arrays(use_case: UseCase, batch: pa.RecordBatch, has_label: bool) -> list:
    """A batch's columns of the feature matrix, in ``feature_schema`` order: keys, model inputs, label, carried."""
    keys = [batch.column(ROW_NUMBER), *([decoded(batch.column(use_case.id_column))] if use_case.id_column else [])]
    label = [decoded(batch.column(use_case.label_column))] if has_label else []
    carried = [batch.column(name) for name in carried_columns(batch.schema.names)]
    return [*keys, *model_input_arrays(use_case, batch), *label, *carried]


def read_feature_frame(use_case: UseCase, batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch of the feature matrix file with the exact dtypes ``build_features`` produces."""
    frame = batch_to_frame(batch)
    for name, levels in use_case.features.categorical.items():
        codes = frame[name].to_numpy(CATEGORY_CODE_DTYPE)
        frame[name] = pd.Categorical.from_codes(codes, dtype=category_dtype(tuple(levels)))
    return frame


@dataclass
class ScoreSummary:
    """What scoring a file produced, for metadata, the manifest and the checks.

    Memory stays flat for any file size: the distribution comes from running sums and a
    histogram of 10,000 bins (quantiles to within 0.0001); only a file with labels keeps its
    scores, for the exact backtest.
    """

    threshold: float = 0.5
    rows: int = 0
    total: float = 0.0
    at_or_above_threshold: int = 0
    total_at_or_above_threshold: float = 0.0  # sum of the scores of the rows predicted positive
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS, dtype=np.int64), repr=False)
    labelled_scores: list[np.ndarray] = field(default_factory=list, repr=False)
    labels: list[np.ndarray] = field(default_factory=list, repr=False)
    rows_only_never_reasons: int = 0  # rows predicted positive whose only reasons are never_reasons inputs

    def add(self, scores: np.ndarray, labels: np.ndarray | None) -> None:
        self.rows += len(scores)
        self.total += float(scores.sum())
        predicted = scores >= self.threshold
        self.at_or_above_threshold += int(predicted.sum())
        self.total_at_or_above_threshold += float(scores[predicted].sum())
        bins = np.clip((scores * HISTOGRAM_BINS).astype(np.int64), 0, HISTOGRAM_BINS - 1)
        self.histogram += np.bincount(bins, minlength=HISTOGRAM_BINS)
        if labels is not None:
            self.labelled_scores.append(scores)
            self.labels.append(labels)

    def distribution(self) -> ScoreDistribution | None:
        """The scores' mean, quantiles and share at or above the threshold; None for a file with no rows."""
        if not self.rows:
            return None
        cumulative = np.cumsum(self.histogram)

        def quantile(q: float) -> float:
            return float((np.searchsorted(cumulative, q * self.rows) + 0.5) / HISTOGRAM_BINS)

        return ScoreDistribution(
            mean=self.total / self.rows,
            p05=quantile(0.05),
            p25=quantile(0.25),
            median=quantile(0.5),
            p75=quantile(0.75),
            p95=quantile(0.95),
            share_at_or_above_threshold=self.at_or_above_threshold / self.rows,
        )

    def estimated_performance(self) -> EstimatedPerformance | None:
        """Precision and recall at the threshold expected from the scores alone, labels or not.

        If the model is calibrated, a row scored p is positive with probability p, so the expected
        true positives are the sum of the scores predicted positive (the idea behind NannyML's
        CBPE). Shown beside the real backtest when a file has labels, so the estimate can be judged.
        """
        if not self.rows or not self.total:
            return None
        return EstimatedPerformance(
            expected_precision=(
                self.total_at_or_above_threshold / self.at_or_above_threshold if self.at_or_above_threshold else 0.0
            ),
            expected_recall=self.total_at_or_above_threshold / self.total,
            expected_positive_rate=self.total / self.rows,
        )

    def backtest(self) -> Backtest | None:
        """Model quality on the file's own labels, when it has usable ones.

        scikit-learn's metrics are imported here, for a labelled file only: scoring a file without
        labels never imports scikit-learn (nor scipy beneath it).
        """
        if not self.labels:
            return None
        from sklearn.metrics import precision_score, recall_score, roc_auc_score

        labels = np.concatenate(self.labels)
        scores = np.concatenate(self.labelled_scores)
        known = labels >= 0
        if known.sum() == 0 or len(np.unique(labels[known])) < 2:
            return None
        predicted = (scores[known] >= self.threshold).astype(int)
        return Backtest(
            rows_with_label=int(known.sum()),
            roc_auc=float(roc_auc_score(labels[known], scores[known])),
            precision=float(precision_score(labels[known], predicted, zero_division=0)),
            recall=float(recall_score(labels[known], predicted, zero_division=0)),
            observed_positive_rate=float(labels[known].mean()),
        )


def positive_class_index(model: LoadedModel) -> int:
    """Which column of ``predict_proba`` is the card's positive class (``load_model`` made sure it is one)."""
    return list(model.pipeline.classes_).index(model.positive_class)


def positive_scorer(model: LoadedModel) -> Callable[[pd.DataFrame], np.ndarray]:
    """How the model's positive-class probability is computed from its inputs: what its serving artifact says.

    The linear serving form (``core.serving``) when the model has one, else the Pipeline's
    ``predict_proba`` (``predict_positive``).
    """
    if model.serving is not None and model.serving.linear is not None:
        return model.serving.linear.positive_scores
    positive = positive_class_index(model)
    return lambda inputs: predict_positive(model, inputs, positive)


def score_feature_parquet(
    use_case: UseCase,
    features_path: Path,
    model: LoadedModel,
    threshold: float,
    scoring_timestamp: str,
    scores_path: Path,
    drift=None,
    name_inputs: bool | None = None,
) -> ScoreSummary:
    """Score every row of the feature matrix with the model's serving artifact (``positive_scorer``), in input order.

    ``drift`` (a ``core.drift.DriftAccumulator``), if given, sees every batch's model inputs and
    scores in the same pass, so measuring drift costs no second read of the file. Reason codes
    (``core.reason_codes``) are written in the same pass when the use case declares them
    (``name_inputs``: with the ``reason_N_input`` columns; None: as the use case says).
    """
    source = lake_reader(features_path)
    names = source.schema_arrow.names
    has_label = LABEL_KEY in names and use_case.label is not None
    carried = carried_columns(names)
    coder = reason_coder(use_case, model, name_inputs)
    schema = scores_schema(use_case, [n[len(CARRIED_PREFIX) :] for n in carried], bool(coder and coder.name_inputs))
    positive_scores = positive_scorer(model)
    summary = ScoreSummary(threshold=threshold)
    with (
        atomic_path(scores_path) as temporary,
        LakeWriter(temporary, schema, arriving_as_dictionaries=repeated_text_columns(schema)) as writer,
    ):
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            frame = read_feature_frame(use_case, batch)
            inputs = frame[use_case.features.columns]
            score = positive_scores(inputs)
            arrays = _leading_arrays(use_case, batch, score, (model.version, scoring_timestamp), threshold)
            if coder is not None:
                reasons, only_never = coder.code(inputs, (score >= threshold).astype("int8"))
                arrays += reasons
                summary.rows_only_never_reasons += only_never
            arrays += [batch.column(name) for name in carried]
            writer.write(pa.Table.from_arrays(arrays, schema=writer.schema))
            summary.add(score, _label_codes(use_case, frame[LABEL_KEY]) if has_label else None)
            if drift is not None:
                drift.add(inputs, score)
    return summary


def _leading_arrays(
    use_case: UseCase, batch: pa.RecordBatch, score: np.ndarray, version_and_time: tuple[str, str], threshold: float
) -> list[pa.Array]:
    """A batch's fixed columns of the scores file, in ``scored_columns`` order (reason columns not included).

    The row number and id go from the feature matrix's batch as they are stored; the model version
    and timestamp are one text each, as dictionary arrays (``repeated_text_columns``).
    """
    row_numbers = batch.column(ROW_NUMBER)
    every_row = pa.array(np.zeros(batch.num_rows, dtype=np.int32))
    columns = {
        use_case.scored_id_column: batch.column(ID_KEY) if use_case.id_column else row_numbers,
        use_case.score_column: pa.array(score, pa.float64()),
        "predicted_label": pa.array((score >= threshold).astype("int8"), pa.int8()),
        "model_version": pa.DictionaryArray.from_arrays(every_row, pa.array([version_and_time[0]], pa.string())),
        "scoring_timestamp": pa.DictionaryArray.from_arrays(every_row, pa.array([version_and_time[1]], pa.string())),
        ROW_NUMBER: row_numbers,
    }
    return [columns[name] for name in scored_columns(use_case) if name in columns]


def predict_positive(model: LoadedModel, inputs: pd.DataFrame, positive: int) -> np.ndarray:
    """The positive class's probability for each row, ``PREDICT_ROWS`` rows per ``predict_proba`` call.

    A Pipeline's encoders expand the inputs into a dense float matrix many times the batch's size
    (a column per category level: ~70 MB for 64k German credit rows); half a batch at a time
    halves that transient (peak RSS at 1M rows -40 MB, ~3% slower: each call costs ~8 ms of
    scikit-learn overhead). Each row is scored on its own, and a file is always cut the same way.
    """
    parts = [
        model.pipeline.predict_proba(inputs.iloc[start : start + PREDICT_ROWS])[:, positive]
        for start in range(0, len(inputs), PREDICT_ROWS)
    ]
    return np.concatenate(parts).astype("float64") if parts else np.empty(0, dtype="float64")


def _label_codes(use_case: UseCase, labels: pd.Series) -> np.ndarray:
    """1 for the positive label, 0 for the negative one, -1 where the label is blank or anything else."""
    normalised = labels.astype("str").str.strip()
    codes = np.full(len(labels), -1, dtype="int8")
    codes[(normalised == use_case.label.positive).to_numpy()] = 1
    codes[(normalised == use_case.label.negative).to_numpy()] = 0
    return codes


def write_scored_csv(scores_path: Path, output_path: Path) -> tuple[str, int]:
    """Publish the staged scores as the handoff CSV, atomically.

    Returns the sha256 of what was written (hashed as it is written) and how many cells were neutralised.

    Ids and carried values that a spreadsheet would read as a formula are written neutralised
    (``csv_safety``), so the hash the manifest records is the hash of the file as people receive it.
    Carried columns get their input names back.
    """
    source = lake_reader(scores_path, repeated_text_columns(pq.read_schema(scores_path)))
    names = [name.removeprefix(CARRIED_PREFIX) for name in source.schema_arrow.names]
    schema = pa.schema([field.with_name(name) for field, name in zip(source.schema_arrow, names, strict=True)])
    with atomic_path(output_path) as temporary:
        with HashingFile(temporary) as sink, SpreadsheetSafeCsvWriter(sink, schema) as writer:
            for batch in source.iter_batches(batch_size=BATCH_ROWS):
                writer.write(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
    return sink.sha256, writer.cells_neutralised


@dataclass(frozen=True)
class ScoringRun:
    """Which file, run, model and decision rule produced a set of scores: what the manifest's lineage names."""

    partition_key: str
    run_id: str
    source_path: str
    model: LoadedModel
    threshold: float
    threshold_source: str  # "model card", or "run config" when the run chose its own
    timestamp: str  # UTC, ISO 8601 to the millisecond: the scoring_timestamp of every row


def publish_scores(
    use_case: UseCase,
    own: UseCaseFolders,
    run: ScoringRun,
    scores_path: Path,
    output_path: Path,
    summary: ScoreSummary,
    file_drift: FileDrift | None,
) -> Publication:
    """Publish staged scores as the scored CSV, its drift report (when there is a reference) and its manifest.

    The manifest's lineage comes from the run and the stage summaries the ingest steps wrote;
    ``publish_scored_file`` archives whatever the three files replace, first.
    """
    report_path = drift_report_path_for(output_path)
    about = [f"{use_case.name} file {run.source_path} (partition {run.partition_key})", f"model {run.model.version}"]
    drift = drift_figures(file_drift, run.model.reference_md5, str(report_path)) if file_drift else None
    return publish_scored_file(
        lambda path: write_scored_csv(scores_path, path),
        output_path,
        summary.rows,
        run_lineage(use_case, own, run, summary, drift),
        companions={"drift report": lambda path: write_drift_report(path, use_case, file_drift, about)}
        if file_drift
        else None,
        provenance=scoring_provenance(use_case, own.environments),
    )


def run_lineage(
    use_case: UseCase, own: UseCaseFolders, run: ScoringRun, summary: ScoreSummary, drift: DriftFigures | None
) -> RunLineage:
    """What the manifest says besides its output: the raw and validated stage summaries, the run and the scores."""
    model = run.model
    return RunLineage(
        partition_key=run.partition_key,
        run_id=run.run_id,
        scores_run_id=run.run_id,  # the same step writes the scored file and its manifest
        input=InputFile.from_dict(own.read_stage_summary("raw_batch", run.partition_key)),
        rejected=ValidationSummary.from_record(own.read_stage_summary("validated_batch", run.partition_key)).rejected,
        model=ModelUsed(
            use_case=use_case.name,
            version=model.version,
            md5=model.md5,
            path=str(model.path),
            serving=ServingUsed.from_dict(model.serving.as_record()) if model.serving else None,
        ),
        threshold=run.threshold,
        threshold_source=run.threshold_source,
        scoring_timestamp=run.timestamp,
        score_column=use_case.score_column,
        score_summary=summary.distribution(),
        backtest=summary.backtest(),
        estimated_performance=summary.estimated_performance(),
        drift=drift,
        reasons=reasons_used(use_case, summary),
    )


def reasons_used(use_case: UseCase, summary: ScoreSummary) -> ReasonsUsed | None:
    """The manifest's ``reasons`` part: which dictionary and explainer wrote the reason columns; None without them."""
    reasons = use_case.reasons
    if reasons is None:
        return None
    return ReasonsUsed(
        version=reasons.version,
        explainer=EXPLAINER,
        max_reasons=reasons.max_reasons,
        rows_only_never_reasons=summary.rows_only_never_reasons,
    )


def drift_figures(file_drift: FileDrift, reference_md5: str | None, report_path: str | None) -> DriftFigures:
    """The manifest's ``drift`` part: every model input and the score, with their levels, and the report.

    PSIs and shares are rounded to ``core.drift.DIGITS`` decimals, as the reference profile is.
    """
    score = file_drift.score
    return DriftFigures(
        reference_md5=reference_md5,
        rows=file_drift.rows,
        features={
            name: FeatureDriftFigures(
                psi=_rounded(feature.psi), level=feature.level, missing_share=_rounded(feature.missing_share)
            )
            for name, feature in file_drift.features.items()
        },
        score=ScoreDriftFigures(
            psi=_rounded(score.psi),
            level=score.level,
            share_at_or_above_threshold=_rounded(score.share_at_or_above_threshold or 0.0),
            reference_share_at_or_above_threshold=_rounded(score.reference_share_at_or_above_threshold or 0.0),
            mean=None if score.batch_mean is None else _rounded(score.batch_mean),
            reference_mean=None if score.ref_mean is None else _rounded(score.ref_mean),
        ),
        input_level=file_drift.input_level,
        report_path=None if report_path is None else str(report_path),
        thresholds=DriftThresholdFigures(
            warn=file_drift.thresholds.warn,
            alert=file_drift.thresholds.alert,
            per_feature={name: tuple(pair) for name, pair in sorted(file_drift.thresholds.per_feature.items())},
        ),
    )


def _rounded(value: float) -> float:
    return round(float(value), DIGITS)
