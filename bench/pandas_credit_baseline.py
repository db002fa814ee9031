"""The alternative for credit_risk: one whole-file pandas script, as a data engineer would write it.

    python bench/pandas_credit_baseline.py INPUT.csv OUTPUT.csv MODEL.joblib

The credit equivalent of bench/pandas_baseline.py: reads the whole CSV with ``pandas.read_csv``,
trims the header's names (the extract spells two of them with a leading space), checks the
required columns, that none is blank and the basic ranges (a term of at least one month, a
positive amount, an adult applicant), derives the model's one engineered column (the monthly
amount, credit_amount / duration, as scoring_assets/use_cases/credit_risk/features.py does),
calls ``predict_proba`` of the same joblib model on the numbers as float64 and the categories as
text, and writes the five output columns with ``DataFrame.to_csv``. No per-row reject report, no
value-set check, no lineage, no integrity check: what people write when they do not use this
project. Standalone (no imports from scoring_assets; unpickling the model imports its
``CategoryCodes`` step, as it would for anyone loading it).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import joblib
import numpy as np
import pandas as pd

NUMERIC = ["duration", "credit_amount", "installment_commitment", "residence_since", "age", "existing_credits",
           "num_dependents"]  # fmt: skip
CATEGORICAL = [
    "checking_status", "credit_history", "purpose", "savings_status", "employment", "personal_status",
    "other_parties", "property_magnitude", "other_payment_plans", "housing", "job", "own_telephone", "foreign_worker",
]  # fmt: skip


def main(source: str, target: str, model_path: str) -> None:
    frame = pd.read_csv(source)
    frame.columns = frame.columns.str.strip()
    missing = [column for column in NUMERIC + CATEGORICAL if column not in frame.columns]
    if missing:
        sys.exit(f"missing columns: {missing}")
    if frame[NUMERIC + CATEGORICAL].isna().any().any():
        sys.exit("blank values in required columns")
    if (frame["duration"] < 1).any() or (frame["credit_amount"] < 1).any() or (frame["age"] < 18).any():
        sys.exit("duration or credit_amount below 1, or age below 18")
    features = frame[NUMERIC].astype("float64")
    features["monthly_amount"] = features["credit_amount"] / features["duration"]
    for column in CATEGORICAL:
        features[column] = frame[column].astype(str)
    model = joblib.load(model_path)
    scores = model.predict_proba(features)[:, 1]
    threshold = 0.5
    output = pd.DataFrame(
        {
            "row_number": np.arange(1, len(frame) + 1),
            "risk_score": scores,
            "predicted_label": (scores >= threshold).astype(int),
            "model_version": "credit_model",
            "scoring_timestamp": datetime.now(UTC).isoformat(),
        }
    )
    output.to_csv(target, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
