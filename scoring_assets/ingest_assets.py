"""Ingest stage assets: the input file as parsed (``raw_batch``) and judged (``validated_batch``)."""

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
from scoring_assets.partitions import input_files_partitions
from scoring_assets.resources import ScoringFolders

GROUP = "scoring"
CODE_VERSION = "1"


@asset(
    partitions_def=input_files_partitions,
    group_name=GROUP,
    code_version=CODE_VERSION,
    metadata={COLUMN_SCHEMA_KEY: raw_batch_schema()},
    check_specs=[
        asset_checks.blocking("raw_batch", "required_columns_present", "Every contract column is in the file."),
        asset_checks.blocking("raw_batch", "has_rows", "The file has at least one data row."),
    ],
    description="The input file exactly as written (every value as text), as Parquet.",
)
def raw_batch(context: AssetExecutionContext, folders: ScoringFolders) -> MaterializeResult:
    registration = folders.registered_input(context.partition_key)
    raw_path = folders.lake_file("raw_batch", context.partition_key)
    summary = write_raw_parquet(registration.source_path, registration.sha256, raw_path)
    folders.write_stage_summary(
        "raw_batch",
        context.partition_key,
        {"path": registration.source_path, "sha256": summary.sha256, "bytes": summary.bytes, "rows": summary.rows},
    )
    return MaterializeResult(
        metadata={
            "source_path": MetadataValue.path(registration.source_path),
            "sha256": summary.sha256,
            "bytes": summary.bytes,
            "rows": summary.rows,
            "columns": len(summary.columns),
            "has_churn_label": summary.has_label,
            "lake_path": MetadataValue.path(str(raw_path)),
            ROW_COUNT_KEY: summary.rows,
        },
        check_results=[asset_checks.raw_required_columns_present(raw_path), asset_checks.raw_has_rows(raw_path)],
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
    check_specs=[
        asset_checks.blocking(
            "validated_batch", "reject_fraction_within_limit", "Rejected rows are at most max_reject_fraction."
        ),
        asset_checks.blocking(
            "validated_batch", "accepted_rows_satisfy_contract", "Accepted rows, as stored, pass the contract."
        ),
    ],
    description="Rows that satisfy the input contract, typed; every rejected row is in the reject report.",
)
def validated_batch(
    context: AssetExecutionContext, config: ValidationConfig, folders: ScoringFolders
) -> MaterializeResult:
    key = context.partition_key
    raw_path = folders.lake_file("raw_batch", key)
    accepted_path = folders.lake_file("validated_batch", key)
    report_path = config.reject_report_path or str(folders.reject_report(key))
    summary = validate_raw_parquet(raw_path, accepted_path, report_path)
    report = report_path if summary.rows_rejected else None
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
    if summary.reject_fraction > config.max_reject_fraction:
        context.log.error(
            f"{summary.rows_rejected} of {summary.rows_in} rows rejected ({summary.reject_fraction:.1%}), more than "
            f"the {config.max_reject_fraction:.1%} allowed: nothing will be scored. Reject report: {report_path}"
        )
    return MaterializeResult(
        metadata={
            "rows_in": summary.rows_in,
            "rows_accepted": summary.rows_accepted,
            "rows_rejected": summary.rows_rejected,
            "reject_fraction": float(round(summary.reject_fraction, 6)),
            "max_reject_fraction": float(config.max_reject_fraction),
            "reject_counts_by_rule": reject_counts_table(summary.reject_counts),
            "reject_report": MetadataValue.path(report) if report else "none (no rows rejected)",
            "lake_path": MetadataValue.path(str(accepted_path)),
            ROW_COUNT_KEY: summary.rows_accepted,
        },
        check_results=[
            asset_checks.reject_fraction_within_limit(
                summary.rows_in, summary.rows_rejected, config.max_reject_fraction
            ),
            asset_checks.accepted_rows_satisfy_contract(accepted_path),
        ],
    )


def reject_counts_table(counts) -> MetadataValue:
    return MetadataValue.table(
        records=[TableRecord({"rule": rule, "rejects": int(count)}) for rule, count in counts.most_common()],
        schema=TableSchema(columns=[TableColumn("rule", "string"), TableColumn("rejects", "int")]),
    )
