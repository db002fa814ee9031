"""A toy use case kept outside the product: what a team adds to score a third table.

Three files and nothing else: this declaration, its contract and its features, plus the
``params.yaml`` a challenger's training reads (this folder is the toy's DVC project, and a DVC
project keeps its settings at its top); the model and its card are brought in beside them with
``dvc add`` (a ``<file>.dvc`` beside each), so ``ModelSource.root`` is this folder.
``tests/test_toy_use_case.py`` copies the package into a temporary folder, puts it on
``PYTHONPATH`` and names it in ``$SCORING_USE_CASE_MODULES``; nothing in ``scoring_assets``
changes for it. Imports are relative, so the copy can be named anything.
"""

from pathlib import Path

from scoring_assets.core.use_case import Label, ModelSource, UseCase

from .contract import AccountBatch
from .features import FEATURES

USE_CASE = UseCase(
    name="toy_default",
    title="Toy account default: default_score is the probability that the account defaults (defaulted = yes).",
    contract=AccountBatch,
    features=FEATURES,
    model=ModelSource(
        model_path="model/model.joblib",
        card_path="model/model_card.json",
        root=Path(__file__).resolve().parent,
    ),
    score_column="default_score",
    id_column="account",
    scored_id_column="account_id",
    label=Label("defaulted", positive="yes", negative="no"),
)
