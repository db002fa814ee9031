"""Starting a scoring run for a file from this process: what the CLI (and the tests) do, on the UI's own jobs.

A file is registered as the UI and the sensors register it (a dynamic partition of its use case,
keyed by name + content), the instance observes the current model before the run (so its lineage
names the model it really uses), and the use case's job from the code location runs in process.
This module sits above the definitions: nothing below it imports them.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import record_model_observation
from scoring_assets.builders.outcome_assets import outcomes_run_config
from scoring_assets.builders.resources import ModelStore, RescoreSettings, ScoringFolders
from scoring_assets.core.folders import InputRegistration, UseCaseFolders
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.defs.use_cases import scoring_definitions


def folders() -> ScoringFolders:
    """The data folders as the environment sets them now."""
    return scoring_resources()["folders"]


def model_store() -> ModelStore:
    """The model store as the environment sets it now (tests and the CLI may change it between runs)."""
    return scoring_resources()["model_store"]


def rescore_settings() -> RescoreSettings:
    """How many files a re-score run takes, as the environment sets it now."""
    return scoring_resources()["rescore_settings"]


def register_file(
    instance: dg.DagsterInstance, use_case: UseCase, own: UseCaseFolders, source: Path, sha256: str | None = None
):
    """Record ``source`` as the input behind its partition and add the partition if new (``sha256``: if just hashed)."""
    registration: InputRegistration = own.register_input(Path(source), sha256)
    partitions = keys_of(use_case).partitions
    if not instance.has_dynamic_partition(partitions, registration.partition_key):
        instance.add_dynamic_partitions(partitions, [registration.partition_key])
    return registration


def execute_score_run(
    instance: dg.DagsterInstance,
    use_case: UseCase,
    partition_key: str,
    run_config: dg.RunConfig | dict | None = None,
    job_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run ``job_name`` (default: the use case's score_file job) for one partition in this process.

    The run is recorded in ``instance``; ``tags`` are the run's tags (e.g. its trigger); the run
    adds the file and model tags itself. Raises ``ModelIntegrityError`` before starting if the
    model cannot be verified.
    """
    record_model_observation(instance, use_case, model_store())
    return execute_job(instance, job_name or keys_of(use_case).score_file_job, run_config, tags, partition_key)


def execute_job(
    instance: dg.DagsterInstance,
    job_name: str,
    run_config: dg.RunConfig | dict | None = None,
    tags: dict[str, str] | None = None,
    partition_key: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Run one of the code location's jobs in this process, recorded in ``instance``; failures are in the result."""
    job = scoring_definitions().resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        run_config=run_config or {},
        tags=tags or {},
        raise_on_error=False,
    )


def execute_outcomes_run(
    instance: dg.DagsterInstance, use_case: UseCase, source: Path, loggers: dict | None = None, tags=None
) -> dg.ExecuteInProcessResult:
    """Run the use case's register_outcomes job for ``source``, as the outcomes inbox sensor requests it."""
    config = outcomes_run_config(use_case, source, loggers)
    return execute_job(instance, keys_of(use_case).register_outcomes_job, config, tags)
