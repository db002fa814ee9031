"""The jobs. The UI, the sensor and the CLI all run these; there is no other way to score.

- ``score_file``: the whole graph for one file (partition), from the CSV to the manifest.
- ``rescore``: ``scores`` and ``scoring_manifest`` only, for partitions already scored, after
  a model change (features do not depend on the model, so they are not rebuilt).
Both run in process: a per-file run has a few cheap steps; a process per step would cost ~3 s each.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from scoring_assets.ingest_assets import GROUP

SCORE_FILE_JOB = "score_file"
RESCORE_JOB = "rescore"

score_file_job = define_asset_job(
    name=SCORE_FILE_JOB,
    selection=AssetSelection.groups(GROUP),
    executor_def=in_process_executor,
    description="Score one input file: raw_batch -> validated_batch -> feature_matrix -> scores -> scoring_manifest.",
)

rescore_job = define_asset_job(
    name=RESCORE_JOB,
    selection=AssetSelection.assets("scores", "scoring_manifest"),
    executor_def=in_process_executor,
    description="Re-score already scored files with the current model (scores -> scoring_manifest).",
)
