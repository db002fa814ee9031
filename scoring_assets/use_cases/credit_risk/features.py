"""The credit-risk model inputs: the application's numbers, one derived burden, and its categories.

The raw duration and amount say how much and how long; what strains a borrower is what they
repay each month, a ratio neither column shows alone and a linear model cannot form from them.
The band-coded columns stay numeric: their codes are ordered (as in the Statlog numeric
version of the data). Category levels are the contract's value sets, so training and scoring
can never disagree on them.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring_assets.core.use_case import FeatureSet, value_sets
from scoring_assets.use_cases.credit_risk.contract import CreditApplication

RAW_NUMERIC = (
    "duration",
    "credit_amount",
    "installment_commitment",
    "residence_since",
    "age",
    "existing_credits",
    "num_dependents",
)
MONTHLY_AMOUNT = "monthly_amount"  # credit_amount / duration: DM of principal repaid per month
CATEGORICAL = (
    "checking_status",
    "credit_history",
    "purpose",
    "savings_status",
    "employment",
    "personal_status",
    "other_parties",
    "property_magnitude",
    "other_payment_plans",
    "housing",
    "job",
    "own_telephone",
    "foreign_worker",
)


def build_features(accepted: pd.DataFrame) -> pd.DataFrame:
    """Model input for rows that passed the contract: numeric float64 columns, then the categories as they arrive.

    ``core.features.build_features`` gives the categories their declared levels (from text or a
    categorical alike), so they pass through untouched.

    The contract guarantees duration >= 1, so the monthly amount is always defined.
    """
    columns = {name: accepted[name].astype("float64") for name in RAW_NUMERIC}
    columns[MONTHLY_AMOUNT] = columns["credit_amount"] / columns["duration"]
    columns.update({name: accepted[name] for name in CATEGORICAL})
    return pd.DataFrame(columns, index=accepted.index)


def build_features_arrow(accepted: Mapping[str, pa.Array]) -> dict[str, pa.Array]:
    """``build_features`` in Arrow compute, for scoring (a test holds the two equal, value for value)."""
    columns = {name: pc.cast(accepted[name], pa.float64()) for name in RAW_NUMERIC}
    columns[MONTHLY_AMOUNT] = pc.divide(columns["credit_amount"], columns["duration"])
    columns.update({name: accepted[name] for name in CATEGORICAL})
    return columns


_VALUE_SETS = value_sets(CreditApplication.to_schema())
FEATURES = FeatureSet(
    numeric=(*RAW_NUMERIC, MONTHLY_AMOUNT),
    categorical={name: _VALUE_SETS[name] for name in CATEGORICAL},
    build=build_features,
    build_arrow=build_features_arrow,
)
