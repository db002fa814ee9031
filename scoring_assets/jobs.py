"""The one job that scores a file. The UI, the sensor and the CLI all run this job."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from scoring_assets.ingest_assets import GROUP

SCORE_FILE_JOB = "score_file"

# In-process: a per-file run has five cheap steps; a process per step would cost ~3 s each.
score_file_job = define_asset_job(
    name=SCORE_FILE_JOB,
    selection=AssetSelection.groups(GROUP),
    executor_def=in_process_executor,
    description="Score one input file: raw_batch -> validated_batch -> feature_matrix -> scores -> scoring_manifest.",
)
