"""The blocking checks that gate each step, as functions over the files an asset wrote.

Each check re-reads what was persisted rather than trusting the code that wrote it, so a
bug in a stage shows up as a failed check, not as a wrong scored file. The asset that owns
a check declares its ``spec`` and returns its result; a failed result stops everything
downstream and fails the run. Every result carries a one-line description with the figures
(what the check history in the UI shows), and is recorded for the file's partition, so one
bad file never paints another file's checks red.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.accepted_rows_check import judge_stored_rows
from scoring_assets.core.ingest import carried_columns, ragged_rows_path
from scoring_assets.core.lake import BATCH_ROWS, lake_reader
from scoring_assets.core.reason_check import ReasonsVerdict
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.scoring import LABEL_KEY, feature_schema
from scoring_assets.core.use_case import UseCase


@dataclass(frozen=True)
class Check:
    """A check's name and meaning: one constant shared by its spec, its result and whatever reports it."""

    asset: str  # the checked asset's name within a use case (its key is [use case, asset])
    name: str
    description: str
    blocking: bool = True  # a blocking check fails with ERROR severity and stops the run; others WARN

    def spec(self, use_case: UseCase, partitions_def: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
        # Per-partition checks are a preview feature in Dagster 1.13; they are what makes the UI
        # show each file's own check status, so the preview warning is expected here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.AssetCheckSpec(
                name=self.name,
                asset=keys_of(use_case).asset(self.asset),
                description=self.description,
                blocking=self.blocking,
                partitions_def=partitions_def,
            )

    def result(self, use_case: UseCase, passed: bool, description: str, **metadata) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=keys_of(use_case).asset(self.asset),
            check_name=self.name,
            passed=bool(passed),
            severity=dg.AssetCheckSeverity.ERROR if self.blocking else dg.AssetCheckSeverity.WARN,
            description=description,
            metadata=metadata,
        )


REQUIRED_COLUMNS_PRESENT = Check("raw_batch", "required_columns_present", "Every contract column is in the file.")
HAS_ROWS = Check("raw_batch", "has_rows", "The file has at least one data row.")
REJECT_FRACTION_WITHIN_LIMIT = Check(
    "validated_batch", "reject_fraction_within_limit", "Rejected rows are at most max_reject_fraction."
)
ACCEPTED_ROWS_SATISFY_CONTRACT = Check(
    "validated_batch", "accepted_rows_satisfy_contract", "Accepted rows, as stored, pass the contract."
)
COLUMNS_AND_DTYPES_MATCH_MODEL = Check(
    "feature_matrix", "columns_and_dtypes_match_model", "Feature columns and types are exactly the model's."
)
NO_MISSING_MODEL_INPUTS = Check(
    "feature_matrix", "no_missing_model_inputs", "No missing or non-finite values in model inputs."
)
SCORES_MATCH_ACCEPTED_ROWS = Check(
    "scores", "scores_match_accepted_rows", "One score per accepted row: same count, ids and order."
)
SCORE_IS_PROBABILITY = Check("scores", "score_is_probability", "Every score is finite and in [0, 1].")
INPUT_DRIFT_BELOW_ALERT = Check(
    "scores",
    "input_drift_below_alert",
    "No model input's PSI against the training reference reaches the alert level (warns, never blocks).",
    blocking=False,
)
SCORE_DRIFT_BELOW_ALERT = Check(
    "scores",
    "score_drift_below_alert",
    "The score distribution's PSI against held-out data stays below the alert level (warns, never blocks).",
    blocking=False,
)
REASONS_CONSISTENT = Check(
    "scores",
    "reasons_consistent",
    "Every row predicted positive has a reason, every reason is a declared text, and moving a sampled row's "
    "first reason to its reference value lowers its score (never raises it).",
)
OUTPUT_SHA256_MATCHES_MANIFEST = Check(
    "scoring_manifest", "output_sha256_matches_manifest", "The scored file on disk is the one described."
)


# raw_batch
def raw_required_columns_present(use_case: UseCase, raw_path: Path) -> dg.AssetCheckResult:
    names = pq.read_schema(raw_path).names
    expected = use_case.contract_columns
    missing = [name for name in [ROW_NUMBER, *expected] if name not in names]
    description = f"missing column(s): {', '.join(missing)}" if missing else f"all {len(expected)} present"
    return REQUIRED_COLUMNS_PRESENT.result(
        use_case, not missing, description, missing_columns=", ".join(missing) or "none"
    )


