"""Challenger training in the UI: the ``<use case>/challenger`` asset, its blocking gate check, and its job.

``<use case>__train_challenger`` materializes the challenger with ``training.challenger.train_challenger``
(the function the CLI's ``train`` runs, so there is one code path) on the ``ModelStore``'s DVC
project; run config: ``training_set`` (production, generated or a labelled extract's path). The
check ``challenger_beats_champion`` turns the gate's recorded verdict into an ``AssetCheckResult``
with every figure and the impact report's path; it blocks whatever would depend on the challenger.
"""

import dagster as dg

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import ModelStore, ScoringFolders
from scoring_assets.core.model_lifecycle import LifecycleRefused
from scoring_assets.core.model_store import ModelIntegrityError
from scoring_assets.core.promotion_gate import GateVerdict
from scoring_assets.core.use_case import UseCase
from scoring_assets.training.challenger import GENERATED, NoTrainingRows, train_challenger


class TrainChallengerConfig(dg.Config):
    training_set: str = GENERATED  # production | generated | the path of a labelled extract


def gate_check_result(use_case: UseCase, verdict: GateVerdict) -> dg.AssetCheckResult:
    """The gate's verdict as the blocking check's result: every criterion's figure, threshold and verdict."""
    table = ["| criterion | figure | threshold | passed |", "| --- | --- | --- | --- |"]
    table += [f"| {c.name} | {c.value} | {c.threshold} | {c.passed} |" for c in verdict.criteria]
    return dg.AssetCheckResult(
        check_name=keys_of(use_case).challenger_check,
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "challenger_md5": verdict.challenger_md5,
            "criteria": dg.MetadataValue.md("\n".join(table)),
            "failed": ", ".join(c.name for c in verdict.criteria if not c.passed) or "none",
            "impact_report": dg.MetadataValue.path(str(verdict.report)),
        },
    )


def build_challenger_asset(use_case: UseCase) -> dg.AssetsDefinition:
    keys = keys_of(use_case)

    @dg.asset(
        key=keys.challenger,
        # Its own group: materializing the use case's group (a file's scoring) must not train a model.
        group_name=f"{use_case.name}_challenger",
        description=f"A {use_case.name} model trained to challenge the served one, judged by the promotion gate.",
        check_specs=[dg.AssetCheckSpec(keys.challenger_check, asset=keys.challenger, blocking=True)],
    )
    def challenger(
        config: TrainChallengerConfig, model_store: ModelStore, folders: ScoringFolders
    ) -> dg.MaterializeResult:
        root = model_store.root_of(use_case)
        try:
            trained = train_challenger(use_case, root, folders.of(use_case.name), config.training_set)
        except (NoTrainingRows, LifecycleRefused, ModelIntegrityError) as error:
            raise dg.Failure(description=f"{use_case.name}: {error}", allow_retries=False) from None
        return dg.MaterializeResult(
            data_version=dg.DataVersion(trained.challenger_md5),
            metadata={
                "challenger_md5": trained.challenger_md5,
                "version": use_case.model_version(trained.challenger_md5),
                "training_set": config.training_set,
                "metrics": dg.MetadataValue.json(trained.metrics),
                "model_card": dg.MetadataValue.json(trained.card),
                "gate_passed": trained.verdict.passed,
                "promoted": trained.promoted,
                "impact_report": dg.MetadataValue.path(str(trained.verdict.report)),
            },
            check_results=[gate_check_result(use_case, trained.verdict)],
        )

    return challenger


def build_train_challenger_job(use_case: UseCase) -> "dg.UnresolvedAssetJobDefinition":
    keys = keys_of(use_case)
    return dg.define_asset_job(
        keys.train_challenger_job,
        selection=dg.AssetSelection.assets(keys.challenger),
        executor_def=dg.in_process_executor,
        description=f"Train a {use_case.name} challenger and run the promotion gate on it.",
    )
