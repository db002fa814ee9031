"""The lapse model's inputs: the numbers (a never-visited member as a long absence, flagged), and the categories."""

from __future__ import annotations

import pandas as pd

from scoring_assets.core.use_case import FeatureSet, value_sets

from .contract import LAST_VISIT_MAX_DAYS, MemberAccount

CATEGORICAL = ("plan", "schedule", "autopay", "region")


def build_features(accepted: pd.DataFrame) -> pd.DataFrame:
    never_visited = accepted["last_visit_days"].isna()
    columns = {
        "tenure_months": accepted["tenure_months"].astype("float64"),
        "monthly_fee": accepted["monthly_fee"].astype("float64"),
        "last_visit_days": accepted["last_visit_days"].astype("float64").fillna(LAST_VISIT_MAX_DAYS),
        "never_visited": never_visited.astype("float64"),
        "student": accepted["student"].astype("float64"),
    }
    columns.update({name: accepted[name].astype("str") for name in CATEGORICAL})
    return pd.DataFrame(columns, index=accepted.index)


_VALUE_SETS = value_sets(MemberAccount.to_schema())
FEATURES = FeatureSet(
    numeric=("tenure_months", "monthly_fee", "last_visit_days", "never_visited", "student"),
    categorical={name: _VALUE_SETS[name] for name in CATEGORICAL},
    build=build_features,
)
