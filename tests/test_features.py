"""Training and scoring build exactly the same model inputs for the same rows (no skew), for every use case."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.features import (
    arrow_feature_arrays,
    as_categorical,
    build_features,
    feature_dtypes,
    frame_feature_arrays,
)
from scoring_assets.core.files import file_sha256
from scoring_assets.core.ingest import (
    categorical_text_columns,
    read_accepted_frame,
    validate_raw_parquet,
    write_raw_parquet,
)
from scoring_assets.core.lake import lake_reader
from scoring_assets.core.scoring import read_feature_frame
from scoring_assets.core.use_case import FeatureSet, UseCase
from scoring_assets.training.train import load_training_rows
from tests.support.batches import (
    CREDIT_RISK,
    REAL_EXTRACTS,
    TELCO,
    customer_rows,
    training_extract,
    valid_rows,
    write_csv,
)
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file


def first_rows_of(path, rows: int, destination):
    """The header and first ``rows`` data lines of a CSV, byte for byte."""
    with open(path, "rb") as source, open(destination, "wb") as sink:
        for _ in range(rows + 1):
            sink.write(source.readline())
    return destination


def accepted_rows(use_case: UseCase, rows: pd.DataFrame) -> pd.DataFrame:
    """Generated rows as the contract accepts them (header names trimmed, as the reader does)."""
    framed = rows.rename(columns=str.strip).set_axis(pd.RangeIndex(1, len(rows) + 1, name="row_number"))
    result = validate_frame(use_case, framed)
    assert result.rejects.empty
    return result.accepted


def test_scoring_builds_exactly_the_training_feature_matrix(instance, folders, tmp_path, use_case):
    built_model(use_case)
    source = first_rows_of(training_extract(use_case), 500, tmp_path / "training_rows.csv")
    accepted, _, _ = load_training_rows(use_case, source, max_rejected_fraction=1.0)  # a real extract has a few
    training_features = build_features(use_case.features, accepted)

    registration, result = score_file(instance, folders, source, use_case=use_case)
    assert result.success
    table = pq.read_table(folders.of(use_case.name).lake_file("feature_matrix", registration.partition_key))
    scoring_features = read_feature_frame(use_case, table.combine_chunks().to_batches()[0])[use_case.features.columns]

    pd.testing.assert_frame_equal(scoring_features, training_features, check_exact=True, check_names=False)


def stored_accepted_batches(use_case: UseCase, source, folder):
    """``source`` through the product's raw and validation stages, its accepted rows read back as scoring reads them."""
    write_raw_parquet(use_case, source, file_sha256(source), folder / "raw.parquet")
    validate_raw_parquet(use_case, folder / "raw.parquet", folder / "accepted.parquet", folder / "rejects.csv")
    return lake_reader(folder / "accepted.parquet", categorical_text_columns(use_case)).iter_batches(batch_size=997)


@pytest.mark.parametrize("rows", ["real extract", "generated"])
def test_scoring_builds_in_arrow_exactly_the_pandas_builds_model_inputs(use_case, rows, tmp_path):
    if use_case.features.build_arrow is None:
        pytest.skip(f"{use_case.name} declares no Arrow feature builder: scoring calls its pandas build")
    if rows == "real extract":
        source = REAL_EXTRACTS.get(use_case.name) or training_extract(use_case)
        if not source.exists():
            pytest.skip(f"{source} is not here")
    else:
        source = write_csv(valid_rows(use_case, 5_000, seed=23), tmp_path / "generated.csv")
    checked = 0
    for batch in stored_accepted_batches(use_case, source, tmp_path):
        in_arrow = arrow_feature_arrays(use_case.features, dict(zip(batch.schema.names, batch.columns, strict=True)))
        built = build_features(use_case.features, read_accepted_frame(use_case, batch))
        in_pandas = frame_feature_arrays(use_case.features, built)
        for name, arrow_values, pandas_values in zip(use_case.features.columns, in_arrow, in_pandas, strict=True):
            assert arrow_values.equals(pandas_values), f"{name}: {arrow_values} != {pandas_values}"
        checked += batch.num_rows
    assert checked >= 900


