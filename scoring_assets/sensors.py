"""Hands-off operation: files dropped in the inbox are scored, a new model is noticed by itself.

``inbox_sensor`` (running by default, every few seconds) decides the fate of every file in the
inbox (rules in ``scoring_assets.inbox``): one ``score_file`` run per new, complete file,
exactly once per content. Each decision (requested, duplicate of which partition, empty, not a
csv, ...) is told in the tick's log or skip reason and, as a table of recent files and their
fate, on the ``inbox`` asset in the UI. ``churn_model_sensor`` observes the model whenever
``dvc.lock`` records a new md5, so scored partitions show as stale in the UI, and says how many
and how to re-score them. ``rescore_on_model_change`` (stopped by default) re-scores every
partition scored with another model than the current one, including partitions that were
already stale when it was switched on.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    AssetSpec,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TableColumn,
    TableRecord,
    TableSchema,
    sensor,
)

from scoring_assets.files import file_sha256
from scoring_assets.inbox import (
    Decision,
    DecisionRecord,
    InboxState,
    SettledEntry,
    printable_name,
    scan_inbox,
    signature_of,
)
from scoring_assets.jobs import rescore_job, score_file_job
from scoring_assets.model_assets import (
    MODEL_USED_TAG,
    latest_observed_model_md5,
    model_observation_if_changed,
)
from scoring_assets.model_store import ModelIntegrityError, model_version
from scoring_assets.partitions import input_files_partitions
from scoring_assets.resources import ScoringFolders
from scoring_assets.run_tags import Trigger, trigger_tags

INBOX_INTERVAL_SECONDS = int(os.environ.get("SCORING_INBOX_INTERVAL_SECONDS", "5"))
INBOX_SETTLE_SECONDS = float(os.environ.get("SCORING_INBOX_SETTLE_SECONDS", "5"))
# Hashing stops for this tick once this much time is spent (Dagster ends ticks at 60 s); the
# remaining files are picked up by the next tick.
HASHING_BUDGET_SECONDS = 20.0
# Partitions whose latest scores are checked per rescore tick: one query, at most this many run
# requests; the rest are checked on the next ticks.
RESCORE_CHECKS_PER_TICK = 200
SCORES_KEY = AssetKey("scores")
FETCH_PAGE = 1000
STALE_COUNT_BUDGET_SECONDS = 15.0
FILES_NAMED_IN_A_SUMMARY = 10  # skip reasons and descriptions name this many files, then count the rest

inbox_asset = AssetSpec(
    "inbox",
    group_name="inbox",
    description=(
        "The folder $SCORING_DATA_DIR/inbox/, watched by inbox_sensor. Each observation lists the latest "
        "files and their fate: requested (partition), duplicate (of which partition), empty, not a csv, "
        "unreadable name, not a file, waiting for model, cannot read."
    ),
)

INBOX_TABLE_SCHEMA = TableSchema(
    columns=[
        TableColumn("file", "string"),
        TableColumn("decision", "string"),
        TableColumn("partition", "string", description="the partition requested, or the one a duplicate repeats"),
        TableColumn("reason", "string"),
        TableColumn("bytes", "int"),
        TableColumn("sha256", "string", description="first 12 hex digits, for files that were read"),
        TableColumn("decided_at_utc", "string"),
    ]
)


# --- which partitions were scored with which model ---------------------------------------


@dataclass(frozen=True)
class ScoredPartition:
    """A partition's latest ``scores`` materialization and the model md5 it used."""

    storage_id: int
    partition: str
    model_md5: str | None


def latest_scores_storage_ids(instance: DagsterInstance, after_storage_id: int | None = None) -> list[int]:
    """Storage ids of each existing partition's latest ``scores`` materialization, oldest first.

    One grouped query; with ``after_storage_id``, only partitions materialized since then.
    """
    latest = instance.get_latest_storage_id_by_partition(
        SCORES_KEY, DagsterEventType.ASSET_MATERIALIZATION, after_cursor=after_storage_id
    )
    existing = instance.get_existing_dynamic_partitions(input_files_partitions.name, list(latest))
    return sorted(storage_id for key, storage_id in latest.items() if key in existing)


