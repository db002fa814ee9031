"""The Dagster code location: what `dagster dev` loads through workspace.yaml."""

from __future__ import annotations

from dagster import Definitions

from scoring_assets.ingest_assets import raw_batch, validated_batch
from scoring_assets.jobs import score_file_job
from scoring_assets.model_assets import churn_model
from scoring_assets.prediction_assets import feature_matrix, scores, scoring_manifest
from scoring_assets.resources import ScoringFolders

defs = Definitions(
    assets=[churn_model, raw_batch, validated_batch, feature_matrix, scores, scoring_manifest],
    jobs=[score_file_job],
    resources={"folders": ScoringFolders()},
)
