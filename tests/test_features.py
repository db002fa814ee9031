"""Training and scoring build exactly the same model inputs for the same rows (no skew)."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import REAL_EXTRACT, customer_rows, score_file

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.features import FEATURE_COLUMNS, build_features, feature_dtypes
from scoring_assets.core.scoring import read_feature_frame
from scoring_assets.training import load_params, repo_path
from scoring_assets.training.train import load_training_rows


def first_rows_of(path, rows: int, destination):
    """The header and first ``rows`` data lines of a CSV, byte for byte."""
    with open(path, "rb") as source, open(destination, "wb") as sink:
        for _ in range(rows + 1):
            sink.write(source.readline())
    return destination


@pytest.mark.usefixtures("model_artifact")
def test_scoring_builds_exactly_the_training_feature_matrix(instance, folders, tmp_path):
    training_extract = repo_path(load_params("train")["extract"])
    accepted, _, _ = load_training_rows(training_extract, max_rejected_fraction=0.0)
    training_features = build_features(accepted).head(500)

    source = first_rows_of(training_extract, 500, tmp_path / "training_rows.csv")
    table = pq.read_table(folders.lake_file("feature_matrix", score_file(instance, folders, source)[0].partition_key))
    scoring_features = read_feature_frame(table.combine_chunks().to_batches()[0])[FEATURE_COLUMNS]

    pd.testing.assert_frame_equal(scoring_features, training_features, check_exact=True, check_names=False)


def test_blank_total_charges_with_zero_tenure_becomes_zero_and_is_scored_like_a_new_customer():
    rows = customer_rows(60)
    rows.loc[:2, "tenure"] = "0"
    rows.loc[:2, "TotalCharges"] = " "
    accepted = validate_frame(rows.set_axis(pd.RangeIndex(1, 61))).accepted
    features = build_features(accepted)
    first_month = features[features["tenure"] == 0]
    assert len(first_month) >= 3
    assert (first_month["TotalCharges"] == 0.0).all()
    assert (first_month["average_monthly_charges"] == first_month["MonthlyCharges"]).all()
    assert not features[FEATURE_COLUMNS].isna().any().any()


def test_feature_columns_have_fixed_dtypes_and_contract_levels():
    accepted = validate_frame(customer_rows(30).set_axis(pd.RangeIndex(1, 31))).accepted
    features = build_features(accepted)
    assert list(features.columns) == FEATURE_COLUMNS
    assert dict(features.dtypes) == feature_dtypes()
    assert list(features["Contract"].cat.categories) == ["Month-to-month", "One year", "Two year"]


@pytest.mark.skipif(not REAL_EXTRACT.exists(), reason="the shared IBM Telco extract is not beside the repository")
def test_real_extract_features_have_no_missing_values():
    from scoring_assets.core.input_csv import read_csv_frame

    features = build_features(validate_frame(read_csv_frame(REAL_EXTRACT)).accepted)
    assert len(features) == 7043
    assert not features.isna().any().any()
