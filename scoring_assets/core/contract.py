"""The contract engine: judge rows of any use case against its pandera model, row by row.

Input arrives as text (the CSV is read with every column as a string, so nothing is
guessed). ``validate_frame`` parses the use case's numeric columns, runs its pandera model
lazily and turns every failure into a reject record ``(row_number, id, column, rule, value)``,
blaming each bad value under one rule only; ``describe_columns`` turns the same model into
documentation. Nothing here names a column of any table: the use case declares them
(``core.use_case``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.engines import pandas_engine

from scoring_assets.core.arrow_contract import (
    broken_rules,
    compile_contract,
    may_hold_a_nul_byte,
    parse_numbers,
    typed_columns,
)
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase

ID = "id"  # reject records carry the row's id here; the report names the column after the use case
REJECT_RECORD_COLUMNS = [ROW_NUMBER, ID, "column", "rule", "value"]
NUL_BYTE_RULE = "nul_byte"  # a value holding a NUL byte: a damaged cell, whatever its column's rules


def reject_columns(use_case: UseCase) -> list[str]:
    """The reject report's columns: the row, its id when the use case has one, the column, the rule, the value."""
    return [ROW_NUMBER, *([use_case.scored_id_column] if use_case.id_column else []), "column", "rule", "value"]


@dataclass(frozen=True)
class BatchValidation:
    """The outcome of judging a batch: typed accepted rows and one record per broken rule."""

    accepted: pd.DataFrame
    rejects: pd.DataFrame

    @property
    def rejected_row_count(self) -> int:
        return int(self.rejects[ROW_NUMBER].nunique())


def validate_frame(
    use_case: UseCase, raw: pd.DataFrame, duplicate_ids: frozenset[str] = frozenset()
) -> BatchValidation:
    """Judge a batch of raw text rows against the contract.

    ``raw`` holds the contract columns as text (extra columns are carried through), indexed
    by the 1-based data row number in the source file. ``duplicate_ids`` names ids that occur
    more than once in the whole file, for callers that validate a big file in chunks; ids
    repeated inside ``raw`` itself are always caught. Every failing rule of every row is
    reported; a row is accepted only if it breaks none.
    """
    typed, parse_rejects = _parse_numbers(use_case, raw)
    nul_byte_rejects = _nul_byte_rejects(use_case, typed, raw)
    column_rejects, cross_field_rejects = _schema_rejects(use_case, typed, raw)
    duplicate_rejects = _duplicate_rejects(use_case, typed, raw, duplicate_ids)
    ranked = [nul_byte_rejects, parse_rejects, column_rejects, duplicate_rejects, cross_field_rejects]
    rejects = _combine_rejects(_blamed_once(ranked))
    # A blank id is reported as non_empty; blanks are not "duplicates" of each other.
    if not len(rejects):  # the usual batch: nothing to drop, no copy of it
        return BatchValidation(accepted=typed, rejects=rejects)
    rejects = rejects.loc[~((rejects["rule"] == "unique") & (rejects[ID] == ""))]
    accepted = typed.loc[~typed.index.isin(rejects[ROW_NUMBER])]
    return BatchValidation(accepted=accepted, rejects=rejects)


