"""Promotion and rollback in the UI: the ``<use case>/model_history`` asset and the promote and rollback jobs.

The jobs run the very functions the CLI runs (``core.model_lifecycle``) on the ``ModelStore``'s
DVC project, so there is one code path; a refusal fails the run with the CLI's message. The model
sensor then observes the new served md5 and marks scored partitions stale, as after ``dvc repro``.
"""

import hashlib
import json
import warnings

import dagster as dg

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import DATA_VERSION_TAG
from scoring_assets.builders.resources import ModelStore
from scoring_assets.core.model_history import why_of
from scoring_assets.core.model_lifecycle import LifecycleRefused, models_overview, promote, rollback
from scoring_assets.core.model_store import ModelIntegrityError
from scoring_assets.core.use_case import UseCase

HISTORY_ROWS_SHOWN = 20  # the latest records in the UI's table; the file keeps them all


class PromoteConfig(dg.Config):
    force: bool = False  # promote although the gate did not pass the challenger (needs a reason)
    reason: str = ""  # why the gate is overridden: recorded in the history


class RollbackConfig(dg.Config):
    to: str = ""  # the earlier champion to serve (model md5, prefix or version); empty: the one before the current


def history_table(use_case: UseCase, records: list[dict]) -> str:
    """The latest history records as a Markdown table, newest first."""
    rows = ["| when | event | model | who | why |", "| --- | --- | --- | --- | --- |"]
    for record in reversed(records[-HISTORY_ROWS_SHOWN:]):
        model = use_case.model_version(record["model_md5"])
        rows.append(f"| {record['when']} | {record['event']} | {model} | {record['who']} | {why_of(record)} |")
    return "\n".join(rows)


def model_history_state(use_case: UseCase, root) -> tuple[str, dict]:
    """The history's data version (champion, challenger and records hashed) and the metadata the UI shows."""
    overview = models_overview(use_case, root)
    challenger = overview["challenger"]
    state = json.dumps([overview["champion"]["md5"], challenger and challenger["md5"], overview["history"]])
    return hashlib.md5(state.encode()).hexdigest(), {
        "champion_md5": overview["champion"]["md5"],
        "champion_source": overview["champion"]["source"],
        "challenger_md5": challenger["md5"] if challenger else "none",
        "events": dg.MetadataValue.int(len(overview["history"])),
        "history": dg.MetadataValue.md(history_table(use_case, overview["history"])),
    }


def history_observation_if_changed(
    instance: dg.DagsterInstance, use_case: UseCase, model_store: ModelStore
) -> dg.AssetObservation | None:
    """An observation of ``model_history`` when it changed since the last one (the model sensor emits it)."""
    key = keys_of(use_case).model_history
    version, metadata = model_history_state(use_case, model_store.root_of(use_case))
    record = instance.get_latest_data_version_record(key, is_source=True)
    known = record.event_log_entry.asset_observation if record is not None else None
    if known is not None and known.data_version == version:
        return None
    return dg.AssetObservation(asset_key=key, metadata=metadata, tags={DATA_VERSION_TAG: version})


def build_model_history_asset(use_case: UseCase) -> dg.AssetsDefinition:
    """The observable ``[use case, model_history]``: champion, challenger and the history file as a table.

    Observed by the model sensor whenever it changes (a promotion, rollback, new or discarded
    challenger), and by hand with Observe in the UI.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # observable source assets: see model_assets.py

        @dg.observable_source_asset(
            key=keys_of(use_case).model_history,
            group_name=use_case.name,
            description=f"Who promoted or rolled back which {use_case.name} model, when and why "
            "(model_history.jsonl beside the model); promote and roll back with the jobs of the same name.",
        )
        def model_history(model_store: ModelStore) -> dg.ObserveResult:
            version, metadata = model_history_state(use_case, model_store.root_of(use_case))
            return dg.ObserveResult(data_version=dg.DataVersion(version), metadata=metadata)

    return model_history


def _refused(use_case: UseCase, error: Exception) -> dg.Failure:
    kind = error.refusal.value if isinstance(error, LifecycleRefused) else "model"
    return dg.Failure(description=f"{use_case.name}: {error}", metadata={"refusal": kind}, allow_retries=False)


def build_lifecycle_jobs(use_case: UseCase) -> list[dg.JobDefinition]:
    """``<use case>__promote`` and ``<use case>__rollback``: one op each, configured like the CLI's options."""
    keys = keys_of(use_case)

    @dg.op(name=keys.promote_op, description=f"Serve the {use_case.name} challenger if the gate passed it.")
    def promote_challenger(context: dg.OpExecutionContext, config: PromoteConfig, model_store: ModelStore) -> None:
        try:
            switch = promote(use_case, model_store.root_of(use_case), force=config.force, reason=config.reason)
        except (LifecycleRefused, ModelIntegrityError) as error:
            raise _refused(use_case, error) from None
        context.log.info(f"serving {use_case.model_version(switch.served_md5)} (was {switch.previous_md5})")

    @dg.op(name=keys.rollback_op, description=f"Serve an earlier {use_case.name} champion again.")
    def roll_back_model(context: dg.OpExecutionContext, config: RollbackConfig, model_store: ModelStore) -> None:
        try:
            switch = rollback(use_case, model_store.root_of(use_case), to=config.to or None)
        except (LifecycleRefused, ModelIntegrityError) as error:
            raise _refused(use_case, error) from None
        context.log.info(f"serving {use_case.model_version(switch.served_md5)} (was {switch.previous_md5})")

    @dg.job(name=keys.promote_job, executor_def=dg.in_process_executor, description=promote_challenger.description)
    def promote_job() -> None:
        promote_challenger()

    @dg.job(name=keys.rollback_job, executor_def=dg.in_process_executor, description=roll_back_model.description)
    def rollback_job() -> None:
        roll_back_model()

    return [promote_job, rollback_job]
