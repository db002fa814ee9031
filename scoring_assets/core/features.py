"""Training-aligned features: the one place accepted rows become model input, for any use case.

Training (``scoring_assets.training.train``) and scoring (the ``feature_matrix`` asset) both call
``build_features``; nothing else derives model inputs, so there is no training/serving skew to
drift into. The use case's ``FeatureSet.build`` fixes what each column means; this module fixes
the shape: numeric inputs as float64, categorical inputs with exactly the declared levels (an
unseen value can never slip through as a new category). The fitted scikit-learn Pipeline owns
encoding and scaling; its first categorical step, ``CategoryCodes``, lives in
``core.category_codes`` and is resolved here on demand (``__getattr__``), under the name every
pickled Pipeline records, so that importing this module never imports scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoring_assets.core.category_levels import CATEGORY_CODE_DTYPE, as_categorical
from scoring_assets.core.use_case import FeatureSet

__all__ = ["CATEGORY_CODE_DTYPE", "as_categorical", "build_features", "feature_dtypes"]


def feature_dtypes(features: FeatureSet) -> dict[str, object]:
    """The exact dtype of every feature column, in order, as the model expects it."""
    dtypes: dict[str, object] = {name: np.dtype("float64") for name in features.numeric}
    dtypes.update({name: pd.CategoricalDtype(list(levels)) for name, levels in features.categorical.items()})
    return dtypes


def build_features(features: FeatureSet, accepted: pd.DataFrame) -> pd.DataFrame:
    """Model input for rows that passed the contract, same index and order as ``accepted``."""
    built = features.build(accepted)
    missing = [name for name in features.columns if name not in built.columns]
    if missing:
        raise ValueError(f"the use case's feature builder did not produce {missing}")
    columns: dict[str, pd.Series] = {name: built[name].astype("float64") for name in features.numeric}
    for name, levels in features.categorical.items():
        columns[name] = as_categorical(built[name], list(levels))
    return pd.DataFrame(columns, index=accepted.index)[features.columns]


def __getattr__(name: str) -> Any:
    """``CategoryCodes`` on demand: what unpickling a Pipeline asks this module for (PEP 562)."""
    if name == "CategoryCodes":
        from scoring_assets.core.category_codes import CategoryCodes

        return CategoryCodes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
