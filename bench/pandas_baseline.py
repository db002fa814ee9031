"""The alternative: one whole-file pandas script, in the shape of the common reference design.

    python bench/pandas_baseline.py INPUT.csv OUTPUT.csv MODEL.joblib

Reads the whole CSV with ``pandas.read_csv``, checks the required columns and basic ranges,
coerces TotalCharges, derives the model's two engineered columns, calls ``predict_proba`` of
the same joblib model and writes the five output columns with ``DataFrame.to_csv``. No
per-row reject report, no lineage, no integrity check: what people write when they do not
use this project. It is deliberately standalone (no imports from scoring_assets).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import joblib
import numpy as np
import pandas as pd

REQUIRED = [
    "customerID", "gender", "SeniorCitizen", "Partner", "Dependents", "tenure", "PhoneService",
    "MultipleLines", "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection",
    "TechSupport", "StreamingTV", "StreamingMovies", "Contract", "PaperlessBilling",
    "PaymentMethod", "MonthlyCharges", "TotalCharges",
]  # fmt: skip
ADDONS = ["OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies"]


def main(source: str, target: str, model_path: str) -> None:
    frame = pd.read_csv(source)
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        sys.exit(f"missing columns: {missing}")
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce").fillna(0.0)
    if (frame["tenure"] < 0).any() or (frame["MonthlyCharges"] < 0).any():
        sys.exit("negative tenure or MonthlyCharges")
    tenure = frame["tenure"].astype(float)
    frame["average_monthly_charges"] = np.where(
        tenure > 0, frame["TotalCharges"] / tenure.clip(lower=1), frame["MonthlyCharges"]
    )
    frame["addon_service_count"] = sum((frame[column] == "Yes").astype(float) for column in ADDONS)
    for column in ("SeniorCitizen", "tenure", "MonthlyCharges"):
        frame[column] = frame[column].astype(float)
    model = joblib.load(model_path)
    scores = model.predict_proba(frame)[:, 1]
    threshold = 0.5
    output = pd.DataFrame(
        {
            "customer_id": frame["customerID"],
            "churn_score": scores,
            "predicted_label": (scores >= threshold).astype(int),
            "model_version": "churn_model",
            "scoring_timestamp": datetime.now(UTC).isoformat(),
        }
    )
    output.to_csv(target, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
