"""The input contract for a Telco-style customer extract: the single source of truth.

``CustomerBatch`` is the pandera model every batch is judged by. Training, the scoring
graph, the column schema shown in Dagster and the README's input table all come from this
module, so a rule changed here changes everywhere.

Input arrives as text (the CSV is read with every column as a string, so nothing is
guessed). ``validate_frame`` parses the numeric columns, runs the pandera model lazily and
turns every failure into a reject record ``(row_number, customer_id, column, rule, value)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.typing import Series

LABEL_COLUMN = "Churn"

# Upper bounds: every number the model sees has one, so a typo or a corrupt export (1e20,
# 1e308, inf) is rejected by name instead of being scored with false confidence. They are
# generous (far above anything real) but finite, and derived from the domain: the real
# extract has tenure 0-72 months, MonthlyCharges 18.25-118.75 and TotalCharges up to 8,684.80.
TENURE_MAX_MONTHS = 600  # 50 years as a customer
MONTHLY_CHARGES_MAX = 1_000  # over 8x the highest monthly charge in the real extract
TOTAL_CHARGES_MAX = MONTHLY_CHARGES_MAX * TENURE_MAX_MONTHS  # the most the two bounds above can add up to

YES_NO = ["Yes", "No"]
PHONE_LINES = ["Yes", "No", "No phone service"]
INTERNET_ADDON = ["Yes", "No", "No internet service"]
INTERNET_ADDON_COLUMNS = [
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]

REJECT_COLUMNS = ["row_number", "customer_id", "column", "rule", "value"]


class CustomerBatch(pa.DataFrameModel):
    """One row per customer, as exported by the billing system."""

    customerID: Series[str] = pa.Field(
        unique=True, str_length={"min_value": 1}, description="Customer id; non-empty, unique in the file."
    )
    gender: Series[str] = pa.Field(isin=["Female", "Male"])
    SeniorCitizen: Series[pd.Int64Dtype] = pa.Field(isin=[0, 1], description="1 if the customer is 65 or older.")
    Partner: Series[str] = pa.Field(isin=YES_NO)
    Dependents: Series[str] = pa.Field(isin=YES_NO)
    tenure: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=TENURE_MAX_MONTHS, description=f"Whole months as a customer; at most {TENURE_MAX_MONTHS} (50 years)."
    )
    PhoneService: Series[str] = pa.Field(isin=YES_NO)
    MultipleLines: Series[str] = pa.Field(isin=PHONE_LINES)
    InternetService: Series[str] = pa.Field(isin=["DSL", "Fiber optic", "No"])
    OnlineSecurity: Series[str] = pa.Field(isin=INTERNET_ADDON)
    OnlineBackup: Series[str] = pa.Field(isin=INTERNET_ADDON)
    DeviceProtection: Series[str] = pa.Field(isin=INTERNET_ADDON)
    TechSupport: Series[str] = pa.Field(isin=INTERNET_ADDON)
    StreamingTV: Series[str] = pa.Field(isin=INTERNET_ADDON)
    StreamingMovies: Series[str] = pa.Field(isin=INTERNET_ADDON)
    Contract: Series[str] = pa.Field(isin=["Month-to-month", "One year", "Two year"])
    PaperlessBilling: Series[str] = pa.Field(isin=YES_NO)
    PaymentMethod: Series[str] = pa.Field(
        isin=["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"]
    )
    MonthlyCharges: Series[float] = pa.Field(
        ge=0,
        le=MONTHLY_CHARGES_MAX,
        description=f"Current monthly charge; at most {MONTHLY_CHARGES_MAX:,} (over 8x the real extract's highest).",
    )
    TotalCharges: Series[float] = pa.Field(
        ge=0,
        le=TOTAL_CHARGES_MAX,
        nullable=True,
        description=(
            "Charges to date; may be blank only when tenure is 0 (read as 0); at most "
            f"{TOTAL_CHARGES_MAX:,} (the monthly bound for {TENURE_MAX_MONTHS} months)."
        ),
    )

    @pa.dataframe_check(name="phone_service_consistency")
    def _phone_service_consistency(cls, batch: pd.DataFrame) -> Series[bool]:
        """PhoneService is No exactly when MultipleLines says "No phone service"."""
        return (batch["PhoneService"] == "No") == (batch["MultipleLines"] == "No phone service")

    @pa.dataframe_check(name="internet_service_consistency")
    def _internet_service_consistency(cls, batch: pd.DataFrame) -> Series[bool]:
        """InternetService is No exactly when all six add-ons say "No internet service"."""
        no_internet = batch["InternetService"] == "No"
        consistent = pd.Series(True, index=batch.index)
        for column in INTERNET_ADDON_COLUMNS:
            consistent &= no_internet == (batch[column] == "No internet service")
        return consistent

    @pa.dataframe_check(name="blank_total_charges_requires_zero_tenure")
    def _blank_total_charges_requires_zero_tenure(cls, batch: pd.DataFrame) -> Series[bool]:
        """A blank TotalCharges is only believable for a customer in their first month."""
        return (batch["TotalCharges"].notna() | (batch["tenure"] == 0)).fillna(False)

    class Config:
        strict = False  # extra columns (e.g. Churn) are allowed and ignored
        ordered = False


CONTRACT_SCHEMA = CustomerBatch.to_schema()
CONTRACT_COLUMNS: list[str] = list(CONTRACT_SCHEMA.columns)
CATEGORY_LEVELS: dict[str, list] = {
    name: list(column.checks[0].statistics["allowed_values"])
    for name, column in CONTRACT_SCHEMA.columns.items()
    if column.checks and column.checks[0].name == "isin"
}
INTEGER_COLUMNS = [n for n, c in CONTRACT_SCHEMA.columns.items() if str(c.dtype) == "Int64"]
FLOAT_COLUMNS = [n for n, c in CONTRACT_SCHEMA.columns.items() if str(c.dtype) == "float64"]

# Columns each dataframe-wide rule reads, so a broken row is reported once, with the values
# that contradict each other, instead of once per column of the frame.
CROSS_FIELD_RULES: dict[str, list[str]] = {
    "phone_service_consistency": ["PhoneService", "MultipleLines"],
    "internet_service_consistency": ["InternetService", *INTERNET_ADDON_COLUMNS],
    "blank_total_charges_requires_zero_tenure": ["TotalCharges", "tenure"],
}


@dataclass(frozen=True)
class BatchValidation:
    """The outcome of judging a batch: typed accepted rows and one record per broken rule."""

    accepted: pd.DataFrame
    rejects: pd.DataFrame

    @property
    def rejected_row_count(self) -> int:
        return int(self.rejects["row_number"].nunique())


def validate_frame(raw: pd.DataFrame, duplicate_ids: frozenset[str] = frozenset()) -> BatchValidation:
    """Judge a batch of raw text rows against the contract.

    ``raw`` holds the contract columns as text (extra columns are carried through), indexed
    by the 1-based data row number in the source file. ``duplicate_ids`` names ids that occur
    more than once in the whole file, for callers that validate a big file in chunks; ids
    repeated inside ``raw`` itself are always caught. Every failing rule of every row is
    reported; a row is accepted only if it breaks none.
    """
    typed, parse_rejects = _parse_numbers(raw)
    schema_rejects = _schema_rejects(typed, raw, parse_rejects)
    duplicate_rejects = _duplicate_rejects(typed, raw, duplicate_ids)
    rejects = _combine_rejects([parse_rejects, schema_rejects, duplicate_rejects])
    # A blank id is reported as non_empty; blanks are not "duplicates" of each other.
    rejects = rejects.loc[~((rejects["rule"] == "unique") & (rejects["customer_id"] == ""))]
    accepted = typed.loc[~typed.index.isin(rejects["row_number"])]
    return BatchValidation(accepted=accepted, rejects=rejects)


def _parse_numbers(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn the numeric text columns into numbers, reporting every cell that is not one.

    Surrounding whitespace is ignored in every value (the real extract writes a blank
    TotalCharges as a single space). A blank becomes a missing value, which the schema then
    accepts or refuses per column.
    """
    typed = raw.copy()
    problems = []
    for column in typed.columns:
        if column in CONTRACT_COLUMNS or column == LABEL_COLUMN:
            typed[column] = typed[column].str.strip()
    for column in INTEGER_COLUMNS + FLOAT_COLUMNS:
        text = typed[column]
        blank = text == ""
        numbers = _to_numbers(text)
        not_a_number = ~blank & numbers.isna()
        problems.append(_records(typed, raw, not_a_number, column, "number"))
        if column in INTEGER_COLUMNS:
            fractional = numbers.notna() & ~(np.isfinite(numbers) & (numbers == np.floor(numbers)))
            problems.append(_records(typed, raw, fractional, column, "whole_number"))
            numbers = numbers.where(~fractional).astype("Int64")
            problems.append(_records(typed, raw, blank, column, "required"))
        typed[column] = numbers.astype("float64") if column in FLOAT_COLUMNS else numbers
    return typed, _combine_rejects(problems)


