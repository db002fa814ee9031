"""Hands-off operation, per use case: files dropped in an inbox are scored, a new model is noticed by itself.

For every use case: ``<use case>__inbox_sensor`` (running by default, every few seconds) decides
the fate of every file in ``inbox/<use case>/`` (rules in ``core.inbox``): one score_file run
per new, complete file, exactly once per content; ``<use case>__model_sensor`` observes the
model whenever DVC records a new md5, so scored partitions show as stale in the UI, and says how
many and how to re-score them; ``<use case>__rescore_on_model_change`` (stopped by default)
re-scores every partition scored with another model than the current one, including
partitions that were already stale when it was switched on. ``inbox_router`` watches the
shared ``inbox/`` itself and routes each file by its header exactly as the CLI does; a file
that matches no use case, or several, is refused there, visibly. Every decision (requested,
duplicate of which partition, empty, not a csv, no use case, ...) is told in the tick's log or
skip reason and, as a table of recent files and their fate, on the inbox assets in the UI.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import sleep  # its own name, so a test can stand in for the writer during the wait

import dagster as dg

from scoring_assets.core.csv_header import InputFileError, read_layout
from scoring_assets.core.files import file_sha256
from scoring_assets.core.inbox import (
    Decision,
    DecisionRecord,
    InboxState,
    SettledEntry,
    printable_name,
    scan_inbox,
    second_sighting_wait,
    signature_of,
)
from scoring_assets.core.model_store import ModelIntegrityError
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.jobs import score_file_job_name
from scoring_assets.defs.model_assets import latest_observed_model_md5, model_observation_if_changed, model_used_tag
from scoring_assets.defs.resources import InboxSettings, ScoringFolders
from scoring_assets.defs.run_tags import Trigger, trigger_tags
from scoring_assets.defs.runs import partitions_name

# Hashing stops for this tick once this much time is spent (Dagster ends ticks at 60 s); the
# remaining files are picked up by the next tick.
HASHING_BUDGET_SECONDS = 20.0
# Partitions whose latest scores are checked per rescore tick: one query, at most this many run
# requests; the rest are checked on the next ticks.
RESCORE_CHECKS_PER_TICK = 200
FETCH_PAGE = 1000
STALE_COUNT_BUDGET_SECONDS = 15.0
FILES_NAMED_IN_A_SUMMARY = 10  # skip reasons and descriptions name this many files, then count the rest
SHARED_INBOX_KEY = dg.AssetKey("inbox")
INBOX_FATES = (
    "requested (partition), duplicate (of which partition), empty, not a csv, unreadable name, not a file, "
    "waiting for model, cannot read"
)

INBOX_TABLE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("file", "string"),
        dg.TableColumn("decision", "string"),
        dg.TableColumn("use_case", "string"),
        dg.TableColumn("partition", "string", description="the partition requested, or the one a duplicate repeats"),
        dg.TableColumn("reason", "string"),
        dg.TableColumn("bytes", "int"),
        dg.TableColumn("sha256", "string", description="first 12 hex digits, for files that were read"),
        dg.TableColumn("decided_at_utc", "string"),
    ]
)


def inbox_interval_seconds() -> int:
    """How often the inbox sensors tick: ``$SCORING_INBOX_INTERVAL_SECONDS`` (default 5), read when defs load."""
    return int(dg.EnvVar("SCORING_INBOX_INTERVAL_SECONDS").get_value("5"))


def inbox_asset_spec(use_case: UseCase) -> dg.AssetSpec:
    return dg.AssetSpec(
        [use_case.name, "inbox"],
        group_name=use_case.name,
        description=f"The folder inbox/{use_case.name}/ of the data folder, watched by {use_case.name}__inbox_sensor. "
        f"Each observation lists the latest files and their fate: {INBOX_FATES}.",
    )


def shared_inbox_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        SHARED_INBOX_KEY,
        group_name="inbox",
        description="The shared folder inbox/ of the data folder, watched by inbox_router: each file is routed to "
        "the use case whose contract its header satisfies, as `scoring-assets score` does. Each observation lists "
        f"the latest files and their fate: {INBOX_FATES}, no use case, several use cases.",
    )


# --- which partitions were scored with which model ---------------------------------------


@dataclass(frozen=True)
class ScoredPartition:
    """A partition's latest ``scores`` materialization and the model md5 it used."""

    storage_id: int
    partition: str
    model_md5: str | None


