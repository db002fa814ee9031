"""The code location: every declared use case, each with its own assets, jobs, sensors and schedule.

``scoring_definitions()`` builds, for each use case in ``scoring_assets.use_cases``, the same
graph (model -> raw_batch -> validated_batch -> feature_matrix -> scores + scoring_manifest,
keyed ``[use case, asset]`` and grouped by use case) over its own dynamic partitions, plus the
shared inbox router. ``dg dev`` loads it through the defs folder; the CLI runs its jobs directly,
so both run the very same job definitions.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from scoring_assets.core.paths import DATA_DIR_VARIABLE
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.ingest_assets import build_ingest_assets
from scoring_assets.defs.jobs import build_jobs
from scoring_assets.defs.model_assets import build_model_asset
from scoring_assets.defs.monitoring import build_monitoring_definitions
from scoring_assets.defs.prediction_assets import build_prediction_assets
from scoring_assets.defs.resources import DriftAlerts, InboxSettings, ScoringFolders
from scoring_assets.defs.runs import partitions_name
from scoring_assets.defs.schedules import build_nightly_rescore
from scoring_assets.defs.sensors import (
    build_inbox_router,
    build_inbox_sensor,
    build_model_sensor,
    build_rescore_sensor,
    inbox_asset_spec,
    shared_inbox_spec,
)
from scoring_assets.use_cases import all_use_cases


def use_case_definitions(use_case: UseCase) -> tuple[dg.Definitions, dg.UnresolvedAssetJobDefinition]:
    """Everything Dagster knows about one use case, and its score_file job (the inbox router requests it)."""
    partitions = dg.DynamicPartitionsDefinition(name=partitions_name(use_case))
    score_file, rescore = build_jobs(use_case)
    definitions = dg.Definitions(
        assets=[
            build_model_asset(use_case),
            *build_ingest_assets(use_case, partitions),
            *build_prediction_assets(use_case, partitions),
            inbox_asset_spec(use_case),
        ],
        jobs=[score_file, rescore],
        sensors=[
            build_inbox_sensor(use_case, score_file),
            build_model_sensor(use_case),
            build_rescore_sensor(use_case, rescore),
        ],
        schedules=[build_nightly_rescore(use_case, partitions, rescore)],
    )
    return dg.Definitions.merge(definitions, build_monitoring_definitions(use_case)), score_file


def resources() -> dict[str, dg.ConfigurableResource]:
    """Settings the UI shows, fed by environment variables.

    ``SCORING_DATA_DIR`` is required by runs and sensors; every entry point of the project sets
    it (the CLI, ``dev.py``, an activated ``.venv``: the repository's ``data/`` by default).
    ``SCORING_DRIFT_WEBHOOK_URL`` unset or empty means no webhook for drift alerts.
    """
    settle_seconds = dg.EnvVar("SCORING_INBOX_SETTLE_SECONDS")
    return {
        "folders": ScoringFolders(data_dir=dg.EnvVar(DATA_DIR_VARIABLE)),
        "drift_alerts": DriftAlerts(webhook_url=dg.EnvVar("SCORING_DRIFT_WEBHOOK_URL").get_value("")),
        "inbox_settings": InboxSettings(
            settle_seconds=float(settle_seconds.get_value()) if settle_seconds.get_value() else 5.0
        ),
    }


@cache
def scoring_definitions() -> dg.Definitions:
    """The whole code location: every use case, the shared inbox and its router, the resources."""
    use_cases = list(all_use_cases().values())
    per_use_case, score_file_jobs = zip(*(use_case_definitions(use_case) for use_case in use_cases), strict=True)
    return dg.Definitions.merge(
        *per_use_case,
        dg.Definitions(
            assets=[shared_inbox_spec()],
            sensors=[build_inbox_router(use_cases, list(score_file_jobs))],
            resources=resources(),
            # Runs launched from the UI's asset graph or by automation also run in process.
            executor=dg.in_process_executor,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return scoring_definitions()
