"""The synthetic training extract: deterministic, shaped like the real one, accepted by the contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.use_cases.telco_churn import USE_CASE
from scoring_assets.use_cases.telco_churn.contract import INTERNET_ADDON_COLUMNS
from scoring_assets.use_cases.telco_churn.generate import (
    CONTRACT_COLUMNS,
    LABEL_COLUMN,
    generate_extract,
    write_extract,
)

CATEGORY_LEVELS = USE_CASE.features.categorical

ROWS = 20_000
SEED = 7


@pytest.fixture(scope="module")
def extract() -> pd.DataFrame:
    return generate_extract(ROWS, SEED)


def read_back(path) -> pd.DataFrame:
    """The CSV as a reader that knows TotalCharges is text would see it."""
    return pd.read_csv(path, dtype={"TotalCharges": str}, keep_default_na=False)


def test_same_seed_gives_the_same_extract_and_another_seed_does_not(extract):
    pd.testing.assert_frame_equal(generate_extract(ROWS, SEED), extract)
    assert not generate_extract(ROWS, SEED + 1)["customerID"].equals(extract["customerID"])


def test_a_smaller_extract_is_the_first_rows_of_a_larger_one(extract):
    pd.testing.assert_frame_equal(generate_extract(1_000, SEED), extract.iloc[:1_000])


def test_written_rows_do_not_depend_on_chunk_size(tmp_path):
    whole = write_extract(tmp_path / "whole.csv", 2_500, SEED, chunk_rows=10_000)
    chunked = write_extract(tmp_path / "chunked.csv", 2_500, SEED, chunk_rows=333)
    assert whole.read_bytes() == chunked.read_bytes()


def test_written_csv_reads_back_as_the_generated_frame(tmp_path):
    path = write_extract(tmp_path / "extract.csv", 2_500, SEED, chunk_rows=1_000)
    pd.testing.assert_frame_equal(read_back(path), generate_extract(2_500, SEED))
    assert b"\r" not in path.read_bytes()
    assert not list(tmp_path.glob(".*.tmp")), "the temporary file must be moved into place"


def test_columns_are_the_contract_columns_in_order_then_the_label(extract):
    assert list(extract.columns) == [*CONTRACT_COLUMNS, LABEL_COLUMN]
    assert list(generate_extract(10, SEED, labelled=False).columns) == CONTRACT_COLUMNS


def test_unlabelled_extract_holds_the_same_customers(extract):
    unlabelled = generate_extract(500, SEED, labelled=False)
    pd.testing.assert_frame_equal(unlabelled, extract.iloc[:500].drop(columns=LABEL_COLUMN))


def test_every_allowed_value_of_every_categorical_column_occurs(extract):
    for column, levels in CATEGORY_LEVELS.items():
        assert set(extract[column].unique()) == set(levels), column
    assert set(extract[LABEL_COLUMN].unique()) == {"Yes", "No"}
    assert (extract["MultipleLines"] == "No phone service").any()
    assert (extract[INTERNET_ADDON_COLUMNS] == "No internet service").all(axis=1).any()


def test_columns_carry_the_types_the_csv_would(extract):
    assert extract["SeniorCitizen"].dtype == np.int64 and extract["tenure"].dtype == np.int64
    assert extract["MonthlyCharges"].dtype == np.float64
    assert pd.api.types.is_string_dtype(extract["TotalCharges"])
    assert extract["tenure"].between(0, 72).all()
    assert extract["MonthlyCharges"].between(18.25, 118.75).all()
    assert np.allclose(extract["MonthlyCharges"] * 20, (extract["MonthlyCharges"] * 20).round())


def test_total_charges_is_a_single_space_exactly_when_tenure_is_zero(extract):
    blank = extract["TotalCharges"] == " "
    assert blank.any()
    assert (blank == (extract["tenure"] == 0)).all()
    billed = extract.loc[~blank]
    total = billed["TotalCharges"].astype(float)
    assert (total.round(2) == total).all()
    first_month = billed["tenure"] == 1
    assert (total[first_month] == billed.loc[first_month, "MonthlyCharges"]).all()
    per_month = total / (billed["tenure"] * billed["MonthlyCharges"])
    assert per_month.between(0.7, 1.3).all()


def test_service_columns_agree_with_each_other(extract):
    no_phone = extract["PhoneService"] == "No"
    assert (no_phone == (extract["MultipleLines"] == "No phone service")).all()
    no_internet = extract["InternetService"] == "No"
    for column in INTERNET_ADDON_COLUMNS:
        assert (no_internet == (extract[column] == "No internet service")).all(), column
    assert not (no_phone & no_internet).any(), "every customer takes at least one service"


def test_customer_ids_are_unique_and_look_real(extract):
    ids = generate_extract(200_000, SEED, labelled=False)["customerID"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"\d{4}-[A-Z]{5}").all()
    assert ids.iloc[: len(extract)].equals(extract["customerID"])


def test_churn_rate_and_drivers_are_plausible(extract):
    churned = extract[LABEL_COLUMN] == "Yes"
    assert 0.22 <= churned.mean() <= 0.32
    by_contract = churned.groupby(extract["Contract"]).mean()
    assert by_contract["Month-to-month"] > 3 * by_contract["Two year"]
    assert churned[extract["tenure"] <= 6].mean() > churned[extract["tenure"] > 48].mean() + 0.3


def test_generated_extract_is_accepted_by_the_input_contract(tmp_path):
    path = write_extract(tmp_path / "extract.csv", 3_000, SEED)
    result = validate_frame(USE_CASE, read_csv_frame(path, USE_CASE))
    assert result.rejects.empty, result.rejects.head()
    assert len(result.accepted) == 3_000
