"""German credit risk: credit applications, scored with the probability that the credit goes bad.

The public UCI Statlog (German Credit) extract has no id column, so rows are identified by
their row number in the file; its label is ``class`` (good / bad), and ``bad`` is the class a
risk score is about. The contract has no cross-field rule (see its module docstring for why).
"""

from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import Label, ModelSource, PromotionPolicy, Segment, UseCase
from scoring_assets.use_cases.credit_risk.contract import CreditApplication
from scoring_assets.use_cases.credit_risk.features import FEATURES
from scoring_assets.use_cases.credit_risk.reasons import REASONS

USE_CASE = UseCase(
    name="credit_risk",
    title="German credit risk: risk_score is the probability that the credit goes bad (class = bad).",
    contract=CreditApplication,
    features=FEATURES,
    model=ModelSource(
        model_path="data/models/credit_risk/model.joblib",
        card_path="data/models/credit_risk/model_card.json",
        metrics_path="data/metrics/credit_risk/metrics.json",
        profile_path="data/models/credit_risk/reference_profile.json",
    ),
    score_column="risk_score",
    id_column=None,
    scored_id_column=ROW_NUMBER,
    label=Label("class", positive="bad", negative="good"),
    cross_field_rules={},
    blank_allowed={},
    passthrough=(),
    promotion=PromotionPolicy(segment=Segment("age", cut=25)),  # young applicants vs the rest
    reasons=REASONS,  # reasons.py: at most four, never a prohibited basis
)
