"""``<use case>/shadow_scores``: while a challenger exists, each scored file is scored by it too, in the same run.

The asset is part of the use case's score_file and rescore jobs and runs after ``scores``: it reads
the published scores and the feature matrix and writes only lake files (``core.shadow_scores``),
so the scored file, its manifest and ``scored/`` are the same with or without a challenger. Its
materialization carries the file's figures as numbers (flip share, score PSI champion ->
challenger, each model's share at or above its threshold, rows), so the UI plots them per file.

Without a challenger the step materializes nothing (``output_required=False``) and logs why. A
materialization says "these are this file's shadow scores"; one saying "no challenger" would show
the partition as materialized and fresh, leave holes in the plotted figures and read like a
comparison that never happened. An unmaterialized partition is the truth.

A challenger that cannot be loaded or verified (``ModelIntegrityError``: a damaged ``challenger.dvc``,
a file that fails its md5) must cost the champion's run nothing: the step logs a warning, records
an observation of the partition ("challenger unusable: ...") and materializes nothing; the run
succeeds and the handed-off file is untouched. Anything else that fails here (the lake unreadable,
a full disk) fails the step loudly, after the scored file was handed off.
"""

import dagster as dg

from scoring_assets.builders.column_schemas import ROW_COUNT_KEY
from scoring_assets.builders.figures import figure
from scoring_assets.builders.ingest_assets import CODE_VERSION
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import ModelStore, ScoringFolders
from scoring_assets.core.model_store import LoadedModel, ModelIntegrityError
from scoring_assets.core.shadow_scores import ShadowSummary, shadow_score_file
from scoring_assets.core.use_case import UseCase

UNUSABLE = "challenger unusable"


def build_shadow_scores_asset(use_case: UseCase, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    keys = keys_of(use_case)

    @dg.asset(
        key=keys.shadow_scores,
        partitions_def=partitions,
        group_name=use_case.name,
        code_version=CODE_VERSION,
        deps=[keys.feature_matrix, keys.scores],
        output_required=False,
        description="The challenger's scores of the file beside the champion's (lake only, never published): "
        "flip share, score PSI champion -> challenger, share at or above each threshold. Nothing without a challenger.",
    )
    def shadow_scores(context: dg.AssetExecutionContext, folders: ScoringFolders, model_store: ModelStore):
        challenger, problem = challenger_to_shadow_with(use_case, model_store)
        if problem:
            record_unusable_challenger(context, use_case, problem)
        elif challenger is None:
            context.log.info(f"{use_case.name} has no challenger: the file is not shadow-scored")
        else:
            yield shadow_score_partition(context, use_case, folders, challenger)

    return shadow_scores


def shadow_score_partition(
    context: dg.AssetExecutionContext, use_case: UseCase, folders: ScoringFolders, challenger: LoadedModel
) -> dg.MaterializeResult:
    """Score the partition's file with the challenger beside the published scores (also one file of a batch run)."""
    own, key = folders.of(use_case.name), context.partition_key
    with own.one_run_at_a_time(key):  # the scores it reads are not replaced by another run of this file meanwhile
        summary = shadow_score_file(use_case, own, key, challenger)
    context.log.info(
        f"shadow-scored {key} with challenger {summary.challenger_version}: {summary.flip_share:.2%} of "
        f"{summary.rows} decisions would flip, score PSI {summary.score_psi:.4f}"
    )
    return dg.MaterializeResult(asset_key=keys_of(use_case).shadow_scores, metadata=shadow_metadata(summary))


def challenger_to_shadow_with(use_case: UseCase, model_store: ModelStore) -> tuple[LoadedModel | None, str | None]:
    """The verified challenger, or None and why not when one exists but is unusable (None, None: there is none).

    Loaded once per run, so a batch run verifies the challenger once, not once per file.
    """
    if not model_store.has_challenger(use_case):
        return None, None
    try:
        return model_store.load_challenger(use_case), None
    except ModelIntegrityError as error:
        return None, str(error)


def record_unusable_challenger(context: dg.AssetExecutionContext, use_case: UseCase, error: str) -> None:
    """Say, in the log and as an observation of the partition, that the file was not shadow-scored and why."""
    description = f"{UNUSABLE}, the file is not shadow-scored (its scored file is not affected): {error}"
    context.log.warning(description)
    context.log_event(
        dg.AssetObservation(
            asset_key=keys_of(use_case).shadow_scores,
            partition=context.partition_key,
            description=description,
            metadata={"outcome": UNUSABLE, "error": error},
        )
    )


def shadow_metadata(summary: ShadowSummary) -> dict:
    """Every figure a separate number (so Dagster plots it over the files), the two models and the lake file."""
    return {
        "challenger_md5": summary.challenger_md5,
        "challenger_version": summary.challenger_version,
        "champion_md5": summary.champion_md5,
        "rows": summary.rows,
        "flipped_rows": summary.flipped_rows,
        "flip_share": figure(summary.flip_share),
        "score_psi": figure(summary.score_psi),
        "share_above_threshold_champion": figure(summary.share_above_threshold_champion),
        "share_above_threshold_challenger": figure(summary.share_above_threshold_challenger),
        "threshold_champion": figure(summary.threshold_champion),
        "threshold_challenger": figure(summary.threshold_challenger),
        "scores_run_id": summary.scores_run_id,
        "lake_path": dg.MetadataValue.path(summary.lake_path),
        ROW_COUNT_KEY: summary.rows,
    }
