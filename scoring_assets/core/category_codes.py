"""The model Pipelines' first categorical step, a scikit-learn transformer: imported only where a Pipeline is.

Every Pipeline pickled so far names this class ``scoring_assets.core.features.CategoryCodes``;
it keeps that name (``__module__`` below) and ``core.features`` resolves it on demand, so those
pickles still load and new ones are byte-identical, while the scoring path, which scores with the
serving form (``core.serving``), never imports scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from scoring_assets.core.category_levels import CATEGORY_CODE_DTYPE, as_categorical


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Categorical features as integer codes into their fixed levels, one column each.

    The model Pipelines start their categorical branch with this, so encoders work on small
    integers, not on strings. It carries its levels, so a pickled Pipeline needs nothing else.
    """

    __module__ = "scoring_assets.core.features"  # the name pickles record (see the module docstring)

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
