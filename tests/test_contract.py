"""The input contracts, rule by rule: each rule accepts valid rows and names what it rejects.

The engine (``core.contract``) is generic: what holds for any contract is proven on every
shipped use case; Telco's own rules (blank TotalCharges, cross-field consistency, unique ids)
and the German credit bounds are proven on their use case.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.typing import Series

from scoring_assets.core.contract import (
    NUL_BYTE_RULE,
    REJECT_RECORD_COLUMNS,
    describe_columns,
    reject_columns,
    validate_frame,
)
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.ingest import accepted_schema
from scoring_assets.core.use_case import UseCase
from scoring_assets.use_cases.credit_risk.contract import AGE_MAX_YEARS, CREDIT_AMOUNT_MAX, DURATION_MAX_MONTHS
from scoring_assets.use_cases.telco_churn.contract import MONTHLY_CHARGES_MAX, TENURE_MAX_MONTHS, TOTAL_CHARGES_MAX
from tests.support.batches import CREDIT_RISK, REAL_EXTRACTS, TELCO, customer_rows, valid_rows

# An integer column holding a whole number beyond int64 (1e19, 1e308) fails the whole batch with
# pandas' TypeError instead of one max_ reject (core/contract.py _parse_numbers, the Int64 cast).


def batch(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as the reader hands them over: header names trimmed, indexed by 1-based row number."""
    framed = rows.rename(columns=str.strip).reset_index(drop=True)
    framed.index = pd.RangeIndex(1, len(framed) + 1, name="row_number")
    return framed


@pytest.fixture
def valid():
    return batch(customer_rows(40))


@pytest.fixture
def applications():
    return batch(valid_rows(CREDIT_RISK, 40))


def existing_customer(rows: pd.DataFrame) -> int:
    """A row past its first month, so TotalCharges must be present."""
    return int(rows.index[rows["tenure"] != "0"][0])


def first_with(rows: pd.DataFrame, **values) -> int:
    mask = pd.Series(True, index=rows.index)
    for column, value in values.items():
        mask &= rows[column] == value
    assert mask.any(), f"generator produced no row with {values}"
    return int(rows.index[mask][0])


def rejects_of(use_case: UseCase, rows: pd.DataFrame, duplicate_ids: frozenset[str] = frozenset()) -> pd.DataFrame:
    result = validate_frame(use_case, rows, duplicate_ids)
    assert list(result.rejects.columns) == REJECT_RECORD_COLUMNS
    assert len(result.accepted) + result.rejected_row_count == len(rows)
    return result.rejects


def numeric_bounds(use_case: UseCase, name: str) -> tuple[list, list]:
    """The (lower, upper) bounds the contract puts on a numeric column."""
    checks = use_case.schema.columns[name].checks
    lower = [c.statistics["min_value"] for c in checks if c.name == "greater_than_or_equal_to"]
    upper = [c.statistics["max_value"] for c in checks if c.name == "less_than_or_equal_to"]
    return lower, upper


def test_valid_rows_are_all_accepted_with_contract_types(use_case):
    rows = batch(valid_rows(use_case, 40))
    result = validate_frame(use_case, rows)
    assert result.rejects.empty
    assert len(result.accepted) == len(rows)
    for name in use_case.integer_columns:
        assert str(result.accepted[name].dtype) == "Int64", name
    for name in use_case.float_columns:
        assert str(result.accepted[name].dtype) == "float64", name


def test_a_value_outside_each_value_set_is_rejected_by_name(use_case):
    rows = batch(valid_rows(use_case, len(use_case.value_sets) + 1))
    broken = {}
    for row, (column, allowed) in enumerate(use_case.value_sets.items(), start=1):
        value = "not one of them" if isinstance(allowed[0], str) else "7"
        rows.loc[row, column] = value
        broken[row] = (column, value)

    rejects = rejects_of(use_case, rows)

    # (a broken value may also break a cross-field rule that reads it: reported under that rule's name)
    by_value_set = rejects[rejects["rule"] == "allowed_values"]
    assert {row: (column, value) for row, column, value in by_value_set[["row_number", "column", "value"]].values} == (
        broken
    )
    assert set(rejects["rule"]) <= {"allowed_values", *use_case.cross_field_rules}


