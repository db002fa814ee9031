"""Prediction stage assets: ``feature_matrix``, then ``scores`` and ``scoring_manifest`` published together.

``scores`` (the scored CSV) and ``scoring_manifest`` (its lineage) are one multi-asset that
cannot be split: whatever is selected in the UI or on the command line, the scored file and
its manifest are written by the same step, after the scores' checks pass, and whatever they
replace is archived first. They never disagree.
"""

from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    TableRecord,
    asset,
    multi_asset,
)
from pydantic import Field

from scoring_assets import asset_checks
from scoring_assets.column_schemas import COLUMN_SCHEMA_KEY, ROW_COUNT_KEY, feature_matrix_schema, scores_schema
from scoring_assets.files import file_sha256
from scoring_assets.ingest_assets import CODE_VERSION, GROUP, registered_input, validated_batch
from scoring_assets.input_csv import lake_reader
from scoring_assets.manifest import lineage_fields, publish_scored_file
from scoring_assets.model_assets import CHURN_MODEL_KEY, latest_observed_model_md5
from scoring_assets.model_store import LoadedModel, ModelIntegrityError, load_model, verify_artifact
from scoring_assets.output_paths import UnsafeOutputPathError, check_scored_output_path
from scoring_assets.partitions import input_files_partitions
from scoring_assets.refusals import RefusalKind, materialize_or_refuse, refusal
from scoring_assets.resources import ScoringFolders
from scoring_assets.run_tags import file_tags, tag_run
from scoring_assets.scoring import score_feature_parquet, write_feature_parquet, write_scored_csv

PREVIEW_ROWS = 10
SCORES_KEY, MANIFEST_KEY = "scores", "scoring_manifest"


@asset(
    partitions_def=input_files_partitions,
    group_name=GROUP,
    code_version=CODE_VERSION,
    deps=[validated_batch],
    metadata={COLUMN_SCHEMA_KEY: feature_matrix_schema()},
    check_specs=[asset_checks.COLUMNS_AND_DTYPES_MATCH_MODEL.spec(), asset_checks.NO_MISSING_MODEL_INPUTS.spec()],
    description="Model inputs for every accepted row, built by the same code training uses.",
)
def feature_matrix(context: AssetExecutionContext, folders: ScoringFolders):
    key = context.partition_key
    features_path = folders.lake_file("feature_matrix", key)
    rows = write_feature_parquet(folders.lake_file("validated_batch", key), features_path)
    try:
        model_features = verify_artifact().feature_columns
    except ModelIntegrityError as error:
        raise refusal(context, RefusalKind.MODEL, f"model: {error}") from None
    yield from materialize_or_refuse(
        context,
        MaterializeResult(
            metadata={"rows": rows, "lake_path": MetadataValue.path(str(features_path)), ROW_COUNT_KEY: rows},
            check_results=[
                asset_checks.feature_columns_match_model(features_path, model_features),
                asset_checks.features_have_no_missing_values(features_path),
            ],
        ),
    )


class ScoringConfig(Config):
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Decision threshold; default: the one in the model card."
    )
    output_path: str = Field(default="", description="Where to write the scored CSV (default: scored/<partition>.csv).")


def verified_model(context: AssetExecutionContext) -> LoadedModel:
    """The model dvc.lock records, provided the instance observed that very model (so lineage names it)."""
    try:
        model = load_model()
    except ModelIntegrityError as error:
        raise refusal(context, RefusalKind.MODEL, f"model: {error}") from None
    observed = latest_observed_model_md5(context.instance)
    if observed != model.md5:
        raise refusal(
            context,
            RefusalKind.MODEL,
            f"churn_model was last observed with md5 {observed} but dvc.lock now records {model.md5}: observe "
            "churn_model first (the CLI and the sensors do this for you) so the run's lineage names the model it uses",
        )
    return model


