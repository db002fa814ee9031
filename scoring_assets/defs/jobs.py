"""The jobs of a use case. The UI, the sensors and the CLI all run these; there is no other way to score.

- ``<use case>__score_file``: the whole graph for one file (partition), from the CSV to the manifest.
- ``<use case>__rescore``: ``scores`` and ``scoring_manifest`` only, for partitions already scored,
  after a model change (features do not depend on the model, so they are not rebuilt).
Both run in process: a per-file run has a few cheap steps; a process per step would cost ~3 s each.
"""

from __future__ import annotations

import dagster as dg

from scoring_assets.core.use_case import UseCase

SCORING_ASSETS = ("raw_batch", "validated_batch", "feature_matrix", "scores", "scoring_manifest")


def score_file_job_name(use_case: UseCase) -> str:
    return f"{use_case.name}__score_file"


def rescore_job_name(use_case: UseCase) -> str:
    return f"{use_case.name}__rescore"


def build_jobs(use_case: UseCase) -> tuple[dg.UnresolvedAssetJobDefinition, ...]:
    score_file = dg.define_asset_job(
        name=score_file_job_name(use_case),
        selection=dg.AssetSelection.assets(*([use_case.name, asset] for asset in SCORING_ASSETS)),
        executor_def=dg.in_process_executor,
        description=f"Score one {use_case.name} file: raw_batch -> validated_batch -> feature_matrix -> scores "
        "-> scoring_manifest.",
    )
    rescore = dg.define_asset_job(
        name=rescore_job_name(use_case),
        selection=dg.AssetSelection.assets([use_case.name, "scores"], [use_case.name, "scoring_manifest"]),
        executor_def=dg.in_process_executor,
        description=f"Re-score already scored {use_case.name} files with the current model (scores, manifest).",
    )
    return score_file, rescore
