"""Shared fixtures: isolated data folders and Dagster instances, and batches built from the generator."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from scoring_assets.model_store import ModelIntegrityError, verify_artifact
from scoring_assets.paths import REPO_ROOT
from scoring_assets.resources import ScoringFolders
from scoring_assets.runs import execute_score_run, register_file
from scoring_assets.training.generate import generate_extract

REAL_EXTRACT = REPO_ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"


@pytest.fixture(scope="session")
def model_artifact():
    """The DVC-built model; tests that score need it (``python3 dev.py test`` builds it first)."""
    try:
        return verify_artifact()
    except ModelIntegrityError as error:
        pytest.fail(f"the model is not built or does not match dvc.lock ({error}); run `python3 dev.py test`")


@pytest.fixture
def folders(tmp_path, monkeypatch) -> ScoringFolders:
    """Working folders in a temporary SCORING_DATA_DIR, as every entry point resolves them."""
    monkeypatch.setenv("SCORING_DATA_DIR", str(tmp_path / "data"))
    return ScoringFolders()


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def customer_rows(n_rows: int = 200, seed: int = 11, labelled: bool = False) -> pd.DataFrame:
    """Valid customer rows as text, the way a CSV carries them."""
    return generate_extract(n_rows, seed, labelled=labelled).astype(str)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def score_file(
    instance, folders: ScoringFolders, path: Path, validation: dict | None = None, scoring: dict | None = None
):
    """Register ``path`` and run the real score_file job for it, as the CLI does."""
    registration = register_file(instance, folders, path)
    run_config = {"ops": {"validated_batch": {"config": validation or {}}, "scores": {"config": scoring or {}}}}
    return registration, execute_score_run(instance, registration.partition_key, run_config)
