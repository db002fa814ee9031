"""Prediction assets of a use case: ``feature_matrix``, then ``scores`` and ``scoring_manifest`` published together.

``scores`` (the scored CSV) and ``scoring_manifest`` (its lineage) are one multi-asset that
cannot be split: whatever is selected in the UI or on the command line, the scored file and
its manifest are written by the same step, after the scores' checks pass, and whatever they
replace is archived first. They never disagree.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

from scoring_assets.builders import asset_checks
from scoring_assets.builders.column_schemas import (
    COLUMN_SCHEMA_KEY,
    ROW_COUNT_KEY,
    feature_matrix_schema,
    scores_schema,
)
from scoring_assets.builders.figures import figure
from scoring_assets.builders.ingest_assets import CODE_VERSION, registered_input
from scoring_assets.builders.keys import UseCaseKeys, keys_of
from scoring_assets.builders.model_assets import latest_observed_model_md5
from scoring_assets.builders.refusals import RefusalKind, materialize_or_refuse, refusal
from scoring_assets.builders.resources import ModelStore, ScoringFolders
from scoring_assets.builders.run_tags import file_tags, tag_run
from scoring_assets.core.drift import DriftAccumulator, FileDrift
from scoring_assets.core.files import file_sha256
from scoring_assets.core.folders import InputRegistration
from scoring_assets.core.lake import lake_reader
from scoring_assets.core.manifest import Publication, drift_report_path_for
from scoring_assets.core.manifest_model import Manifest, figures
from scoring_assets.core.model_store import LoadedModel, ModelIntegrityError
from scoring_assets.core.output_paths import UnsafeOutputPathError, check_scored_output_path
from scoring_assets.core.reason_check import judge_reasons
from scoring_assets.core.scoring import (
    ScoringRun,
    publish_scores,
    score_feature_parquet,
    scored_columns,
    write_feature_parquet,
)
from scoring_assets.core.use_case import UseCase

PREVIEW_ROWS = 10


class ScoringConfig(dg.Config):
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Decision threshold; default: the one in the model card."
    )
    output_path: str = Field(
        default="", description="Where to write the scored CSV (default: scored/<use case>/<partition>.csv)."
    )
    reason_inputs: bool | None = Field(
        default=None,
        description="Write reason_N_input columns naming each reason's contract columns (default: the use case's "
        "setting); only for a use case that declares reasons.",
    )


def verified_model(context: dg.AssetExecutionContext, use_case: UseCase, model_store: ModelStore) -> LoadedModel:
    """The model DVC records, provided the instance observed that very model (so lineage names it)."""
    model, problem = model_or_problem(context.instance, use_case, model_store)
    if problem:
        raise refusal(context, RefusalKind.MODEL, problem)
    return model


def model_or_problem(
    instance: dg.DagsterInstance, use_case: UseCase, model_store: ModelStore
) -> tuple[LoadedModel | None, str | None]:
    """The verified model DVC records, or why it cannot score: unverifiable, or not the one the instance observed."""
    try:
        model = model_store.load(use_case)
    except ModelIntegrityError as error:
        return None, f"model: {error}"
    observed = latest_observed_model_md5(instance, use_case)
    if observed != model.md5:
        return None, (
            f"{use_case.model_name} was last observed with md5 {observed} but DVC now records {model.md5}: observe "
            "the model first (the CLI and the sensors do this for you) so the run's lineage names the model it uses"
        )
    return model, None


def build_prediction_assets(use_case: UseCase, partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """``feature_matrix`` and the ``scores`` + ``scoring_manifest`` multi-asset for one use case."""
    keys = keys_of(use_case)
    return [_feature_matrix_asset(use_case, keys, partitions), _score_and_publish_asset(use_case, keys, partitions)]


def _feature_matrix_asset(
    use_case: UseCase, keys: UseCaseKeys, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.feature_matrix,
        partitions_def=partitions,
        group_name=use_case.name,
        code_version=CODE_VERSION,
        deps=[keys.validated_batch],
        metadata={COLUMN_SCHEMA_KEY: feature_matrix_schema(use_case)},
        check_specs=[
            asset_checks.COLUMNS_AND_DTYPES_MATCH_MODEL.spec(use_case, partitions),
            asset_checks.NO_MISSING_MODEL_INPUTS.spec(use_case, partitions),
        ],
        description="Model inputs for every accepted row, built by the same code training uses.",
    )
    def feature_matrix(context: dg.AssetExecutionContext, folders: ScoringFolders, model_store: ModelStore):
        own, key = folders.of(use_case.name), context.partition_key
        features_path = own.lake_file("feature_matrix", key)
        rows = write_feature_parquet(use_case, own.lake_file("validated_batch", key), features_path)
        try:
            model_features = model_store.verify(use_case).feature_columns
        except ModelIntegrityError as error:
            raise refusal(context, RefusalKind.MODEL, f"model: {error}") from None
        yield from materialize_or_refuse(
            context,
            own,
            dg.MaterializeResult(
                metadata={"rows": rows, "lake_path": dg.MetadataValue.path(str(features_path)), ROW_COUNT_KEY: rows},
                check_results=[
                    asset_checks.feature_columns_match_model(use_case, features_path, model_features),
                    asset_checks.features_have_no_missing_values(use_case, features_path),
                ],
            ),
        )

    return feature_matrix


def _score_and_publish_asset(
    use_case: UseCase, keys: UseCaseKeys, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=keys.score_and_publish_op,
        specs=[
            dg.AssetSpec(
                keys.scores,
                deps=[keys.feature_matrix, keys.model],
                partitions_def=partitions,
                group_name=use_case.name,
                code_version=CODE_VERSION,
                metadata={COLUMN_SCHEMA_KEY: scores_schema(use_case)},
                description=f"The model's score for every accepted row ({use_case.score_column}), computed by its "
                "serving artifact (core.serving); published as the scored CSV once its checks pass.",
            ),
            dg.AssetSpec(
                keys.scoring_manifest,
                deps=[keys.scores],
                partitions_def=partitions,
                group_name=use_case.name,
                code_version=CODE_VERSION,
                description="<scored file>.manifest.json: its lineage (input, model, run, counts), written with it.",
            ),
        ],
        check_specs=score_and_publish_check_specs(use_case, partitions),
        can_subset=False,
        partitions_def=partitions,
    )
    def score_and_publish(
        context: dg.AssetExecutionContext, config: ScoringConfig, folders: ScoringFolders, model_store: ModelStore
    ):
        yield from score_and_publish_file(context, use_case, config, folders, model_store)

    return score_and_publish


def score_and_publish_check_specs(use_case: UseCase, partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """The scores' checks and the manifest's, and the drift checks when the model has a reference profile."""
    specs = [
        asset_checks.SCORES_MATCH_ACCEPTED_ROWS.spec(use_case, partitions),
        asset_checks.SCORE_IS_PROBABILITY.spec(use_case, partitions),
        asset_checks.OUTPUT_SHA256_MATCHES_MANIFEST.spec(use_case, partitions),
    ]
    if use_case.reasons:
        specs.append(asset_checks.REASONS_CONSISTENT.spec(use_case, partitions))
    if use_case.model.profile_path:
        specs += [
            asset_checks.INPUT_DRIFT_BELOW_ALERT.spec(use_case, partitions),
            asset_checks.SCORE_DRIFT_BELOW_ALERT.spec(use_case, partitions),
        ]
    return specs


def score_and_publish_file(
    context: dg.AssetExecutionContext,
    use_case: UseCase,
    config: ScoringConfig,
    folders: ScoringFolders,
    model_store: ModelStore,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Score the partition's features, then publish the scored file and its manifest once the scores' checks pass."""
    registration = registered_input(context, folders.of(use_case.name))
    model = verified_model(context, use_case, model_store)
    tag_run(
        context.instance,
        context.run,
        file_tags(Path(registration.source_path).name, registration.sha256, model.version),
    )
    yield from publish_file_scores(context, use_case, config, folders, registration, model)


