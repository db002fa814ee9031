"""Prediction stage assets: ``feature_matrix`` -> ``scores`` (the scored CSV) -> ``scoring_manifest``."""

import json
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AutomationCondition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableRecord,
    asset,
)
from pydantic import Field

from scoring_assets import asset_checks
from scoring_assets.column_schemas import COLUMN_SCHEMA_KEY, ROW_COUNT_KEY, feature_matrix_schema, scores_schema
from scoring_assets.files import file_sha256, write_text_atomically
from scoring_assets.ingest_assets import CODE_VERSION, GROUP, validated_batch
from scoring_assets.input_csv import lake_reader
from scoring_assets.manifest import archive_superseded, manifest_path_for
from scoring_assets.model_assets import churn_model, latest_observed_model_md5
from scoring_assets.model_store import load_model, verify_artifact
from scoring_assets.partitions import input_files_partitions
from scoring_assets.paths import REPO_ROOT
from scoring_assets.resources import ScoringFolders
from scoring_assets.scoring import score_feature_parquet, write_feature_parquet, write_scored_csv

PREVIEW_ROWS = 10

# Declarative automation (acted on only when the `rescore_on_model_change` sensor is switched on):
# re-score a scored partition when the model's data version changes, then rewrite its manifest.
RESCORE_WHEN_MODEL_CHANGES = (
    AutomationCondition.any_deps_match(AutomationCondition.data_version_changed())
    .allow(AssetSelection.keys("churn_model"))
    .since_last_handled()
    & ~AutomationCondition.in_progress()
    & ~AutomationCondition.any_deps_missing()
)
REWRITE_MANIFEST_AFTER_SCORES = (
    AutomationCondition.any_deps_updated().allow(AssetSelection.keys("scores")).since_last_handled()
    & ~AutomationCondition.in_progress()
    & ~AutomationCondition.any_deps_in_progress()
)


@asset(
    partitions_def=input_files_partitions,
    group_name=GROUP,
    code_version=CODE_VERSION,
    deps=[validated_batch],
    metadata={COLUMN_SCHEMA_KEY: feature_matrix_schema()},
    check_specs=[
        asset_checks.blocking(
            "feature_matrix", "columns_and_dtypes_match_model", "Feature columns and types are exactly the model's."
        ),
        asset_checks.blocking(
            "feature_matrix", "no_missing_model_inputs", "No missing or non-finite values in model inputs."
        ),
    ],
    description="Model inputs for every accepted row, built by the same code training uses.",
)
def feature_matrix(context: AssetExecutionContext, folders: ScoringFolders) -> MaterializeResult:
    key = context.partition_key
    features_path = folders.lake_file("feature_matrix", key)
    rows = write_feature_parquet(folders.lake_file("validated_batch", key), features_path)
    model_features = verify_artifact().feature_columns
    return MaterializeResult(
        metadata={"rows": rows, "lake_path": MetadataValue.path(str(features_path)), ROW_COUNT_KEY: rows},
        check_results=[
            asset_checks.feature_columns_match_model(features_path, model_features),
            asset_checks.features_have_no_missing_values(features_path),
        ],
    )


class ScoringConfig(Config):
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Decision threshold; default: the one in the model card."
    )
    output_path: str = Field(default="", description="Where to write the scored CSV (default: scored/<partition>.csv).")


