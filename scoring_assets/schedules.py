"""A fixed cadence for teams that want one: re-score the latest files every night (off by default)."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from scoring_assets.jobs import rescore_job
from scoring_assets.partitions import input_files_partitions
from scoring_assets.run_tags import Trigger, trigger_tags

NIGHTLY_LATEST_PARTITIONS = 50


@schedule(
    job=rescore_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description=f"02:00 UTC: re-score the {NIGHTLY_LATEST_PARTITIONS} latest registered files with the current model.",
)
def nightly_rescore(context: ScheduleEvaluationContext):
    partitions = context.instance.get_dynamic_partitions(input_files_partitions.name)
    latest = partitions[-NIGHTLY_LATEST_PARTITIONS:]
    if not latest:
        return SkipReason("no files registered yet")
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        RunRequest(partition_key=key, run_key=f"{key}@{night}", tags=trigger_tags(Trigger.SCHEDULE)) for key in latest
    ]
