"""Everything Dagster knows about one use case, built from its declaration: the unit ``defs`` instantiates."""

from __future__ import annotations

import dagster as dg

from scoring_assets.builders.batch_rescore import build_rescore_batch_job
from scoring_assets.builders.challenger import (
    build_challenger_asset,
    build_train_challenger_job,
    build_training_set_asset,
)
from scoring_assets.builders.evidence import build_evidence_job
from scoring_assets.builders.inbox_sensors import (
    build_inbox_router,
    build_inbox_sensor,
    inbox_asset_spec,
    shared_inbox_spec,
)
from scoring_assets.builders.ingest_assets import build_ingest_assets
from scoring_assets.builders.jobs import build_jobs
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import build_model_asset
from scoring_assets.builders.model_lifecycle import build_lifecycle_jobs, build_model_history_asset
from scoring_assets.builders.model_sensors import build_model_sensor, build_rescore_sensor
from scoring_assets.builders.monitoring import build_monitoring_definitions
from scoring_assets.builders.outcome_assets import build_outcomes_job, build_realized_performance_asset
from scoring_assets.builders.outcome_sensors import build_outcomes_sensor, outcomes_inbox_spec
from scoring_assets.builders.prediction_assets import build_prediction_assets
from scoring_assets.builders.retention import build_prune_job
from scoring_assets.builders.retirement import build_retire_file_job
from scoring_assets.builders.retrain_triggers import build_retrain_triggers
from scoring_assets.builders.schedules import build_nightly_rescore, build_prune_schedule
from scoring_assets.builders.shadow_assets import build_shadow_scores_asset
from scoring_assets.core.use_case import UseCase


def build_use_case_definitions(use_case: UseCase, inbox_interval_seconds: int) -> dg.Definitions:
    """One use case's assets, jobs, sensors and schedule, over its own dynamic partitions (one per file)."""
    keys = keys_of(use_case)
    partitions = dg.DynamicPartitionsDefinition(name=keys.partitions)
    score_file, rescore = build_jobs(keys)
    feature_matrix, score_and_publish = build_prediction_assets(use_case, partitions)
    shadow_scores = build_shadow_scores_asset(use_case, partitions)
    rescore_batch = build_rescore_batch_job(use_case, score_and_publish, shadow_scores)
    prune = build_prune_job(use_case)
    definitions = dg.Definitions(
        assets=[
            build_model_asset(use_case),
            build_model_history_asset(use_case),
            build_training_set_asset(use_case),
            build_challenger_asset(use_case),
            *build_ingest_assets(use_case, partitions),
            feature_matrix,
            score_and_publish,
            shadow_scores,
            inbox_asset_spec(use_case),
        ],
        jobs=[
            score_file,
            rescore,
            rescore_batch,
            *build_lifecycle_jobs(use_case),
            build_train_challenger_job(use_case),
            build_retire_file_job(use_case),
            build_evidence_job(use_case),
            prune,
        ],
        sensors=[
            build_inbox_sensor(use_case, score_file, inbox_interval_seconds),
            build_model_sensor(use_case),
            build_rescore_sensor(use_case, rescore_batch),
        ],
        schedules=[build_nightly_rescore(use_case, rescore_batch), build_prune_schedule(use_case, prune)],
    )
    return dg.Definitions.merge(
        definitions,
        build_monitoring_definitions(use_case),
        build_outcomes_definitions(use_case, inbox_interval_seconds),
        build_retrain_triggers(use_case),
    )


def build_outcomes_definitions(use_case: UseCase, inbox_interval_seconds: int) -> dg.Definitions:
    """The realized performance asset and job, the outcomes inbox and its sensor; nothing for a use case without ids."""
    if not use_case.takes_outcomes:
        return dg.Definitions()
    job = build_outcomes_job(use_case)
    return dg.Definitions(
        assets=[build_realized_performance_asset(use_case), outcomes_inbox_spec(use_case)],
        jobs=[job],
        sensors=[build_outcomes_sensor(use_case, job, inbox_interval_seconds)],
    )


def build_shared_inbox_definitions(use_cases: list[UseCase], inbox_interval_seconds: int) -> dg.Definitions:
    """The shared inbox and its router, which requests each use case's score_file job by name."""
    score_file_jobs = [build_jobs(keys_of(use_case))[0] for use_case in use_cases]
    return dg.Definitions(
        assets=[shared_inbox_spec()],
        sensors=[build_inbox_router(use_cases, score_file_jobs, inbox_interval_seconds)],
    )
