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

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring_assets.core.arrow_contract import nan_as_null
from scoring_assets.core.category_levels import CATEGORY_CODE_DTYPE, arrow_codes, as_categorical
from scoring_assets.core.use_case import FeatureSet

__all__ = [
    "CATEGORY_CODE_DTYPE",
    "arrow_feature_arrays",
    "as_categorical",
    "build_features",
    "feature_dtypes",
    "frame_feature_arrays",
]


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


def frame_feature_arrays(features: FeatureSet, built: pd.DataFrame) -> list[pa.Array]:
    """``build_features``' frame as the feature file stores it: numbers as float64 (NaN as null), then int8 codes."""
    numeric = [pa.array(built[name].to_numpy("float64"), from_pandas=True) for name in features.numeric]
    codes = [pa.array(built[name].cat.codes.to_numpy(CATEGORY_CODE_DTYPE)) for name in features.categorical]
    return [*numeric, *codes]


def arrow_feature_arrays(features: FeatureSet, accepted: Mapping[str, pa.Array]) -> list[pa.Array]:
    """The use case's ``build_arrow`` on a validated batch, stored as ``frame_feature_arrays`` stores ``build``'s.

    ``accepted``: the batch's columns (categories as dictionaries). Floats are given with NaN as
    null, as pandas reads NaN as missing; the built numbers are float64 with NaN as null, the
    categories int8 codes into the declared levels: the same arrays as the pandas path, without a frame.
    """
    built = features.build_arrow({name: nan_as_null(values) for name, values in accepted.items()})
    missing = [name for name in features.columns if name not in built]
    if missing:
        raise ValueError(f"the use case's Arrow feature builder did not produce {missing}")
    numeric = [nan_as_null(pc.cast(built[name], pa.float64())) for name in features.numeric]
    codes = [arrow_codes(built[name], list(levels)) for name, levels in features.categorical.items()]
    return [*numeric, *codes]


def __getattr__(name: str) -> Any:
    """``CategoryCodes`` on demand: what unpickling a Pipeline asks this module for (PEP 562)."""
    if name == "CategoryCodes":
        from scoring_assets.core.category_codes import CategoryCodes

        return CategoryCodes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
