"""Categorical text as integer codes into a fixed list of levels: what model inputs and the serving form index by.

Its own module, free of scikit-learn, because both the scoring path (``core.features``,
``core.serving``) and the Pipelines' first categorical step (``core.category_codes``) use it.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CATEGORY_CODE_DTYPE = np.dtype("int8")  # position in the declared level list; -1 = not a level


def as_categorical(values: pd.Series, levels: list[str]) -> pd.Series:
    """Text as a categorical with exactly ``levels``; anything else becomes missing.

    Uses Arrow's hash lookup (``index_in``): an order of magnitude faster than pandas'
    indexer on the Arrow-backed strings a batch arrives in. A categorical of other categories
    (text read as a dictionary, ``core.lake``) is recoded once per category, not once per row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        if list(values.cat.categories) == levels:
            return values
        codes = _recoded(values.cat.categories, values.cat.codes.to_numpy(), levels)
    else:
        codes = pc.index_in(pa.array(values, from_pandas=True), value_set=pa.array(levels)).fill_null(-1).to_numpy()
    categorical = pd.Categorical.from_codes(codes.astype(CATEGORY_CODE_DTYPE), dtype=category_dtype(tuple(levels)))
    return pd.Series(categorical, index=values.index, name=values.name)


@cache
def category_dtype(levels: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical dtype of ``levels``, made once: pandas checks a dtype's categories each time one is made."""
    return pd.CategoricalDtype(list(levels))


def _recoded(categories: pd.Index, codes: np.ndarray, levels: list[str]) -> np.ndarray:
    """Codes into ``categories`` (-1 missing) as codes into ``levels`` (-1 missing or not a level)."""
    into_levels = pc.index_in(pa.array(categories, from_pandas=True), value_set=pa.array(levels)).fill_null(-1)
    return np.append(into_levels.to_numpy(), -1)[codes]  # code -1 takes the appended -1


def arrow_codes(values: pa.Array, levels: list[str]) -> pa.Array:
    """Arrow text as int8 codes into ``levels`` (-1 missing or not a level), as ``as_categorical`` codes it.

    A dictionary array is looked up once per distinct text and spread by its indices.
    """
    if pa.types.is_dictionary(values.type):
        codes = arrow_codes(values.dictionary, levels).take(values.indices)
        return codes.fill_null(-1) if codes.null_count else codes
    return pc.index_in(values, value_set=pa.array(levels)).fill_null(-1).cast(pa.int8())