def test_a_number_just_above_each_upper_bound_is_rejected_by_name(use_case):
    bounded = [name for name in use_case.integer_columns + use_case.float_columns if numeric_bounds(use_case, name)[1]]
    rows = batch(valid_rows(use_case, len(bounded) + 1, seed=5))
    expected = {}
    for row, name in enumerate(bounded, start=1):
        (upper,) = numeric_bounds(use_case, name)[1]
        rows.loc[row, name] = str(upper + 1)
        expected[row] = (name, f"max_{upper}")

    rejects = rejects_of(use_case, rows)

    assert {row: (column, rule) for row, column, rule in rejects[["row_number", "column", "rule"]].values} == expected


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
        pytest.param("tenure", "1e20", "max_600"),
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
def test_each_telco_single_column_rule_rejects_with_row_column_rule_value_and_id(valid, column, value, rule):
    row = existing_customer(valid)
    valid.loc[row, column] = value
    rejects = rejects_of(TELCO, valid)
    assert rejects[["row_number", "column", "rule"]].values.tolist() == [[row, column, rule]]
    assert rejects.iloc[0]["value"] == value
    assert rejects.iloc[0]["id"] == valid.loc[row, "customerID"].strip()


@pytest.mark.parametrize(
    "column, value, rule",
    [
        ("credit_amount", "2000000", "max_1000000"),
        ("credit_amount", "0", "min_1"),
        pytest.param("credit_amount", "1e308", "max_1000000"),
        pytest.param("credit_amount", "1e19", "max_1000000"),
        ("credit_amount", "1500.5", "whole_number"),
        ("credit_amount", "", "required"),
        ("age", "17", "min_18"),
        ("age", "121", "max_120"),
        ("age", "forty", "number"),
        ("duration", "0", "min_1"),
        ("duration", "361", "max_360"),
        ("installment_commitment", "5", "max_4"),
        ("residence_since", "0", "min_1"),
        ("existing_credits", "5", "max_4"),
        ("num_dependents", "3", "max_2"),
        ("purpose", "holiday", "allowed_values"),
        ("purpose", "", "allowed_values"),
        ("checking_status", "<0 DM", "allowed_values"),
        ("foreign_worker", "Yes", "allowed_values"),
        ("housing", "own ", None),  # surrounding spaces are not part of the value
    ],
)
def test_each_credit_rule_rejects_with_row_column_rule_and_value_and_no_id(applications, column, value, rule):
    applications.loc[3, column] = value
    rejects = rejects_of(CREDIT_RISK, applications)
    if rule is None:
        assert rejects.empty
        return
    assert rejects[["row_number", "column", "rule"]].values.tolist() == [[3, column, rule]]
    assert rejects.iloc[0]["value"] == value
    assert rejects.iloc[0]["id"] == ""


def test_credit_values_at_the_documented_bounds_are_accepted(applications):
    applications.loc[1, ["duration", "credit_amount", "age"]] = [str(DURATION_MAX_MONTHS), str(CREDIT_AMOUNT_MAX), "18"]
    applications.loc[2, ["duration", "credit_amount", "age"]] = ["1", "1", str(AGE_MAX_YEARS)]
    applications.loc[3, "purpose"] = "vacation"  # documented level the public file never uses
    applications.loc[4, "personal_status"] = "female single"
    assert rejects_of(CREDIT_RISK, applications).empty


def test_every_numeric_input_has_a_finite_upper_bound_documented_in_its_description(use_case):
    for name in use_case.integer_columns + use_case.float_columns:
        column = use_case.schema.columns[name]
        bounds = numeric_bounds(use_case, name)[1]
        allowed = [check.statistics["allowed_values"] for check in column.checks if check.name == "isin"]
        assert bounds or allowed, f"{name} has no upper bound: garbage like 1e308 would be scored"
        for bound in bounds:
            assert math.isfinite(bound)
            assert f"{bound:,}" in column.description, f"{name}'s description does not state its bound {bound:,}"


def test_reject_report_names_the_id_column_only_for_a_use_case_that_has_one():
    assert reject_columns(TELCO) == ["row_number", "customer_id", "column", "rule", "value"]
    assert reject_columns(CREDIT_RISK) == ["row_number", "column", "rule", "value"]


def test_every_broken_rule_of_a_row_is_reported(use_case):
    rows = batch(valid_rows(use_case, 20))
    first, second = [name for name in use_case.value_sets if name not in use_case.integer_columns][:2]
    rows.loc[6, first] = "X"
    rows.loc[6, second] = "Y"
    rejects = rejects_of(use_case, rows)
    assert rejects[["column", "rule"]].values.tolist() == sorted(
        [[first, "allowed_values"], [second, "allowed_values"]]
    )
    assert set(rejects["row_number"]) == {6}


