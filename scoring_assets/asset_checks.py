"""The blocking checks that gate each step, as functions over the files an asset wrote.

Each check re-reads what was persisted rather than trusting the code that wrote it, so a
bug in a stage shows up as a failed check, not as a wrong scored file. The asset that owns
a check declares it (``AssetCheckSpec(..., blocking=True)``) and returns its result; an
ERROR result stops everything downstream and fails the run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandera.pandas as pa_pandas
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from scoring_assets.contract import CONTRACT_COLUMNS, CustomerBatch
from scoring_assets.features import FEATURE_COLUMNS
from scoring_assets.ingest import read_accepted_frame
from scoring_assets.input_csv import BATCH_ROWS, ROW_NUMBER, lake_reader
from scoring_assets.scoring import feature_schema


def blocking(asset: str, name: str, description: str) -> AssetCheckSpec:
    return AssetCheckSpec(name=name, asset=AssetKey(asset), description=description, blocking=True)


def _result(name: str, passed: bool, **metadata) -> AssetCheckResult:
    return AssetCheckResult(check_name=name, passed=bool(passed), severity=AssetCheckSeverity.ERROR, metadata=metadata)


# raw_batch
def raw_required_columns_present(raw_path: Path) -> AssetCheckResult:
    names = pq.read_schema(raw_path).names
    missing = [name for name in [ROW_NUMBER, *CONTRACT_COLUMNS] if name not in names]
    return _result("required_columns_present", not missing, missing_columns=", ".join(missing) or "none")


def raw_has_rows(raw_path: Path) -> AssetCheckResult:
    rows = lake_reader(raw_path).metadata.num_rows
    return _result("has_rows", rows > 0, rows=rows)


# validated_batch
def reject_fraction_within_limit(rows_in: int, rows_rejected: int, limit: float) -> AssetCheckResult:
    fraction = rows_rejected / rows_in if rows_in else 1.0
    return _result(
        "reject_fraction_within_limit",
        fraction <= limit,
        rows_in=rows_in,
        rows_rejected=rows_rejected,
        reject_fraction=float(round(fraction, 6)),
        max_reject_fraction=float(limit),
    )


def accepted_rows_satisfy_contract(accepted_path: Path) -> AssetCheckResult:
    """Re-validate the accepted rows, as typed on disk, against the pandera model."""
    failures = 0
    examples: list[str] = []
    for batch in lake_reader(accepted_path).iter_batches(batch_size=BATCH_ROWS):
        try:
            CustomerBatch.validate(read_accepted_frame(batch), lazy=True)
        except pa_pandas.errors.SchemaErrors as errors:
            cases = errors.failure_cases
            failures += len(cases)
            examples += [f"{row.column}: {row.check}" for row in cases.head(5).itertuples()]
    return _result(
        "accepted_rows_satisfy_contract", failures == 0, failures=failures, examples="; ".join(examples[:5]) or "none"
    )


# feature_matrix
def feature_columns_match_model(features_path: Path, model_features: list[str]) -> AssetCheckResult:
    """Columns and Arrow types exactly as the model expects (order included)."""
    actual = pq.read_schema(features_path)
    expected = feature_schema(has_label="Churn" in actual.names)
    problems = []
    if list(model_features) != FEATURE_COLUMNS:
        problems.append(f"model card expects {model_features}, code builds {FEATURE_COLUMNS}")
    if actual.names != expected.names:
        problems.append(f"columns {actual.names} != expected {expected.names}")
    for field in expected:
        if field.name in actual.names and actual.field(field.name).type != field.type:
            problems.append(f"{field.name}: {actual.field(field.name).type} != {field.type}")
    return _result("columns_and_dtypes_match_model", not problems, problems="; ".join(problems) or "none")


def features_have_no_missing_values(features_path: Path) -> AssetCheckResult:
    missing: dict[str, int] = {}
    for batch in lake_reader(features_path).iter_batches(batch_size=BATCH_ROWS, columns=FEATURE_COLUMNS):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            nulls = column.null_count
            if pa.types.is_floating(column.type):
                nulls += int(pc.sum(pc.invert(pc.is_finite(column.fill_null(0.0)))).as_py() or 0)
            elif pa.types.is_integer(column.type):  # category codes: -1 means "not a known level"
                nulls += int(pc.sum(pc.less(column, 0)).as_py() or 0)  # nulls are already counted
            if nulls:
                missing[name] = missing.get(name, 0) + nulls
    detail = ", ".join(f"{name}: {count}" for name, count in missing.items()) or "none"
    return _result("no_missing_model_inputs", not missing, missing_or_non_finite=detail)


# scores
def scores_cover_accepted_rows(scores_path: Path, accepted_path: Path) -> AssetCheckResult:
    """One score per accepted row: same count, same customer ids, same order."""
    scores = lake_reader(scores_path)
    accepted = lake_reader(accepted_path)
    rows_scored, rows_accepted = scores.metadata.num_rows, accepted.metadata.num_rows
    mismatched = 0
    if rows_scored == rows_accepted:
        pairs = zip(
            scores.iter_batches(batch_size=BATCH_ROWS, columns=["customer_id"]),
            accepted.iter_batches(batch_size=BATCH_ROWS, columns=["customerID"]),
            strict=True,
        )
        for scored_ids, accepted_ids in pairs:
            mismatched += int(pc.sum(pc.not_equal(scored_ids.column(0), accepted_ids.column(0))).as_py() or 0)
    return _result(
        "scores_match_accepted_rows",
        rows_scored == rows_accepted and mismatched == 0,
        rows_scored=rows_scored,
        rows_accepted=rows_accepted,
        customer_ids_out_of_place=mismatched,
    )


def scores_are_probabilities(scores_path: Path) -> AssetCheckResult:
    bad = 0
    for batch in lake_reader(scores_path).iter_batches(batch_size=BATCH_ROWS, columns=["churn_score"]):
        values = batch.column(0).to_numpy(zero_copy_only=False)
        bad += int((~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))).sum())
    return _result("churn_score_is_probability", bad == 0, scores_not_finite_or_outside_0_1=bad)


# scoring_manifest
def manifest_matches_output(recorded_sha256: str, actual_sha256: str) -> AssetCheckResult:
    return _result(
        "output_sha256_matches_manifest",
        recorded_sha256 == actual_sha256,
        manifest_sha256=recorded_sha256,
        file_sha256=actual_sha256,
    )
