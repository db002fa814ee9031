"""Scoring a file in a test through the real job, as the CLI does, and the resources a sensor gets."""

from __future__ import annotations

from pathlib import Path

from dagster import EnvVar

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import InboxSettings, ModelStore, RescoreSettings, ScoringFolders
from scoring_assets.core.use_case import UseCase
from scoring_assets.runs import execute_score_run, register_file
from scoring_assets.settings import MODEL_ROOT_VARIABLE
from tests.support.batches import TELCO


def run_config(use_case: UseCase, validation: dict | None = None, scoring: dict | None = None, raw: dict | None = None):
    """The score_file job's run config, keyed by the use case's op names."""
    keys = keys_of(use_case)
    return {
        "ops": {
            keys.raw_batch_op: {"config": raw or {}},
            keys.validated_batch_op: {"config": validation or {}},
            keys.score_and_publish_op: {"config": scoring or {}},
        }
    }


def score_file(
    instance,
    folders: ScoringFolders,
    path: Path,
    validation: dict | None = None,
    scoring: dict | None = None,
    use_case: UseCase = TELCO,
    raw: dict | None = None,
):
    """Register ``path`` and run the use case's real score_file job for it, as the CLI does."""
    registration = register_file(instance, use_case, folders.of(use_case.name), path)
    config = run_config(use_case, validation, scoring, raw)
    return registration, execute_score_run(instance, use_case, registration.partition_key, config)


def sensor_resources(folders: ScoringFolders | None, settle_seconds: float = 5.0) -> dict:
    """The resources a sensor evaluated in a test gets: these folders, the model store the environment names."""
    return {
        "folders": folders,
        "inbox_settings": InboxSettings(settle_seconds=settle_seconds),
        "model_store": ModelStore(root=EnvVar(MODEL_ROOT_VARIABLE)),
        "rescore_settings": RescoreSettings(),
    }