def test_surrounding_whitespace_in_values_is_ignored(use_case):
    rows = batch(valid_rows(use_case, 20))
    rows.loc[1] = [f"  {value} " for value in rows.loc[1]]
    result = validate_frame(use_case, rows)
    assert result.rejects.empty
    untouched = validate_frame(use_case, batch(valid_rows(use_case, 20))).accepted
    pd.testing.assert_frame_equal(result.accepted, untouched)


def test_identical_rows_of_a_use_case_without_ids_are_never_duplicates():
    rows = batch(valid_rows(CREDIT_RISK, 10))
    rows.loc[7] = rows.loc[2]
    rows.loc[8] = rows.loc[2]
    assert rejects_of(CREDIT_RISK, rows).empty
    assert rejects_of(CREDIT_RISK, rows, duplicate_ids=frozenset(rows["checking_status"])).empty


def test_largest_charges_within_the_bounds_are_accepted(valid):
    row = existing_customer(valid)
    valid.loc[row, "tenure"] = str(TENURE_MAX_MONTHS)
    valid.loc[row, "MonthlyCharges"] = str(MONTHLY_CHARGES_MAX)
    valid.loc[row, "TotalCharges"] = str(TOTAL_CHARGES_MAX)
    assert rejects_of(TELCO, valid).empty


def test_tenure_above_72_months_is_a_real_customer(valid):
    valid.loc[1, "tenure"] = "240"
    valid.loc[1, "TotalCharges"] = "12000.50"
    assert rejects_of(TELCO, valid).empty


def test_every_occurrence_of_a_duplicated_customer_id_is_rejected(valid):
    valid.loc[5, "customerID"] = valid.loc[2, "customerID"]
    rejects = rejects_of(TELCO, valid)
    assert sorted(rejects["row_number"]) == [2, 5]
    assert set(rejects["rule"]) == {"unique"}
    assert set(rejects["id"]) == {valid.loc[2, "customerID"]}


def test_blank_ids_are_rejected_as_empty_not_as_duplicates(valid):
    valid.loc[2, "customerID"] = ""
    valid.loc[7, "customerID"] = " "
    rejects = rejects_of(TELCO, valid)
    assert rejects[["row_number", "rule"]].values.tolist() == [[2, "non_empty"], [7, "non_empty"]]


def test_ids_repeated_elsewhere_in_the_file_are_rejected_in_this_chunk(valid):
    repeated = valid.loc[3, "customerID"]
    rejects = rejects_of(TELCO, valid, duplicate_ids=frozenset({repeated}))
    assert rejects[["row_number", "rule"]].values.tolist() == [[3, "unique"]]


def test_blank_total_charges_with_zero_tenure_is_accepted_as_missing(valid):
    valid.loc[4, "tenure"] = "0"
    valid.loc[4, "TotalCharges"] = " "
    result = validate_frame(TELCO, valid)
    assert result.rejects.empty
    assert pd.isna(result.accepted.loc[4, "TotalCharges"])


def test_blank_total_charges_with_nonzero_tenure_is_rejected(valid):
    row = existing_customer(valid)
    valid.loc[row, "TotalCharges"] = ""
    rejects = rejects_of(TELCO, valid)
    assert rejects[["row_number", "column", "rule"]].values.tolist() == [
        [row, "TotalCharges, tenure", "blank_total_charges_requires_zero_tenure"]
    ]
    assert f"tenure={valid.loc[row, 'tenure']}" in rejects.iloc[0]["value"]


def test_phone_service_no_requires_no_phone_service_lines(valid):
    row = first_with(valid, PhoneService="Yes")
    valid.loc[row, "PhoneService"] = "No"
    rejects = rejects_of(TELCO, valid)
    assert rejects[["row_number", "column", "rule"]].values.tolist() == [
        [row, "PhoneService, MultipleLines", "phone_service_consistency"]
    ]


def test_no_phone_service_lines_require_phone_service_no(valid):
    row = first_with(valid, PhoneService="No")
    valid.loc[row, "PhoneService"] = "Yes"
    assert rejects_of(TELCO, valid)["rule"].tolist() == ["phone_service_consistency"]


