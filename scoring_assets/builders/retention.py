"""Pruning old files from Dagster: ``prune_files`` (the CLI's and the prune job's one path), the job and its schedule.

For each file scored before the cut (``core.retention``), the data folder's part comes first: the
record of what Dagster held of it (its runs) is written into the lake and its intermediates are
removed. Then, as for a retired file (``builders.retirement``), its dynamic partition is deleted,
which takes it out of every per-partition status (``shadow_scores`` included: it shares the
partition set); and each of its runs is deleted with ``DagsterInstance.delete_run``, which removes
the run, its tags and every event it wrote (the materializations of all its assets, shadow scores
included, their tags, the check evaluations' events), and the run's rows of Dagster's index of
check results (``asset_check_executions``, which ``delete_run`` keeps: three quarters of what a
pruned file left in the instance). A run still in progress is never deleted: its file is refused
(named, with why) and stays. Dagster's SQL storages cannot wipe one partition's events any other
way. The outcomes runs stay: they materialize the unpartitioned ``realized_performance`` for many
files at once.

On SQLite the emptied per-run event database files are removed and the run and event index
databases are vacuumed (``VACUUM`` rewrites each file without the freed pages). On PostgreSQL
deleted rows are reused by the server's autovacuum; returning the space to the operating system
is ``VACUUM FULL`` (or ``pg_repack``) in a maintenance window (docs/operations.md, "Prune old files").
"""

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

# Private to Dagster (no public API deletes a run's check results); tests/test_prune.py fails the day it moves.
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable

from scoring_assets.builders.keys import PARTITION_TAG, keys_of
from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.builders.run_tags import TRIGGER
from scoring_assets.core.retention import intermediate_files, record_and_free, split_by_cut
from scoring_assets.core.use_case import UseCase

SQLITE_INDEX_SHARD = "index"  # the SQLite event log's index database, beside the per-run ones


@dataclass
class PruneOutcome:
    """What a pruning removed (or would remove, ``dry_run``), how many partitions stay, and the bytes it freed."""

    removed: list[dict[str, Any]] = field(default_factory=list)
    kept: int = 0
    refused: list[dict[str, str]] = field(default_factory=list)
    bytes_freed: int = 0
    dry_run: bool = False
    not_vacuumed: list[str] = field(default_factory=list)  # databases busy past the timeout: vacuumed next time

    def as_record(self) -> dict[str, Any]:
        return {
            "removed": self.removed,
            "kept": self.kept,
            "bytes_freed": self.bytes_freed,
            "refused": self.refused,
            "dry_run": self.dry_run,
            "not_vacuumed": self.not_vacuumed,
        }


