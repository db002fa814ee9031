"""The Dagster code location: what `dagster dev` loads through workspace.yaml."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from scoring_assets.ingest_assets import raw_batch, validated_batch
from scoring_assets.jobs import rescore_job, score_file_job
from scoring_assets.model_assets import churn_model
from scoring_assets.prediction_assets import feature_matrix, score_and_publish
from scoring_assets.resources import ScoringFolders
from scoring_assets.schedules import nightly_rescore
from scoring_assets.sensors import churn_model_sensor, inbox_asset, inbox_sensor, rescore_on_model_change

defs = Definitions(
    assets=[churn_model, raw_batch, validated_batch, feature_matrix, score_and_publish, inbox_asset],
    jobs=[score_file_job, rescore_job],
    sensors=[inbox_sensor, churn_model_sensor, rescore_on_model_change],
    schedules=[nightly_rescore],
    resources={"folders": ScoringFolders()},
    # Runs launched from the UI's asset graph or by automation also run in process.
    executor=in_process_executor,
)
