"""Training-aligned features: the one place a validated batch becomes model input.

Training (``scoring_assets.training.train``) and scoring (the ``feature_matrix`` asset) both
call ``build_features``; nothing else derives model inputs, so there is no training/serving
skew to drift into. The fitted scikit-learn Pipeline owns encoding and scaling; this module
only fixes the meaning of each column (blank TotalCharges -> 0, engineered ratios, fixed
category levels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring_assets.contract import CATEGORY_LEVELS as CONTRACT_LEVELS
from scoring_assets.contract import INTERNET_ADDON_COLUMNS

CATEGORICAL_FEATURES = [
    "gender",
    "Partner",
    "Dependents",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    *INTERNET_ADDON_COLUMNS,
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
]
NUMERIC_FEATURES = [
    "SeniorCitizen",
    "tenure",
    "MonthlyCharges",
    "TotalCharges",
    "average_monthly_charges",
    "addon_service_count",
]
FEATURE_COLUMNS = NUMERIC_FEATURES + CATEGORICAL_FEATURES
CATEGORY_LEVELS: dict[str, list[str]] = {name: list(CONTRACT_LEVELS[name]) for name in CATEGORICAL_FEATURES}


CATEGORY_CODE_DTYPE = np.dtype("int8")  # position in the contract's level list; -1 = not a level


def feature_dtypes() -> dict[str, object]:
    """The exact dtype of every feature column, in order, as the model expects it."""
    dtypes: dict[str, object] = {name: np.dtype("float64") for name in NUMERIC_FEATURES}
    dtypes.update({name: pd.CategoricalDtype(CATEGORY_LEVELS[name]) for name in CATEGORICAL_FEATURES})
    return dtypes


def build_features(accepted: pd.DataFrame) -> pd.DataFrame:
    """Model input for rows that passed the contract, same index and order as ``accepted``.

    - TotalCharges is blank only for customers in their first month (the contract enforces
      it); they have been billed nothing yet, so it is 0.
    - ``average_monthly_charges`` is what the customer paid per month so far (the current
      monthly charge for a new customer): a price-change signal the raw columns hide.
    - ``addon_service_count`` counts the internet add-ons the customer takes.
    - Categorical columns get fixed levels from the contract, so an unseen value can never
      slip through as a new category.
    """
    tenure = accepted["tenure"].astype("float64")
    monthly = accepted["MonthlyCharges"].astype("float64")
    total = accepted["TotalCharges"].astype("float64").fillna(0.0)
    average = np.where(tenure > 0, total / tenure.where(tenure > 0, 1.0), monthly)
    addons = sum((accepted[name] == "Yes").astype("float64") for name in INTERNET_ADDON_COLUMNS)

    columns: dict[str, object] = {
        "SeniorCitizen": accepted["SeniorCitizen"].astype("float64"),
        "tenure": tenure,
        "MonthlyCharges": monthly,
        "TotalCharges": total,
        "average_monthly_charges": pd.Series(average, index=accepted.index, dtype="float64"),
        "addon_service_count": addons,
    }
    for name in CATEGORICAL_FEATURES:
        columns[name] = as_categorical(accepted[name], CATEGORY_LEVELS[name])
    return pd.DataFrame(columns, index=accepted.index)[FEATURE_COLUMNS]


def as_categorical(values: pd.Series, levels: list[str]) -> pd.Series:
    """Text as a categorical with exactly ``levels``; anything else becomes missing.

    Uses Arrow's hash lookup (``index_in``): an order of magnitude faster than pandas'
    indexer on the Arrow-backed strings a batch arrives in.
    """
    if isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == levels:
        return values
    codes = pc.index_in(pa.array(values, from_pandas=True), value_set=pa.array(levels)).fill_null(-1)
    categorical = pd.Categorical.from_codes(codes.to_numpy().astype(CATEGORY_CODE_DTYPE), categories=levels)
    return pd.Series(categorical, index=values.index, name=values.name)


def category_codes(frame: pd.DataFrame) -> np.ndarray:
    """The categorical features as integer codes into their fixed levels, one column each.

    The model Pipelines start their categorical branch with this (wrapped in a
    FunctionTransformer), so encoders work on small integers, not on strings.
    """
    return np.column_stack(
        [
            as_categorical(frame[name], CATEGORY_LEVELS[name]).cat.codes.to_numpy(CATEGORY_CODE_DTYPE)
            for name in frame.columns
        ]
    )
