"""Every name Dagster knows a use case's definitions by, in one place.

Asset keys, the partition set, jobs, ops, sensors, schedules and the tags that name them are
spelled here and nowhere else: the builders, the sensors, the CLI and the tests all ask a
``UseCaseKeys``, so no two files can spell one name differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from scoring_assets.core.use_case import UseCase

# The five scoring assets of every use case, in the order a file goes through them.
SCORING_ASSETS = ("raw_batch", "validated_batch", "feature_matrix", "scores", "scoring_manifest")
SHARED_INBOX = dg.AssetKey("inbox")
INBOX_ROUTER = "inbox_router"
INPUT_DATA_VERSION_TAG_PREFIX = "dagster/input_data_version/"  # Dagster's tag naming an upstream's data version
PARTITION_TAG = "dagster/partition"  # Dagster's tag naming a run's partition


@dataclass(frozen=True)
class UseCaseKeys:
    """The names of one use case's definitions: ``<use case>/<asset>`` keys, ``<use case>__<thing>`` names."""

    use_case: str

    def asset(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([self.use_case, name])

    def _named(self, thing: str) -> str:
        return f"{self.use_case}__{thing}"

    # assets
    @property
    def model(self) -> dg.AssetKey:
        return self.asset("model")

    @property
    def raw_batch(self) -> dg.AssetKey:
        return self.asset("raw_batch")

    @property
    def validated_batch(self) -> dg.AssetKey:
        return self.asset("validated_batch")

    @property
    def feature_matrix(self) -> dg.AssetKey:
        return self.asset("feature_matrix")

    @property
    def scores(self) -> dg.AssetKey:
        return self.asset("scores")

    @property
    def scoring_manifest(self) -> dg.AssetKey:
        return self.asset("scoring_manifest")

    @property
    def inbox(self) -> dg.AssetKey:
        return self.asset("inbox")

    @property
    def monitoring(self) -> dg.AssetKey:
        return self.asset("monitoring")

    @property
    def realized_performance(self) -> dg.AssetKey:
        return self.asset("realized_performance")

    @property
    def outcomes_inbox(self) -> dg.AssetKey:
        return self.asset("outcomes_inbox")

    @property
    def model_history(self) -> dg.AssetKey:
        return self.asset("model_history")

    @property
    def challenger(self) -> dg.AssetKey:
        return self.asset("challenger")

    @property
    def training_set(self) -> dg.AssetKey:
        return self.asset("training_set")

    @property
    def shadow_scores(self) -> dg.AssetKey:
        """The challenger's scores of a file, kept in the lake beside the champion's (never published)."""
        return self.asset("shadow_scores")

    @property
    def scoring_assets(self) -> list[dg.AssetKey]:
        return [self.asset(name) for name in SCORING_ASSETS]

    # partitions: one per registered input file
    @property
    def partitions(self) -> str:
        return self._named("files")

    # jobs
    @property
    def score_file_job(self) -> str:
        return self._named("score_file")

    @property
    def rescore_job(self) -> str:
        return self._named("rescore")

    @property
    def rescore_batch_job(self) -> str:
        """Many partitions re-scored in one run, each with its own materializations and checks."""
        return self._named("rescore_batch")

    @property
    def rescore_files_op(self) -> str:
        return self._named("rescore_files")

    @property
    def monitoring_job(self) -> str:
        return self._named("monitoring")

    @property
    def register_outcomes_job(self) -> str:
        return self._named("register_outcomes")

    @property
    def promote_job(self) -> str:
        return self._named("promote")

    @property
    def rollback_job(self) -> str:
        return self._named("rollback")

    @property
    def train_challenger_job(self) -> str:
        return self._named("train_challenger")

    @property
    def retire_file_job(self) -> str:
        return self._named("retire_file")

    @property
    def evidence_job(self) -> str:
        return self._named("evidence")

    @property
    def prune_job(self) -> str:
        return self._named("prune")

    # ops (the step keys a run config names)
    @property
    def raw_batch_op(self) -> str:
        return self._named("raw_batch")

    @property
    def validated_batch_op(self) -> str:
        return self._named("validated_batch")

    @property
    def score_and_publish_op(self) -> str:
        return self._named("score_and_publish")

    @property
    def refresh_monitoring_op(self) -> str:
        return self._named("refresh_monitoring")

    @property
    def join_outcomes_op(self) -> str:
        return self._named("join_outcomes")

    @property
    def promote_op(self) -> str:
        return self._named("promote_challenger")

    @property
    def rollback_op(self) -> str:
        return self._named("roll_back_model")

    @property
    def retire_file_op(self) -> str:
        return self._named("retire_one_file")

    @property
    def evidence_op(self) -> str:
        return self._named("write_evidence_bundle")

    @property
    def prune_op(self) -> str:
        return self._named("prune_old_files")

    @property
    def challenger_op(self) -> str:
        """The op of the ``challenger`` asset (Dagster names an asset's op after its key)."""
        return self._named("challenger")

    # checks
    @property
    def challenger_check(self) -> str:
        return "challenger_beats_champion"

    # sensors and schedules
    @property
    def inbox_sensor(self) -> str:
        return self._named("inbox_sensor")

    @property
    def outcomes_sensor(self) -> str:
        return self._named("outcomes_sensor")

    @property
    def model_sensor(self) -> str:
        return self._named("model_sensor")

    @property
    def rescore_sensor(self) -> str:
        return self._named("rescore_on_model_change")

    @property
    def monitoring_sensor(self) -> str:
        return self._named("monitoring_sensor")

    @property
    def drift_alert_sensor(self) -> str:
        return self._named("drift_alert_sensor")

    @property
    def nightly_rescore_schedule(self) -> str:
        return self._named("nightly_rescore")

    @property
    def retrain_schedule(self) -> str:
        return self._named("retrain_schedule")

    @property
    def prune_schedule(self) -> str:
        return self._named("prune_schedule")

    @property
    def retrain_on_drift_sensor(self) -> str:
        return self._named("retrain_on_drift")

    # tags
    @property
    def model_used_tag(self) -> str:
        """How a materialization downstream of the model records the model's data version (its md5)."""
        return f"{INPUT_DATA_VERSION_TAG_PREFIX}{self.model.to_user_string()}"


def keys_of(use_case: UseCase | str) -> UseCaseKeys:
    return UseCaseKeys(use_case if isinstance(use_case, str) else use_case.name)
