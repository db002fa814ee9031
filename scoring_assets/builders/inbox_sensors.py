"""Hands-off operation: files dropped in an inbox are scored, once per content, and every fate is shown.

For every use case, ``<use case>__inbox_sensor`` (running by default, every few seconds) decides
the fate of every file in ``inbox/<use case>/`` (rules in ``core.inbox``): one score_file run
per new, complete file, exactly once per content. ``inbox_router`` watches the shared ``inbox/``
itself and routes each file by its header exactly as the CLI does (``core.routing``); a file
that matches no use case, or several, is refused there, visibly. Every decision (requested,
duplicate of which partition, empty, not a csv, no use case, ...) is told in the tick's log or
skip reason and, as a table of recent files and their fate, on the inbox assets in the UI.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from time import sleep  # its own name, so a test can stand in for the writer during the wait

import dagster as dg

from scoring_assets.builders.inbox_fates import settle_fates
from scoring_assets.builders.keys import INBOX_ROUTER, SHARED_INBOX, keys_of
from scoring_assets.builders.model_sensors import observe_new_model
from scoring_assets.builders.resources import InboxSettings, ModelStore, ScoringFolders
from scoring_assets.builders.run_tags import Trigger, trigger_tags
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
from scoring_assets.core.routing import header_mismatch, route_by_header
from scoring_assets.core.use_case import UseCase
from scoring_assets.use_cases import all_use_cases

# Hashing stops for this tick once this much time is spent (Dagster ends ticks at 60 s); the
# remaining files are picked up by the next tick.
HASHING_BUDGET_SECONDS = 20.0
FILES_NAMED_IN_A_SUMMARY = 10  # skip reasons and descriptions name this many files, then count the rest

INBOX_FATES = (
    "requested (partition) until its run finished, then scored, refused (and why) or failed; duplicate (of which "
    "partition), another use case, empty, not a csv, unreadable name, not a file, waiting for model, cannot read"
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


def inbox_asset_spec(use_case: UseCase) -> dg.AssetSpec:
    return dg.AssetSpec(
        keys_of(use_case).inbox,
        group_name=use_case.name,
        description=f"The folder inbox/{use_case.name}/ of the data folder, watched by "
        f"{keys_of(use_case).inbox_sensor}. "
        f"Each observation lists the latest files and their fate: {INBOX_FATES}.",
    )


def shared_inbox_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        SHARED_INBOX,
        group_name="inbox",
        description=f"The shared folder inbox/ of the data folder, watched by {INBOX_ROUTER}: each file is routed to "
        "the use case whose contract its header satisfies, as `scoring-assets score` does. Each observation lists "
        f"the latest files and their fate: {INBOX_FATES}, no use case, several use cases.",
    )


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
        resources: InboxResources,
        now: float,
        inbox_key: dg.AssetKey,
    ):
        self.context = context
        self.state = state
        self.folders = resources.folders
        self.model_store = resources.model_store
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
            Decision(decision).value,  # plain text: it goes into the cursor and Dagster's metadata
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
                observation = observe_new_model(self.context, use_case, self.model_store)
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

    def settled_sha256(self, entry: SettledEntry, use_case: UseCase) -> str | None:
        """The sha256 of a file still as it settled; None if it is not (decided ``cannot read``, or left to settle)."""
        try:
            sha256 = file_sha256(entry.path)
            changed = signature_of(entry.path) != entry.signature
        except OSError as error:
            self.decide(
                entry, Decision.CANNOT_READ, f"{error.strerror or error}; retried every tick", use_case=use_case
            )
            return None
        return None if changed else sha256  # changed: still being written, it settles again before it is decided

    def decide_by_content(self, entry: SettledEntry, use_case: UseCase) -> None:
        if not self.model_ready(entry, use_case):
            return  # waits rather than fail a run per file; it goes once the model is back
        sha256 = self.settled_sha256(entry, use_case)
        if sha256 is None:
            return
        mismatch = header_mismatch(entry.path, use_case, list(all_use_cases().values()))
        if mismatch:  # another use case's file dropped into this one's folder: never registered here
            self.decide(entry, Decision.OTHER_USE_CASE, mismatch, sha256, use_case=use_case)
            return
        own, keys = self.folders.of(use_case.name), keys_of(use_case)
        # Known content: registered in an earlier tick (its partition exists, or it was pruned from
        # Dagster: core.retention) or earlier in this one. A content record without its partition
        # means a tick died half-way: register again (the run key stops a second run if one was
        # already requested).
        content = (use_case.name, sha256)
        existing = self.requested_by_content.get(content) or own.partition_for_content(sha256)
        if (
            content in self.requested_by_content
            or (existing is not None and self.context.instance.has_dynamic_partition(keys.partitions, existing))
            or own.pruned_partition_for_content(sha256) is not None
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
        self.new_partitions.setdefault(keys.partitions, []).append(key)
        self.run_requests.append(
            dg.RunRequest(
                job_name=keys.score_file_job,
                partition_key=key,
                run_key=f"{use_case.name}:{key}",
                tags=trigger_tags(Trigger.SENSOR),
            )
        )
        self.decide(entry, Decision.REQUESTED, f"a {keys.score_file_job} run was requested", sha256, key, use_case)

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
                **{decision.replace(" ", "_"): counts[decision] for decision in Decision},
                "files_in_inbox": len(self.state.pending.keys() | self.state.handled.keys()),
            },
        )

    def settle_fates(self) -> None:
        """Show the final fate of each requested file whose run has finished (``inbox_fates``)."""
        for position in settle_fates(self.context.instance, self.folders, self.state.recent):
            record = self.state.recent[position]
            self.decisions.append(record)
            self.new_decisions.append(record)
            self.context.log.info(record.summary)

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


def use_cases_fingerprint(use_cases: list[UseCase]) -> str:
    """Which use cases (names and contract columns) decide files now; a change re-decides the files they refused."""
    declared = sorted([use_case.name, use_case.contract_columns] for use_case in use_cases)
    return hashlib.sha256(json.dumps(declared).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class InboxResources:
    """What an inbox tick needs from the code location's resources."""

    folders: ScoringFolders
    settings: InboxSettings
    model_store: ModelStore