@multi_asset(
    name="score_and_publish",
    specs=[
        AssetSpec(
            SCORES_KEY,
            deps=[feature_matrix, CHURN_MODEL_KEY],
            partitions_def=input_files_partitions,
            group_name=GROUP,
            code_version=CODE_VERSION,
            metadata={COLUMN_SCHEMA_KEY: scores_schema()},
            description="predict_proba for every accepted row; published as the scored CSV once its checks pass.",
        ),
        AssetSpec(
            MANIFEST_KEY,
            deps=[SCORES_KEY],
            partitions_def=input_files_partitions,
            group_name=GROUP,
            code_version=CODE_VERSION,
            description="<scored file>.manifest.json: its lineage (input, model, run, counts), written with it.",
        ),
    ],
    check_specs=[
        asset_checks.SCORES_MATCH_ACCEPTED_ROWS.spec(),
        asset_checks.CHURN_SCORE_IS_PROBABILITY.spec(),
        asset_checks.OUTPUT_SHA256_MATCHES_MANIFEST.spec(),
    ],
    can_subset=False,
    partitions_def=input_files_partitions,
)
def score_and_publish(context: AssetExecutionContext, config: ScoringConfig, folders: ScoringFolders):
    key = context.partition_key
    registration = registered_input(context, folders)
    model = verified_model(context)
    tag_run(
        context.instance,
        context.run,
        file_tags(Path(registration.source_path).name, registration.sha256, model.version),
    )
    output_path = Path(config.output_path).expanduser().resolve() if config.output_path else folders.scored_file(key)
    try:
        check_scored_output_path(registration.source_path, output_path, [folders.inbox])
    except UnsafeOutputPathError as error:
        raise refusal(context, RefusalKind.OUTPUT_PATH, str(error)) from None

    threshold = model.threshold if config.threshold is None else float(config.threshold)
    scoring_timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    scores_path = folders.lake_file("scores", key)
    summary = score_feature_parquet(
        folders.lake_file("feature_matrix", key), model, threshold, scoring_timestamp, scores_path
    )
    score_checks = [
        asset_checks.scores_cover_accepted_rows(scores_path, folders.lake_file("validated_batch", key)),
        asset_checks.scores_are_probabilities(scores_path),
    ]
    if not all(check.passed for check in score_checks):
        yield from materialize_or_refuse(
            context,
            MaterializeResult(asset_key=SCORES_KEY, check_results=score_checks),
            reason=f"{output_path} was not written",
        )

    raw = folders.read_stage_summary("raw_batch", key)
    validated = folders.read_stage_summary("validated_batch", key)
    distribution, backtest = summary.distribution(), summary.backtest()
    publication = publish_scored_file(
        lambda path: write_scored_csv(scores_path, path),
        output_path,
        summary.rows,
        lineage_fields(
            key,
            context.run.run_id,
            raw,
            validated,
            {"version": model.version, "md5": model.md5, "path": str(model.path)},
            {"threshold": threshold, "threshold_source": "model card" if config.threshold is None else "run config"},
            {"scoring_timestamp": scoring_timestamp, "score_summary": distribution, "backtest": backtest},
        ),
    )
    manifest = publication.manifest
    if publication.archived_to is not None:
        context.log.info(f"earlier results at {output_path} moved to {publication.archived_to}")
    folders.write_stage_summary(
        "scores",
        key,
        {
            "run_id": context.run.run_id,
            "output_path": str(output_path),
            "manifest_path": str(publication.manifest_path),
            "output_sha256": manifest["output"]["sha256"],
            "rows": summary.rows,
            "threshold": threshold,
            "model": manifest["model"],
        },
    )
    yield from materialize_or_refuse(
        context,
        MaterializeResult(
            asset_key=SCORES_KEY,
            metadata=scores_metadata(summary.rows, distribution, backtest, manifest, output_path, scores_path),
            check_results=score_checks,
        ),
        MaterializeResult(
            asset_key=MANIFEST_KEY,
            metadata={
                "manifest_path": MetadataValue.path(str(publication.manifest_path)),
                "scored_path": MetadataValue.path(str(output_path)),
                "input_path": MetadataValue.path(raw["path"]),
                "input_sha256": raw["sha256"],
                "rows_in": raw["rows"],
                "rows_scored": summary.rows,
                "rows_rejected": validated["rows_rejected"],
                "model_version": model.version,
                "previous_output_archived_to": (
                    MetadataValue.path(str(publication.archived_to)) if publication.archived_to else "nothing replaced"
                ),
                "manifest": MetadataValue.json(manifest),
            },
            check_results=[
                asset_checks.manifest_matches_output(manifest["output"]["sha256"], file_sha256(output_path))
            ],
        ),
        reason=f"{output_path} no longer matches its manifest",
    )


def scores_metadata(
    rows: int, distribution: dict, backtest: dict | None, manifest: dict, output_path: Path, scores_path: Path
) -> dict:
    """What a person needs about a scored file: every figure a separate number, so Dagster plots it over time."""
    figures = {
        (name if name == "share_at_or_above_threshold" else f"score_{name}"): float(value)
        for name, value in distribution.items()
    }
    figures.update({f"backtest_{name}": value for name, value in (backtest or {}).items()})
    return {
        "rows_scored": rows,
        "cells_neutralised": manifest["output"]["cells_neutralised"],
        **figures,
        "threshold": round(manifest["threshold"], 4),
        "output_path": MetadataValue.path(str(output_path)),
        "model_version": manifest["model"]["version"],
        "model_md5": manifest["model"]["md5"],
        "scoring_timestamp": manifest["scoring_timestamp"],
        "backtest": "see the backtest_* entries" if backtest else "no Churn labels in the file",
        "preview": preview_table(scores_path),
        ROW_COUNT_KEY: rows,
    }


def preview_table(scores_path: Path) -> MetadataValue:
    first = next(lake_reader(scores_path).iter_batches(batch_size=PREVIEW_ROWS), None)
    rows = first.to_pylist() if first is not None else []
    return MetadataValue.table(records=[TableRecord(row) for row in rows], schema=scores_schema())
