"""Training-aligned features: the one place accepted rows become model input, for any use case.

Training (``scoring_assets.training.train``) and scoring (the ``feature_matrix`` asset) both call
``build_features``; nothing else derives model inputs, so there is no training/serving skew to
drift into. The use case's ``FeatureSet.build`` fixes what each column means; this module fixes
the shape: numeric inputs as float64, categorical inputs with exactly the declared levels (an
unseen value can never slip through as a new category). The fitted scikit-learn Pipeline owns
encoding and scaling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, TransformerMixin

from scoring_assets.core.use_case import FeatureSet

CATEGORY_CODE_DTYPE = np.dtype("int8")  # position in the declared level list; -1 = not a level


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


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Categorical features as integer codes into their fixed levels, one column each.

    The model Pipelines start their categorical branch with this, so encoders work on small
    integers, not on strings. It carries its levels, so a pickled Pipeline needs nothing else.
    """

    def __init__(self, levels: dict[str, list[str]] | None = None):
        self.levels = levels

    def fit(self, frame: pd.DataFrame, y=None) -> CategoryCodes:
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [
                as_categorical(frame[name], list(self.levels[name])).cat.codes.to_numpy(CATEGORY_CODE_DTYPE)
                for name in frame.columns
            ]
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(list(input_features if input_features is not None else self.levels), dtype=object)