def models_used(instance: DagsterInstance, storage_ids: list[int]) -> list[ScoredPartition]:
    """The partition and model md5 of these ``scores`` materializations: one query, so pass one page (not none)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=SCORES_KEY, storage_ids=storage_ids), limit=len(storage_ids)
    ).records
    scored = [
        ScoredPartition(record.storage_id, record.partition_key, record.asset_materialization.tags.get(MODEL_USED_TAG))
        for record in records
    ]
    return sorted(scored, key=lambda item: item.storage_id)


@dataclass(frozen=True)
class StaleCount:
    """Scored partitions last scored with another model, out of those counted (all, unless time ran out)."""

    stale: int
    counted: int
    scored: int


def count_stale_partitions(instance: DagsterInstance, model_md5: str) -> StaleCount:
    """How many scored partitions were last scored with another model than ``model_md5``.

    Reading a materialization costs ~0.4 ms, so counting stops after ``STALE_COUNT_BUDGET_SECONDS``
    (~40,000 partitions on a 2-core machine) to keep the tick well inside Dagster's 60 s; the
    count is then a lower bound.
    """
    storage_ids = latest_scores_storage_ids(instance)
    stale = counted = 0
    started = time.monotonic()
    for start in range(0, len(storage_ids), FETCH_PAGE):
        page = models_used(instance, storage_ids[start : start + FETCH_PAGE])
        stale += sum(scored.model_md5 != model_md5 for scored in page)
        counted += len(page)
        if time.monotonic() - started > STALE_COUNT_BUDGET_SECONDS:
            break
    return StaleCount(stale, counted, len(storage_ids))


# --- the model ------------------------------------------------------------------------------


def observe_new_model(context: SensorEvaluationContext) -> AssetObservation | None:
    """The churn_model observation if dvc.lock records a model not observed yet, else None.

    It says how many scored partitions the new model makes stale and how to re-score them, in
    its metadata and in the tick log. Raises ``ModelIntegrityError`` when the model cannot be verified.
    """
    observation = model_observation_if_changed(context.instance)
    if observation is None:
        return None
    md5 = observation.data_version
    count = count_stale_partitions(context.instance, md5)
    if count.stale or count.counted < count.scored:
        how_many = (
            f"{count.stale}"
            if count.counted == count.scored
            else f"at least {count.stale} (counted {count.counted} within the tick's time budget)"
        )
        advice = (
            f"{how_many} of {count.scored} scored partition(s) were scored with another model and are now stale. "
            "Re-score them with `scoring-assets rescore`, the `rescore` job in the UI (Materialize, all "
            "partitions), or by switching on the rescore_on_model_change sensor."
        )
    elif count.scored:
        advice = f"none of the {count.scored} scored partition(s) was scored with another model: nothing to re-score."
    else:
        advice = "no partition has been scored yet: nothing to re-score."
    description = f"observed a new model, {model_version(md5)}: {advice}"
    context.log.info(description)
    return AssetObservation(
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


@sensor(
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Observes churn_model whenever dvc.lock records a new md5 (after dvc repro or dvc pull), "
    "and says how many scored partitions it made stale.",
)
def churn_model_sensor(context: SensorEvaluationContext):
    try:
        observation = observe_new_model(context)
    except ModelIntegrityError as error:
        return SkipReason(str(error))
    if observation is None:
        return SkipReason("the model in dvc.lock is the one already observed")
    # A tick that only observes is shown as skipped: its reason says what was observed.
    return SensorResult(asset_events=[observation], skip_reason=observation.description)


# --- re-scoring -----------------------------------------------------------------------------


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


@sensor(
    job=rescore_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description="Switch on to re-score, with the `rescore` job, every partition scored with another model than "
    "the current one: those already stale when it is switched on, and those a later model change makes stale.",
)
def rescore_on_model_change(context: SensorEvaluationContext):
    try:
        observation = observe_new_model(context)
    except ModelIntegrityError as error:
        return SkipReason(f"re-scoring waits until the model can be verified: {error}")
    current = observation.data_version if observation else latest_observed_model_md5(context.instance)
    if current is None:
        return SkipReason("churn_model has not been observed yet")
    cursor = RescoreCursor.parse(context.cursor)
    checked_through = cursor.checked_through if cursor.model_md5 == current else 0
    unchecked = latest_scores_storage_ids(context.instance, after_storage_id=checked_through)
    batch = unchecked[:RESCORE_CHECKS_PER_TICK]
    checked = models_used(context.instance, batch) if batch else []
    stale = [scored.partition for scored in checked if scored.model_md5 != current]
    # run_key = partition@model: never a second run for the same partition and model, even if
    # the cursor is lost; a failed re-score is not retried by the sensor (it stays stale in the UI).
    requests = [
        RunRequest(partition_key=key, run_key=f"{key}@{current}", tags=trigger_tags(Trigger.RESCORE)) for key in stale
    ]
    left = len(unchecked) - len(batch)
    if checked:
        summary = (
            f"{len(stale)} of {len(checked)} partition(s) scored since the last check used another model than "
            f"{model_version(current)}" + (f"; {left} left to check on the next ticks" if left else "")
        )
    else:
        summary = f"every scored partition was checked against {model_version(current)}: nothing new to re-score"
    context.log.info(summary)
    new_cursor = RescoreCursor(current, batch[-1] if batch else checked_through).serialize()
    return SensorResult(
        run_requests=requests,
        asset_events=[observation] if observation else [],
        cursor=new_cursor,
        skip_reason=None if requests else SkipReason(summary),
    )


# --- the inbox ------------------------------------------------------------------------------


class InboxTick:
    """The decisions of one inbox sensor tick: told in the log, kept in the state, turned into runs."""

    def __init__(self, context: SensorEvaluationContext, state: InboxState, folders: ScoringFolders, now: float):
        self.context = context
        self.state = state
        self.folders = folders
        self.decided_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        self.decisions: list[DecisionRecord] = []
        self.new_decisions: list[DecisionRecord] = []
        self.run_requests: list[RunRequest] = []
        self.requested_by_content: dict[str, str] = {}

    def decide(self, entry: SettledEntry, decision: str, reason: str, sha256: str = "", partition: str = "") -> None:
        """Record a decision; files waiting for the model or unreadable are retried every tick."""
        record = DecisionRecord(entry.name, entry.signature, decision, reason, self.decided_at, sha256[:12], partition)
        self.decisions.append(record)
        if self.state.remember(record):
            self.new_decisions.append(record)
        self.context.log.info(record.summary)
        if decision not in (Decision.WAITING_FOR_MODEL, Decision.CANNOT_READ):
            self.state.mark_handled(entry.path, entry.signature)

    def decide_by_content(self, entry: SettledEntry) -> None:
        try:
            sha256 = file_sha256(entry.path)
            changed = signature_of(entry.path) != entry.signature
        except OSError as error:
            self.decide(entry, Decision.CANNOT_READ, f"{error.strerror or error}; retried every tick")
            return
        if changed:
            return  # still being written: it settles again before it is decided
        # Known content: registered in an earlier tick (its partition exists) or earlier in this one.
        # A content record without its partition means a tick died half-way: register again (the
        # run key stops a second run if one was already requested).
        existing = self.requested_by_content.get(sha256) or self.folders.partition_for_content(sha256)
        if sha256 in self.requested_by_content or (
            existing is not None and self.context.instance.has_dynamic_partition(input_files_partitions.name, existing)
        ):
            self.decide(
                entry, Decision.DUPLICATE, "same bytes as that partition's file, not scored again", sha256, existing
            )
            return
        key = self.folders.register_input(entry.path, sha256=sha256).partition_key
        self.requested_by_content[sha256] = key
        self.run_requests.append(RunRequest(partition_key=key, run_key=key, tags=trigger_tags(Trigger.SENSOR)))
        self.decide(entry, Decision.REQUESTED, "a score_file run was requested", sha256, key)

    def skip_reason(self) -> SkipReason:
        if not self.decisions:
            unsettled = len(self.state.pending)
            settling = f" ({unsettled} still being written or settling)" if unsettled else ""
            return SkipReason(f"no new complete files in the inbox{settling}")
        named = "; ".join(record.summary for record in self.decisions[:FILES_NAMED_IN_A_SUMMARY])
        more = len(self.decisions) - FILES_NAMED_IN_A_SUMMARY
        return SkipReason(f"{len(self.decisions)} file(s): {named}" + (f"; and {more} more" if more > 0 else ""))

    def observation(self) -> AssetObservation:
        """The inbox table (latest decisions first) and this tick's counts, for the UI."""
        rows = [
            TableRecord(
                {
                    "file": printable_name(record.name),
                    "decision": record.decision,
                    "partition": record.partition,
                    "reason": record.reason,
                    "bytes": record.signature[0],
                    "sha256": record.sha256,
                    "decided_at_utc": record.decided_at,
                }
            )
            for record in reversed(self.state.recent)
        ]
        counts = Counter(record.decision for record in self.new_decisions)
        return AssetObservation(
            asset_key=inbox_asset.key,
            description=f"{len(self.new_decisions)} new decision(s): "
            + "; ".join(record.summary for record in self.new_decisions[:FILES_NAMED_IN_A_SUMMARY]),
            metadata={
                "recent_files": MetadataValue.table(rows, schema=INBOX_TABLE_SCHEMA),
                **{decision.replace(" ", "_"): counts[decision] for decision in Decision.ALL},
                "files_in_inbox": len(self.state.pending.keys() | self.state.handled.keys()),
            },
        )


