"""Challenger training in the graph: the ``training_set`` and ``challenger`` assets, the gate check, the job.

``<use case>__train_challenger`` (what the UI, the CLI's ``train`` and the retraining triggers all
run) first publishes the training set gathered from production (``core.training_set``, DVC-tracked
in the ``ModelStore``'s project), then materializes the challenger with
``training.challenger.train_challenger``; run config: ``training_set`` (production, generated or a
labelled extract's path). The check ``challenger_beats_champion`` turns the gate's recorded verdict
into an ``AssetCheckResult`` with every figure and the impact report's path; it blocks whatever
would depend on the challenger. A refusal (no rows to train on, a model that fails verification)
fails the step with ``refusal_kind`` metadata, as scoring's refusals do, so the CLI picks its exit code.
"""

import dagster as dg

from scoring_assets.builders.figures import figure
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.refusals import RefusalKind, refusal
from scoring_assets.builders.resources import ModelStore, ScoringFolders
from scoring_assets.core.model_lifecycle import LifecycleRefused
from scoring_assets.core.model_store import ModelIntegrityError
from scoring_assets.core.promotion_gate import GateVerdict
from scoring_assets.core.training_set import publish_training_set
from scoring_assets.core.use_case import UseCase
from scoring_assets.training.challenger import GENERATED, NoTrainingRows, train_challenger, training_window


class TrainChallengerConfig(dg.Config):
    training_set: str = GENERATED  # production | generated | the path of a labelled extract


def gate_check_result(use_case: UseCase, verdict: GateVerdict, folders: ScoringFolders) -> dg.AssetCheckResult:
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
            **folders.report_metadata("impact_report", verdict.report),
        },
    )


def challenger_group(use_case: UseCase) -> str:
    """Its own group: materializing the use case's group (a file's scoring) must not train a model."""
    return f"{use_case.name}_challenger"


def build_training_set_asset(use_case: UseCase) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys_of(use_case).training_set,
        group_name=challenger_group(use_case),
        description=f"Labelled {use_case.name} rows from production (outcomes and labelled extracts), "
        "deduplicated, before the gate's holdout and within params.yaml's window; DVC-tracked beside the model.",
    )
    def training_set(model_store: ModelStore, folders: ScoringFolders) -> dg.MaterializeResult:
        root = model_store.root_of(use_case)
        described = publish_training_set(use_case, root, folders.of(use_case.name), training_window(use_case, root))
        dates = described["date_range"] or [None, None]
        return dg.MaterializeResult(
            data_version=dg.DataVersion(described["md5"]),
            metadata={
                "md5": described["md5"],
                "rows": dg.MetadataValue.int(described["rows"]),
                "label_balance": dg.MetadataValue.float(figure(described["label_balance"] or 0.0)),
                "first_known_at": dates[0] or "none",
                "last_known_at": dates[1] or "none",
                "rows_by_source": dg.MetadataValue.json(described["rows_by_source"]),
                "holdout_rows": dg.MetadataValue.int(described["holdout_rows"]),
                "holdout_cut": described["holdout_cut"] or "none",
                "window": dg.MetadataValue.json(described["window"]),
                "path": dg.MetadataValue.path(str(root / described["path"])),
            },
        )

    return training_set


def challenger_metadata(use_case: UseCase, trained, training_set: str, folders: ScoringFolders) -> dict:
    return {
        "challenger_md5": trained.challenger_md5,
        "version": use_case.model_version(trained.challenger_md5),
        "training_set": training_set,
        "trained_on": dg.MetadataValue.json(trained.training_set),
        "metrics": dg.MetadataValue.json(trained.metrics),
        "model_card": dg.MetadataValue.json(trained.card),
        "gate": dg.MetadataValue.json(trained.verdict.as_record()),
        "gate_passed": trained.verdict.passed,
        "promoted": trained.promoted,
        **folders.report_metadata("impact_report", trained.verdict.report),
    }


def build_challenger_asset(use_case: UseCase) -> dg.AssetsDefinition:
    keys = keys_of(use_case)

    @dg.asset(
        key=keys.challenger,
        deps=[keys.training_set],
        group_name=challenger_group(use_case),
        description=f"A {use_case.name} model trained to challenge the served one, judged by the promotion gate.",
        check_specs=[dg.AssetCheckSpec(keys.challenger_check, asset=keys.challenger, blocking=True)],
    )
    def challenger(
        context: dg.AssetExecutionContext,
        config: TrainChallengerConfig,
        model_store: ModelStore,
        folders: ScoringFolders,
    ) -> dg.MaterializeResult:
        root = model_store.root_of(use_case)
        try:
            trained = train_challenger(use_case, root, folders.of(use_case.name), config.training_set)
        except (NoTrainingRows, LifecycleRefused) as error:
            raise refusal(context, RefusalKind.RUN_CONFIG, f"{use_case.name}: {error}") from None
        except ModelIntegrityError as error:
            raise refusal(context, RefusalKind.MODEL, f"{use_case.name} model: {error}") from None
        return dg.MaterializeResult(
            data_version=dg.DataVersion(trained.challenger_md5),
            metadata=challenger_metadata(use_case, trained, config.training_set, folders),
            check_results=[gate_check_result(use_case, trained.verdict, folders)],
        )

    return challenger


def build_train_challenger_job(use_case: UseCase) -> "dg.UnresolvedAssetJobDefinition":
    keys = keys_of(use_case)
    return dg.define_asset_job(
        keys.train_challenger_job,
        selection=dg.AssetSelection.assets(keys.training_set, keys.challenger),
        executor_def=dg.in_process_executor,
        description=f"Train a {use_case.name} challenger and run the promotion gate on it.",
    )


def train_challenger_run_config(use_case: UseCase, training_set: str, loggers: dict | None = None) -> dg.RunConfig:
    """The train_challenger job's run config (what the CLI's ``train`` and the retraining triggers request)."""
    return dg.RunConfig(
        ops={keys_of(use_case).challenger_op: TrainChallengerConfig(training_set=training_set)},
        loggers=loggers or {},
    )