def raw_has_rows(use_case: UseCase, raw_path: Path) -> dg.AssetCheckResult:
    """Data rows as parsed, counting ragged ones: a file of only ragged rows has rows, all to be rejected."""
    rows = lake_reader(raw_path).metadata.num_rows
    ragged_path = ragged_rows_path(raw_path)
    ragged = lake_reader(ragged_path).metadata.num_rows if ragged_path.exists() else 0
    total = rows + ragged
    if not total:
        description = "the file has a header but no data rows"
    else:
        description = f"{total:,} data row(s)" + (f", {ragged:,} of them ragged" if ragged else "")
    return HAS_ROWS.result(use_case, total > 0, description, rows=total, ragged_rows=ragged)


# validated_batch
def reject_fraction_within_limit(
    use_case: UseCase, rows_in: int, rows_rejected: int, limit: float
) -> dg.AssetCheckResult:
    fraction = rows_rejected / rows_in if rows_in else 1.0
    passed = fraction <= limit
    description = (
        f"{rows_rejected:,} of {rows_in:,} rows rejected ({fraction:.1%}) {'<=' if passed else '>'} {limit:.1%} allowed"
    )
    return REJECT_FRACTION_WITHIN_LIMIT.result(
        use_case,
        passed,
        description,
        rows_in=rows_in,
        rows_rejected=rows_rejected,
        reject_fraction=float(round(fraction, 6)),
        max_reject_fraction=float(limit),
    )


def accepted_rows_satisfy_contract(use_case: UseCase, accepted_path: Path) -> dg.AssetCheckResult:
    """The accepted rows, as typed on disk, judged again against the contract (``core.accepted_rows_check``)."""
    verdict = judge_stored_rows(use_case, accepted_path)
    description = (
        f"{verdict.failures:,} contract failure(s) among {verdict.rows:,} stored rows, e.g. {verdict.examples[0]}"
        if verdict.failures
        else f"all {verdict.rows:,} stored rows pass the contract"
    )
    return ACCEPTED_ROWS_SATISFY_CONTRACT.result(
        use_case,
        verdict.failures == 0,
        description,
        failures=verdict.failures,
        examples="; ".join(verdict.examples) or "none",
    )


# feature_matrix
def feature_columns_match_model(
    use_case: UseCase, features_path: Path, model_features: list[str]
) -> dg.AssetCheckResult:
    """Columns and Arrow types exactly as the model expects (order included)."""
    actual = pq.read_schema(features_path)
    carried = [name.split(":", 1)[1] for name in carried_columns(actual.names)]
    expected = feature_schema(use_case, has_label=LABEL_KEY in actual.names, carried=carried)
    feature_columns = use_case.features.columns
    problems = []
    if list(model_features) != feature_columns:
        problems.append(f"model card expects {model_features}, code builds {feature_columns}")
    if actual.names != expected.names:
        problems.append(f"columns {actual.names} != expected {expected.names}")
    for field in expected:
        if field.name in actual.names and actual.field(field.name).type != field.type:
            problems.append(f"{field.name}: {actual.field(field.name).type} != {field.type}")
    description = problems[0] if problems else f"{len(feature_columns)} model inputs, names, order and types as trained"
    return COLUMNS_AND_DTYPES_MATCH_MODEL.result(
        use_case, not problems, description, problems="; ".join(problems) or "none"
    )


