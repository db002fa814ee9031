"""Telco churn features: what each input column means to the model, plus two engineered signals.

``build_features`` is called by training and by scoring alike (through
``scoring_assets.core.features.build_features``, which fixes the category levels), so there is
no training/serving skew to drift into.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring_assets.core.arrow_contract import per_value
from scoring_assets.core.use_case import FeatureSet, value_sets
from scoring_assets.use_cases.telco_churn.contract import INTERNET_ADDON_COLUMNS, CustomerBatch

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


def build_features(accepted: pd.DataFrame) -> pd.DataFrame:
    """Model input for rows that passed the contract, same index and order as ``accepted``.

    - TotalCharges is blank only for customers in their first month (the contract enforces
      it); they have been billed nothing yet, so it is 0.
    - ``average_monthly_charges`` is what the customer paid per month so far (the current
      monthly charge for a new customer): a price-change signal the raw columns hide.
    - ``addon_service_count`` counts the internet add-ons the customer takes.
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
    columns.update({name: accepted[name] for name in CATEGORICAL_FEATURES})
    return pd.DataFrame(columns, index=accepted.index)


def build_features_arrow(accepted: Mapping[str, pa.Array]) -> dict[str, pa.Array]:
    """``build_features`` in Arrow compute, for scoring (a test holds the two equal, value for value)."""
    tenure = pc.cast(accepted["tenure"], pa.float64())
    monthly = pc.cast(accepted["MonthlyCharges"], pa.float64())
    total = pc.cast(accepted["TotalCharges"], pa.float64()).fill_null(0.0)
    billed = pc.greater(tenure, 0.0).fill_null(False)
    average = pc.if_else(billed, pc.divide(total, pc.if_else(billed, tenure, 1.0)), monthly)
    addons = pa.array(np.zeros(len(tenure)))
    for name in INTERNET_ADDON_COLUMNS:
        taken = per_value(lambda values: pc.equal(values, "Yes"), accepted[name]).fill_null(False)
        addons = pc.add(addons, pc.cast(taken, pa.float64()))
    columns: dict[str, pa.Array] = {
        "SeniorCitizen": pc.cast(accepted["SeniorCitizen"], pa.float64()),
        "tenure": tenure,
        "MonthlyCharges": monthly,
        "TotalCharges": total,
        "average_monthly_charges": average,
        "addon_service_count": addons,
    }
    columns.update({name: accepted[name] for name in CATEGORICAL_FEATURES})
    return columns


_VALUE_SETS = value_sets(CustomerBatch.to_schema())
FEATURES = FeatureSet(
    numeric=tuple(NUMERIC_FEATURES),
    categorical={name: _VALUE_SETS[name] for name in CATEGORICAL_FEATURES},
    build=build_features,
    build_arrow=build_features_arrow,
)
