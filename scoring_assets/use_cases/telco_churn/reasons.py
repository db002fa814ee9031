"""Why a customer scored as likely to leave: the three inputs that raised the churn score most.

For a retention team, one text per model input, phrased for any value that pushes the churn
score up (the model's sign decides which values do). The engineered inputs name the contract
columns they are built from, so ``reason_N_input`` points at columns the team can look up.
"""

from scoring_assets.core.use_case import Reasons
from scoring_assets.use_cases.telco_churn.contract import INTERNET_ADDON_COLUMNS

REASONS = Reasons(
    texts={
        "SeniorCitizen": "Senior citizen",
        "tenure": "Time as a customer",
        "MonthlyCharges": "Current monthly charge",
        "TotalCharges": "Total billed so far",
        "average_monthly_charges": "Average paid per month so far",
        "addon_service_count": "Number of internet add-on services taken",
        "gender": "Gender",
        "Partner": "No partner on the account",
        "Dependents": "No dependents on the account",
        "PhoneService": "No phone service",
        "MultipleLines": "No multiple lines",
        "InternetService": "Type of internet service (fiber optic churns most)",
        "OnlineSecurity": "No online security service",
        "OnlineBackup": "Online backup",
        "DeviceProtection": "Device protection",
        "TechSupport": "No tech support service",
        "StreamingTV": "Streaming TV",
        "StreamingMovies": "Streaming movies",
        "Contract": "Month-to-month or short contract",
        "PaperlessBilling": "Paperless billing",
        "PaymentMethod": "Payment method (electronic check churns most)",
    },
    max_reasons=3,
    derived_from={
        "average_monthly_charges": ("TotalCharges", "tenure", "MonthlyCharges"),
        "addon_service_count": tuple(INTERNET_ADDON_COLUMNS),
    },
)