def features_have_no_missing_values(use_case: UseCase, features_path: Path) -> dg.AssetCheckResult:
    missing: dict[str, int] = {}
    columns = use_case.features.columns
    for batch in lake_reader(features_path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            nulls = column.null_count
            if pa.types.is_floating(column.type):
                nulls += int(pc.sum(pc.invert(pc.is_finite(column.fill_null(0.0)))).as_py() or 0)
            elif pa.types.is_integer(column.type):  # category codes: -1 means "not a known level"
                nulls += int(pc.sum(pc.less(column, 0)).as_py() or 0)  # nulls are already counted
            if nulls:
                missing[name] = missing.get(name, 0) + nulls
    detail = ", ".join(f"{name}: {count}" for name, count in missing.items()) or "none"
    description = f"missing or non-finite model inputs: {detail}" if missing else "every model input is present"
    return NO_MISSING_MODEL_INPUTS.result(use_case, not missing, description, missing_or_non_finite=detail)


# scores
def scores_cover_accepted_rows(use_case: UseCase, scores_path: Path, accepted_path: Path) -> dg.AssetCheckResult:
    """One score per accepted row: same count, same ids (row numbers without an id column), same order."""
    scores = lake_reader(scores_path)
    accepted = lake_reader(accepted_path)
    rows_scored, rows_accepted = scores.metadata.num_rows, accepted.metadata.num_rows
    mismatched = 0
    if rows_scored == rows_accepted:
        pairs = zip(
            scores.iter_batches(batch_size=BATCH_ROWS, columns=[use_case.scored_id_column]),
            accepted.iter_batches(batch_size=BATCH_ROWS, columns=[use_case.id_column or ROW_NUMBER]),
            strict=True,
        )
        for scored_ids, accepted_ids in pairs:
            mismatched += int(pc.sum(pc.not_equal(scored_ids.column(0), accepted_ids.column(0))).as_py() or 0)
    passed = rows_scored == rows_accepted and mismatched == 0
    if rows_scored != rows_accepted:
        description = f"{rows_scored:,} scores for {rows_accepted:,} accepted rows"
    elif mismatched:
        description = f"{mismatched:,} of {rows_scored:,} scores are not in their accepted row's place"
    else:
        description = f"{rows_scored:,} scores for {rows_accepted:,} accepted rows, same ids and order"
    return SCORES_MATCH_ACCEPTED_ROWS.result(
        use_case,
        passed,
        description,
        rows_scored=rows_scored,
        rows_accepted=rows_accepted,
        ids_out_of_place=mismatched,
    )


def scores_are_probabilities(use_case: UseCase, scores_path: Path) -> dg.AssetCheckResult:
    bad = rows = 0
    for batch in lake_reader(scores_path).iter_batches(batch_size=BATCH_ROWS, columns=[use_case.score_column]):
        values = batch.column(0).to_numpy(zero_copy_only=False)
        rows += len(values)
        bad += int((~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))).sum())
    description = (
        f"{bad:,} of {rows:,} scores are not finite or outside [0, 1]" if bad else f"all {rows:,} scores in [0, 1]"
    )
    return SCORE_IS_PROBABILITY.result(use_case, bad == 0, description, scores_not_finite_or_outside_0_1=bad)


def reasons_are_consistent(use_case: UseCase, verdict: ReasonsVerdict) -> dg.AssetCheckResult:
    """The verdict ``core.reason_check.judge_reasons`` reached on the stored reason columns."""
    description = (
        "; ".join(verdict.examples)
        if not verdict.passed
        else f"all {verdict.rows:,} rows: every row predicted positive has a reason, every reason is declared; "
        f"{verdict.sampled} sampled first reasons moved to their reference each lowered the score"
    )
    return REASONS_CONSISTENT.result(
        use_case,
        verdict.passed,
        description,
        positive_without_reason=verdict.positive_without_reason,
        unknown_texts=verdict.unknown_texts,
        rows_only_never_reasons=verdict.rows_only_never_reasons,
        sampled_rows=verdict.sampled,
        sampled_scores_not_lowered=verdict.sample_not_lowered,
    )


# scoring_manifest
def manifest_matches_output(use_case: UseCase, recorded_sha256: str, actual_sha256: str) -> dg.AssetCheckResult:
    passed = recorded_sha256 == actual_sha256
    description = (
        f"scored file sha256 {actual_sha256[:12]}… as recorded"
        if passed
        else f"scored file sha256 {actual_sha256[:12]}… but the manifest records {recorded_sha256[:12]}…"
    )
    return OUTPUT_SHA256_MATCHES_MANIFEST.result(
        use_case, passed, description, manifest_sha256=recorded_sha256, file_sha256=actual_sha256
    )


def _drift_summary(items: list[tuple[str, float, str]]) -> str:
    return ", ".join(f"{name} {psi:.3f} ({level})" for name, psi, level in items)


def input_drift_below_alert(use_case: UseCase, file_drift) -> dg.AssetCheckResult:
    """Fails (WARN) when any model input drifted to ``alert``; names the most drifted inputs either way."""
    most = file_drift.most_drifted(5)
    alerts = [name for name, feature in file_drift.features.items() if feature.level == "alert"]
    description = (
        f"{len(alerts)} input(s) at alert: {_drift_summary([m for m in most if m[2] == 'alert'])}"
        if alerts
        else f"no input at alert; most drifted: {_drift_summary(most[:3])}"
    )
    return INPUT_DRIFT_BELOW_ALERT.result(
        use_case,
        not alerts,
        description,
        input_level=file_drift.input_level,
        inputs_at_alert=", ".join(alerts) or "none",
        max_psi=float(most[0][1]) if most else 0.0,
    )


def score_drift_below_alert(use_case: UseCase, file_drift) -> dg.AssetCheckResult:
    score = file_drift.score
    description = (
        f"score PSI {score.psi:.3f} ({score.level}); share at or above the threshold "
        f"{score.share_at_or_above_threshold:.1%} vs {score.reference_share_at_or_above_threshold:.1%} on held-out data"
    )
    return SCORE_DRIFT_BELOW_ALERT.result(
        use_case, score.level != "alert", description, score_psi=float(score.psi), score_level=score.level
    )