@asset(
    partitions_def=input_files_partitions,
    group_name=GROUP,
    code_version=CODE_VERSION,
    deps=[feature_matrix, churn_model],
    metadata={COLUMN_SCHEMA_KEY: scores_schema()},
    automation_condition=RESCORE_WHEN_MODEL_CHANGES,
    check_specs=[
        asset_checks.blocking(
            "scores", "scores_match_accepted_rows", "One score per accepted row: same count, ids and order."
        ),
        asset_checks.blocking("scores", "churn_score_is_probability", "Every churn_score is finite and in [0, 1]."),
    ],
    description="predict_proba for every accepted row; published as the scored CSV once its checks pass.",
)
def scores(context: AssetExecutionContext, config: ScoringConfig, folders: ScoringFolders) -> MaterializeResult:
    key = context.partition_key
    model = load_model()
    observed = latest_observed_model_md5(context.instance)
    if observed != model.md5:
        raise Failure(
            description=(
                f"churn_model was last observed with md5 {observed} but dvc.lock now records {model.md5}: "
                "observe churn_model first (the CLI and the sensor do this for you) so this run's lineage names "
                "the model it really uses"
            ),
            allow_retries=False,
        )
    threshold = model.threshold if config.threshold is None else float(config.threshold)
    scoring_timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    scores_path = folders.lake_file("scores", key)
    summary = score_feature_parquet(
        folders.lake_file("feature_matrix", key), model, threshold, scoring_timestamp, scores_path
    )
    checks = [
        asset_checks.scores_cover_accepted_rows(scores_path, folders.lake_file("validated_batch", key)),
        asset_checks.scores_are_probabilities(scores_path),
    ]
    output_path = Path(config.output_path) if config.output_path else folders.scored_file(key)
    published = all(check.passed for check in checks)
    distribution, backtest = summary.distribution(), summary.backtest()
    archived = None
    if published:
        archived = archive_superseded(output_path, key, model.md5)
        if archived is not None:
            context.log.info(f"earlier scores at {output_path} (another model or input) moved to {archived}")
        output_sha256 = write_scored_csv(scores_path, output_path)
        folders.write_stage_summary(
            "scores",
            key,
            {
                "run_id": context.run.run_id,
                "output_path": str(output_path.resolve()),
                "output_sha256": output_sha256,
                "rows": summary.rows,
                "threshold": threshold,
                "threshold_source": "model card" if config.threshold is None else "run config",
                "scoring_timestamp": scoring_timestamp,
                "model": {"version": model.version, "md5": model.md5, "path": str(model.path)},
                "score_summary": distribution,
                "backtest": backtest,
                "previous_output_archived_to": str(archived) if archived else None,
            },
        )
    else:
        context.log.error(f"scores failed their checks; {output_path} was not written")
    return MaterializeResult(
        metadata={
            "rows_scored": summary.rows,
            "output_path": MetadataValue.path(str(output_path)) if published else "not written (checks failed)",
            "model_version": model.version,
            "model_md5": model.md5,
            "threshold": threshold,
            "scoring_timestamp": scoring_timestamp,
            "score_summary": MetadataValue.json(distribution),
            "backtest_on_churn_label": MetadataValue.json(backtest) if backtest else "no Churn labels in the file",
            "preview": preview_table(scores_path),
            ROW_COUNT_KEY: summary.rows,
        },
        check_results=checks,
    )


def preview_table(scores_path: Path) -> MetadataValue:
    first = next(lake_reader(scores_path).iter_batches(batch_size=PREVIEW_ROWS), None)
    rows = first.to_pylist() if first is not None else []
    schema = scores_schema()
    return MetadataValue.table(records=[TableRecord(row) for row in rows], schema=schema)


@asset(
    partitions_def=input_files_partitions,
    group_name=GROUP,
    code_version=CODE_VERSION,
    deps=[scores],
    automation_condition=REWRITE_MANIFEST_AFTER_SCORES,
    check_specs=[
        asset_checks.blocking(
            "scoring_manifest", "output_sha256_matches_manifest", "The scored file on disk is the one described."
        )
    ],
    description="scored/<partition>.manifest.json: the lineage of the scored file (input, model, run, counts).",
)
def scoring_manifest(context: AssetExecutionContext, folders: ScoringFolders) -> MaterializeResult:
    key = context.partition_key
    raw = folders.read_stage_summary("raw_batch", key)
    validated = folders.read_stage_summary("validated_batch", key)
    scored = folders.read_stage_summary("scores", key)
    output_path = Path(scored["output_path"])
    manifest = {
        "partition_key": key,
        "run_id": context.run.run_id,
        "scores_run_id": scored["run_id"],
        "input": {"path": raw["path"], "sha256": raw["sha256"], "bytes": raw["bytes"], "rows": raw["rows"]},
        "output": {"path": str(output_path), "sha256": scored["output_sha256"], "rows": scored["rows"]},
        "rejected": {
            "path": validated["reject_report"],
            "rows": validated["rows_rejected"],
            "counts_by_rule": validated["reject_counts"],
        },
        "model": scored["model"],
        "threshold": scored["threshold"],
        "threshold_source": scored["threshold_source"],
        "scoring_timestamp": scored["scoring_timestamp"],
        "score_summary": scored["score_summary"],
        "backtest": scored["backtest"],
        "previous_output_archived_to": scored["previous_output_archived_to"],
        "code_version": code_version(),
    }
    check = asset_checks.manifest_matches_output(scored["output_sha256"], file_sha256(output_path))
    manifest_path = manifest_path_for(output_path)
    if check.passed:
        write_text_atomically(manifest_path, json_text(manifest))
    else:
        context.log.error(f"{output_path} no longer matches what scores wrote; no manifest written for it")
    return MaterializeResult(
        metadata={
            "manifest_path": MetadataValue.path(str(manifest_path)),
            "scored_path": MetadataValue.path(str(output_path)),
            "input_path": MetadataValue.path(raw["path"]),
            "input_sha256": raw["sha256"],
            "rows_in": raw["rows"],
            "rows_scored": scored["rows"],
            "rows_rejected": validated["rows_rejected"],
            "model_version": scored["model"]["version"],
            "manifest": MetadataValue.json(manifest),
        },
        check_results=[check],
    )


def json_text(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    package = installed_version("scoring-assets")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return package
    return f"{package}+g{commit}" if commit else package
