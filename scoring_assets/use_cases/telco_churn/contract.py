"""The input contract of a Telco-style customer extract (the IBM Telco churn export).

``CustomerBatch`` is the pandera model every batch of this use case is judged by: training,
the scoring graph, the column schema shown in Dagster and the input table of docs/use-cases.md all come
from it, so a rule changed here changes everywhere.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from scoring_assets.core.cross_field import BlankOnlyWhen, CodesAgree, dataframe_check, rule_columns

# Upper bounds: every number the model sees has one, so a typo or a corrupt export (1e20,
# 1e308, inf) is rejected by name instead of being scored with false confidence. They are
# generous (far above anything real) but finite, and derived from the domain: the real
# extract has tenure 0-72 months, MonthlyCharges 18.25-118.75 and TotalCharges up to 8,684.80.
TENURE_MAX_MONTHS = 600  # 50 years as a customer
MONTHLY_CHARGES_MAX = 1_000  # over 8x the highest monthly charge in the real extract
TOTAL_CHARGES_MAX = MONTHLY_CHARGES_MAX * TENURE_MAX_MONTHS  # the most the two bounds above can add up to

YES_NO = ["Yes", "No"]
PHONE_LINES = ["Yes", "No", "No phone service"]
INTERNET_ADDON = ["Yes", "No", "No internet service"]
INTERNET_ADDON_COLUMNS = [
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]

# The cross-field rules, declared as data (``core.cross_field``) so the Arrow clean path can read them.
PHONE_SERVICE_CONSISTENCY = CodesAgree(
    "phone_service_consistency", "PhoneService", "No", {"MultipleLines": "No phone service"}
)
INTERNET_SERVICE_CONSISTENCY = CodesAgree(
    "internet_service_consistency",
    "InternetService",
    "No",
    {column: "No internet service" for column in INTERNET_ADDON_COLUMNS},
)
BLANK_TOTAL_CHARGES_REQUIRES_ZERO_TENURE = BlankOnlyWhen(
    "blank_total_charges_requires_zero_tenure", "TotalCharges", "tenure", 0
)


class CustomerBatch(pa.DataFrameModel):
    """One row per customer, as exported by the billing system."""

    customerID: Series[str] = pa.Field(
        unique=True, str_length={"min_value": 1}, description="Customer id; non-empty, unique in the file."
    )
    gender: Series[str] = pa.Field(isin=["Female", "Male"])
    SeniorCitizen: Series[pd.Int64Dtype] = pa.Field(isin=[0, 1], description="1 if the customer is 65 or older.")
    Partner: Series[str] = pa.Field(isin=YES_NO)
    Dependents: Series[str] = pa.Field(isin=YES_NO)
    tenure: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=TENURE_MAX_MONTHS, description=f"Whole months as a customer; at most {TENURE_MAX_MONTHS} (50 years)."
    )
    PhoneService: Series[str] = pa.Field(isin=YES_NO)
    MultipleLines: Series[str] = pa.Field(isin=PHONE_LINES)
    InternetService: Series[str] = pa.Field(isin=["DSL", "Fiber optic", "No"])
    OnlineSecurity: Series[str] = pa.Field(isin=INTERNET_ADDON)
    OnlineBackup: Series[str] = pa.Field(isin=INTERNET_ADDON)
    DeviceProtection: Series[str] = pa.Field(isin=INTERNET_ADDON)
    TechSupport: Series[str] = pa.Field(isin=INTERNET_ADDON)
    StreamingTV: Series[str] = pa.Field(isin=INTERNET_ADDON)
    StreamingMovies: Series[str] = pa.Field(isin=INTERNET_ADDON)
    Contract: Series[str] = pa.Field(isin=["Month-to-month", "One year", "Two year"])
    PaperlessBilling: Series[str] = pa.Field(isin=YES_NO)
    PaymentMethod: Series[str] = pa.Field(
        isin=["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"]
    )
    MonthlyCharges: Series[float] = pa.Field(
        ge=0,
        le=MONTHLY_CHARGES_MAX,
        description=f"Current monthly charge; at most {MONTHLY_CHARGES_MAX:,} (over 8x the real extract's highest).",
    )
    TotalCharges: Series[float] = pa.Field(
        ge=0,
        le=TOTAL_CHARGES_MAX,
        nullable=True,
        description=(
            "Charges to date; may be blank only when tenure is 0 (read as 0); at most "
            f"{TOTAL_CHARGES_MAX:,} (the monthly bound for {TENURE_MAX_MONTHS} months)."
        ),
    )

    phone_service_consistency = dataframe_check(PHONE_SERVICE_CONSISTENCY)
    internet_service_consistency = dataframe_check(INTERNET_SERVICE_CONSISTENCY)
    blank_total_charges_requires_zero_tenure = dataframe_check(BLANK_TOTAL_CHARGES_REQUIRES_ZERO_TENURE)

    class Config:
        strict = False  # extra columns (e.g. Churn) are allowed and ignored
        ordered = False


# Columns each dataframe-wide rule reads, so a broken row is reported once, with the values
# that contradict each other, instead of once per column of the frame.
CROSS_FIELD_RULES: dict[str, tuple[str, ...]] = rule_columns(
    [PHONE_SERVICE_CONSISTENCY, INTERNET_SERVICE_CONSISTENCY, BLANK_TOTAL_CHARGES_REQUIRES_ZERO_TENURE]
)
