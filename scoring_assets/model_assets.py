"""The churn model as a Dagster asset: built by ``dvc repro``, observed here.

DVC owns training, so Dagster does not materialize the model; it observes it. The
observation verifies the artifact against ``dvc.lock`` (never unpickling it) and reports the
DVC md5 as the data version, so every ``scores`` materialization records which model it
used (``dagster/input_data_version/churn_model``) and goes stale when the model changes.
"""

from __future__ import annotations

import json
import warnings

from dagster import (
    AssetKey,
    AssetObservation,
    BetaWarning,
    DagsterInstance,
    DataVersion,
    MetadataValue,
    ObserveResult,
    observable_source_asset,
)

from scoring_assets.model_store import ModelArtifact, verify_artifact
from scoring_assets.paths import METRICS_PATH, REPO_ROOT, model_root

CHURN_MODEL_KEY = AssetKey("churn_model")
DATA_VERSION_TAG = "dagster/data_version"  # how an observation carries its data version
# How a materialization downstream of the model records the model's data version (its md5).
MODEL_USED_TAG = f"dagster/input_data_version/{CHURN_MODEL_KEY.to_user_string()}"


def model_metadata(artifact: ModelArtifact) -> dict[str, object]:
    """What a person needs to know about the model in the UI."""
    metrics_path = model_root() / METRICS_PATH.relative_to(REPO_ROOT)
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else {}
    card = artifact.card
    return {
        "path": MetadataValue.path(str(artifact.path)),
        "md5": artifact.md5,
        "model_version": artifact.version,
        "threshold": float(artifact.threshold),
        "sklearn_version": artifact.sklearn_version,
        "model_kind": card["model"]["kind"],
        "training_data": MetadataValue.json(card["training_data"]),
        "test_metrics": MetadataValue.json(metrics),
    }


# Dagster 1.13 marks observable source assets as beta; they are still the API for an asset that
# is observed rather than materialized, so its BetaWarning (on every code location load, i.e.
# every run) is silenced here and nowhere else.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", BetaWarning)

    @observable_source_asset(
        key=CHURN_MODEL_KEY,
        group_name="model",
        description="Churn classifier (scikit-learn Pipeline) built by `dvc repro`; data version = its dvc.lock md5.",
    )
    def churn_model() -> ObserveResult:
        artifact = verify_artifact()
        return ObserveResult(data_version=DataVersion(artifact.md5), metadata=model_metadata(artifact))


def latest_observed_model_md5(instance: DagsterInstance) -> str | None:
    record = instance.get_latest_data_version_record(CHURN_MODEL_KEY, is_source=True)
    if record is None or record.event_log_entry.asset_observation is None:
        return None
    return record.event_log_entry.asset_observation.data_version


def model_observation_if_changed(instance: DagsterInstance) -> AssetObservation | None:
    """An observation of the current model, or None if the instance already knows its md5.

    Raises ``ModelIntegrityError`` when the model cannot be verified.
    """
    artifact = verify_artifact()
    if latest_observed_model_md5(instance) == artifact.md5:
        return None
    return AssetObservation(
        asset_key=CHURN_MODEL_KEY, metadata=model_metadata(artifact), tags={DATA_VERSION_TAG: artifact.md5}
    )


def record_model_observation(instance: DagsterInstance) -> None:
    """Observe the model now unless the instance already knows its current md5.

    Used by the CLI before a run, so the run's provenance names the model that dvc.lock
    records at that moment (the sensors emit the same observation from their ticks).
    """
    observation = model_observation_if_changed(instance)
    if observation is not None:
        instance.report_runless_asset_event(observation)
