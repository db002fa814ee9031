"""A requested file's final fate in the inbox table: scored, refused or failed, once its run has finished.

The inbox sensor decides ``requested`` when it asks for a run. Each later tick looks up the
latest run of every requested file still in the table (one query each, only while its run has not
finished) and replaces the row by what happened, so the table never shows ``requested`` for a
file that was refused: ``scored`` (rows scored and rejected, the scored file), ``refused`` (the
step's one-line reason, as the CLI prints it) or ``failed`` (a crash or a cancelled run: the run
id says where to look).
"""

from __future__ import annotations

from dataclasses import replace

import dagster as dg

from scoring_assets.builders.keys import PARTITION_TAG, keys_of
from scoring_assets.builders.refusals import REFUSAL_KIND
from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.core.inbox import Decision, DecisionRecord

FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _failure(instance: dg.DagsterInstance, run_id: str) -> tuple[Decision, str]:
    """``refused`` with the step's own reason when it refused the file, else ``failed`` with the error's first line."""
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        data = record.event_log_entry.dagster_event.step_failure_data
        user = data.user_failure_data
        if user is not None and REFUSAL_KIND in (user.metadata or {}):
            return Decision.REFUSED, f"{user.description} (run {run_id[:8]})"
        message = (data.error.message if data.error else "").strip().splitlines()
        return Decision.FAILED, f"{message[0] if message else 'the run failed'} (run {run_id[:8]})"
    return Decision.FAILED, f"the run did not finish its steps (run {run_id[:8]})"


def final_fate(
    instance: dg.DagsterInstance, folders: ScoringFolders, record: DecisionRecord
) -> tuple[Decision, str] | None:
    """What became of a requested file, or None while its run has not finished (or cannot be found)."""
    keys = keys_of(record.use_case)
    runs = instance.get_run_records(
        dg.RunsFilter(job_name=keys.score_file_job, tags={PARTITION_TAG: record.partition}), limit=1
    )
    if not runs or runs[0].dagster_run.status not in FINISHED:
        return None
    run = runs[0].dagster_run
    if run.status == dg.DagsterRunStatus.CANCELED:
        return Decision.FAILED, f"the run was cancelled (run {run.run_id[:8]})"
    if run.status == dg.DagsterRunStatus.FAILURE:
        return _failure(instance, run.run_id)
    own = folders.of(record.use_case)
    scored = own.read_stage_summary("scores", record.partition)
    rejected = own.read_stage_summary("validated_batch", record.partition)["rows_rejected"]
    return Decision.SCORED, f"{scored['rows']} rows scored, {rejected} rejected: {scored['output_path']}"


def settle_fates(instance: dg.DagsterInstance, folders: ScoringFolders, recent: list[DecisionRecord]) -> list[int]:
    """Replace, in ``recent``, each requested file whose run has finished by its fate; the positions changed."""
    changed = []
    for position, record in enumerate(recent):
        if record.decision != Decision.REQUESTED or not (record.partition and record.use_case):
            continue
        fate = final_fate(instance, folders, record)
        if fate is not None:
            recent[position] = replace(record, decision=fate[0].value, reason=fate[1])
            changed.append(position)
    return changed
