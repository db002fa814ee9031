"""Hands-off operation: files dropped in the inbox are scored, a new model is noticed by itself.

``inbox_sensor`` (running by default, every few seconds) requests one ``score_file`` run per
new, complete file (rules in ``scoring_assets.inbox``), exactly once per content: the same bytes
under any name are skipped and logged, while a re-delivery with new content gets a new partition.
``churn_model_sensor`` observes the model whenever ``dvc.lock`` records a new md5, so scored
partitions show as stale in the UI. ``rescore_on_model_change`` (stopped by default) re-scores
every partition automatically through declarative automation once switched on.
"""

from __future__ import annotations

import os
import time

from dagster import (
    AddDynamicPartitionsRequest,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from scoring_assets.files import file_sha256
from scoring_assets.inbox import InboxState, scan_inbox, signature_of
from scoring_assets.jobs import score_file_job
from scoring_assets.model_assets import model_observation_if_changed
from scoring_assets.model_store import ModelIntegrityError
from scoring_assets.partitions import input_files_partitions
from scoring_assets.resources import ScoringFolders

INBOX_INTERVAL_SECONDS = int(os.environ.get("SCORING_INBOX_INTERVAL_SECONDS", "5"))
INBOX_SETTLE_SECONDS = float(os.environ.get("SCORING_INBOX_SETTLE_SECONDS", "5"))
# Hashing stops for this tick once this much time is spent (Dagster ends ticks at 60 s); the
# remaining files are picked up by the next tick.
HASHING_BUDGET_SECONDS = 20.0


@sensor(
    job=score_file_job,
    minimum_interval_seconds=INBOX_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Scores each new, complete CSV dropped into $SCORING_DATA_DIR/inbox/, once per content.",
)
def inbox_sensor(context: SensorEvaluationContext, folders: ScoringFolders):
    state = InboxState.from_cursor(context.cursor)
    ready = scan_inbox(folders.inbox, state, now=time.time(), settle_seconds=INBOX_SETTLE_SECONDS)
    if not ready:
        return SensorResult(skip_reason=SkipReason("no new complete files in the inbox"), cursor=state.to_cursor())
    try:
        observation = model_observation_if_changed(context.instance)
    except ModelIntegrityError as error:
        # Leave the files waiting rather than fail a run per file; they go once the model is back.
        return SensorResult(skip_reason=SkipReason(f"{len(ready)} file(s) waiting: {error}"), cursor=state.to_cursor())

    run_requests, new_partitions = [], []
    requested_this_tick: dict[str, str] = {}
    started = time.monotonic()
    for path, signature in ready:
        if time.monotonic() - started > HASHING_BUDGET_SECONDS:
            context.log.info("hashing budget for this tick used; remaining files are picked up next tick")
            break
        try:
            sha256 = file_sha256(path)
            changed = signature_of(path) != signature
        except OSError as error:
            context.log.warning(f"cannot read {path.name} ({error}); it is retried when it changes")
            state.mark_handled(path, signature)
            continue
        if changed:
            continue  # still being written: look again next tick
        # Known content: registered in an earlier tick (its partition exists) or earlier in this one.
        # A content record without its partition means a tick died half-way: register again (the
        # run key stops a second run if one was already requested).
        existing = requested_this_tick.get(sha256) or folders.partition_for_content(sha256)
        known = sha256 in requested_this_tick or (
            existing is not None and context.instance.has_dynamic_partition(input_files_partitions.name, existing)
        )
        if known:
            context.log.info(f"skipped {path.name}: same content as partition {existing}, already scored")
        else:
            registration = folders.register_input(path, sha256=sha256)
            key = registration.partition_key
            requested_this_tick[sha256] = key
            new_partitions.append(key)
            run_requests.append(RunRequest(partition_key=key, run_key=key))
            context.log.info(f"requested a run for {path.name} as partition {key}")
        state.mark_handled(path, signature)
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [AddDynamicPartitionsRequest(input_files_partitions.name, new_partitions)] if new_partitions else []
        ),
        asset_events=[observation] if observation is not None else [],
        cursor=state.to_cursor(),
    )


@sensor(
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Observes churn_model whenever dvc.lock records a new md5 (after dvc repro or dvc pull).",
)
def churn_model_sensor(context: SensorEvaluationContext):
    try:
        observation = model_observation_if_changed(context.instance)
    except ModelIntegrityError as error:
        return SkipReason(str(error))
    if observation is None:
        return SkipReason("the model in dvc.lock is the one already observed")
    return SensorResult(asset_events=[observation])


rescore_on_model_change = AutomationConditionSensorDefinition(
    "rescore_on_model_change",
    target=AssetSelection.keys("scores", "scoring_manifest"),
    default_status=DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=30,
    description="Switch on to re-score every partition automatically when churn_model gets a new data version.",
)