def run_inbox_tick(
    context: dg.SensorEvaluationContext,
    resources: InboxResources,
    inbox: Path,
    inbox_key: dg.AssetKey,
    route,
    skip: frozenset[str] = frozenset(),
    tick_type: type[InboxTick] = InboxTick,
    deciding: list[UseCase] | None = None,
) -> dg.SensorResult:
    """One tick over ``inbox``: decide every settled file, within the hashing budget, and say so.

    ``deciding``: the use cases files are decided among (default: the registry's); when they change
    since the last tick, the files they refused are decided again (``InboxState.use_cases_changed``).

    ``tick_type`` decides a file by its content (``InboxTick`` scores it; the outcomes inbox registers it).
    """
    inbox.mkdir(parents=True, exist_ok=True)
    state = InboxState.from_cursor(context.cursor)
    forgotten = state.use_cases_changed(use_cases_fingerprint(deciding or list(all_use_cases().values())))
    if forgotten:
        context.log.info(f"the use cases changed: deciding again {', '.join(forgotten[:FILES_NAMED_IN_A_SUMMARY])}")
    settle_seconds = resources.settings.settle_seconds
    now = time.time()
    settled = scan_inbox(inbox, state, now=now, settle_seconds=settle_seconds, skip=skip)
    wait = second_sighting_wait(state, settled, settle_seconds, now)
    if wait:  # a short settle: look again now rather than at the next tick, 5 s away at best
        sleep(wait)
        now = time.time()
        settled = scan_inbox(inbox, state, now=now, settle_seconds=settle_seconds, skip=skip)
    tick = tick_type(context, state, resources, now, inbox_key)
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
    tick.settle_fates()
    return tick.result()


def build_inbox_sensor(use_case: UseCase, score_file_job, interval_seconds: int) -> dg.SensorDefinition:
    """The sensor of ``inbox/<use case>/``: every file there is scored as this use case."""

    @dg.sensor(
        name=keys_of(use_case).inbox_sensor,
        job=score_file_job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Scores each new, complete CSV dropped into inbox/{use_case.name}/ of the data folder, once "
        f"per content; every file's fate is shown on {use_case.name}/inbox.",
    )
    def inbox_sensor(
        context: dg.SensorEvaluationContext,
        folders: ScoringFolders,
        inbox_settings: InboxSettings,
        model_store: ModelStore,
    ):
        resources = InboxResources(folders, inbox_settings, model_store)
        own = folders.of(use_case.name)
        # Its outcomes folder has a sensor of its own (outcome_sensors).
        skip = frozenset({own.outcomes.inbox.name}) if use_case.takes_outcomes else frozenset()
        return run_inbox_tick(context, resources, own.inbox, keys_of(use_case).inbox, lambda entry: use_case, skip)

    return inbox_sensor


def route_entry(entry: SettledEntry, use_cases: list[UseCase]) -> UseCase | tuple[Decision, str]:
    """The use case a file in the shared inbox goes to (``core.routing``), else the decision that refuses it."""
    try:
        routed = route_by_header(entry.path, use_cases)
    except OSError as error:
        return Decision.CANNOT_READ, f"{error.strerror or error}; retried every tick"
    if isinstance(routed, UseCase):
        return routed
    folders = ", ".join(f"inbox/{use_case.name}/" for use_case in use_cases)
    return routed.decision, f"{routed.reason}; drop it into its use case's own folder ({folders}) to see every problem"


def build_inbox_router(use_cases: list[UseCase], score_file_jobs: list, interval_seconds: int) -> dg.SensorDefinition:
    """The sensor of the shared ``inbox/``: each file goes to the use case its header satisfies."""
    own_folders = frozenset(use_case.name for use_case in use_cases)

    @dg.sensor(
        name=INBOX_ROUTER,
        jobs=score_file_jobs,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Scores each new, complete CSV dropped into the shared inbox/ as the use case whose contract its "
        "header satisfies (as `scoring-assets score` does); a file matching none or several is refused, and every "
        "file's fate is shown on the inbox asset.",
    )
    def inbox_router(
        context: dg.SensorEvaluationContext,
        folders: ScoringFolders,
        inbox_settings: InboxSettings,
        model_store: ModelStore,
    ):
        resources = InboxResources(folders, inbox_settings, model_store)
        route = partial(route_entry, use_cases=use_cases)
        return run_inbox_tick(
            context, resources, folders.inbox, SHARED_INBOX, route, skip=own_folders, deciding=use_cases
        )

    return inbox_router
