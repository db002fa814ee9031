"""A use case's model as a Dagster asset: built by ``dvc repro`` (or brought in with ``dvc add``), observed here.

DVC owns the model, so Dagster does not materialize it; it observes it. The observation
verifies the artifact against DVC's record (never unpickling it) and reports the DVC md5 as
the data version, so every ``scores`` materialization records which model it used
(``dagster/input_data_version/<use case>/model``) and goes stale when the model changes.
"""

from __future__ import annotations

import json
import warnings

import dagster as dg

from scoring_assets.builders.figures import figure
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import ModelStore
from scoring_assets.core.model_store import ModelArtifact
from scoring_assets.core.use_case import UseCase

DATA_VERSION_TAG = "dagster/data_version"  # how an observation carries its data version


def model_metadata(artifact: ModelArtifact) -> dict[str, object]:
    """What a person needs to know about the model in the UI."""
    metrics_path = artifact.metrics_path  # the served model's own when it was promoted
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path and metrics_path.exists() else {}
    card = artifact.card
    return {
        "path": dg.MetadataValue.path(str(artifact.path)),
        "md5": artifact.md5,
        "model_version": artifact.version,
        "threshold": figure(artifact.threshold),
        "sklearn_version": artifact.sklearn_version,
        "model_kind": str(card.get("model", {}).get("kind", "not in the card")),
        "serving": dg.MetadataValue.json(artifact.serving.as_record() if artifact.serving else {}),
        "training_data": dg.MetadataValue.json(card.get("training_data", {})),
        "test_metrics": dg.MetadataValue.json(metrics),
    }


def build_model_asset(use_case: UseCase) -> dg.AssetsDefinition:
    """The observable ``[use case, model]`` asset whose data version is the model's DVC md5."""
    # Dagster 1.13 marks observable source assets as beta; they are still the API for an asset that
    # is observed rather than materialized, so its BetaWarning (on every code location load, i.e.
    # every run) is silenced here and nowhere else.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)

        @dg.observable_source_asset(
            key=keys_of(use_case).model,
            group_name=use_case.name,
            description=f"{use_case.title} scikit-learn Pipeline tracked by DVC; data version = its DVC md5.",
        )
        def model(model_store: ModelStore) -> dg.ObserveResult:
            artifact = model_store.verify(use_case)
            return dg.ObserveResult(data_version=dg.DataVersion(artifact.md5), metadata=model_metadata(artifact))

    return model


def latest_observed_model_md5(instance: dg.DagsterInstance, use_case: UseCase) -> str | None:
    record = instance.get_latest_data_version_record(keys_of(use_case).model, is_source=True)
    if record is None or record.event_log_entry.asset_observation is None:
        return None
    return record.event_log_entry.asset_observation.data_version


def model_observation_if_changed(
    instance: dg.DagsterInstance, use_case: UseCase, model_store: ModelStore
) -> dg.AssetObservation | None:
    """An observation of the current model, or None if the instance already knows its md5.

    Raises ``ModelIntegrityError`` when the model cannot be verified.
    """
    artifact = model_store.verify(use_case)
    if latest_observed_model_md5(instance, use_case) == artifact.md5:
        return None
    return dg.AssetObservation(
        asset_key=keys_of(use_case).model,
        metadata=model_metadata(artifact),
        tags={DATA_VERSION_TAG: artifact.md5},
    )


def record_model_observation(instance: dg.DagsterInstance, use_case: UseCase, model_store: ModelStore) -> None:
    """Observe the model now unless the instance already knows its current md5.

    Used by the CLI before a run, so the run's provenance names the model that DVC records at
    that moment (the sensors emit the same observation from their ticks).
    """
    observation = model_observation_if_changed(instance, use_case, model_store)
    if observation is not None:
        instance.report_runless_asset_event(observation)
