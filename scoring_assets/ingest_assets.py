"""Ingest stage assets: the input file as parsed (``raw_batch``) and judged (``validated_batch``).

A file that cannot be used, or has too many bad rows, is refused here: the step fails with a
one-line reason on the file's partition (see ``refusals``), and nothing downstream runs.
"""

from pathlib import Path

from dagster import (
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from pydantic import Field

from scoring_assets import asset_checks
from scoring_assets.column_schemas import COLUMN_SCHEMA_KEY, ROW_COUNT_KEY, raw_batch_schema, validated_batch_schema
from scoring_assets.ingest import validate_raw_parquet, write_raw_parquet
from scoring_assets.input_csv import InputFileError
from scoring_assets.manifest import drop_if_unchanged, set_aside
from scoring_assets.output_paths import UnsafeOutputPathError, check_outputs_do_not_reach_input
from scoring_assets.partitions import input_files_partitions
from scoring_assets.refusals import RefusalKind, materialize_or_refuse, refusal
from scoring_assets.resources import InputRegistration, ScoringFolders
from scoring_assets.run_tags import file_tags, tag_run

GROUP = "scoring"
CODE_VERSION = "1"


def registered_input(context: AssetExecutionContext, folders: ScoringFolders) -> InputRegistration:
    """The file behind the run's partition, with the run tagged by its name and sha256."""
    try:
        registration = folders.registered_input(context.partition_key)
    except FileNotFoundError as error:
        raise refusal(context, RefusalKind.INPUT_FILE, str(error)) from None
    tag_run(context.instance, context.run, file_tags(Path(registration.source_path).name, registration.sha256, None))
    return registration


@asset(
    partitions_def=input_files_partitions,
    group_name=GROUP,
    code_version=CODE_VERSION,
    metadata={COLUMN_SCHEMA_KEY: raw_batch_schema()},
    check_specs=[asset_checks.REQUIRED_COLUMNS_PRESENT.spec(), asset_checks.HAS_ROWS.spec()],
    description="The input file exactly as written (every value as text), as Parquet.",
)
def raw_batch(context: AssetExecutionContext, folders: ScoringFolders):
    registration = registered_input(context, folders)
    raw_path = folders.lake_file("raw_batch", context.partition_key)
    try:
        summary = write_raw_parquet(registration.source_path, registration.sha256, raw_path)
    except InputFileError as error:
        raise refusal(context, RefusalKind.INPUT_FILE, str(error), path=MetadataValue.path(error.path)) from None
    folders.write_stage_summary(
        "raw_batch",
        context.partition_key,
        {"path": registration.source_path, "sha256": summary.sha256, "bytes": summary.bytes, "rows": summary.rows},
    )
    yield from materialize_or_refuse(
        context,
        MaterializeResult(
            metadata={
                "source_path": MetadataValue.path(registration.source_path),
                "sha256": summary.sha256,
                "bytes": summary.bytes,
                "rows": summary.rows,
                "ragged_rows": summary.ragged_rows,
                "columns": len(summary.columns),
                "has_churn_label": summary.has_label,
                "lake_path": MetadataValue.path(str(raw_path)),
                ROW_COUNT_KEY: summary.rows,
            },
            check_results=[
                asset_checks.raw_required_columns_present(raw_path),
                asset_checks.raw_has_rows(raw_path),
            ],
        ),
        kind=RefusalKind.INPUT_FILE,
        reason=f"file: {registration.source_path}",
    )


class ValidationConfig(Config):
    max_reject_fraction: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Refuse the batch if more than this share of rows is rejected."
    )
    reject_report_path: str = Field(
        default="", description="Where to write the reject report (default: rejected/<partition>.csv)."
    )


@asset(
    partitions_def=input_files_partitions,
    group_name=GROUP,
    code_version=CODE_VERSION,
    deps=[raw_batch],
    metadata={COLUMN_SCHEMA_KEY: validated_batch_schema()},
    check_specs=[asset_checks.REJECT_FRACTION_WITHIN_LIMIT.spec(), asset_checks.ACCEPTED_ROWS_SATISFY_CONTRACT.spec()],
    description="Rows that satisfy the input contract, typed; every rejected row is in the reject report.",
)
def validated_batch(context: AssetExecutionContext, config: ValidationConfig, folders: ScoringFolders):
    key = context.partition_key
    registration = registered_input(context, folders)
    raw_path = folders.lake_file("raw_batch", key)
    accepted_path = folders.lake_file("validated_batch", key)
    report_path = Path(config.reject_report_path) if config.reject_report_path else folders.reject_report(key)
    try:
        check_outputs_do_not_reach_input(registration.source_path, [report_path], [folders.inbox])
    except UnsafeOutputPathError as error:
        raise refusal(context, RefusalKind.OUTPUT_PATH, str(error)) from None
    earlier_report = set_aside(report_path)
    summary = validate_raw_parquet(raw_path, accepted_path, report_path)
    drop_if_unchanged(earlier_report, report_path)
    report = str(report_path) if summary.rows_rejected else None
    folders.write_stage_summary(
        "validated_batch",
        key,
        {
            "rows_in": summary.rows_in,
            "rows_accepted": summary.rows_accepted,
            "rows_rejected": summary.rows_rejected,
            "reject_counts": dict(summary.reject_counts.most_common()),
            "reject_report": report,
        },
    )
    fraction_check = asset_checks.reject_fraction_within_limit(
        summary.rows_in, summary.rows_rejected, config.max_reject_fraction
    )
    yield from materialize_or_refuse(
        context,
        MaterializeResult(
            metadata={
                "rows_in": summary.rows_in,
                "rows_accepted": summary.rows_accepted,
                "rows_rejected": summary.rows_rejected,
                "reject_fraction": float(round(summary.reject_fraction, 6)),
                "max_reject_fraction": float(config.max_reject_fraction),
                "reject_counts_by_rule": reject_counts_table(summary.reject_counts),
                "report_cells_neutralised": summary.report_cells_neutralised,
                "reject_report": MetadataValue.path(report) if report else "none (no rows rejected)",
                "lake_path": MetadataValue.path(str(accepted_path)),
                ROW_COUNT_KEY: summary.rows_accepted,
            },
            check_results=[fraction_check, asset_checks.accepted_rows_satisfy_contract(accepted_path)],
        ),
        kind=RefusalKind.CHECK_FAILED if fraction_check.passed else RefusalKind.TOO_MANY_REJECTS,
        reason=f"nothing was scored; reject report: {report}" if report else "nothing was scored",
    )


def reject_counts_table(counts) -> MetadataValue:
    return MetadataValue.table(
        records=[TableRecord({"rule": rule, "rejects": int(count)}) for rule, count in counts.most_common()],
        schema=TableSchema(columns=[TableColumn("rule", "string"), TableColumn("rejects", "int")]),
    )
