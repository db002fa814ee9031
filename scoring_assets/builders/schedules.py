"""Fixed cadences for teams that want them (off by default): nightly re-score of the latest files, daily pruning."""

from __future__ import annotations

import dagster as dg

from scoring_assets.builders.batch_rescore import batch_run_requests
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import RescoreSettings
from scoring_assets.builders.run_tags import Trigger, trigger_tags
from scoring_assets.core.use_case import UseCase

NIGHTLY_LATEST_PARTITIONS = 50


def build_nightly_rescore(use_case: UseCase, rescore_job) -> dg.ScheduleDefinition:
    keys = keys_of(use_case)

    @dg.schedule(
        name=keys.nightly_rescore_schedule,
        job_name=rescore_job.name,  # by name, as the rescore sensor (model_sensors)
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"02:00 UTC: re-score the {NIGHTLY_LATEST_PARTITIONS} latest registered {use_case.name} files "
        "with the current model.",
    )
    def nightly_rescore(context: dg.ScheduleEvaluationContext, rescore_settings: RescoreSettings):
        latest = context.instance.get_dynamic_partitions(keys.partitions)[-NIGHTLY_LATEST_PARTITIONS:]
        if not latest:
            return dg.SkipReason("no files registered yet")
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return batch_run_requests(
            use_case, latest, rescore_settings.max_partitions_per_run, night, trigger_tags(Trigger.SCHEDULE)
        )

    return nightly_rescore


def build_prune_schedule(use_case: UseCase, prune_job) -> dg.ScheduleDefinition:
    """``<use case>__prune_schedule``: every day, the files scored more than ``retain_days`` ago leave Dagster."""
    keys = keys_of(use_case)

    @dg.schedule(
        name=keys.prune_schedule,
        job=prune_job,
        cron_schedule="30 3 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"03:30 UTC: prune the {use_case.name} files scored more than retain_days "
        f"({use_case.retain_days or 'not set: keep everything'}) days ago from Dagster.",
    )
    def prune_schedule(context: dg.ScheduleEvaluationContext):
        if use_case.retain_days is None:
            return dg.SkipReason(f"{use_case.name} declares no retain_days: every file is kept")
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"prune@{day}", tags=trigger_tags(Trigger.SCHEDULE))

    return prune_schedule