# What Arrow's string -> float64 cast accepts (decimal, exponent, inf/infinity/nan in any case);
# anything else is not a number. Same results as pandas.to_numeric, several times faster.
_NUMBER_TEXT = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity|nan))$"


def _to_numbers(text: pd.Series) -> pd.Series:
    """Parse stripped text as float64; blanks and non-numbers become NaN."""
    arrow = pyarrow.array(text, from_pandas=True)
    looks_numeric = pc.match_substring_regex(arrow, _NUMBER_TEXT)
    numbers = pc.cast(pc.if_else(looks_numeric, arrow, pyarrow.scalar(None, arrow.type)), pyarrow.float64())
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _schema_rejects(typed: pd.DataFrame, raw: pd.DataFrame, parse_rejects: pd.DataFrame) -> pd.DataFrame:
    """Run the pandera model lazily and translate its failure cases into reject records."""
    try:
        CustomerBatch.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    else:
        return _combine_rejects([])
    failures = failures[failures["index"].notna()]
    records = []
    for (column, check), group in failures.groupby(["column", "check"], sort=False, dropna=False):
        rule = _rule_name(str(check))
        if rule not in CROSS_FIELD_RULES:
            records.append(_records(typed, raw, typed.index.isin(group["index"]), str(column), rule))
    for check, group in failures.groupby("check", sort=False):
        rule = _rule_name(str(check))
        if rule in CROSS_FIELD_RULES:
            rows = typed.index.isin(group["index"])
            records.append(_records(typed, raw, rows, ", ".join(CROSS_FIELD_RULES[rule]), rule))
    found = _combine_rejects(records)
    # A cell that failed to parse is already reported; do not report its NaN again as "required".
    already = set(zip(parse_rejects["row_number"], parse_rejects["column"], strict=True))
    keep = [(row, col) not in already for row, col in zip(found["row_number"], found["column"], strict=True)]
    return found.loc[keep]


