"""Retiring a file in Dagster: ``retire_file`` (the CLI's and the UI's one path) and the retire_file job.

The files are archived and the retirement recorded by ``core.retirement``; then the file's
dynamic partition is deleted, which takes it out of every per-partition status at once: the
assets' partition bars and the checks' Partitions tabs no longer count it, so a refused file
retired leaves the group green when nothing else is red. Its runs and events stay in the
instance's history (Dagster's SQL storages cannot wipe one partition's events).
"""

import dagster as dg

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.core.retirement import Retirement, RetirementRefused, retire_partition
from scoring_assets.core.use_case import UseCase


class UnknownPartition(LookupError):
    """The use case has no partition of that key (never registered, or already retired)."""


class RetireFileConfig(dg.Config):
    partition_key: str  # the file's partition, as the partitions list shows it (<name>-<8 hex>)
    reason: str  # why it is retired (wrong table, test file...): recorded with it


def retire_file(
    instance: dg.DagsterInstance, use_case: UseCase, folders: ScoringFolders, partition_key: str, reason: str
) -> Retirement:
    """Archive the partition's files, record why (``core.retirement``), then delete the partition.

    Raises ``UnknownPartition`` if the use case has no such partition, ``RetirementRefused``
    for a blank reason; nothing is moved in either case.
    """
    partitions = keys_of(use_case).partitions
    if not instance.has_dynamic_partition(partitions, partition_key):
        known = instance.get_dynamic_partitions(partitions)
        raise UnknownPartition(
            f"{use_case.name} has no partition {partition_key!r} ({len(known)} partition(s); "
            "retired files are listed in lake/<use case>/retired.jsonl)"
        )
    retirement = retire_partition(folders.of(use_case.name), partition_key, reason)
    instance.delete_dynamic_partition(partitions, partition_key)
    return retirement


def retirement_metadata(retirement: Retirement) -> dict:
    """What the retire job's step shows: the record, with the archive folder as a path."""
    return {
        "partition": retirement.partition,
        "source_path": retirement.source_path or "(not registered)",
        "why": retirement.why,
        "who": retirement.who,
        "archive_folder": dg.MetadataValue.path(retirement.archive_folder),
        "files_archived": dg.MetadataValue.int(len(retirement.archived)),
    }


def build_retire_file_job(use_case: UseCase) -> dg.JobDefinition:
    """``<use case>__retire_file``: retire one file from the UI (run config: partition key and reason)."""
    keys = keys_of(use_case)

    @dg.op(
        name=keys.retire_file_op,
        description=f"Retire one {use_case.name} file: archive its outputs, record why, remove its partition.",
    )
    def retire_one_file(context: dg.OpExecutionContext, config: RetireFileConfig, folders: ScoringFolders):
        try:
            retirement = retire_file(context.instance, use_case, folders, config.partition_key, config.reason)
        except (UnknownPartition, RetirementRefused) as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        context.log.info(f"retired {retirement.partition}: {len(retirement.archived)} file(s) moved to the archive")
        return dg.Output(None, metadata=retirement_metadata(retirement))

    @dg.job(name=keys.retire_file_job, executor_def=dg.in_process_executor, description=retire_one_file.description)
    def retire_file_job() -> None:
        retire_one_file()

    return retire_file_job