def test_internet_service_no_requires_every_addon_to_say_no_internet_service(valid):
    row = first_with(valid, InternetService="DSL")
    valid.loc[row, "InternetService"] = "No"
    rejects = rejects_of(TELCO, valid)
    assert rejects["rule"].tolist() == ["internet_service_consistency"]
    assert rejects.iloc[0]["value"].startswith("InternetService=No; OnlineSecurity=")


def test_one_addon_saying_no_internet_service_with_internet_is_rejected(valid):
    row = first_with(valid, InternetService="Fiber optic")
    valid.loc[row, "StreamingTV"] = "No internet service"
    assert rejects_of(TELCO, valid)["rule"].tolist() == ["internet_service_consistency"]


def test_a_telco_row_breaking_a_column_rule_and_a_cross_field_rule_reports_both(valid):
    row = first_with(valid, PhoneService="Yes")
    valid.loc[row, "PhoneService"] = "No"
    valid.loc[row, "MonthlyCharges"] = "-1"
    rejects = rejects_of(TELCO, valid)
    assert sorted(rejects["rule"]) == ["min_0", "phone_service_consistency"]
    assert set(rejects["row_number"]) == {row}


def test_an_unparseable_total_charges_is_rejected_as_not_a_number_and_not_as_a_blank(valid):
    row = existing_customer(valid)
    valid.loc[row, "TotalCharges"] = "1,234.50"
    rejects = rejects_of(TELCO, valid)
    assert rejects[["row_number", "column", "rule", "value"]].values.tolist() == [
        [row, "TotalCharges", "number", "1,234.50"]
    ]


# Text no number parser accepts: thousands separators as a spreadsheet writes them ("1,234.50"),
# or anything ending in a character no number has.
UNPARSEABLE_NUMBERS = st.one_of(
    st.from_regex(r"\A[1-9][0-9]{0,2}(,[0-9]{3})+(\.[0-9]{1,2})?\Z"),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8).map(lambda s: f"{s}?"),
)
ROWS_OF = {use_case.name: batch(valid_rows(use_case, 40)) for use_case in (TELCO, CREDIT_RISK)}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), use_case=st.sampled_from([TELCO, CREDIT_RISK]))
def test_an_unparseable_number_is_blamed_once_under_number_and_by_no_other_rule(data, use_case):
    rows = ROWS_OF[use_case.name].copy()
    row = data.draw(st.sampled_from(list(rows.index)), label="row")
    numeric = use_case.integer_columns + use_case.float_columns
    broken = data.draw(st.lists(st.sampled_from(numeric), min_size=1, unique=True), label="columns")
    for column in broken:
        rows.loc[row, column] = data.draw(UNPARSEABLE_NUMBERS, label=column)

    rejects = rejects_of(use_case, rows)

    assert set(rejects["row_number"]) == {row}
    for column in broken:
        assert rules_blaming(rejects, column) == ["number"], f"{column}={rows.loc[row, column]!r}"


def rules_blaming(rejects: pd.DataFrame, column: str) -> list[str]:
    """The rules of the reject records naming ``column`` (alone, or among a cross-field rule's columns)."""
    return rejects.loc[rejects["column"].str.split(", ").map(lambda named: column in named), "rule"].tolist()


TEXT_WITH_A_NUL_BYTE = st.builds("{}\x00{}".format, st.text(max_size=6), st.text(max_size=6))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), use_case=st.sampled_from([TELCO, CREDIT_RISK]))
def test_a_value_holding_a_nul_byte_is_blamed_once_under_nul_byte_whatever_its_column(data, use_case):
    rows = ROWS_OF[use_case.name].copy()
    row = data.draw(st.sampled_from(list(rows.index)), label="row")
    broken = data.draw(st.lists(st.sampled_from(use_case.contract_columns), min_size=1, unique=True), label="columns")
    for column in broken:
        rows.loc[row, column] = data.draw(TEXT_WITH_A_NUL_BYTE, label=column)

    rejects = rejects_of(use_case, rows)

    assert set(rejects["row_number"]) == {row}
    for column in broken:
        assert rules_blaming(rejects, column) == [NUL_BYTE_RULE], f"{column}={rows.loc[row, column]!r}"


def test_columns_describe_every_contract_column_with_its_rules(use_case):
    described = {column.name: column for column in describe_columns(use_case)}
    assert list(described) == use_case.contract_columns
    assert all(column.rules for column in described.values()), "every column has at least one rule"