def test_blank_total_charges_with_zero_tenure_becomes_zero_and_is_scored_like_a_new_customer():
    rows = customer_rows(60)
    rows.loc[:2, "tenure"] = "0"
    rows.loc[:2, "TotalCharges"] = " "
    features = build_features(TELCO.features, accepted_rows(TELCO, rows))
    first_month = features[features["tenure"] == 0]
    assert len(first_month) >= 3
    assert (first_month["TotalCharges"] == 0.0).all()
    assert (first_month["average_monthly_charges"] == first_month["MonthlyCharges"]).all()
    assert not features[TELCO.features.columns].isna().any().any()


def test_feature_columns_have_fixed_dtypes_and_the_declared_levels(use_case):
    accepted = accepted_rows(use_case, valid_rows(use_case, 30))
    features = build_features(use_case.features, accepted)
    assert list(features.columns) == use_case.features.columns
    assert dict(features.dtypes) == feature_dtypes(use_case.features)
    assert features.index.equals(accepted.index)
    for name, levels in use_case.features.categorical.items():
        assert list(features[name].cat.categories) == list(levels), name
    assert not features.isna().any().any()


def test_category_levels_are_the_contracts_value_sets(use_case):
    for name, levels in use_case.features.categorical.items():
        assert list(levels) == use_case.value_sets[name], name


def test_telco_contract_levels_are_fixed_whatever_rows_occur():
    features = build_features(TELCO.features, accepted_rows(TELCO, customer_rows(30)))
    assert list(features["Contract"].cat.categories) == ["Month-to-month", "One year", "Two year"]


def test_credit_monthly_amount_is_the_amount_repaid_per_month():
    accepted = accepted_rows(CREDIT_RISK, valid_rows(CREDIT_RISK, 30))
    features = build_features(CREDIT_RISK.features, accepted)
    expected = accepted["credit_amount"].astype("float64") / accepted["duration"].astype("float64")
    pd.testing.assert_series_equal(features["monthly_amount"], expected, check_names=False)


def test_a_value_outside_the_levels_never_becomes_a_new_category():
    encoded = as_categorical(pd.Series(["Yes", "Maybe", "No"]), ["Yes", "No"])
    assert list(encoded.cat.categories) == ["Yes", "No"]
    assert encoded.isna().tolist() == [False, True, False]


def test_a_feature_builder_that_forgets_a_declared_feature_is_refused_by_name():
    features = FeatureSet(
        numeric=("amount", "ratio"),
        categorical={"kind": ("a", "b")},
        build=lambda accepted: pd.DataFrame({"amount": accepted["amount"], "kind": accepted["kind"]}),
    )
    with pytest.raises(ValueError, match=r"did not produce \['ratio'\]"):
        build_features(features, pd.DataFrame({"amount": [1.0], "kind": ["a"]}))


@pytest.mark.parametrize("use_case, rows", [(TELCO, 7043), (CREDIT_RISK, 1000)], ids=["telco_churn", "credit_risk"])
def test_real_extract_features_have_no_missing_values(use_case, rows):
    extract = REAL_EXTRACTS[use_case.name]
    if not extract.exists():
        pytest.skip(f"{extract} is not beside the repository")
    accepted = validate_frame(use_case, read_csv_frame(extract, use_case)).accepted
    features = build_features(use_case.features, accepted)
    assert len(features) == rows
    assert not features.isna().any().any()


def test_a_categorical_of_other_categories_gets_the_same_codes_as_its_text():
    """Text read as a dictionary arrives as a categorical of whatever texts the file had: recoded, not re-read."""
    text = pd.Series(["No", "Yes", None, "Maybe", "No"], index=[3, 4, 5, 6, 7])
    read_as_dictionary = text.astype(pd.CategoricalDtype(["Maybe", "No", "Yes", "Never"]))
    recoded = as_categorical(read_as_dictionary, ["Yes", "No"])
    pd.testing.assert_series_equal(recoded, as_categorical(text, ["Yes", "No"]))
    assert recoded.cat.codes.tolist() == [1, 0, -1, -1, 1]
