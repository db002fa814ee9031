"""The jobs of a use case. The UI, the sensors and the CLI all run these; there is no other way to score.

- ``<use case>__score_file``: the whole graph for one file (partition), from the CSV to the manifest.
- ``<use case>__rescore``: ``scores`` and ``scoring_manifest`` only, for partitions already scored,
  after a model change (features do not depend on the model, so they are not rebuilt).
Both run in process: a per-file run has a few cheap steps; a process per step would cost ~3 s each.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from scoring_assets.builders.keys import UseCaseKeys


@cache  # one job object per use case: the use case's definitions and the inbox router share it
def build_jobs(keys: UseCaseKeys) -> tuple[dg.UnresolvedAssetJobDefinition, ...]:
    score_file = dg.define_asset_job(
        name=keys.score_file_job,
        selection=dg.AssetSelection.assets(*keys.scoring_assets),
        executor_def=dg.in_process_executor,
        description=f"Score one {keys.use_case} file: raw_batch -> validated_batch -> feature_matrix -> scores "
        "-> scoring_manifest.",
    )
    rescore = dg.define_asset_job(
        name=keys.rescore_job,
        selection=dg.AssetSelection.assets(keys.scores, keys.scoring_manifest),
        executor_def=dg.in_process_executor,
        description=f"Re-score already scored {keys.use_case} files with the current model (scores, manifest).",
    )
    return score_file, rescore