def _parse_numbers(use_case: UseCase, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn the numeric text columns into numbers, reporting every cell that is not one.

    Surrounding whitespace is ignored in every value (the real extract writes a blank
    TotalCharges as a single space). A blank becomes a missing value, which the schema then
    accepts or refuses per column.
    """
    typed = raw.copy()
    problems = []
    for column in typed.columns:
        if column in use_case.contract_columns or column == use_case.label_column:
            typed[column] = typed[column].str.strip()
    for column in use_case.integer_columns + use_case.float_columns:
        text = typed[column]
        blank = text == ""
        numbers = _to_numbers(text)
        not_a_number = ~blank & numbers.isna()
        problems.append(_records(use_case, typed, raw, not_a_number, column, "number"))
        if column in use_case.integer_columns:
            fractional = numbers.notna() & ~(np.isfinite(numbers) & (numbers == np.floor(numbers)))
            problems.append(_records(use_case, typed, raw, fractional, column, "whole_number"))
            # Whole numbers beyond int64 (1e20) are clipped to +-2**53, far past any contract bound, so
            # they are rejected by the bound's rule instead of failing the cast.
            numbers = numbers.where(~fractional).clip(-(2**53), 2**53).astype("Int64")
            if not use_case.schema.columns[column].nullable:
                problems.append(_records(use_case, typed, raw, blank, column, "required"))
        typed[column] = numbers.astype("float64") if column in use_case.float_columns else numbers
    return typed, _combine_rejects(problems)


def _nul_byte_rejects(use_case: UseCase, typed: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """A reject record for every value of ``raw`` that holds a NUL byte, in any of its text columns.

    Such a value is damaged, not merely wrong: it is blamed under ``NUL_BYTE_RULE`` alone. The
    label and the columns a run carries through are judged too, as they reach the scored file.
    """
    records = []
    for column in raw.columns:
        if pd.api.types.is_string_dtype(raw[column]) and _may_hold_a_nul_byte(raw[column]):
            holds_nul_byte = raw[column].str.contains("\x00", regex=False, na=False)
            if holds_nul_byte.any():
                records.append(_records(use_case, typed, raw, holds_nul_byte, str(column), NUL_BYTE_RULE))
    return _combine_rejects(records)


def _may_hold_a_nul_byte(text: pd.Series) -> bool:
    """False when an Arrow-backed text column provably holds no NUL byte (value-by-value tests are left for the
    rare column this cannot clear)."""
    return not isinstance(text.array, pd.arrays.ArrowStringArray) or may_hold_a_nul_byte(pyarrow.array(text))


def _to_numbers(text: pd.Series) -> pd.Series:
    """Parse stripped text as float64; blanks and non-numbers become NaN (``arrow_contract.parse_numbers``)."""
    numbers, _ = parse_numbers(pyarrow.array(text, from_pandas=True))
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _schema_rejects(use_case: UseCase, typed: pd.DataFrame, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the pandera model lazily and translate its failure cases into reject records.

    The column rules' records and the cross-field rules' records come back separately, as
    ``_blamed_once`` gives the column rules precedence. A batch the contract compiled to Arrow proves
    clean has no failure cases, so pandera is run only on the others.
    """
    if _proven_clean(use_case, typed):
        return _combine_rejects([]), _combine_rejects([])
    try:
        use_case.schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    else:
        return _combine_rejects([]), _combine_rejects([])
    failures = failures[failures["index"].notna()]
    column_records, cross_field_records = [], []
    for (column, check), group in failures.groupby(["column", "check"], sort=False, dropna=False):
        rule = _rule_name(str(check))
        if rule not in use_case.cross_field_rules:
            column_records.append(_records(use_case, typed, raw, typed.index.isin(group["index"]), str(column), rule))
    for check, group in failures.groupby("check", sort=False):
        rule = _rule_name(str(check))
        if rule in use_case.cross_field_rules:
            rows = typed.index.isin(group["index"])
            columns = ", ".join(use_case.cross_field_rules[rule])
            cross_field_records.append(_records(use_case, typed, raw, rows, columns, rule))
    return _combine_rejects(column_records), _combine_rejects(cross_field_records)


def _blamed_once(parts: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The reject records of ``parts`` (most specific rules first), minus those blaming a value blamed before.

    A value that broke its own column's rule (not a number, say) reaches the later rules as a
    missing value: a rule that requires a value, or a cross-field rule that reads a blank from a
    gap, would blame the same value again for a fault it does not have. A record of several
    columns (a cross-field rule's) is dropped when any of its values on that row is already blamed.
    """
    blamed: set[tuple[int, str]] = set()
    kept = []
    for part in parts:
        cells = [
            [(row, name) for name in column.split(", ")]
            for row, column in zip(part[ROW_NUMBER], part["column"], strict=True)
        ]
        if blamed and cells:
            fresh = [blamed.isdisjoint(record) for record in cells]
            part = part.loc[fresh]
            cells = [record for record, keep in zip(cells, fresh, strict=True) if keep]
        blamed.update(cell for record in cells for cell in record)
        kept.append(part)
    return kept


def _proven_clean(use_case: UseCase, typed: pd.DataFrame) -> bool:
    """True only when ``schema.validate(typed, lazy=True)`` would find nothing wrong; cheap on clean batches.

    pandera's own dtype check (its public ``DataType.check``), then every rule of the contract compiled
    to Arrow (``core.arrow_contract``). False means "not proven clean": pandera then runs for the exact
    failures, so a contract with a rule Arrow cannot prove is always judged by pandera.
    """
    contract = compile_contract(use_case.schema)
    names = list(contract.types)
    if not contract.complete or typed.columns.duplicated().any() or not set(names) <= set(typed.columns):
        return False
    for name in names:
        declared = use_case.schema.columns[name].dtype
        dtype_ok = declared.check(pandas_engine.Engine.dtype(typed[name].dtype), typed[name])
        if not (dtype_ok if isinstance(dtype_ok, bool) else dtype_ok.all()):  # pandera's reading of it
            return False
    columns, wrong_types = typed_columns(contract, pyarrow.Table.from_pandas(typed[names], preserve_index=False))
    return not wrong_types and next(broken_rules(contract, columns), None) is None


def _duplicate_rejects(
    use_case: UseCase, typed: pd.DataFrame, raw: pd.DataFrame, duplicate_ids: frozenset[str]
) -> pd.DataFrame:
    if not duplicate_ids or use_case.id_column is None:
        return _combine_rejects([])
    repeated = typed[use_case.id_column].isin(duplicate_ids)
    return _records(use_case, typed, raw, repeated, use_case.id_column, "unique")


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


def _records(use_case: UseCase, typed: pd.DataFrame, raw: pd.DataFrame, rows, column: str, rule: str) -> pd.DataFrame:
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
            ROW_NUMBER: picked.index.to_numpy(dtype="int64"),
            ID: typed.loc[rows, use_case.id_column].astype(str).to_numpy() if use_case.id_column else "",
            "column": column,
            "rule": rule,
            "value": values.to_numpy(dtype=object),
        }
    )


_NO_REJECTS = pd.DataFrame(
    {name: pd.Series(dtype="int64" if name == ROW_NUMBER else "str") for name in REJECT_RECORD_COLUMNS}
)


def no_rejects() -> pd.DataFrame:
    """The reject records of a clean batch: none, with the record columns."""
    return _NO_REJECTS.copy(deep=False)  # built once: a clean batch asks for this dozens of times


def _combine_rejects(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [part for part in parts if len(part)]
    if not parts:
        return no_rejects()
    combined = pd.concat(parts, ignore_index=True)
    combined = combined.drop_duplicates([ROW_NUMBER, "column", "rule"])
    return combined.sort_values([ROW_NUMBER, "column", "rule"], kind="stable", ignore_index=True)


@dataclass(frozen=True)
class ColumnRule:
    """One input column as documentation: what it holds and what the contract demands."""

    name: str
    dtype: str
    nullable: bool
    unique: bool
    rules: list[str]
    description: str


def describe_columns(use_case: UseCase) -> list[ColumnRule]:
    """The contract as data, for the Dagster column schema and the input table of docs/use-cases.md."""
    described = []
    for name, column in use_case.schema.columns.items():
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
        if name in use_case.integer_columns:
            rules.insert(0, "whole number")
        if name in use_case.float_columns:
            rules.insert(0, "number")
        for rule, columns in use_case.cross_field_rules.items():
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
