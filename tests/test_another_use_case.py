"""Adding a use case keeps the suite green: the use-case-generic tests pass for a fourth one.

The fourth use case (``tests/support/another_use_case``: declaration, contract, features) is
copied into a temporary folder outside the repository, its model trained there by the
product's own training code on a small real-shaped extract (yes/no flags, categories, an
0/1 code, blanks in a whole-number column, a couple of broken rows) with no generator, and brought in with a
``<file>.dvc`` beside each file. Then the shipped tests that are written for "every use case"
run in a fresh pytest with the use case named in ``$SCORING_USE_CASE_MODULES``: they take the
use cases from the registry and the rows of this one from its training extract, and must pass
for it without a line of them changing and with the graph snapshot left as it is.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring_assets.core.model_store import verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.serving import serving_path
from scoring_assets.training.train import TrainingOutputs, train_model
from scoring_assets.use_cases import EXTRA_MODULES_VARIABLE
from tests.support.model_roots import dvc_add

pytestmark = pytest.mark.e2e  # trains a model and runs a second pytest: `pytest -m 'not e2e'` leaves it out

TEMPLATE = Path(__file__).parent / "support" / "another_use_case"
MODULE = "another_use_case"  # the copy's importable name
EXTRACT_ROWS = 600
BROKEN_ROWS = {7: ("tenure_months", "-3"), 311: ("plan", "gold")}  # what a real export carries: a few bad rows
TRAIN_PARAMS = {  # a params.yaml <use case>.train section, as the DVC stage would read it
    "seed": 42,
    "validation_fraction": 0.2,
    "test_fraction": 0.2,
    "cv_folds": 5,
    "max_rejected_fraction": 0.01,
    "logistic_regression": {"C": 1.0, "max_iter": 2000},
    "hist_gradient_boosting": {
        "learning_rate": 0.05,
        "max_iter": 100,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
    },
}
# The tests written for every registered use case (each parametrized over the registry, or
# iterating it): with the fourth one registered, each runs for it too (and for the shipped
# ones beside it). Left out: scenarios about one shipped table, DVC's own pipeline and the
# daemon (marker e2e), and the files whose generic tests mostly swap the model in a copy of the
# deployment's DVC project, which a use case with its own model root skips (copy_dvc_project).
GENERIC_TEST_FILES = (
    "tests/test_asset_checks.py",
    "tests/test_asset_graph.py",
    "tests/test_contract.py",
    "tests/test_features.py",
    "tests/test_file_story.py",
    "tests/test_input_csv.py",
    "tests/test_layers.py",
    "tests/test_model_store.py",
    "tests/test_passthrough.py",
    "tests/test_scoring_job.py",
)


def member_export(n_rows: int, seed: int) -> pd.DataFrame:
    """A labelled member export as text, shaped like a real one: lapses follow fee, absence and autopay."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], n_rows, p=[0.5, 0.35, 0.15])
    fee = np.select([plan == "basic", plan == "standard"], [19.0, 35.0], 59.0) + rng.normal(0, 3, n_rows).round(2)
    autopay = rng.choice(["Yes", "No"], n_rows, p=[0.6, 0.4])
    tenure = rng.integers(0, 97, n_rows)
    last_visit = rng.exponential(30, n_rows).astype(int)
    never = rng.uniform(size=n_rows) < 0.06
    odds = -1.5 + fee / 40 + np.where(never, 1.5, last_visit / 40) + (autopay == "No") - tenure / 48
    rows = pd.DataFrame(
        {
            "member_id": [f"M{100_000 + i}" for i in range(n_rows)],
            "plan": plan,
            "schedule": rng.choice(["monthly", "quarterly", "annual"], n_rows, p=[0.7, 0.2, 0.1]),
            "autopay": autopay,
            "region": rng.choice(["north", "south", "east", "west"], n_rows),
            "student": rng.choice(["0", "1"], n_rows, p=[0.85, 0.15]),
            "tenure_months": tenure.astype(str),
            "monthly_fee": [f"{value:.2f}" for value in fee],
            "last_visit_days": np.where(never, "", last_visit.astype(str)),
            "lapsed": np.where(rng.uniform(size=n_rows) < 1 / (1 + np.exp(-odds)), "Yes", "No"),
        }
    )
    for row, (column, value) in BROKEN_ROWS.items():
        rows.loc[row, column] = value
    return rows


def forget_modules() -> None:
    for name in [name for name in sys.modules if name == MODULE or name.startswith(f"{MODULE}.")]:
        del sys.modules[name]


def train_and_bring_in(site: Path, extract: Path):
    """Train the use case in ``site`` on ``extract`` with the product's training code; ``dvc add`` what it serves."""
    sys.path.insert(0, str(site))
    try:
        use_case = importlib.import_module(MODULE).USE_CASE
        package = site / MODULE
        outputs = TrainingOutputs(
            model=package / use_case.model.model_path,
            test_split=site / "training" / "test_split.parquet",
            card=package / use_case.model.card_path,
            profile=package / use_case.model.profile_path,
            serving=package / serving_path(use_case.model.model_path),
        )
        train_model(use_case, extract, TRAIN_PARAMS, outputs)
        for served in (outputs.model, outputs.card, outputs.profile, outputs.serving):
            dvc_add(served)
        return verify_artifact(use_case)
    finally:
        sys.path.remove(str(site))
        forget_modules()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A PYTHONPATH folder holding the use case's package, its trained model and the extract it learned from."""
    site = tmp_path_factory.mktemp("another_site")
    shutil.copytree(TEMPLATE, site / MODULE, ignore=shutil.ignore_patterns("__pycache__"))
    extract = site / "extracts" / "members.csv"
    extract.parent.mkdir()
    member_export(EXTRACT_ROWS, seed=24).to_csv(extract, index=False)
    artifact = train_and_bring_in(site, extract)
    assert artifact.card["training_data"]["rows_rejected"] == len(BROKEN_ROWS)
    return site


def run_pytest(site: Path, *args: str) -> subprocess.CompletedProcess:
    """A fresh pytest in the repository with the fourth use case registered through the environment only."""
    env = {key: value for key, value in os.environ.items() if key not in ("SCORING_DATA_DIR", "UPDATE_SNAPSHOTS")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    env[EXTRA_MODULES_VARIABLE] = MODULE
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_use_case_generic_tests_pass_for_a_fourth_use_case_trained_without_a_generator(site):
    result = run_pytest(site, "-m", "not e2e", "-q", "-rfEps", *GENERIC_TEST_FILES)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED ")]
    assert len([line for line in passed if "[membership_lapse" in line]) >= 60, "the fourth use case was exercised"
    assert "PASSED tests/test_asset_graph.py::test_asset_graph_matches_the_reviewed_snapshot" in passed
