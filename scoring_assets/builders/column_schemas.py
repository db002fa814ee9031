"""Column schemas shown in the Dagster UI, derived from each use case's contract and the stage schemas.

Nothing here is retyped: the input columns come from ``contract.describe_columns`` and the
file schemas from the Arrow schemas the stages write.
"""

from __future__ import annotations

import pyarrow as pa
from dagster import TableColumn, TableColumnConstraints, TableSchema

from scoring_assets.core.contract import describe_columns
from scoring_assets.core.ingest import accepted_schema
from scoring_assets.core.reason_codes import reason_columns
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.scoring import ID_KEY, feature_schema
from scoring_assets.core.scoring import scores_schema as scores_arrow_schema
from scoring_assets.core.use_case import UseCase

# Dagster's standard metadata keys: the UI renders these as the asset's columns and row count.
COLUMN_SCHEMA_KEY = "dagster/column_schema"
ROW_COUNT_KEY = "dagster/row_count"

_ROW_NUMBER_COLUMN = TableColumn(
    ROW_NUMBER,
    "int64",
    description="1-based data row in the input file",
    constraints=TableColumnConstraints(nullable=False, unique=True),
)


def _contract_columns(use_case: UseCase, typed: bool) -> list[TableColumn]:
    types = {field.name: str(field.type) for field in accepted_schema(use_case, has_label=False)}
    return [
        TableColumn(
            name=column.name,
            type=types[column.name] if typed else "string",
            description=column.description or None,
            constraints=TableColumnConstraints(nullable=column.nullable, unique=column.unique, other=column.rules),
        )
        for column in describe_columns(use_case)
    ]


def raw_batch_schema(use_case: UseCase) -> TableSchema:
    return TableSchema(columns=[_ROW_NUMBER_COLUMN, *_contract_columns(use_case, typed=False)])


def validated_batch_schema(use_case: UseCase) -> TableSchema:
    return TableSchema(columns=[_ROW_NUMBER_COLUMN, *_contract_columns(use_case, typed=True)])


def _described(schema: pa.Schema, descriptions: dict[str, str]) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(field.name, str(field.type), description=descriptions.get(field.name)) for field in schema]
    )


def feature_matrix_schema(use_case: UseCase) -> TableSchema:
    descriptions = {ROW_NUMBER: "key, not a model input", ID_KEY: f"{use_case.id_column} of the row, not a model input"}
    descriptions.update({name: "numeric model input" for name in use_case.features.numeric})
    descriptions.update(
        {
            name: "categorical model input, one of: " + ", ".join(levels)
            for name, levels in use_case.features.categorical.items()
        }
    )
    return _described(feature_schema(use_case, has_label=False), descriptions)


def scores_schema(use_case: UseCase) -> TableSchema:
    positive = f"{use_case.label.column} = {use_case.label.positive}" if use_case.label else "the positive class"
    return _described(
        scores_arrow_schema(use_case),
        {
            use_case.scored_id_column: (
                f"{use_case.id_column} of the input row" if use_case.id_column else "1-based data row in the input file"
            ),
            use_case.score_column: f"predict_proba of {positive}, in [0, 1]",
            "predicted_label": f"1 when {use_case.score_column} >= threshold, else 0",
            "model_version": f"{use_case.model_name}-<first 12 hex of the model's md5>",
            "scoring_timestamp": "UTC instant of the run (ISO-8601), one per run",
            ROW_NUMBER: "1-based data row in the input file",
            **{
                name: f"text of the input with the #{name.split('_')[1]} largest positive contribution (blank: fewer)"
                for name in reason_columns(use_case.reasons)
            },
        },
    )
