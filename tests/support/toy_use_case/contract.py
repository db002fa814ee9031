"""The toy extract's contract: one row per account, an id, a bounded balance and a segment."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

BALANCE_MAX = 1_000_000
SEGMENTS = ["retail", "business", "private"]


class AccountBatch(pa.DataFrameModel):
    """One row per account."""

    account: Series[str] = pa.Field(unique=True, str_length={"min_value": 1}, description="Account id; unique.")
    balance: Series[float] = pa.Field(ge=0, le=BALANCE_MAX, description=f"Balance owed; at most {BALANCE_MAX:,}.")
    segment: Series[str] = pa.Field(isin=SEGMENTS)

    class Config:
        strict = False  # the label (defaulted) and other columns are allowed
        ordered = False
