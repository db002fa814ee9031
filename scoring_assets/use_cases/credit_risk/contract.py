"""The input contract for a German-credit-style application extract: one row per credit application.

``CreditApplication`` is the pandera model every batch is judged by; the generic contract
engine parses the integer columns, runs it lazily and reports every broken rule of every row.
Value sets are the documented ones of the UCI Statlog (German Credit) data as published on
OpenML (``credit-g``), including two levels the public file never uses (``vacation``,
``female single``): an applicant with one of them is a real case, not an error.

Four "numeric" attributes are band codes, not quantities (Groemping 2019, "South German
Credit Data: Correcting a Widely Used Data Set", code table): their bound is the code range,
because a value outside it is a different coding, not a bigger number.

There is no cross-field rule: none holds both in the domain and in the real file (e.g.
housing ``for free`` mostly but not always goes with ``no known property``; some applicants
with ``critical/other existing credit`` have one credit at this bank, which is what that
level says).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

# Upper bounds: every number the model sees has one, so a typo or a corrupt export (1e20,
# 1e308) is rejected by name instead of scored with false confidence. Quantities get a
# generous but finite bound from the domain; band codes get their code range. The real
# extract has duration 4-72 months, credit_amount 250-18,424 DM and age 19-75.
DURATION_MAX_MONTHS = 360  # 30 years, the longest term a bank commonly writes (a mortgage); 5x the longest here
CREDIT_AMOUNT_MAX = 1_000_000  # DM; over 50x the largest credit in the real extract, beyond any consumer credit
ADULT_AGE = 18  # a credit contract needs full legal capacity (BGB section 2)
AGE_MAX_YEARS = 120  # beyond the oldest person ever documented
BAND_CODES = (1, 4)  # installment_commitment, residence_since, existing_credits
DEPENDENTS_CODES = (1, 2)  # num_dependents

CHECKING_STATUS = ["<0", "0<=X<200", ">=200", "no checking"]
CREDIT_HISTORY = [
    "no credits/all paid",
    "all paid",
    "existing paid",
    "delayed previously",
    "critical/other existing credit",
]
PURPOSE = [
    "new car",
    "used car",
    "furniture/equipment",
    "radio/tv",
    "domestic appliance",
    "repairs",
    "education",
    "vacation",
    "retraining",
    "business",
    "other",
]
SAVINGS_STATUS = ["<100", "100<=X<500", "500<=X<1000", ">=1000", "no known savings"]
EMPLOYMENT = ["unemployed", "<1", "1<=X<4", "4<=X<7", ">=7"]
PERSONAL_STATUS = ["male div/sep", "female div/dep/mar", "male single", "male mar/wid", "female single"]
OTHER_PARTIES = ["none", "co applicant", "guarantor"]
PROPERTY_MAGNITUDE = ["real estate", "life insurance", "car", "no known property"]
OTHER_PAYMENT_PLANS = ["bank", "stores", "none"]
HOUSING = ["rent", "own", "for free"]
JOB = ["unemp/unskilled non res", "unskilled resident", "skilled", "high qualif/self emp/mgmt"]
OWN_TELEPHONE = ["none", "yes"]
FOREIGN_WORKER = ["yes", "no"]


class CreditApplication(pa.DataFrameModel):
    """One row per credit application, as the bank's extract carries it (amounts in Deutsche Mark)."""

    checking_status: Series[str] = pa.Field(isin=CHECKING_STATUS, description="Balance of the checking account (DM).")
    duration: Series[pd.Int64Dtype] = pa.Field(
        ge=1,
        le=DURATION_MAX_MONTHS,
        description=f"Term of the credit in months; at most {DURATION_MAX_MONTHS} (30 years, a mortgage's term).",
    )
    credit_history: Series[str] = pa.Field(isin=CREDIT_HISTORY)
    purpose: Series[str] = pa.Field(isin=PURPOSE)
    credit_amount: Series[pd.Int64Dtype] = pa.Field(
        ge=1,
        le=CREDIT_AMOUNT_MAX,
        description=f"Amount lent in DM; at most {CREDIT_AMOUNT_MAX:,} (over 50x the real extract's largest).",
    )
    savings_status: Series[str] = pa.Field(isin=SAVINGS_STATUS, description="Savings account or bonds (DM).")
    employment: Series[str] = pa.Field(isin=EMPLOYMENT, description="Years with the present employer.")
    installment_commitment: Series[pd.Int64Dtype] = pa.Field(
        ge=BAND_CODES[0],
        le=BAND_CODES[1],
        description="Instalment as a share of disposable income, a band code: 1 (>= 35%) to 4 (< 20%).",
    )
    personal_status: Series[str] = pa.Field(isin=PERSONAL_STATUS, description="Sex and marital status.")
    other_parties: Series[str] = pa.Field(isin=OTHER_PARTIES, description="Other debtors or guarantors.")
    residence_since: Series[pd.Int64Dtype] = pa.Field(
        ge=BAND_CODES[0],
        le=BAND_CODES[1],
        description="Years at the present residence, a band code: 1 (< 1 year) to 4 (>= 7 years).",
    )
    property_magnitude: Series[str] = pa.Field(isin=PROPERTY_MAGNITUDE, description="Most valuable property.")
    age: Series[pd.Int64Dtype] = pa.Field(
        ge=ADULT_AGE,
        le=AGE_MAX_YEARS,
        description=f"Age in years; {ADULT_AGE} (legal age to sign a credit) to {AGE_MAX_YEARS}.",
    )
    other_payment_plans: Series[str] = pa.Field(isin=OTHER_PAYMENT_PLANS, description="Other instalment plans.")
    housing: Series[str] = pa.Field(isin=HOUSING)
    existing_credits: Series[pd.Int64Dtype] = pa.Field(
        ge=BAND_CODES[0],
        le=BAND_CODES[1],
        description="Credits at this bank, a band code: 1 (one), 2 (2-3), 3 (4-5), 4 (6 or more).",
    )
    job: Series[str] = pa.Field(isin=JOB)
    num_dependents: Series[pd.Int64Dtype] = pa.Field(
        ge=DEPENDENTS_CODES[0],
        le=DEPENDENTS_CODES[1],
        description="People the applicant must support, a band code: 1 (3 or more) or 2 (0 to 2).",
    )
    own_telephone: Series[str] = pa.Field(isin=OWN_TELEPHONE, description="A telephone in the applicant's name.")
    foreign_worker: Series[str] = pa.Field(isin=FOREIGN_WORKER)

    class Config:
        strict = False  # extra columns (e.g. class) are allowed and ignored
        ordered = False
