"""The toy model's inputs: the balance as it is, and the segment."""

from __future__ import annotations

import pandas as pd

from scoring_assets.core.use_case import FeatureSet

from .contract import SEGMENTS


def build_features(accepted: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"balance": accepted["balance"].astype("float64"), "segment": accepted["segment"].astype("str")},
        index=accepted.index,
    )


FEATURES = FeatureSet(numeric=("balance",), categorical={"segment": tuple(SEGMENTS)}, build=build_features)
