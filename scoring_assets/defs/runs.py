"""Starting a scoring run for a file: the steps every entry point shares.

The CLI, the tests and the inbox sensors all register a file the same way (a dynamic
partition of its use case, keyed by name + content) and make sure the instance has observed
the current model before the run, so its lineage names the model it really uses.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from scoring_assets.core.folders import InputRegistration, UseCaseFolders
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.jobs import score_file_job_name
from scoring_assets.defs.model_assets import model_used_tag, record_model_observation


def partitions_name(use_case: UseCase) -> str:
    """The dynamic partitions of a use case: one per registered input file."""
    return f"{use_case.name}__files"


def register_file(
    instance: dg.DagsterInstance, use_case: UseCase, folders: UseCaseFolders, source: Path, sha256: str | None = None
):
    """Record ``source`` as the input behind its partition and add the partition if new (``sha256``: if just hashed)."""
    registration: InputRegistration = folders.register_input(Path(source), sha256)
    if not instance.has_dynamic_partition(partitions_name(use_case), registration.partition_key):
        instance.add_dynamic_partitions(partitions_name(use_case), [registration.partition_key])
    return registration


def execute_score_run(
    instance: dg.DagsterInstance,
    use_case: UseCase,
    partition_key: str,
    run_config: dict | None = None,
    job_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run ``job_name`` (default: the use case's score_file job) for one partition in this process.

    The run is recorded in ``instance``; ``tags`` are the run's tags (e.g. its trigger); the run
    adds the file and model tags itself. Raises ``ModelIntegrityError`` before starting if the
    model cannot be verified.
    """
    from scoring_assets.defs.use_cases import scoring_definitions

    record_model_observation(instance, use_case)
    job = scoring_definitions().resolve_job_def(job_name or score_file_job_name(use_case))
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        run_config=run_config or {},
        tags=tags or {},
        raise_on_error=False,
    )


def scored_with_model(instance: dg.DagsterInstance, use_case: UseCase, partition_key: str) -> str | None:
    """The model md5 the partition's latest ``scores`` materialization used (None if never scored)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([use_case.name, "scores"]), asset_partitions=[partition_key]),
        limit=1,
    ).records
    if not records:
        return None
    return records[0].asset_materialization.tags.get(model_used_tag(use_case))
