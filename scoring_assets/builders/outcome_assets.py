"""What really happened to scored rows, in Dagster: ``<use case>/realized_performance`` and its job.

``<use case>__register_outcomes`` (run config: the outcomes file's path) materializes
``[use case, realized_performance]`` (unpartitioned, downstream of ``scores``) once per outcomes
file: its step registers, checks and joins the file (``core.outcomes``) and shows a table of one
row per scored file with outcomes, realized against expected, plus the latest scored file's
figures as numbers (``latest_realized_roc_auc``, ``latest_expected_precision``...), so the UI plots
realized against expected over time. A file that cannot be used, has too many rejected rows or
matches no scored row is refused (``refusals``). The ``outcomes`` command and the outcomes inbox
sensor run this same job. Only use cases whose rows can be found again by id take outcomes.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from scoring_assets.builders.figures import figure
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.refusals import RefusalKind, refusal
from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.core.csv_header import InputFileError
from scoring_assets.core.outcomes import OutcomesRefusal, OutcomesReport, register_outcomes
from scoring_assets.core.realized_performance import realized_by_file
from scoring_assets.core.use_case import UseCase

FIGURES = ("roc_auc", "precision", "recall", "brier")

REALIZED_TABLE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("partition", "string", description="the scored file"),
        dg.TableColumn("scored_at", "string", description="scoring timestamp (UTC)"),
        dg.TableColumn("rows_with_outcome", "int"),
        dg.TableColumn("threshold", "float", description="the threshold the file was scored with"),
        dg.TableColumn("realized_roc_auc", "float", description="empty while its outcomes hold one class only"),
        dg.TableColumn("realized_precision", "float"),
        dg.TableColumn("expected_precision", "float", description="from the calibrated scores, when scored"),
        dg.TableColumn("realized_recall", "float"),
        dg.TableColumn("expected_recall", "float"),
        dg.TableColumn("realized_brier", "float"),
    ]
)


class OutcomesFileConfig(dg.Config):
    """Which outcomes file the run registers; none (a materialization from the UI): recompute from those kept."""

    path: str = ""


def outcomes_run_config(use_case: UseCase, path: Path | str, loggers: dict | None = None) -> dict[str, Any]:
    """The register_outcomes job's run config for ``path``: what the sensor requests and the command runs."""
    config: dict[str, Any] = {"ops": {keys_of(use_case).join_outcomes_op: {"config": {"path": str(path)}}}}
    return {**config, "loggers": loggers} if loggers else config


def build_outcomes_job(use_case: UseCase):
    keys = keys_of(use_case)
    return dg.define_asset_job(
        name=keys.register_outcomes_job,
        selection=dg.AssetSelection.assets(keys.realized_performance),
        executor_def=dg.in_process_executor,
        description=f"Register one {use_case.name} outcomes file (run config: its path) and refresh "
        f"{use_case.name}/realized_performance.",
    )


def build_realized_performance_asset(use_case: UseCase) -> dg.AssetsDefinition:
    keys = keys_of(use_case)
    spec = dg.AssetSpec(
        keys.realized_performance,
        group_name=use_case.name,
        deps=[keys.scores],
        description=f"How each scored {use_case.name} file really did once outcomes came back ({use_case.id_column}, "
        f"{use_case.label_column}, optionally outcome_date), beside the precision and recall expected when it was "
        f"scored. One materialization per outcomes file, by {keys.register_outcomes_job} (the `outcomes` command, or "
        f"a file dropped into inbox/{use_case.name}/outcomes/).",
    )

    @dg.multi_asset(name=keys.join_outcomes_op, specs=[spec])
    def realized_performance(
        context: dg.AssetExecutionContext, config: OutcomesFileConfig, folders: ScoringFolders
    ) -> dg.MaterializeResult:
        own = folders.of(use_case.name)
        report = None
        if config.path:
            try:
                report = register_outcomes(use_case, own, Path(config.path))
            except InputFileError as error:
                raise refusal(context, RefusalKind.INPUT_FILE, str(error)) from None
            if report.refusal is not None:
                raise refused(context, report)
        return dg.MaterializeResult(metadata=realized_metadata(report, realized_by_file(use_case, own)))

    return realized_performance


def refused(context: dg.AssetExecutionContext, report: OutcomesReport) -> dg.Failure:
    """The Failure for a refused outcomes file, with the figures the command explains it by."""
    figures = {
        "rows_in": report.rows_in,
        "rows_rejected": report.rejected,
        "rows_unmatched": report.unmatched,
        "reject_fraction": report.reject_fraction,
        "max_reject_fraction": report.max_reject_fraction,
        "reject_report": report.reject_report or "none",
    }
    if report.refusal == OutcomesRefusal.TOO_MANY_REJECTS:
        return refusal(
            context, RefusalKind.TOO_MANY_REJECTS, f"{report.source_path}: too many rejected rows", **figures
        )
    return refusal(
        context,
        RefusalKind.INPUT_FILE,
        f"{report.source_path}: no row matches a scored row ({report.unmatched} id(s) never scored before their "
        f"outcome, {report.rejected} row(s) rejected)",
        **figures,
    )


def realized_metadata(report: OutcomesReport | None, files) -> dict[str, Any]:
    """This file's counts (if one was registered), every scored file with outcomes as a table, the latest scored
    one's figures as numbers."""
    table = [
        dg.TableRecord(
            {
                "partition": each.partition,
                "scored_at": each.scored_at,
                "rows_with_outcome": each.rows_with_outcome,
                "threshold": round(each.threshold, 4),
                **{f"realized_{name}": _rounded(each.realized.get(name)) for name in FIGURES},
                **{f"expected_{name}": _rounded(value) for name, value in each.expected.items()},
            }
        )
        for each in reversed(files)  # newest first, as the UI reads
    ]
    latest = files[-1] if files else None
    numbers = {}
    if latest is not None:
        numbers.update(
            {f"latest_realized_{name}": value for name, value in latest.realized.items() if value is not None}
        )
        numbers.update(
            {f"latest_expected_{name}": value for name, value in latest.expected.items() if value is not None}
        )
    return {
        **(registration_metadata(report) if report else {"outcomes_file": "none: recomputed from the outcomes kept"}),
        "files_with_outcomes": dg.MetadataValue.table(table, schema=REALIZED_TABLE_SCHEMA),
        "latest_partition": latest.partition if latest else "none",
        **{name: figure(value) for name, value in numbers.items()},
    }


def registration_metadata(report: OutcomesReport) -> dict[str, Any]:
    return {
        "outcomes_file": dg.MetadataValue.path(report.source_path),
        "outcomes_key": report.outcomes_key,
        "matched": report.matched,
        "unmatched": report.unmatched,
        "rejected": report.rejected,
        **({"reject_report": dg.MetadataValue.path(report.reject_report)} if report.reject_report else {}),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
