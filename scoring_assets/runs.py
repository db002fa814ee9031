"""Starting a scoring run for a file: the steps every entry point shares.

The CLI, the tests and the inbox sensor all register a file the same way (a dynamic
partition keyed by name + content) and make sure the instance has observed the current
model before the run, so its lineage names the model it really uses.
"""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, ExecuteInProcessResult

from scoring_assets.jobs import SCORE_FILE_JOB
from scoring_assets.model_assets import MODEL_USED_TAG, record_model_observation
from scoring_assets.partitions import input_files_partitions
from scoring_assets.resources import InputRegistration, ScoringFolders


def register_file(instance: DagsterInstance, folders: ScoringFolders, source: Path) -> InputRegistration:
    """Record ``source`` as the input behind its partition and add the partition if new."""
    registration = folders.register_input(Path(source))
    if not instance.has_dynamic_partition(input_files_partitions.name, registration.partition_key):
        instance.add_dynamic_partitions(input_files_partitions.name, [registration.partition_key])
    return registration


def execute_score_run(
    instance: DagsterInstance,
    partition_key: str,
    run_config: dict | None = None,
    job_name: str = SCORE_FILE_JOB,
    tags: dict[str, str] | None = None,
) -> ExecuteInProcessResult:
    """Run ``job_name`` (default ``score_file``) for one partition in this process, recorded in ``instance``.

    ``tags`` are the run's tags (e.g. its trigger); the run adds the file and model tags itself.

    Raises ``ModelIntegrityError`` before starting if the model cannot be verified.
    """
    from scoring_assets.definitions import defs

    record_model_observation(instance)
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        run_config=run_config or {},
        tags=tags or {},
        raise_on_error=False,
    )


def scored_with_model(instance: DagsterInstance, partition_key: str) -> str | None:
    """The model md5 the partition's latest ``scores`` materialization used (None if never scored)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("scores"), asset_partitions=[partition_key]), limit=1
    ).records
    if not records:
        return None
    return records[0].asset_materialization.tags.get(MODEL_USED_TAG)
