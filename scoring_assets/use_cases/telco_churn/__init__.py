"""Telco customer churn: the IBM Telco extract, scored with the probability that a customer leaves."""

from scoring_assets.core.use_case import Label, ModelSource, PromotionPolicy, Segment, UseCase
from scoring_assets.use_cases.telco_churn.contract import CROSS_FIELD_RULES, CustomerBatch
from scoring_assets.use_cases.telco_churn.features import FEATURES
from scoring_assets.use_cases.telco_churn.reasons import REASONS

USE_CASE = UseCase(
    name="telco_churn",
    title="Telco customer churn: churn_score is the probability that the customer leaves (Churn = Yes).",
    contract=CustomerBatch,
    features=FEATURES,
    model=ModelSource(
        model_path="data/models/telco_churn/model.joblib",
        card_path="data/models/telco_churn/model_card.json",
        metrics_path="data/metrics/telco_churn/metrics.json",
        profile_path="data/models/telco_churn/reference_profile.json",
    ),
    score_column="churn_score",
    id_column="customerID",
    scored_id_column="customer_id",
    label=Label("Churn", positive="Yes", negative="No"),
    cross_field_rules=CROSS_FIELD_RULES,
    blank_allowed={"TotalCharges": "only when tenure is 0 (read as 0)"},
    promotion=PromotionPolicy(segment=Segment("SeniorCitizen")),
    reasons=REASONS,  # reasons.py: the three inputs that raised the churn score most
)
