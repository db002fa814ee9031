"""Hands-off outcomes: files dropped into ``inbox/<use case>/outcomes/`` are registered, once per content.

``<use case>__outcomes_sensor`` (running by default) follows the inbox rules of ``core.inbox`` and
runs on the scoring inbox's tick (``inbox_sensors.run_inbox_tick``): a file is decided once it
has settled, temporary names are passed over, and every fate is shown on
``[use case, outcomes_inbox]``. A new, complete CSV is registered under the use case's outcomes
folders and one ``<use case>__register_outcomes`` run is requested for it, naming the file in
its run config, as the ``outcomes`` command runs it; the same bytes again are a ``duplicate``.
"""

from __future__ import annotations

import dagster as dg

from scoring_assets.builders.inbox_sensors import InboxResources, InboxTick, run_inbox_tick
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.outcome_assets import outcomes_run_config
from scoring_assets.builders.resources import InboxSettings, ModelStore, ScoringFolders
from scoring_assets.builders.run_tags import Trigger, trigger_tags
from scoring_assets.core.inbox import Decision, SettledEntry
from scoring_assets.core.use_case import UseCase

OUTCOMES_INBOX_FATES = (
    "requested (outcomes key), duplicate (of which key), empty, not a csv, unreadable name, not a file"
)


def outcomes_inbox_spec(use_case: UseCase) -> dg.AssetSpec:
    keys = keys_of(use_case)
    return dg.AssetSpec(
        keys.outcomes_inbox,
        group_name=use_case.name,
        description=f"The folder inbox/{use_case.name}/outcomes/ of the data folder, watched by "
        f"{keys.outcomes_sensor}: outcomes files ({use_case.id_column}, {use_case.label_column}, optionally "
        f"outcome_date). Each observation lists the latest files and their fate: {OUTCOMES_INBOX_FATES}.",
    )


class OutcomesTick(InboxTick):
    """An inbox tick over outcomes files: each new content is registered and its register_outcomes run requested."""

    def settle_fates(self) -> None:
        """Not here: an outcomes file's run is not a scoring partition's; its fate is on realized_performance."""

    def decide_by_content(self, entry: SettledEntry, use_case: UseCase) -> None:
        sha256 = self.settled_sha256(entry, use_case)
        if sha256 is None:
            return
        keys, own = keys_of(use_case), self.folders.of(use_case.name).outcomes
        content = (use_case.name, sha256)
        earlier = self.requested_by_content.get(content) or own.partition_for_content(sha256)
        if earlier is not None:
            reason = "same bytes as that outcomes file, not registered again"
            self.decide(entry, Decision.DUPLICATE, reason, sha256, earlier, use_case)
            return
        key = own.register_input(entry.path, sha256=sha256).partition_key
        self.requested_by_content[content] = key
        self.run_requests.append(
            dg.RunRequest(
                job_name=keys.register_outcomes_job,
                run_key=f"{use_case.name}:outcomes:{key}",
                run_config=outcomes_run_config(use_case, entry.path),
                tags=trigger_tags(Trigger.SENSOR),
            )
        )
        self.decide(
            entry, Decision.REQUESTED, f"a {keys.register_outcomes_job} run was requested", sha256, key, use_case
        )


def build_outcomes_sensor(use_case: UseCase, job, interval_seconds: int) -> dg.SensorDefinition:
    """The sensor of ``inbox/<use case>/outcomes/``: every file there is registered as outcomes of this use case."""
    keys = keys_of(use_case)

    @dg.sensor(
        name=keys.outcomes_sensor,
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Registers each new, complete CSV dropped into inbox/{use_case.name}/outcomes/ as outcomes of "
        f"scored {use_case.name} rows, once per content ({keys.register_outcomes_job}); every file's fate is shown on "
        f"{keys.outcomes_inbox.to_user_string()}.",
    )
    def outcomes_sensor(
        context: dg.SensorEvaluationContext,
        folders: ScoringFolders,
        inbox_settings: InboxSettings,
        model_store: ModelStore,
    ):
        resources = InboxResources(folders, inbox_settings, model_store)
        inbox = folders.of(use_case.name).outcomes.inbox
        return run_inbox_tick(
            context, resources, inbox, keys.outcomes_inbox, lambda entry: use_case, tick_type=OutcomesTick
        )

    return outcomes_sensor
