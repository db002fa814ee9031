"""Why an application scored as it did: the principal reasons US Regulation B asks a creditor to give.

One text per model input, in the words of an adverse action notice, phrased for any value that
pushes the risk score up (the model's sign decides which values do). At most four reasons: the
Regulation's commentary says more than four is not likely to help the applicant. Age, personal
status (which here mixes sex and marital status) and foreign-worker status are prohibited bases
under Regulation B and are never given as a reason. That the model uses them at all is a
compliance question reason codes cannot answer (docs/use-cases.md, "Reason codes").
"""

from scoring_assets.core.use_case import Reasons
from scoring_assets.use_cases.credit_risk.features import MONTHLY_AMOUNT

REASONS = Reasons(
    texts={
        "duration": "Length of the credit term requested",
        "credit_amount": "Amount of credit requested",
        "installment_commitment": "Instalments too high in relation to disposable income",
        "residence_since": "Length of residence at the present address",
        "existing_credits": "Number of existing credits at this bank",
        "num_dependents": "Number of dependants",
        MONTHLY_AMOUNT: "Amount to repay per month",
        "checking_status": "No or negative checking account balance",
        "credit_history": "Credit history",
        "purpose": "Purpose of the credit",
        "savings_status": "Insufficient savings",
        "employment": "Length of present employment",
        "other_parties": "No guarantor for the credit",
        "property_magnitude": "Insufficient property or collateral",
        "other_payment_plans": "Other instalment plans in progress",
        "housing": "Housing situation",
        "job": "Type of employment",
        "own_telephone": "No telephone registered",
    },
    max_reasons=4,
    never_reasons=("personal_status", "age", "foreign_worker"),
    derived_from={MONTHLY_AMOUNT: ("credit_amount", "duration")},
    only_never_text="No principal reason among the factors that may be given: refer for review",
)