def scores_key(use_case: UseCase) -> dg.AssetKey:
    return dg.AssetKey([use_case.name, "scores"])


def latest_scores_storage_ids(
    instance: dg.DagsterInstance, use_case: UseCase, after_storage_id: int | None = None
) -> list[int]:
    """Storage ids of each existing partition's latest ``scores`` materialization, oldest first.

    One grouped query; with ``after_storage_id``, only partitions materialized since then.
    """
    latest = instance.get_latest_storage_id_by_partition(
        scores_key(use_case), dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=after_storage_id
    )
    existing = instance.get_existing_dynamic_partitions(partitions_name(use_case), list(latest))
    return sorted(storage_id for key, storage_id in latest.items() if key in existing)


def models_used(instance: dg.DagsterInstance, use_case: UseCase, storage_ids: list[int]) -> list[ScoredPartition]:
    """The partition and model md5 of these ``scores`` materializations: one query, so pass one page (not none)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=scores_key(use_case), storage_ids=storage_ids), limit=len(storage_ids)
    ).records
    tag = model_used_tag(use_case)
    scored = [
        ScoredPartition(record.storage_id, record.partition_key, record.asset_materialization.tags.get(tag))
        for record in records
    ]
    return sorted(scored, key=lambda item: item.storage_id)


@dataclass(frozen=True)
class StaleCount:
    """Scored partitions last scored with another model, out of those counted (all, unless time ran out)."""

    stale: int
    counted: int
    scored: int


def count_stale_partitions(instance: dg.DagsterInstance, use_case: UseCase, model_md5: str) -> StaleCount:
    """How many scored partitions were last scored with another model than ``model_md5``.

    Reading a materialization costs ~0.4 ms, so counting stops after ``STALE_COUNT_BUDGET_SECONDS``
    (~40,000 partitions on a 2-core machine) to keep the tick well inside Dagster's 60 s; the
    count is then a lower bound.
    """
    storage_ids = latest_scores_storage_ids(instance, use_case)
    stale = counted = 0
    started = time.monotonic()
    for start in range(0, len(storage_ids), FETCH_PAGE):
        page = models_used(instance, use_case, storage_ids[start : start + FETCH_PAGE])
        stale += sum(scored.model_md5 != model_md5 for scored in page)
        counted += len(page)
        if time.monotonic() - started > STALE_COUNT_BUDGET_SECONDS:
            break
    return StaleCount(stale, counted, len(storage_ids))


# --- the model ------------------------------------------------------------------------------


def observe_new_model(context: dg.SensorEvaluationContext, use_case: UseCase) -> dg.AssetObservation | None:
    """The model observation if DVC records a model not observed yet, else None.

    It says how many scored partitions the new model makes stale and how to re-score them, in
    its metadata and in the tick log. Raises ``ModelIntegrityError`` when the model cannot be verified.
    """
    observation = model_observation_if_changed(context.instance, use_case)
    if observation is None:
        return None
    md5 = observation.data_version
    count = count_stale_partitions(context.instance, use_case, md5)
    if count.stale or count.counted < count.scored:
        how_many = (
            f"{count.stale}"
            if count.counted == count.scored
            else f"at least {count.stale} (counted {count.counted} within the tick's time budget)"
        )
        advice = (
            f"{how_many} of {count.scored} scored partition(s) were scored with another model and are now stale. "
            f"Re-score them with `scoring-assets rescore --use-case {use_case.name}`, the {use_case.name}__rescore "
            f"job in the UI (Materialize, all partitions), or by switching on the "
            f"{use_case.name}__rescore_on_model_change sensor."
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
        name=f"{use_case.name}__model_sensor",
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Observes {use_case.name}/model whenever DVC records a new md5 (after dvc repro, dvc add or "
        "dvc pull), and says how many scored partitions it made stale.",
    )
    def model_sensor(context: dg.SensorEvaluationContext):
        try:
            observation = observe_new_model(context, use_case)
        except ModelIntegrityError as error:
            return dg.SkipReason(str(error))
        if observation is None:
            return dg.SkipReason("the model DVC records is the one already observed")
        # A tick that only observes is shown as skipped: its reason says what was observed.
        return dg.SensorResult(asset_events=[observation], skip_reason=observation.description)

    return model_sensor


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


def build_rescore_sensor(use_case: UseCase, rescore_job) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{use_case.name}__rescore_on_model_change",
        job=rescore_job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Switch on to re-score, with {rescore_job.name}, every {use_case.name} partition scored with "
        "another model than the current one: those already stale when it is switched on, and those a later model "
        "change makes stale.",
    )
    def rescore_on_model_change(context: dg.SensorEvaluationContext):
        try:
            observation = observe_new_model(context, use_case)
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
        # run_key = partition@model: never a second run for the same partition and model, even if
        # the cursor is lost; a failed re-score is not retried by the sensor (it stays stale in the UI).
        requests = [
            dg.RunRequest(partition_key=key, run_key=f"{key}@{current}", tags=trigger_tags(Trigger.RESCORE))
            for key in stale
        ]
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


# --- the inbox ------------------------------------------------------------------------------


class InboxTick:
    """The decisions of one inbox sensor tick: told in the log, kept in the state, turned into runs.

    ``route(entry)`` names the use case a settled file belongs to, or returns the (decision,
    reason) that refuses it: a use case's own inbox routes everything to its use case, the
    shared inbox routes by header.
    """

    def __init__(
        self,
        context: dg.SensorEvaluationContext,
        state: InboxState,
        folders: ScoringFolders,
        now: float,
        inbox_key: dg.AssetKey,
    ):
        self.context = context
        self.state = state
        self.folders = folders
        self.inbox_key = inbox_key
        self.decided_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        self.decisions: list[DecisionRecord] = []
        self.new_decisions: list[DecisionRecord] = []
        self.run_requests: list[dg.RunRequest] = []
        self.new_partitions: dict[str, list[str]] = {}  # partitions name -> keys
        self.requested_by_content: dict[tuple[str, str], str] = {}
        self.model_observations: list[dg.AssetObservation] = []
        self.model_problems: dict[str, ModelIntegrityError | None] = {}  # use case -> why its model is unusable

    def decide(
        self, entry: SettledEntry, decision: str, reason: str, sha256: str = "", partition: str = "", use_case=None
    ) -> None:
        """Record a decision; files waiting for the model or unreadable are retried every tick."""
        record = DecisionRecord(
            entry.name,
            entry.signature,
            decision,
            reason,
            self.decided_at,
            sha256[:12],
            partition,
            use_case.name if use_case else "",
        )
        self.decisions.append(record)
        if self.state.remember(record):
            self.new_decisions.append(record)
        self.context.log.info(record.summary)
        if decision not in (Decision.WAITING_FOR_MODEL, Decision.CANNOT_READ):
            self.state.mark_handled(entry.path, entry.signature)

    def model_ready(self, entry: SettledEntry, use_case: UseCase) -> bool:
        """Observe the use case's model once per tick; a file waits (decided so) while it cannot be verified."""
        if use_case.name not in self.model_problems:
            try:
                observation = observe_new_model(self.context, use_case)
            except ModelIntegrityError as error:
                self.model_problems[use_case.name] = error
            else:
                self.model_problems[use_case.name] = None
                if observation is not None:
                    self.model_observations.append(observation)
        problem = self.model_problems[use_case.name]
        if problem is not None:
            self.decide(
                entry, Decision.WAITING_FOR_MODEL, f"the model cannot be verified: {problem}", use_case=use_case
            )
        return problem is None

    def decide_by_content(self, entry: SettledEntry, use_case: UseCase) -> None:
        if not self.model_ready(entry, use_case):
            return  # waits rather than fail a run per file; it goes once the model is back
        try:
            sha256 = file_sha256(entry.path)
            changed = signature_of(entry.path) != entry.signature
        except OSError as error:
            self.decide(
                entry, Decision.CANNOT_READ, f"{error.strerror or error}; retried every tick", use_case=use_case
            )
            return
        if changed:
            return  # still being written: it settles again before it is decided
        own = self.folders.of(use_case.name)
        # Known content: registered in an earlier tick (its partition exists) or earlier in this one.
        # A content record without its partition means a tick died half-way: register again (the
        # run key stops a second run if one was already requested).
        content = (use_case.name, sha256)
        existing = self.requested_by_content.get(content) or own.partition_for_content(sha256)
        if content in self.requested_by_content or (
            existing is not None and self.context.instance.has_dynamic_partition(partitions_name(use_case), existing)
        ):
            self.decide(
                entry,
                Decision.DUPLICATE,
                "same bytes as that partition's file, not scored again",
                sha256,
                existing,
                use_case,
            )
            return
        key = own.register_input(entry.path, sha256=sha256).partition_key
        self.requested_by_content[content] = key
        self.new_partitions.setdefault(partitions_name(use_case), []).append(key)
        self.run_requests.append(
            dg.RunRequest(
                job_name=score_file_job_name(use_case),
                partition_key=key,
                run_key=f"{use_case.name}:{key}",
                tags=trigger_tags(Trigger.SENSOR),
            )
        )
        self.decide(
            entry, Decision.REQUESTED, f"a {score_file_job_name(use_case)} run was requested", sha256, key, use_case
        )

    def skip_reason(self) -> dg.SkipReason:
        if not self.decisions:
            unsettled = len(self.state.pending)
            settling = f" ({unsettled} still being written or settling)" if unsettled else ""
            return dg.SkipReason(f"no new complete files in the inbox{settling}")
        named = "; ".join(record.summary for record in self.decisions[:FILES_NAMED_IN_A_SUMMARY])
        more = len(self.decisions) - FILES_NAMED_IN_A_SUMMARY
        return dg.SkipReason(f"{len(self.decisions)} file(s): {named}" + (f"; and {more} more" if more > 0 else ""))

    def observation(self) -> dg.AssetObservation:
        """The inbox table (latest decisions first) and this tick's counts, for the UI."""
        rows = [
            dg.TableRecord(
                {
                    "file": printable_name(record.name),
                    "decision": record.decision,
                    "use_case": record.use_case,
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
        return dg.AssetObservation(
            asset_key=self.inbox_key,
            description=f"{len(self.new_decisions)} new decision(s): "
            + "; ".join(record.summary for record in self.new_decisions[:FILES_NAMED_IN_A_SUMMARY]),
            metadata={
                "recent_files": dg.MetadataValue.table(rows, schema=INBOX_TABLE_SCHEMA),
                **{decision.replace(" ", "_"): counts[decision] for decision in Decision.ALL},
                "files_in_inbox": len(self.state.pending.keys() | self.state.handled.keys()),
            },
        )

    def result(self) -> dg.SensorResult:
        return dg.SensorResult(
            run_requests=self.run_requests,
            dynamic_partitions_requests=[
                dg.AddDynamicPartitionsRequest(name, keys) for name, keys in self.new_partitions.items()
            ],
            asset_events=self.model_observations + ([self.observation()] if self.new_decisions else []),
            cursor=self.state.to_cursor(),
            skip_reason=None if self.run_requests else self.skip_reason(),
        )


def run_inbox_tick(
    context: dg.SensorEvaluationContext,
    folders: ScoringFolders,
    settings: InboxSettings,
    inbox: Path,
    inbox_key: dg.AssetKey,
    route,
    skip: frozenset[str] = frozenset(),
) -> dg.SensorResult:
    """One tick over ``inbox``: decide every settled file, within the hashing budget, and say so."""
    inbox.mkdir(parents=True, exist_ok=True)
    state = InboxState.from_cursor(context.cursor)
    now = time.time()
    settled = scan_inbox(inbox, state, now=now, settle_seconds=settings.settle_seconds, skip=skip)
    wait = second_sighting_wait(state, settled, settings.settle_seconds, now)
    if wait:  # a short settle: look again now rather than at the next tick, 5 s away at best
        sleep(wait)
        now = time.time()
        settled = scan_inbox(inbox, state, now=now, settle_seconds=settings.settle_seconds, skip=skip)
    tick = InboxTick(context, state, folders, now, inbox_key)
    started = time.monotonic()
    for entry in settled:
        if entry.verdict is not None:
            tick.decide(entry, *entry.verdict)
            continue
        if time.monotonic() - started > HASHING_BUDGET_SECONDS:
            context.log.info("hashing budget for this tick used; remaining files are picked up next tick")
            break
        routed = route(entry)
        if isinstance(routed, UseCase):
            tick.decide_by_content(entry, routed)
        else:
            tick.decide(entry, *routed)
    return tick.result()


def build_inbox_sensor(use_case: UseCase, score_file_job) -> dg.SensorDefinition:
    """The sensor of ``inbox/<use case>/``: every file there is scored as this use case."""

    @dg.sensor(
        name=f"{use_case.name}__inbox_sensor",
        job=score_file_job,
        minimum_interval_seconds=inbox_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Scores each new, complete CSV dropped into inbox/{use_case.name}/ of the data folder, once "
        f"per content; every file's fate is shown on {use_case.name}/inbox.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext, folders: ScoringFolders, inbox_settings: InboxSettings):
        own = folders.of(use_case.name)
        return run_inbox_tick(
            context, folders, inbox_settings, own.inbox, inbox_asset_spec(use_case).key, lambda entry: use_case
        )

    return inbox_sensor


def route_by_header(entry: SettledEntry, use_cases: list[UseCase]):
    """The one use case whose contract the file's header satisfies, else the decision that refuses the file."""
    try:
        header = read_layout(entry.path).names
    except InputFileError as error:
        return Decision.NO_USE_CASE, f"{error.problem}; so it cannot be routed to a use case"
    except OSError as error:
        return Decision.CANNOT_READ, f"{error.strerror or error}; retried every tick"
    matching = [use_case for use_case in use_cases if use_case.matches_header(header)]
    if len(matching) == 1:
        return matching[0]
    folders = ", ".join(f"inbox/{use_case.name}/" for use_case in use_cases)
    if not matching:
        return Decision.NO_USE_CASE, (
            f"its header satisfies no use case's contract ({', '.join(u.name for u in use_cases)}); "
            f"check its columns, or drop it into the use case's own folder ({folders}) to see what is missing"
        )
    names = ", ".join(use_case.name for use_case in matching)
    return Decision.SEVERAL_USE_CASES, (
        f"its header satisfies several use cases ({names}); drop it into the one meant ({folders})"
    )


def build_inbox_router(use_cases: list[UseCase], score_file_jobs: list) -> dg.SensorDefinition:
    """The sensor of the shared ``inbox/``: each file goes to the use case its header satisfies."""
    own_folders = frozenset(use_case.name for use_case in use_cases)

    @dg.sensor(
        name="inbox_router",
        jobs=score_file_jobs,
        minimum_interval_seconds=inbox_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Scores each new, complete CSV dropped into the shared inbox/ as the use case whose contract its "
        "header satisfies (as `scoring-assets score` does); a file matching none or several is refused, and every "
        "file's fate is shown on the inbox asset.",
    )
    def inbox_router(context: dg.SensorEvaluationContext, folders: ScoringFolders, inbox_settings: InboxSettings):
        return run_inbox_tick(
            context,
            folders,
            inbox_settings,
            folders.inbox,
            SHARED_INBOX_KEY,
            lambda entry: route_by_header(entry, use_cases),
            skip=own_folders,
        )

    return inbox_router
