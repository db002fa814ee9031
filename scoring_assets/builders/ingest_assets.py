"""Ingest stage assets of a use case: the input file as parsed (``raw_batch``) and judged (``validated_batch``).

A file that cannot be used, or has too many bad rows, is refused here: the step fails with a
one-line reason on the file's partition (see ``refusals``), and nothing downstream runs.
"""

from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
from pydantic import Field

from scoring_assets.builders import asset_checks
from scoring_assets.builders.column_schemas import (
    COLUMN_SCHEMA_KEY,
    ROW_COUNT_KEY,
    raw_batch_schema,
    validated_batch_schema,
)
from scoring_assets.builders.keys import UseCaseKeys, keys_of
from scoring_assets.builders.refusals import RefusalKind, materialize_or_refuse, refusal
from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.builders.run_tags import file_tags, tag_run
from scoring_assets.core.csv_header import InputFileError
from scoring_assets.core.folders import InputRegistration, UseCaseFolders
from scoring_assets.core.ingest import RawSummary, ValidationSummary, validate_raw_parquet, write_raw_parquet
from scoring_assets.core.manifest import drop_if_unchanged, set_aside
from scoring_assets.core.output_paths import UnsafeOutputPathError, check_outputs_do_not_reach_input
from scoring_assets.core.scoring import scored_columns
from scoring_assets.core.use_case import UseCase

CODE_VERSION = "2"


def registered_input(
    context: dg.AssetExecutionContext, folders: UseCaseFolders, tag_the_run: bool = True
) -> InputRegistration:
    """The file behind the run's partition, with the run tagged by its name and sha256.

    A batch run scores many files, so it is not tagged with any one of them (``tag_the_run`` False).
    """
    try:
        registration = folders.registered_input(context.partition_key)
    except FileNotFoundError as error:
        raise refusal(context, RefusalKind.INPUT_FILE, str(error)) from None
    if tag_the_run:
        tag_run(
            context.instance, context.run, file_tags(Path(registration.source_path).name, registration.sha256, None)
        )
    return registration


class RawBatchConfig(dg.Config):
    carry_columns: list[str] | None = Field(
        default=None,
        description="Input columns to carry into the scored file after its fixed columns (default: the use case's).",
    )


class ValidationConfig(dg.Config):
    max_reject_fraction: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Refuse the batch if more than this share of rows is rejected."
    )
    reject_report_path: str = Field(
        default="", description="Where to write the reject report (default: rejected/<use case>/<partition>.csv)."
    )


def carried_columns_problem(use_case: UseCase, carried: list[str]) -> str | None:
    """Why these columns cannot be carried into the scored file (a name it already has, a repeat), if any."""
    taken = [name for name in carried if name in scored_columns(use_case, name_inputs=True)]
    if taken:
        return f"cannot carry {', '.join(taken)}: the scored file already has a column of that name"
    repeated = sorted({name for name in carried if carried.count(name) > 1})
    if repeated:
        return f"column(s) named more than once to carry: {', '.join(repeated)}"
    return None


