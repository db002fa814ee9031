"""Column schemas shown in the Dagster UI, derived from the contract and the stage schemas.

Nothing here is retyped: the input columns come from ``contract.describe_columns`` and the
file schemas from the Arrow schemas the stages write.
"""

from __future__ import annotations

import pyarrow as pa
from dagster import TableColumn, TableColumnConstraints, TableSchema

from scoring_assets.contract import describe_columns
from scoring_assets.features import CATEGORY_LEVELS, NUMERIC_FEATURES
from scoring_assets.ingest import accepted_schema
from scoring_assets.input_csv import ROW_NUMBER
from scoring_assets.scoring import SCORES_SCHEMA, feature_schema

# Dagster's standard metadata keys: the UI renders these as the asset's columns and row count.
COLUMN_SCHEMA_KEY = "dagster/column_schema"
ROW_COUNT_KEY = "dagster/row_count"

_ROW_NUMBER_COLUMN = TableColumn(
    ROW_NUMBER,
    "int64",
    description="1-based data row in the input file",
    constraints=TableColumnConstraints(nullable=False, unique=True),
)


def _contract_columns(typed: bool) -> list[TableColumn]:
    types = {field.name: str(field.type) for field in accepted_schema(has_label=False)}
    return [
        TableColumn(
            name=column.name,
            type=types[column.name] if typed else "string",
            description=column.description or None,
            constraints=TableColumnConstraints(nullable=column.nullable, unique=column.unique, other=column.rules),
        )
        for column in describe_columns()
    ]


def raw_batch_schema() -> TableSchema:
    return TableSchema(columns=[_ROW_NUMBER_COLUMN, *_contract_columns(typed=False)])


def validated_batch_schema() -> TableSchema:
    return TableSchema(columns=[_ROW_NUMBER_COLUMN, *_contract_columns(typed=True)])


def _described(schema: pa.Schema, descriptions: dict[str, str]) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(field.name, str(field.type), description=descriptions.get(field.name)) for field in schema]
    )


def feature_matrix_schema() -> TableSchema:
    descriptions = {ROW_NUMBER: "key, not a model input", "customerID": "key, not a model input"}
    descriptions.update({name: "numeric model input" for name in NUMERIC_FEATURES})
    descriptions.update(
        {name: "categorical model input, one of: " + ", ".join(levels) for name, levels in CATEGORY_LEVELS.items()}
    )
    return _described(feature_schema(has_label=False), descriptions)


def scores_schema() -> TableSchema:
    return _described(
        SCORES_SCHEMA,
        {
            "customer_id": "customerID of the input row",
            "churn_score": "predict_proba of churn, in [0, 1]",
            "predicted_label": "1 when churn_score >= threshold, else 0",
            "model_version": "churn_model-<first 12 hex of the model's md5>",
            "scoring_timestamp": "UTC instant of the run (ISO-8601), one per run",
            ROW_NUMBER: "1-based data row in the input file",
        },
    )