def test_telco_columns_are_described_with_their_telco_rules():
    described = {column.name: column for column in describe_columns(TELCO)}
    assert described["customerID"].unique
    assert described["TotalCharges"].nullable
    assert any("Month-to-month" in rule for rule in described["Contract"].rules)
    assert "<= 600" in described["tenure"].rules
    assert "<= 1000" in described["MonthlyCharges"].rules
    assert "<= 600000" in described["TotalCharges"].rules


def test_credit_columns_are_described_with_their_bounds_and_levels():
    described = {column.name: column for column in describe_columns(CREDIT_RISK)}
    assert not any(column.unique or column.nullable for column in described.values())
    assert ">= 18" in described["age"].rules and "<= 120" in described["age"].rules
    assert "<= 1000000" in described["credit_amount"].rules
    assert any("`vacation`" in rule for rule in described["purpose"].rules)


@pytest.mark.skipif(not REAL_EXTRACTS["telco_churn"].exists(), reason="the shared IBM Telco extract is not here")
def test_real_ibm_extract_passes_the_contract_with_zero_rejects():
    raw = read_csv_frame(REAL_EXTRACTS["telco_churn"], TELCO)
    result = validate_frame(TELCO, raw)
    assert len(raw) == 7043
    assert result.rejects.empty
    assert int(result.accepted["TotalCharges"].isna().sum()) == 11
    assert (result.accepted.loc[result.accepted["TotalCharges"].isna(), "tenure"] == 0).all()


@pytest.mark.skipif(not REAL_EXTRACTS["credit_risk"].exists(), reason="the shared German credit extract is not here")
def test_real_german_extract_passes_the_contract_with_zero_rejects():
    raw = read_csv_frame(REAL_EXTRACTS["credit_risk"], CREDIT_RISK)
    result = validate_frame(CREDIT_RISK, raw)
    assert len(raw) == 1000
    assert result.rejects.empty
    assert list(raw.columns) == [*CREDIT_RISK.contract_columns, "class"]
    assert set(result.accepted["class"]) == {"good", "bad"}
    assert result.accepted["credit_amount"].max() <= CREDIT_AMOUNT_MAX


@pytest.mark.skipif(not REAL_EXTRACTS["credit_risk"].exists(), reason="the shared German credit extract is not here")
def test_real_german_extract_with_out_of_bounds_values_rejects_just_those_rows_by_rule(tmp_path):
    lines = REAL_EXTRACTS["credit_risk"].read_text().splitlines()
    header = [name.strip() for name in lines[0].split(",")]

    def changed(row: int, column: str, value: str) -> None:
        fields = lines[row].split(",")
        fields[header.index(column)] = value
        lines[row] = ",".join(fields)

    changed(10, "credit_amount", "2000000")
    changed(20, "age", "17")
    changed(30, "purpose", "holiday")
    source = tmp_path / "german_out_of_bounds.csv"
    source.write_text("\n".join(lines) + "\n")

    rejects = rejects_of(CREDIT_RISK, read_csv_frame(source, CREDIT_RISK))

    assert rejects[["row_number", "column", "rule", "value"]].values.tolist() == [
        [10, "credit_amount", "max_1000000", "2000000"],
        [20, "age", "min_18", "17"],
        [30, "purpose", "allowed_values", "holiday"],
    ]


def test_a_blank_whole_number_is_missing_where_the_contract_allows_it_and_required_where_not():
    class Visits(pa.DataFrameModel):
        member: Series[str] = pa.Field(unique=True)
        visits: Series[pd.Int64Dtype] = pa.Field(ge=0, le=1_000)
        last_visit_days: Series[pd.Int64Dtype] = pa.Field(ge=0, le=36_500, nullable=True)

    visits = dataclasses.replace(
        TELCO, name="visits", contract=Visits, id_column="member", cross_field_rules={}, reasons=None
    )
    raw = batch(pd.DataFrame({"member": ["a", "b"], "visits": ["3", ""], "last_visit_days": ["", "12"]}))
    result = validate_frame(visits, raw)

    assert result.accepted.index.tolist() == [1] and pd.isna(result.accepted.loc[1, "last_visit_days"])
    assert result.rejects[["column", "rule"]].values.tolist() == [["visits", "required"]]
    schema = accepted_schema(visits, has_label=False)
    assert schema.field("last_visit_days").nullable and not schema.field("visits").nullable
