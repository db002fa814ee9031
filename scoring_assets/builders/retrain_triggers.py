"""When a challenger is trained without anyone asking: weekly, or after a run of drifted files (both off by default).

- ``<use case>__retrain_schedule`` (Mondays 03:00 UTC, after the nightly re-score) and
- ``<use case>__retrain_on_drift`` (a sensor: the last ``PromotionPolicy.retrain_after_alerts``
  scored files, in scoring order, all at drift level ``alert`` for their inputs or score, as their
  manifests record it; asked once per such run of files, the cursor being the scoring timestamp of
  the file that completed it, so only files scored after it count towards the next)

both request the ``<use case>__train_challenger`` job on ``production`` rows, tagged with their
trigger. They only train a challenger: it is served only when someone promotes it, or, for a use
case whose policy sets ``auto_promote``, when the gate passes it (``training.challenger`` decides,
as for every other way a challenger is trained). Neither asks while a ``train_challenger`` run of
the use case is queued or running, nor while the use case has no production rows to train on
beyond the gate's holdout (told without reading them: ``core.training_set``).
"""

from __future__ import annotations

import json

import dagster as dg

from scoring_assets.builders.challenger import train_challenger_run_config
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.monitoring import SCORING_IN_PROGRESS as IN_PROGRESS
from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.builders.run_tags import Trigger, trigger_tags
from scoring_assets.core.monitoring import alerting_streak, recent_file_records
from scoring_assets.core.training_set import production_training_problem
from scoring_assets.core.use_case import UseCase
from scoring_assets.training.challenger import PRODUCTION

RETRAIN_CRON = "0 3 * * 1"  # Mondays 03:00 UTC: after the nightly re-score (02:00)


def training_in_progress(context, use_case: UseCase) -> str | None:
    """Why not to ask now when a ``train_challenger`` run of the use case is queued or running; else None."""
    training = context.instance.get_runs_count(
        dg.RunsFilter(job_name=keys_of(use_case).train_challenger_job, statuses=IN_PROGRESS)
    )
    if training:
        return f"a {use_case.name} challenger is already being trained (a train_challenger run queued or running)"
    return None


def build_retrain_triggers(use_case: UseCase) -> dg.Definitions:
    """The retraining schedule and the drift sensor of one use case, both declared stopped."""
    return dg.Definitions(
        schedules=[build_retrain_schedule(use_case)], sensors=[build_retrain_on_drift_sensor(use_case)]
    )


def build_retrain_schedule(use_case: UseCase) -> dg.ScheduleDefinition:
    keys = keys_of(use_case)

    @dg.schedule(
        name=keys.retrain_schedule,
        job_name=keys.train_challenger_job,
        cron_schedule=RETRAIN_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Mondays 03:00 UTC: train a {use_case.name} challenger on the labelled production rows and "
        "judge it with the promotion gate (promoted only with the policy's auto_promote and a passing gate).",
    )
    def retrain_schedule(context: dg.ScheduleEvaluationContext, folders: ScoringFolders):
        problem = training_in_progress(context, use_case) or production_training_problem(
            use_case, folders.of(use_case.name)
        )
        if problem is not None:
            return dg.SkipReason(problem)
        week = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return dg.RunRequest(
            run_key=f"retrain@{week}",
            run_config=train_challenger_run_config(use_case, PRODUCTION),
            tags=trigger_tags(Trigger.RETRAIN_SCHEDULE),
        )

    return retrain_schedule


def build_retrain_on_drift_sensor(use_case: UseCase) -> dg.SensorDefinition:
    keys = keys_of(use_case)
    needed = use_case.promotion.retrain_after_alerts

    @dg.sensor(
        name=keys.retrain_on_drift_sensor,
        job_name=keys.train_challenger_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Trains a {use_case.name} challenger on the labelled production rows when the last {needed} "
        "scored files all drifted to alert (inputs or score); once per such run of files.",
    )
    def retrain_on_drift(context: dg.SensorEvaluationContext, folders: ScoringFolders):
        answered = json.loads(context.cursor) if context.cursor else {}
        streak = alerting_streak(recent_file_records(folders.of(use_case.name), needed), answered.get("scored_at"))
        if len(streak) < needed:
            return dg.SkipReason(
                f"{len(streak)} of the last {needed} scored {use_case.name} file(s) at drift level alert "
                "since the last retraining asked for (all must be)"
            )
        last = streak[-1]
        cursor = json.dumps({"scored_at": last["scored_at"], "partition": last["partition"]})
        busy = training_in_progress(context, use_case)
        if busy is not None:  # the challenger being trained answers these alerts: they are not counted again
            return dg.SensorResult(skip_reason=busy, cursor=cursor)
        problem = production_training_problem(use_case, folders.of(use_case.name))
        if problem is not None:  # the alerts stay unanswered: asked for once rows are there, if still at alert
            return dg.SkipReason(f"{needed} files in a row at alert, but {problem}")
        files = ", ".join(record["partition"] for record in streak)
        context.log.info(
            f"{needed} {use_case.name} files in a row at drift level alert ({files}): training a challenger"
        )
        request = dg.RunRequest(
            run_key=f"drift@{last['partition']}@{last['scored_at']}",
            run_config=train_challenger_run_config(use_case, PRODUCTION),
            tags=trigger_tags(Trigger.DRIFT_ALERTS),
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return retrain_on_drift
