"""The jobs of a use case. The UI, the sensors and the CLI all run these; there is no other way to score.

- ``<use case>__score_file``: the whole graph for one file (partition), from the CSV to the manifest.
- ``<use case>__rescore``: ``scores`` and ``scoring_manifest`` only, for partitions already scored,
  after a model change (features do not depend on the model, so they are not rebuilt).
Both end with ``shadow_scores``: the same run scores the file with the challenger too, when there is one.
Both run in process: a per-file run has a few cheap steps; a process per step would cost ~3 s each.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg

from scoring_assets.builders.ingest_assets import RawBatchConfig, ValidationConfig
from scoring_assets.builders.keys import UseCaseKeys
from scoring_assets.builders.prediction_assets import ScoringConfig
from scoring_assets.builders.run_tags import use_case_tags
from scoring_assets.core.manifest import reject_report_path_for


@cache  # one job object per use case: the use case's definitions and the inbox router share it
def build_jobs(keys: UseCaseKeys) -> tuple[dg.UnresolvedAssetJobDefinition, ...]:
    score_file = dg.define_asset_job(
        name=keys.score_file_job,
        selection=dg.AssetSelection.assets(*keys.scoring_assets, keys.shadow_scores),
        executor_def=dg.in_process_executor,
        tags=use_case_tags(keys.use_case),
        description=f"Score one {keys.use_case} file: raw_batch -> validated_batch -> feature_matrix -> scores "
        "-> scoring_manifest; shadow_scores while a challenger exists.",
    )
    rescore = dg.define_asset_job(
        name=keys.rescore_job,
        selection=dg.AssetSelection.assets(keys.scores, keys.scoring_manifest, keys.shadow_scores),
        executor_def=dg.in_process_executor,
        tags=use_case_tags(keys.use_case),
        description=f"Re-score already scored {keys.use_case} files with the current model (scores, manifest; "
        "shadow_scores while a challenger exists).",
    )
    return score_file, rescore


def score_file_run_config(
    keys: UseCaseKeys,
    carry_columns: list[str] | None = None,
    max_reject_fraction: float = 0.05,
    threshold: float | None = None,
    output: Path | None = None,
    loggers: dict | None = None,
    reason_inputs: bool | None = None,
) -> dg.RunConfig:
    """The score_file job's run config, typed by its ops' Config classes (the CLI's options, or a test's).

    ``output`` puts the scored file there, with its reject report beside it (default: the data folder's);
    ``reason_inputs`` True adds the reason_N_input columns (None: the use case's setting).
    """
    return dg.RunConfig(
        ops={
            keys.raw_batch_op: RawBatchConfig(carry_columns=carry_columns),
            keys.validated_batch_op: ValidationConfig(
                max_reject_fraction=max_reject_fraction,
                reject_report_path=str(reject_report_path_for(output)) if output else "",
            ),
            keys.score_and_publish_op: ScoringConfig(
                threshold=threshold, output_path=str(output or ""), reason_inputs=reason_inputs
            ),
        },
        loggers=loggers or {},
    )
