"""The tags every scoring run carries, so the Runs page can be filtered by file, model and trigger.

One vocabulary for every entry point: the CLI, the inbox sensor, the rescore sensor, the
schedule and the retraining triggers (which start challenger training, not scoring) set
``TRIGGER`` when they create a run; the first step of every run adds the file and
model tags (a run launched from the UI gets ``trigger=ui``). Tag values are what Dagster shows
and filters on, so they are plain strings.
"""

from __future__ import annotations

from enum import StrEnum

PREFIX = "scoring"
SOURCE_FILE = f"{PREFIX}/source_file"
SOURCE_SHA256 = f"{PREFIX}/source_sha256"
MODEL_VERSION = f"{PREFIX}/model_version"
TRIGGER = f"{PREFIX}/trigger"
# Every run of a use case's jobs (set on the jobs themselves): what a queue limits per use case by.
USE_CASE = f"{PREFIX}/use_case"
# A batch run (``batch_rescore``) re-scores this many files; its events, not its tags, name each file.
BATCH_FILES = f"{PREFIX}/batch_files"


class Trigger(StrEnum):
    """Who asked for a run: the value of the ``scoring/trigger`` tag."""

    CLI = "cli"
    SENSOR = "sensor"
    UI = "ui"
    RESCORE = "rescore"
    SCHEDULE = "schedule"
    RETRAIN_SCHEDULE = "retrain_schedule"  # the weekly challenger training
    DRIFT_ALERTS = "drift_alerts"  # consecutive scored files at drift level alert


def use_case_tags(use_case_name: str) -> dict[str, str]:
    return {USE_CASE: use_case_name}


def trigger_tags(trigger: Trigger) -> dict[str, str]:
    return {TRIGGER: Trigger(trigger).value}  # plain text: Dagster stores tags as strings


def file_tags(source_file_name: str, sha256: str, model_version: str | None) -> dict[str, str]:
    """Tags naming the file a run scores (its name and content hash) and the model it uses."""
    tags = {SOURCE_FILE: source_file_name, SOURCE_SHA256: sha256}
    if model_version:
        tags[MODEL_VERSION] = model_version
    return tags


def tag_run(instance, run, tags: dict[str, str]) -> None:
    """Add ``tags`` the run does not carry yet; a run nobody tagged with a trigger was started in the UI.

    ``instance`` and ``run`` are the step's ``context.instance`` and ``context.run``.
    """
    wanted = {TRIGGER: Trigger.UI.value, **tags}
    missing = {key: value for key, value in wanted.items() if run.tags.get(key) is None}
    if missing:
        instance.add_run_tags(run.run_id, missing)
