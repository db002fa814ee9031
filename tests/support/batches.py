"""Batches for tests: valid rows of each shipped use case from its generator, and the real public extracts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from scoring_assets.use_cases import use_case as declared_use_case
from scoring_assets.use_cases.credit_risk import generate as credit_risk_generate
from scoring_assets.use_cases.telco_churn import generate as telco_churn_generate

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # present beside a developer's checkout; tests skip without it
REAL_EXTRACT = SHARED_DATA / "telco_customer_churn.csv"
REAL_EXTRACTS = {
    "telco_churn": SHARED_DATA / "telco_customer_churn.csv",
    "credit_risk": SHARED_DATA / "german_credit.csv",
}
# The use cases shipped with DVC stages; generic behaviour is tested on each of them.
SHIPPED_USE_CASES = ("telco_churn", "credit_risk")
GENERATORS = {
    "telco_churn": telco_churn_generate.generate_extract,
    "credit_risk": credit_risk_generate.generate_extract,
}

TELCO = declared_use_case("telco_churn")
CREDIT_RISK = declared_use_case("credit_risk")


def customer_rows(n_rows: int = 200, seed: int = 11, labelled: bool = False) -> pd.DataFrame:
    """Valid Telco customer rows as text, the way a CSV carries them."""
    return valid_rows(TELCO, n_rows, seed, labelled)


def valid_rows(use_case: UseCase, n_rows: int = 200, seed: int = 11, labelled: bool = False) -> pd.DataFrame:
    """Valid rows of ``use_case`` as text, the way its CSV carries them (header spelling included)."""
    return GENERATORS[use_case.name](n_rows, seed, labelled=labelled).astype(str)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