def build_ingest_assets(use_case: UseCase, partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """``raw_batch`` and ``validated_batch`` for one use case, keyed ``[use case, asset]``."""
    keys = keys_of(use_case)
    return [_raw_batch_asset(use_case, keys, partitions), _validated_batch_asset(use_case, keys, partitions)]


def _raw_batch_asset(use_case: UseCase, keys: UseCaseKeys, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.raw_batch,
        partitions_def=partitions,
        group_name=use_case.name,
        code_version=CODE_VERSION,
        metadata={COLUMN_SCHEMA_KEY: raw_batch_schema(use_case)},
        check_specs=[
            asset_checks.REQUIRED_COLUMNS_PRESENT.spec(use_case, partitions),
            asset_checks.HAS_ROWS.spec(use_case, partitions),
        ],
        description=f"{use_case.title} The input file exactly as written (every value as text), as Parquet.",
    )
    def raw_batch(context: dg.AssetExecutionContext, config: RawBatchConfig, folders: ScoringFolders):
        yield from parse_input_file(context, use_case, config, folders.of(use_case.name))

    return raw_batch


def parse_input_file(
    context: dg.AssetExecutionContext, use_case: UseCase, config: RawBatchConfig, own: UseCaseFolders
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """``raw_batch``: the partition's file parsed into the lake, with the columns the run carries through."""
    registration = registered_input(context, own)
    carried = [c.strip() for c in (use_case.passthrough if config.carry_columns is None else config.carry_columns)]
    problem = carried_columns_problem(use_case, carried)
    if problem:
        raise refusal(context, RefusalKind.RUN_CONFIG, problem)
    raw_path = own.lake_file("raw_batch", context.partition_key)
    try:
        summary = write_raw_parquet(use_case, registration.source_path, registration.sha256, raw_path, tuple(carried))
    except InputFileError as error:
        raise refusal(context, RefusalKind.INPUT_FILE, str(error), path=dg.MetadataValue.path(error.path)) from None
    own.write_stage_summary("raw_batch", context.partition_key, summary.as_record())
    yield from materialize_or_refuse(
        context,
        own,
        dg.MaterializeResult(
            metadata=raw_batch_metadata(summary, raw_path),
            check_results=[
                asset_checks.raw_required_columns_present(use_case, raw_path),
                asset_checks.raw_has_rows(use_case, raw_path),
            ],
        ),
        kind=RefusalKind.INPUT_FILE,
        reason=f"file: {registration.source_path}",
    )


def raw_batch_metadata(summary: RawSummary, raw_path: Path) -> dict:
    """The stage summary's figures (its ``path`` shown as ``source_path``), and what only the UI shows."""
    record = summary.as_record()
    return {
        "source_path": dg.MetadataValue.path(record.pop("path")),
        **record,
        "ragged_rows": summary.ragged_rows,
        "columns": len(summary.columns),
        "has_label": summary.has_label,
        "carried_columns": ", ".join(summary.carried) or "none",
        "lake_path": dg.MetadataValue.path(str(raw_path)),
        ROW_COUNT_KEY: summary.rows,
    }


def _validated_batch_asset(
    use_case: UseCase, keys: UseCaseKeys, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.validated_batch,
        partitions_def=partitions,
        group_name=use_case.name,
        code_version=CODE_VERSION,
        deps=[keys.raw_batch],
        metadata={COLUMN_SCHEMA_KEY: validated_batch_schema(use_case)},
        check_specs=[
            asset_checks.REJECT_FRACTION_WITHIN_LIMIT.spec(use_case, partitions),
            asset_checks.ACCEPTED_ROWS_SATISFY_CONTRACT.spec(use_case, partitions),
        ],
        description="Rows that satisfy the input contract, typed; every rejected row is in the reject report.",
    )
    def validated_batch(context: dg.AssetExecutionContext, config: ValidationConfig, folders: ScoringFolders):
        yield from validate_input_file(context, use_case, config, folders)

    return validated_batch


def validate_input_file(
    context: dg.AssetExecutionContext, use_case: UseCase, config: ValidationConfig, folders: ScoringFolders
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """``validated_batch``: the raw batch split into accepted rows and the reject report; too many rejects refuse."""
    own, key = folders.of(use_case.name), context.partition_key
    registration = registered_input(context, own)
    accepted_path = own.lake_file("validated_batch", key)
    report_path = Path(config.reject_report_path) if config.reject_report_path else own.reject_report(key)
    try:
        check_outputs_do_not_reach_input(registration.source_path, [report_path], [folders.inbox])
    except UnsafeOutputPathError as error:
        raise refusal(context, RefusalKind.OUTPUT_PATH, str(error)) from None
    earlier_report = set_aside(report_path)
    summary = validate_raw_parquet(use_case, own.lake_file("raw_batch", key), accepted_path, report_path)
    drop_if_unchanged(earlier_report, report_path)
    own.write_stage_summary("validated_batch", key, summary.as_record())
    fraction_check = asset_checks.reject_fraction_within_limit(
        use_case, summary.rows_in, summary.rows_rejected, config.max_reject_fraction
    )
    report = summary.reject_report
    yield from materialize_or_refuse(
        context,
        own,
        dg.MaterializeResult(
            metadata=validated_batch_metadata(summary, config.max_reject_fraction, accepted_path, folders),
            check_results=[fraction_check, asset_checks.accepted_rows_satisfy_contract(use_case, accepted_path)],
        ),
        kind=RefusalKind.CHECK_FAILED if fraction_check.passed else RefusalKind.TOO_MANY_REJECTS,
        reason=f"nothing was scored; reject report: {report}" if report else "nothing was scored",
    )


def validated_batch_metadata(
    summary: ValidationSummary, max_reject_fraction: float, accepted_path: Path, folders: ScoringFolders
) -> dict:
    """The stage summary's figures (counts as a table, the report as a path), and what only the UI shows."""
    record = summary.as_record()
    counts, report = record.pop("reject_counts"), record.pop("reject_report")
    return {
        **record,
        "reject_fraction": float(round(summary.reject_fraction, 6)),
        "max_reject_fraction": float(max_reject_fraction),
        "reject_counts_by_rule": reject_counts_table(counts),
        "report_cells_neutralised": summary.report_cells_neutralised,
        **(
            folders.report_metadata("reject_report", report) if report else {"reject_report": "none (no rows rejected)"}
        ),
        "lake_path": dg.MetadataValue.path(str(accepted_path)),
        ROW_COUNT_KEY: summary.rows_accepted,
    }


def reject_counts_table(counts: Mapping[str, int]) -> dg.MetadataValue:
    """Rejects per rule, most common first (as the stage summary lists them)."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"rule": rule, "rejects": int(count)}) for rule, count in counts.items()],
        schema=dg.TableSchema(columns=[dg.TableColumn("rule", "string"), dg.TableColumn("rejects", "int")]),
    )
