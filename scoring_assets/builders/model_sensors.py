"""A new model is noticed by itself: the model sensor observes it, the rescore sensor (when on) re-scores.

``<use case>__model_sensor`` observes the model whenever DVC records a new md5, so scored
partitions show as stale in the UI, and says how many and how to re-score them; it also observes
``<use case>/model_history`` whenever a challenger, promotion or rollback changed it;
``<use case>__rescore_on_model_change`` (stopped by default) re-scores every partition scored
with another model than the current one, including partitions that were already stale when it
was switched on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg

from scoring_assets.builders.batch_rescore import batch_run_requests
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import latest_observed_model_md5, model_observation_if_changed
from scoring_assets.builders.model_lifecycle import history_observation_if_changed
from scoring_assets.builders.resources import ModelStore, RescoreSettings
from scoring_assets.builders.run_tags import Trigger, trigger_tags
from scoring_assets.builders.scored_models import count_stale_partitions, latest_scores_storage_ids, models_used
from scoring_assets.core.model_store import ModelIntegrityError
from scoring_assets.core.use_case import UseCase

# Partitions whose latest scores are checked per rescore tick: one query, at most this many run
# requests; the rest are checked on the next ticks.
RESCORE_CHECKS_PER_TICK = 200


def observe_new_model(
    context: dg.SensorEvaluationContext, use_case: UseCase, model_store: ModelStore
) -> dg.AssetObservation | None:
    """The model observation if DVC records a model not observed yet, else None.

    It says how many scored partitions the new model makes stale and how to re-score them, in
    its metadata and in the tick log. Raises ``ModelIntegrityError`` when the model cannot be verified.
    """
    observation = model_observation_if_changed(context.instance, use_case, model_store)
    if observation is None:
        return None
    md5, keys = observation.data_version, keys_of(use_case)
    count = count_stale_partitions(context.instance, use_case, md5)
    if count.stale or count.counted < count.scored:
        how_many = (
            f"{count.stale}"
            if count.counted == count.scored
            else f"at least {count.stale} (counted {count.counted} within the tick's time budget)"
        )
        advice = (
            f"{how_many} of {count.scored} scored partition(s) were scored with another model and are now stale. "
            f"Re-score them with `scoring-assets rescore --use-case {use_case.name}` (many files per run), the "
            f"{keys.rescore_batch_job} job in the UI (config: partitions), the {keys.rescore_job} job (one run per "
            f"partition), or by switching on the {keys.rescore_sensor} sensor."
        )
    elif count.scored:
        advice = f"none of the {count.scored} scored partition(s) was scored with another model: nothing to re-score."
    else:
        advice = "no partition has been scored yet: nothing to re-score."
    description = f"observed a new model, {use_case.model_version(md5)}: {advice}"
    context.log.info(description)
    return dg.AssetObservation(
        asset_key=observation.asset_key,
        metadata={
            **observation.metadata,
            "stale_partitions": count.stale,
            "scored_partitions": count.scored,
            "how_to_rescore": advice,
        },
        tags=observation.tags,
        description=description,
    )


def build_model_sensor(use_case: UseCase) -> dg.SensorDefinition:
    @dg.sensor(
        name=keys_of(use_case).model_sensor,
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Observes {use_case.name}/model whenever DVC records a new md5 (after dvc repro, dvc add, "
        "dvc pull, a promotion or a rollback), and says how many scored partitions it made stale; observes "
        f"{use_case.name}/model_history whenever it changed.",
    )
    def model_sensor(context: dg.SensorEvaluationContext, model_store: ModelStore):
        try:
            observation = observe_new_model(context, use_case, model_store)
            history = history_observation_if_changed(context.instance, use_case, model_store)
        except ModelIntegrityError as error:
            return dg.SkipReason(str(error))
        events = [event for event in (observation, history) if event is not None]
        if not events:
            return dg.SkipReason("the model served and its history are the ones already observed")
        # A tick that only observes is shown as skipped: its reason says what was observed.
        said = observation.description if observation else "observed a change in the model history"
        return dg.SensorResult(asset_events=events, skip_reason=said)

    return model_sensor


@dataclass(frozen=True)
class RescoreCursor:
    """Partitions whose latest scores are at or before ``checked_through`` were checked against ``model_md5``."""

    model_md5: str | None = None
    checked_through: int = 0

    @classmethod
    def parse(cls, cursor: str | None) -> RescoreCursor:
        # A cursor of another shape is the automation sensor this one replaced: start afresh.
        data = json.loads(cursor) if cursor else {}
        if not isinstance(data, dict) or set(data) != {"model_md5", "checked_through"}:
            return cls()
        return cls(**data)

    def serialize(self) -> str:
        return json.dumps({"model_md5": self.model_md5, "checked_through": self.checked_through})


def build_rescore_sensor(use_case: UseCase, rescore_job) -> dg.SensorDefinition:
    @dg.sensor(
        name=keys_of(use_case).rescore_sensor,
        job_name=rescore_job.name,  # by name: a job object would be rebuilt with the resources (a BetaWarning)
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Switch on to re-score, with {rescore_job.name}, every {use_case.name} partition scored with "
        "another model than the current one: those already stale when it is switched on, and those a later model "
        "change makes stale.",
    )
    def rescore_on_model_change(
        context: dg.SensorEvaluationContext, model_store: ModelStore, rescore_settings: RescoreSettings
    ):
        try:
            observation = observe_new_model(context, use_case, model_store)
        except ModelIntegrityError as error:
            return dg.SkipReason(f"re-scoring waits until the model can be verified: {error}")
        current = observation.data_version if observation else latest_observed_model_md5(context.instance, use_case)
        if current is None:
            return dg.SkipReason(f"{use_case.name}/model has not been observed yet")
        cursor = RescoreCursor.parse(context.cursor)
        checked_through = cursor.checked_through if cursor.model_md5 == current else 0
        unchecked = latest_scores_storage_ids(context.instance, use_case, after_storage_id=checked_through)
        batch = unchecked[:RESCORE_CHECKS_PER_TICK]
        checked = models_used(context.instance, use_case, batch) if batch else []
        stale = [scored.partition for scored in checked if scored.model_md5 != current]
        # run_key = the batch's files @ model: never a second run for the same files and model; a failed
        # re-score is not retried by the sensor (it stays stale in the UI, and in the model sensor's count).
        requests = batch_run_requests(
            use_case, stale, rescore_settings.max_partitions_per_run, current, trigger_tags(Trigger.RESCORE)
        )
        left = len(unchecked) - len(batch)
        version = use_case.model_version(current)
        if checked:
            summary = (
                f"{len(stale)} of {len(checked)} partition(s) scored since the last check used another model than "
                f"{version}" + (f"; {left} left to check on the next ticks" if left else "")
            )
        else:
            summary = f"every scored partition was checked against {version}: nothing new to re-score"
        context.log.info(summary)
        return dg.SensorResult(
            run_requests=requests,
            asset_events=[observation] if observation else [],
            cursor=RescoreCursor(current, batch[-1] if batch else checked_through).serialize(),
            skip_reason=None if requests else dg.SkipReason(summary),
        )

    return rescore_on_model_change