def _duplicate_rejects(typed: pd.DataFrame, raw: pd.DataFrame, duplicate_ids: frozenset[str]) -> pd.DataFrame:
    if not duplicate_ids:
        return _combine_rejects([])
    repeated = typed["customerID"].isin(duplicate_ids)
    return _records(typed, raw, repeated, "customerID", "unique")


def _rule_name(check: str) -> str:
    """A short, stable name for a pandera check, used in reject reports and counts."""
    named = {
        "field_uniqueness": "unique",
        "not_nullable": "required",
        "isin": "allowed_values",
        "str_length": "non_empty",
        "greater_than_or_equal_to": "min",
        "less_than_or_equal_to": "max",
    }
    base = re.match(r"[A-Za-z_]+", check)
    name = base.group(0) if base else check
    if name in ("greater_than_or_equal_to", "less_than_or_equal_to"):
        return f"{named[name]}_{check[len(name) + 1 : -1]}"
    if name.startswith("dtype") or name.startswith("coerce_dtype"):
        return "number"
    return named.get(name, name)


def _records(typed: pd.DataFrame, raw: pd.DataFrame, rows, column: str, rule: str) -> pd.DataFrame:
    """Reject records for the flagged ``rows`` of one ``column`` (or comma-joined columns)."""
    rows = np.asarray(rows, dtype=bool)
    if not rows.any():
        return _combine_rejects([])
    picked = raw.loc[rows]
    columns = column.split(", ")
    if len(columns) == 1:
        values = picked[column].astype(str)
    else:
        values = picked[columns[0]].map(lambda v: f"{columns[0]}={v}")
        for name in columns[1:]:
            values = values + "; " + picked[name].map(lambda v, name=name: f"{name}={v}")
    return pd.DataFrame(
        {
            "row_number": picked.index.to_numpy(dtype="int64"),
            "customer_id": typed.loc[rows, "customerID"].astype(str).to_numpy(),
            "column": column,
            "rule": rule,
            "value": values.to_numpy(dtype=object),
        }
    )


def _combine_rejects(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.DataFrame(
            {name: pd.Series(dtype="int64" if name == "row_number" else "str") for name in REJECT_COLUMNS}
        )
    combined = pd.concat(parts, ignore_index=True)
    combined = combined.drop_duplicates(["row_number", "column", "rule"])
    return combined.sort_values(["row_number", "column", "rule"], kind="stable", ignore_index=True)


@dataclass(frozen=True)
class ColumnRule:
    """One input column as documentation: what it holds and what the contract demands."""

    name: str
    dtype: str
    nullable: bool
    unique: bool
    rules: list[str]
    description: str


def describe_columns() -> list[ColumnRule]:
    """The contract as data, for the Dagster column schema and the README table."""
    described = []
    for name, column in CONTRACT_SCHEMA.columns.items():
        rules = []
        for check in column.checks:
            stats = check.statistics or {}
            if check.name == "isin":
                rules.append("one of " + ", ".join(f"`{v}`" for v in stats["allowed_values"]))
            elif check.name == "str_length":
                rules.append("non-empty")
            elif check.name == "greater_than_or_equal_to":
                rules.append(f">= {stats['min_value']}")
            elif check.name == "less_than_or_equal_to":
                rules.append(f"<= {stats['max_value']}")
            else:
                rules.append(check.name)
        if name in INTEGER_COLUMNS:
            rules.insert(0, "whole number")
        if name in FLOAT_COLUMNS:
            rules.insert(0, "number")
        for rule, columns in CROSS_FIELD_RULES.items():
            if name in columns:
                rules.append(rule)
        dtype = {"Int64": "integer", "float64": "number"}.get(str(column.dtype), "text")
        described.append(
            ColumnRule(
                name=name,
                dtype=dtype,
                nullable=bool(column.nullable),
                unique=bool(column.unique),
                rules=rules,
                description=column.description or "",
            )
        )
    return described
