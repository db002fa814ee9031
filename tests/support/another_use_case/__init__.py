"""A fourth use case kept outside the product, trained here on a real-shaped extract without a generator.

Gym memberships: each row is a member's account as the club's system exports it, and the score
is the probability that the membership lapses at renewal. Three files, as a team would add
them: this declaration, its contract and its features. Its model is trained by the product's
own training code on a labelled extract (no ``generate.py``) and brought in with ``dvc add``
beside this folder's ``model/``, so ``ModelSource.root`` is this folder.
``tests/test_another_use_case.py`` copies the package into a temporary folder, trains it there,
names it in ``$SCORING_USE_CASE_MODULES`` and runs the use-case-generic tests against it. Imports
are relative, so the copy can be named anything.
"""

from pathlib import Path

from scoring_assets.core.use_case import Label, ModelSource, UseCase

from .contract import MemberAccount
from .features import FEATURES

USE_CASE = UseCase(
    name="membership_lapse",
    title="Gym membership lapse: lapse_score is the probability that the membership lapses (lapsed = Yes).",
    contract=MemberAccount,
    features=FEATURES,
    model=ModelSource(
        model_path="model/model.joblib",
        card_path="model/model_card.json",
        profile_path="model/reference_profile.json",
        root=Path(__file__).resolve().parent,
    ),
    score_column="lapse_score",
    id_column="member_id",
    scored_id_column="member_id",
    label=Label("lapsed", positive="Yes", negative="No"),
    blank_allowed={"last_visit_days": "the member has never visited"},
)
