"""The credit_risk use case on its own: generator, contract and features, checked against the real extract.

The contract is run directly (``CreditApplication.validate``), and the model here is a plain
scikit-learn Pipeline over ``build_features``, so these tests prove the use case's own files
whatever the generic engine and training code are doing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring_assets.use_cases.credit_risk import USE_CASE
from scoring_assets.use_cases.credit_risk.contract import CreditApplication
from scoring_assets.use_cases.credit_risk.features import build_features
from scoring_assets.use_cases.credit_risk.generate import generate_extract, write_extract

REAL_EXTRACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "german_credit.csv"
needs_real_extract = pytest.mark.skipif(not REAL_EXTRACT.exists(), reason=f"{REAL_EXTRACT} is not here")


def as_contract_types(extract: pd.DataFrame) -> pd.DataFrame:
    """An extract as the contract sees it: header names stripped, integer columns as pandas Int64."""
    typed = extract.rename(columns=str.strip)
    return typed.astype({name: "Int64" for name in USE_CASE.integer_columns})


def contract_failures(extract: pd.DataFrame) -> pd.DataFrame:
    try:
        CreditApplication.validate(as_contract_types(extract), lazy=True)
    except pa.errors.SchemaErrors as errors:
        return errors.failure_cases
    return pd.DataFrame()


def is_bad(extract: pd.DataFrame) -> pd.Series:
    return extract[USE_CASE.label.column] == USE_CASE.label.positive


def test_generator_is_deterministic():
    pd.testing.assert_frame_equal(generate_extract(500, seed=7), generate_extract(500, seed=7))
    assert not generate_extract(500, seed=7).equals(generate_extract(500, seed=8))


def test_generated_rows_do_not_depend_on_chunking(tmp_path):
    whole = write_extract(tmp_path / "whole.csv", 1_003, seed=3)
    chunked = write_extract(tmp_path / "chunked.csv", 1_003, seed=3, chunk_rows=97)
    assert whole.read_bytes() == chunked.read_bytes()
    assert pd.read_csv(whole).equals(generate_extract(1_003, seed=3))


def test_generated_file_is_spelled_like_the_real_one(tmp_path):
    header = write_extract(tmp_path / "extract.csv", 5, seed=1).read_text().splitlines()[0].split(",")
    assert header[13] == " other_payment_plans" and header[19] == " foreign_worker" and header[-1] == "class"
    assert USE_CASE.matches_header(header)
    unlabelled = write_extract(tmp_path / "batch.csv", 5, seed=1, labelled=False).read_text().splitlines()[0]
    assert not unlabelled.endswith(",class")


def test_every_generated_row_passes_the_contract():
    extract = generate_extract(20_000, seed=5)
    assert contract_failures(extract).empty
    assert 0.25 < is_bad(extract).mean() < 0.35  # the real extract has 30% bad


def test_features_are_numeric_then_categorical_on_the_same_index():
    accepted = as_contract_types(generate_extract(50, seed=2)).set_index(pd.RangeIndex(1, 51))
    features = build_features(accepted)
    assert list(features.columns) == USE_CASE.features.columns
    assert features.index.equals(accepted.index)
    assert (features[list(USE_CASE.features.numeric)].dtypes == "float64").all()
    assert features["monthly_amount"].equals(features["credit_amount"] / features["duration"])
    for name, levels in USE_CASE.features.categorical.items():
        assert features[name].isin(levels).all()


@needs_real_extract
def test_real_extract_passes_the_contract():
    assert contract_failures(pd.read_csv(REAL_EXTRACT)).empty


@needs_real_extract
def test_model_trained_on_generated_rows_ranks_the_real_applications():
    training = as_contract_types(generate_extract(10_000, seed=20240601))
    real = as_contract_types(pd.read_csv(REAL_EXTRACT))
    encode = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(USE_CASE.features.numeric)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(USE_CASE.features.categorical)),
        ]
    )
    model = Pipeline([("encode", encode), ("classify", LogisticRegression(max_iter=2_000))])
    model.fit(build_features(training), is_bad(training))
    assert roc_auc_score(is_bad(real), model.predict_proba(build_features(real))[:, 1]) >= 0.72