def prune_files(
    instance: dg.DagsterInstance,
    use_case: UseCase,
    folders: ScoringFolders,
    older_than_days: int,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PruneOutcome:
    """Remove from Dagster every file of ``use_case`` scored more than ``older_than_days`` before ``now``.

    ``dry_run``: nothing changes; ``removed`` lists what would go and ``bytes_freed`` counts the lake
    files only (what the instance would give back is known after ``VACUUM``).
    """
    if older_than_days < 0:
        raise ValueError(f"older_than_days must be 0 or more, got {older_than_days}")
    own, partitions = folders.of(use_case.name), keys_of(use_case).partitions
    known = instance.get_dynamic_partitions(partitions)
    cut = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    older, _, unknown = split_by_cut(own, known, cut)
    outcome = PruneOutcome(refused=unknown, dry_run=dry_run)
    sizes_before = instance_file_sizes(instance)
    for key, when in older:
        runs = runs_of_partition(instance, use_case, key)
        busy = [record.dagster_run.run_id for record in runs if not record.dagster_run.is_finished]
        if busy:
            outcome.refused.append({"partition": key, "why": f"run {busy[0]} has not finished: pruned once it has"})
            continue
        described = [run_record(record) for record in runs]
        if dry_run:
            freed = sum(path.stat().st_size for path in intermediate_files(own, key))
        else:
            freed = record_and_free(own, key, when, described).bytes_freed
            remove_from_dagster(instance, partitions, key, [run["run_id"] for run in described])
        outcome.removed.append({"partition": key, "scored_at": when.isoformat(), "runs": len(described)})
        outcome.bytes_freed += freed
    if outcome.removed and not dry_run:
        outcome.bytes_freed += reclaim_space(instance, sizes_before, outcome.not_vacuumed)
    outcome.kept = len(known) - len(outcome.removed)
    return outcome


def runs_of_partition(instance: dg.DagsterInstance, use_case: UseCase, partition_key: str) -> list[dg.RunRecord]:
    """The runs of one of the use case's partitions: its own jobs' runs, and runs from the UI of its assets only."""
    keys = keys_of(use_case)
    jobs = {keys.score_file_job, keys.rescore_job}
    records = instance.get_run_records(dg.RunsFilter(tags={PARTITION_TAG: partition_key}))
    return [record for record in records if _of_use_case(record.dagster_run, use_case, jobs)]


def _of_use_case(run: dg.DagsterRun, use_case: UseCase, jobs: set[str]) -> bool:
    """A run of the use case's jobs, or one the UI started on the use case's assets alone (another may share a key)."""
    selected = run.asset_selection or set()
    return run.job_name in jobs or (bool(selected) and all(key.path[0] == use_case.name for key in selected))


def run_record(record: dg.RunRecord) -> dict[str, Any]:
    """What the lake keeps of a pruned run: which, of which job, how it ended, when, who asked."""
    run = record.dagster_run
    return {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "status": run.status.value,
        "started": _utc(record.start_time),
        "ended": _utc(record.end_time),
        "trigger": run.tags.get(TRIGGER),
    }


def _utc(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds") if timestamp else None


def remove_from_dagster(instance: dg.DagsterInstance, partitions: str, partition_key: str, run_ids: list[str]) -> None:
    """Delete the partition, then each run with its events and check results (SQLite: its event database too)."""
    instance.delete_dynamic_partition(partitions, partition_key)
    if run_ids:
        with instance.event_log_storage.index_connection() as connection:
            table = AssetCheckExecutionsTable
            connection.execute(table.delete().where(table.c.run_id.in_(run_ids)))
    path_for_shard = getattr(instance.event_log_storage, "path_for_shard", None)  # SQLite's per-run files only
    for run_id in run_ids:
        instance.delete_run(run_id)
        if path_for_shard is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(path_for_shard(run_id) + suffix).unlink(missing_ok=True)


def instance_file_sizes(instance: dg.DagsterInstance) -> int:
    """Bytes of the instance's SQLite files (runs, event index, per-run event databases); 0 for another storage."""
    path_for_shard = getattr(instance.event_log_storage, "path_for_shard", None)
    if path_for_shard is None:
        return 0
    history = Path(path_for_shard(SQLITE_INDEX_SHARD)).parent
    return sum(path.stat().st_size for path in [*history.glob("*.db*"), *history.parent.glob("*.db*")])


def reclaim_space(instance: dg.DagsterInstance, sizes_before: int, not_vacuumed: list[str]) -> int:
    """VACUUM the SQLite run and event index databases; the bytes the instance's files shrank by (0 elsewhere).

    VACUUM needs a moment without writers; a database still busy after 30 s is named in ``not_vacuumed``
    (the pruning itself is done; the next pruning that removes a file vacuums it).
    """
    path_for_shard = getattr(instance.event_log_storage, "path_for_shard", None)
    if path_for_shard is None:
        return 0  # PostgreSQL: autovacuum reuses the space; VACUUM FULL returns it (docs/operations.md)
    with instance.run_storage.connect() as connection:
        run_database = connection.engine.url.database
    for database in (path_for_shard(SQLITE_INDEX_SHARD), run_database):
        try:
            with closing(sqlite3.connect(database, timeout=30)) as vacuumed:
                vacuumed.execute("VACUUM")
        except sqlite3.OperationalError as error:
            not_vacuumed.append(f"{database}: {error}")
    return max(sizes_before - instance_file_sizes(instance), 0)


class PruneConfig(dg.Config):
    # Prune files scored more than this many days ago; unset: the use case's declared retain_days.
    older_than_days: int | None = None


def prune_metadata(outcome: PruneOutcome) -> dict[str, Any]:
    """What the prune job's step shows: counts, bytes freed, and the files removed and refused by name."""
    return {
        "removed": dg.MetadataValue.int(len(outcome.removed)),
        "kept": dg.MetadataValue.int(outcome.kept),
        "bytes_freed": dg.MetadataValue.int(outcome.bytes_freed),
        "refused": dg.MetadataValue.int(len(outcome.refused)),
        "files": dg.MetadataValue.json({"removed": outcome.removed, "refused": outcome.refused}),
    }


def build_prune_job(use_case: UseCase) -> dg.JobDefinition:
    """``<use case>__prune``: remove files scored before the cut from Dagster (run config, else ``retain_days``)."""
    keys = keys_of(use_case)

    @dg.op(
        name=keys.prune_op,
        description=f"Prune {use_case.name} files scored more than older_than_days (default: the use case's "
        "retain_days) ago from Dagster: their partitions and runs; scored files and lake records stay.",
    )
    def prune_old_files(context: dg.OpExecutionContext, config: PruneConfig, folders: ScoringFolders):
        days = use_case.retain_days if config.older_than_days is None else config.older_than_days
        if days is None or days < 0:
            raise dg.Failure(
                description=f"{use_case.name} keeps every file (no retain_days declared): set older_than_days "
                "(0 or more) in the run config to prune",
                allow_retries=False,
            )
        outcome = prune_files(context.instance, use_case, folders, days)
        for refused in outcome.refused:
            context.log.warning(f"kept {refused['partition']}: {refused['why']}")
        for database in outcome.not_vacuumed:
            context.log.warning(f"not vacuumed, busy: {database}")
        removed, kept, freed = len(outcome.removed), outcome.kept, outcome.bytes_freed
        context.log.info(f"pruned {removed} file(s), {kept} kept, {freed} bytes freed")
        return dg.Output(None, metadata=prune_metadata(outcome))

    @dg.job(name=keys.prune_job, executor_def=dg.in_process_executor, description=prune_old_files.description)
    def prune_job() -> None:
        prune_old_files()

    return prune_job