def publish_file_scores(
    context: dg.AssetExecutionContext,
    use_case: UseCase,
    config: ScoringConfig,
    folders: ScoringFolders,
    registration: InputRegistration,
    model: LoadedModel,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Score one registered file with a verified model and publish it: the part a batched re-score repeats per file.

    ``context`` is the step's, or one file of a batch run (``batch_rescore.OneFileOfBatch``).
    """
    own, key = folders.of(use_case.name), context.partition_key
    output_path = Path(config.output_path).expanduser().resolve() if config.output_path else own.scored_file(key)
    try:
        check_scored_output_path(registration.source_path, output_path, [folders.inbox])
    except UnsafeOutputPathError as error:
        raise refusal(context, RefusalKind.OUTPUT_PATH, str(error)) from None
    run = scoring_run(context, registration.source_path, model, config.threshold)
    scores_path = own.lake_file("scores", key)
    drift = DriftAccumulator(use_case, model.reference_profile) if model.reference_profile else None
    with own.one_run_at_a_time(key):  # another run of this file scores, publishes and checks before or after
        features_path = own.lake_file("feature_matrix", key)
        summary = score_feature_parquet(
            use_case, features_path, model, run.threshold, run.timestamp, scores_path, drift, config.reason_inputs
        )
        score_checks = [
            asset_checks.scores_cover_accepted_rows(use_case, scores_path, own.lake_file("validated_batch", key)),
            asset_checks.scores_are_probabilities(use_case, scores_path),
        ]
        if use_case.reasons:
            verdict = judge_reasons(use_case, model, scores_path, features_path)
            score_checks.append(asset_checks.reasons_are_consistent(use_case, verdict))
        if not all(check.passed for check in score_checks):
            yield from materialize_or_refuse(
                context,
                own,
                dg.MaterializeResult(asset_key=keys_of(use_case).scores, check_results=score_checks),
                reason=f"{output_path} was not written",
            )
        file_drift = drift.result() if drift else None
        publication = publish_scores(use_case, own, run, scores_path, output_path, summary, file_drift)
        own.write_stage_summary("scores", key, publication.as_record())
        results = published_results(use_case, publication, scores_path, score_checks, file_drift, folders)
    if publication.archived_to is not None:
        context.log.info(f"earlier results at {output_path} moved to {publication.archived_to}")
    yield from materialize_or_refuse(context, own, *results, reason=f"{output_path} no longer matches its manifest")


def scoring_run(
    context: dg.AssetExecutionContext, source_path: str, model: LoadedModel, threshold: float | None
) -> ScoringRun:
    """This run of the partition's file: the model, the threshold (the card's unless the run sets one), the time."""
    return ScoringRun(
        partition_key=context.partition_key,
        run_id=context.run.run_id,
        source_path=source_path,
        model=model,
        threshold=model.threshold if threshold is None else float(threshold),
        threshold_source="model card" if threshold is None else "run config",
        timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


def published_results(
    use_case: UseCase,
    publication: Publication,
    scores_path: Path,
    score_checks: list,
    file_drift: FileDrift | None,
    folders: ScoringFolders,
) -> tuple[dg.MaterializeResult, dg.MaterializeResult]:
    """The ``scores`` and ``scoring_manifest`` materializations of a published file, with their checks.

    The manifest's check hashes the scored file as it now is on disk, apart from the hash taken
    while it was written.
    """
    report_path = drift_report_path_for(publication.scored_path)
    drift_checks = (
        [
            asset_checks.input_drift_below_alert(use_case, file_drift),
            asset_checks.score_drift_below_alert(use_case, file_drift),
        ]
        if file_drift
        else []
    )
    scores = dg.MaterializeResult(
        asset_key=keys_of(use_case).scores,
        metadata=scores_metadata(
            use_case,
            publication.manifest,
            scores_path,
            drift_metadata(file_drift, report_path, folders) if file_drift else {},
        ),
        check_results=score_checks + drift_checks,
    )
    recorded_sha256 = publication.manifest.output.sha256
    manifest = dg.MaterializeResult(
        asset_key=keys_of(use_case).scoring_manifest,
        metadata=manifest_metadata(publication),
        check_results=[
            asset_checks.manifest_matches_output(use_case, recorded_sha256, file_sha256(publication.scored_path))
        ],
    )
    return scores, manifest


def scores_metadata(use_case: UseCase, manifest: Manifest, scores_path: Path, drift: dict) -> dict:
    """What a person needs about a scored file: every figure a separate number, so Dagster plots it over time.

    ``drift`` (``drift_metadata``) comes right after the figures, before the preview.
    """
    output, backtest = manifest.output, manifest.backtest
    distribution = {
        (name if name == "share_at_or_above_threshold" else f"score_{name}"): figure(value)
        for name, value in figures(manifest.score_summary).items()
    }
    return {
        "rows_scored": output.rows,
        "cells_neutralised": output.cells_neutralised,
        **distribution,
        **{f"backtest_{name}": value for name, value in figures(backtest).items()},
        **{name: figure(value) for name, value in figures(manifest.estimated_performance).items()},
        "threshold": round(manifest.threshold, 4),
        "output_path": dg.MetadataValue.path(output.path),
        "model_version": manifest.model.version,
        "model_md5": manifest.model.md5,
        "scoring_timestamp": manifest.scoring_timestamp,
        "backtest": "see the backtest_* entries"
        if backtest
        else f"no {use_case.label_column or 'label'} column in the file",
        **drift,
        "preview": preview_table(use_case, scores_path),
        ROW_COUNT_KEY: output.rows,
    }


DRIFT_TABLE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("feature", "string"),
        dg.TableColumn("psi", "float"),
        dg.TableColumn("level", "string"),
        dg.TableColumn("batch", "string", description="this file: mean, or the most common level and its share"),
        dg.TableColumn("reference", "string", description="the training data, the same way"),
        dg.TableColumn("missing_share", "float"),
    ]
)


def drift_metadata(file_drift, report_path: Path, folders: ScoringFolders) -> dict:
    """The drift table (most drifted first), one plottable PSI per input, the score's, and the report."""
    rows = [
        dg.TableRecord(
            {
                "feature": name,
                "psi": round(float(feature.psi), 4),
                "level": feature.level,
                "batch": feature.batch_summary,
                "reference": feature.reference_summary,
                "missing_share": round(float(feature.missing_share), 4),
            }
        )
        for name, feature in sorted(file_drift.features.items(), key=lambda item: -item[1].psi)
    ]
    return {
        "drift": dg.MetadataValue.table(rows, schema=DRIFT_TABLE_SCHEMA),
        "drift_input_level": file_drift.input_level,
        "drift_score_level": file_drift.score.level,
        "drift_score_psi": figure(file_drift.score.psi),
        "drift_max_input_psi": max((figure(f.psi) for f in file_drift.features.values()), default=0.0),
        **{f"psi/{name}": figure(feature.psi) for name, feature in file_drift.features.items()},
        **folders.report_metadata("drift_report", report_path),
    }


def manifest_metadata(publication: Publication) -> dict:
    manifest, archived = publication.manifest, publication.archived_to
    return {
        "manifest_path": dg.MetadataValue.path(str(publication.manifest_path)),
        "scored_path": dg.MetadataValue.path(str(publication.scored_path)),
        "input_path": dg.MetadataValue.path(manifest.input.path),
        "input_sha256": manifest.input.sha256,
        "rows_in": manifest.input.rows,
        "rows_scored": manifest.output.rows,
        "rows_rejected": manifest.rejected.rows,
        "model_version": manifest.model.version,
        "previous_output_archived_to": dg.MetadataValue.path(str(archived)) if archived else "nothing replaced",
        "manifest": dg.MetadataValue.json(manifest.as_dict()),
    }


def preview_table(use_case: UseCase, scores_path: Path) -> dg.MetadataValue:
    source = lake_reader(scores_path)
    first = next(source.iter_batches(batch_size=PREVIEW_ROWS, columns=scored_columns(use_case)), None)
    rows = first.to_pylist() if first is not None else []
    return dg.MetadataValue.table(records=[dg.TableRecord(row) for row in rows], schema=scores_schema(use_case))
