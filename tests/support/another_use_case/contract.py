"""The member export's contract: an id, a yes/no flag, categories, a 0/1 code and bounded numbers.

``schedule`` (how the member pays) is named like a value of the product's own vocabulary (a
run's trigger), as real exports' columns often are; nothing generic may mind.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

TENURE_MAX_MONTHS = 600  # 50 years as a member
MONTHLY_FEE_MAX = 1_000  # ten times the dearest plan
LAST_VISIT_MAX_DAYS = 36_500  # a hundred years

YES_NO = ["Yes", "No"]
PLANS = ["basic", "standard", "premium"]
SCHEDULES = ["monthly", "quarterly", "annual"]
REGIONS = ["north", "south", "east", "west"]


class MemberAccount(pa.DataFrameModel):
    """One row per member."""

    member_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1}, description="Member id; unique.")
    plan: Series[str] = pa.Field(isin=PLANS)
    schedule: Series[str] = pa.Field(isin=SCHEDULES, description="How often the member pays.")
    autopay: Series[str] = pa.Field(isin=YES_NO)
    region: Series[str] = pa.Field(isin=REGIONS)
    student: Series[pd.Int64Dtype] = pa.Field(isin=[0, 1], description="1 if the member pays the student rate.")
    tenure_months: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=TENURE_MAX_MONTHS, description=f"Whole months as a member; at most {TENURE_MAX_MONTHS}."
    )
    monthly_fee: Series[float] = pa.Field(
        ge=0, le=MONTHLY_FEE_MAX, description=f"Fee per month; at most {MONTHLY_FEE_MAX:,}."
    )
    last_visit_days: Series[pd.Int64Dtype] = pa.Field(
        ge=0,
        le=LAST_VISIT_MAX_DAYS,
        nullable=True,
        description=f"Days since the last visit; blank if the member never visited; at most {LAST_VISIT_MAX_DAYS:,}.",
    )

    class Config:
        strict = False  # the label (lapsed) and other columns are allowed
        ordered = False
