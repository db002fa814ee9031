"""The input contract, rule by rule: each rule accepts valid rows and names what it rejects."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import REAL_EXTRACT, customer_rows

from scoring_assets.core.contract import (
    CONTRACT_COLUMNS,
    CONTRACT_SCHEMA,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    MONTHLY_CHARGES_MAX,
    REJECT_COLUMNS,
    TENURE_MAX_MONTHS,
    TOTAL_CHARGES_MAX,
    describe_columns,
    validate_frame,
)
from scoring_assets.core.input_csv import read_csv_frame


def batch(rows: pd.DataFrame) -> pd.DataFrame:
    framed = rows.reset_index(drop=True)
    framed.index = pd.RangeIndex(1, len(framed) + 1, name="row_number")
    return framed


@pytest.fixture
def valid():
    return batch(customer_rows(40))


def existing_customer(rows: pd.DataFrame) -> int:
    """A row past its first month, so TotalCharges must be present."""
    return int(rows.index[rows["tenure"] != "0"][0])


def first_with(rows: pd.DataFrame, **values) -> int:
    mask = pd.Series(True, index=rows.index)
    for column, value in values.items():
        mask &= rows[column] == value
    assert mask.any(), f"generator produced no row with {values}"
    return int(rows.index[mask][0])


def rejects_of(rows: pd.DataFrame) -> pd.DataFrame:
    result = validate_frame(rows)
    assert list(result.rejects.columns) == REJECT_COLUMNS
    assert len(result.accepted) + result.rejected_row_count == len(rows)
    return result.rejects


def test_valid_rows_are_all_accepted_with_contract_types(valid):
    result = validate_frame(valid)
    assert result.rejects.empty
    assert len(result.accepted) == len(valid)
    assert str(result.accepted["tenure"].dtype) == "Int64"
    assert str(result.accepted["MonthlyCharges"].dtype) == "float64"


@pytest.mark.parametrize(
    "column, value, rule",
    [
        ("gender", "F", "allowed_values"),
        ("SeniorCitizen", "2", "allowed_values"),
        ("Partner", "yes", "allowed_values"),
        ("Contract", "Monthly", "allowed_values"),
        ("PaymentMethod", "Cash", "allowed_values"),
        ("tenure", "3.5", "whole_number"),
        ("tenure", "abc", "number"),
        ("tenure", "-1", "min_0"),
        ("tenure", "601", "max_600"),
        ("tenure", "", "required"),
        ("MonthlyCharges", "-0.01", "min_0"),
        ("MonthlyCharges", "1000.01", "max_1000"),
        ("MonthlyCharges", "1e20", "max_1000"),
        ("MonthlyCharges", "1e308", "max_1000"),
        ("MonthlyCharges", "inf", "max_1000"),
        ("MonthlyCharges", "-inf", "min_0"),
        ("MonthlyCharges", "NaN", "number"),
        ("MonthlyCharges", "", "required"),
        ("MonthlyCharges", "twelve", "number"),
        ("TotalCharges", "-5", "min_0"),
        ("TotalCharges", "600000.01", "max_600000"),
        ("TotalCharges", "1e20", "max_600000"),
        ("TotalCharges", "1e308", "max_600000"),
        ("TotalCharges", "1e400", "max_600000"),
        ("TotalCharges", "Infinity", "max_600000"),
        ("customerID", "   ", "non_empty"),
    ],
)
def test_each_single_column_rule_rejects_with_row_column_rule_and_value(valid, column, value, rule):
    row = existing_customer(valid)
    valid.loc[row, column] = value
    rejects = rejects_of(valid)
    assert rejects[["row_number", "column", "rule"]].values.tolist() == [[row, column, rule]]
    assert rejects.iloc[0]["value"] == value
    assert rejects.iloc[0]["customer_id"] == valid.loc[row, "customerID"].strip()


def test_every_numeric_input_has_a_finite_upper_bound_documented_in_its_description():
    for name in INTEGER_COLUMNS + FLOAT_COLUMNS:
        column = CONTRACT_SCHEMA.columns[name]
        bounds = [check.statistics["max_value"] for check in column.checks if check.name == "less_than_or_equal_to"]
        allowed = [check.statistics["allowed_values"] for check in column.checks if check.name == "isin"]
        assert bounds or allowed, f"{name} has no upper bound: garbage like 1e308 would be scored"
        for bound in bounds:
            assert math.isfinite(bound)
            assert f"{bound:,}" in column.description, f"{name}'s description does not state its bound {bound:,}"


def test_largest_charges_within_the_bounds_are_accepted(valid):
    row = existing_customer(valid)
    valid.loc[row, "tenure"] = str(TENURE_MAX_MONTHS)
    valid.loc[row, "MonthlyCharges"] = str(MONTHLY_CHARGES_MAX)
    valid.loc[row, "TotalCharges"] = str(TOTAL_CHARGES_MAX)
    assert rejects_of(valid).empty


def test_tenure_above_72_months_is_a_real_customer(valid):
    valid.loc[1, "tenure"] = "240"
    valid.loc[1, "TotalCharges"] = "12000.50"
    assert rejects_of(valid).empty


def test_every_occurrence_of_a_duplicated_customer_id_is_rejected(valid):
    valid.loc[5, "customerID"] = valid.loc[2, "customerID"]
    rejects = rejects_of(valid)
    assert sorted(rejects["row_number"]) == [2, 5]
    assert set(rejects["rule"]) == {"unique"}


def test_blank_ids_are_rejected_as_empty_not_as_duplicates(valid):
    valid.loc[2, "customerID"] = ""
    valid.loc[7, "customerID"] = " "
    rejects = rejects_of(valid)
    assert rejects[["row_number", "rule"]].values.tolist() == [[2, "non_empty"], [7, "non_empty"]]


def test_ids_repeated_elsewhere_in_the_file_are_rejected_in_this_chunk(valid):
    repeated = valid.loc[3, "customerID"]
    rejects = validate_frame(valid, duplicate_ids=frozenset({repeated})).rejects
    assert rejects[["row_number", "rule"]].values.tolist() == [[3, "unique"]]


def test_blank_total_charges_with_zero_tenure_is_accepted_as_missing(valid):
    valid.loc[4, "tenure"] = "0"
    valid.loc[4, "TotalCharges"] = " "
    result = validate_frame(valid)
    assert result.rejects.empty
    assert pd.isna(result.accepted.loc[4, "TotalCharges"])


def test_blank_total_charges_with_nonzero_tenure_is_rejected(valid):
    row = existing_customer(valid)
    valid.loc[row, "TotalCharges"] = ""
    rejects = rejects_of(valid)
    assert rejects[["row_number", "rule"]].values.tolist() == [[row, "blank_total_charges_requires_zero_tenure"]]
    assert f"tenure={valid.loc[row, 'tenure']}" in rejects.iloc[0]["value"]


def test_phone_service_no_requires_no_phone_service_lines(valid):
    row = first_with(valid, PhoneService="Yes")
    valid.loc[row, "PhoneService"] = "No"
    rejects = rejects_of(valid)
    assert rejects[["row_number", "column", "rule"]].values.tolist() == [
        [row, "PhoneService, MultipleLines", "phone_service_consistency"]
    ]


def test_no_phone_service_lines_require_phone_service_no(valid):
    row = first_with(valid, PhoneService="No")
    valid.loc[row, "PhoneService"] = "Yes"
    assert rejects_of(valid)["rule"].tolist() == ["phone_service_consistency"]


def test_internet_service_no_requires_every_addon_to_say_no_internet_service(valid):
    row = first_with(valid, InternetService="DSL")
    valid.loc[row, "InternetService"] = "No"
    rejects = rejects_of(valid)
    assert rejects["rule"].tolist() == ["internet_service_consistency"]
    assert rejects.iloc[0]["value"].startswith("InternetService=No; OnlineSecurity=")


def test_one_addon_saying_no_internet_service_with_internet_is_rejected(valid):
    row = first_with(valid, InternetService="Fiber optic")
    valid.loc[row, "StreamingTV"] = "No internet service"
    assert rejects_of(valid)["rule"].tolist() == ["internet_service_consistency"]


def test_every_broken_rule_of_a_row_is_reported(valid):
    row = existing_customer(valid)
    valid.loc[row, "gender"] = "X"
    valid.loc[row, "MonthlyCharges"] = "-1"
    rejects = rejects_of(valid)
    assert sorted(rejects["rule"]) == ["allowed_values", "min_0"]
    assert set(rejects["row_number"]) == {row}


def test_surrounding_whitespace_in_values_is_ignored(valid):
    valid.loc[1, "Contract"] = "  " + valid.loc[1, "Contract"] + " "
    valid.loc[1, "tenure"] = f" {valid.loc[1, 'tenure']} "
    assert rejects_of(valid).empty


def test_columns_describe_every_contract_column_with_its_rules():
    described = {column.name: column for column in describe_columns()}
    assert list(described) == CONTRACT_COLUMNS
    assert described["customerID"].unique
    assert described["TotalCharges"].nullable
    assert any("Month-to-month" in rule for rule in described["Contract"].rules)
    assert "<= 600" in described["tenure"].rules
    assert "<= 1000" in described["MonthlyCharges"].rules
    assert "<= 600000" in described["TotalCharges"].rules


@pytest.mark.skipif(not REAL_EXTRACT.exists(), reason="the shared IBM Telco extract is not beside the repository")
def test_real_ibm_extract_passes_the_contract_with_zero_rejects():
    raw = read_csv_frame(REAL_EXTRACT)
    result = validate_frame(raw)
    assert len(raw) == 7043
    assert result.rejects.empty
    assert int(result.accepted["TotalCharges"].isna().sum()) == 11
    assert (result.accepted.loc[result.accepted["TotalCharges"].isna(), "tenure"] == 0).all()