@sensor(
    job=score_file_job,
    minimum_interval_seconds=INBOX_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Scores each new, complete CSV dropped into $SCORING_DATA_DIR/inbox/, once per content; "
    "every file's fate is shown on the `inbox` asset.",
)
def inbox_sensor(context: SensorEvaluationContext, folders: ScoringFolders):
    folders.inbox.mkdir(parents=True, exist_ok=True)
    state = InboxState.from_cursor(context.cursor)
    now = time.time()
    settled = scan_inbox(folders.inbox, state, now=now, settle_seconds=INBOX_SETTLE_SECONDS)
    tick = InboxTick(context, state, folders, now)
    for entry in settled:
        if entry.verdict is not None:
            tick.decide(entry, *entry.verdict)
    to_read = [entry for entry in settled if entry.verdict is None]
    model_observation = None
    if to_read:
        try:
            model_observation = observe_new_model(context)
        except ModelIntegrityError as error:
            # Leave the files waiting rather than fail a run per file; they go once the model is back.
            for entry in to_read:
                tick.decide(entry, Decision.WAITING_FOR_MODEL, f"the model cannot be verified: {error}")
            to_read = []
    started = time.monotonic()
    for entry in to_read:
        if time.monotonic() - started > HASHING_BUDGET_SECONDS:
            context.log.info("hashing budget for this tick used; remaining files are picked up next tick")
            break
        tick.decide_by_content(entry)
    new_partitions = [request.partition_key for request in tick.run_requests]
    asset_events = [model_observation] if model_observation else []
    if tick.new_decisions:
        asset_events.append(tick.observation())
    return SensorResult(
        run_requests=tick.run_requests,
        dynamic_partitions_requests=(
            [AddDynamicPartitionsRequest(input_files_partitions.name, new_partitions)] if new_partitions else []
        ),
        asset_events=asset_events,
        cursor=state.to_cursor(),
        skip_reason=None if tick.run_requests else tick.skip_reason(),
    )
