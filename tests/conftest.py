"""Shared fixtures: isolated data folders and Dagster instances, and batches built from the generator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import joblib
import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance

from scoring_assets.files import atomic_path, file_md5, write_text_atomically
from scoring_assets.model_store import CARD_RELATIVE_PATH, MODEL_RELATIVE_PATH, ModelIntegrityError, verify_artifact
from scoring_assets.paths import REPO_ROOT
from scoring_assets.resources import ScoringFolders
from scoring_assets.runs import execute_score_run, register_file
from scoring_assets.training.generate import generate_extract

REAL_EXTRACT = REPO_ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"
CONSOLE_SCRIPT = Path(sys.executable).with_name("scoring-assets")


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
    run_config = {
        "ops": {"validated_batch": {"config": validation or {}}, "score_and_publish": {"config": scoring or {}}}
    }
    return registration, execute_score_run(instance, registration.partition_key, run_config)


def copy_dvc_project(root: Path) -> Path:
    """Copy dvc.lock, the model, its card and metrics under ``root``: a model root safe to change."""
    for relative in ("dvc.lock", MODEL_RELATIVE_PATH, CARD_RELATIVE_PATH, "data/metrics/metrics.json"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, root / relative)
    return root


def install_new_model(root: Path) -> str:
    """Replace the model under ``root`` by another artifact and record it in dvc.lock; returns its md5.

    The same Pipeline pickled with compression: other bytes, other md5, same predictions;
    what `dvc repro` on new data or `dvc pull` of a new model looks like to the code location.
    """
    pipeline = joblib.load(root / MODEL_RELATIVE_PATH)
    with atomic_path(root / MODEL_RELATIVE_PATH) as temporary:
        joblib.dump(pipeline, temporary, compress=3)
    md5 = file_md5(root / MODEL_RELATIVE_PATH)
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == MODEL_RELATIVE_PATH:
                out["md5"] = md5
    write_text_atomically(root / "dvc.lock", yaml.safe_dump(lock, sort_keys=False))
    return md5


@pytest.fixture
def retrained_model_root(tmp_path, model_artifact) -> Path:
    """A DVC project whose dvc.lock records a different model file than the repository's."""
    root = copy_dvc_project(tmp_path / "retrained")
    install_new_model(root)
    return root


@dataclass
class Workspace:
    """A scratch folder to run the CLI in, with its own data folders and Dagster instance."""

    cwd: Path
    data_dir: Path
    dagster_home: Path

    def run(self, *args: str, console_script: bool = False, model_root: Path | None = None):
        command = [str(CONSOLE_SCRIPT)] if console_script else [sys.executable, "-m", "scoring_assets"]
        env = {key: value for key, value in os.environ.items() if key != "SCORING_MODEL_ROOT"}
        env.update(SCORING_DATA_DIR=str(self.data_dir), DAGSTER_HOME=str(self.dagster_home))
        if model_root is not None:
            env["SCORING_MODEL_ROOT"] = str(model_root)
        return subprocess.run(
            [*command, *args], cwd=self.cwd, env=env, capture_output=True, text=True, timeout=600, check=False
        )

    def scored_files(self) -> list[Path]:
        return sorted((self.data_dir / "scored").glob("*"))


def new_workspace(root: Path) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    return Workspace(cwd=root, data_dir=root / "scoring_data", dagster_home=root / "dagster_home")


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return new_workspace(tmp_path / "workspace")


def reported(stdout: str) -> dict[str, str]:
    """``scored: PATH (...)`` lines of the CLI's stdout as {"scored": "PATH (...)", ...}."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def reported_path(stdout: str, label: str) -> Path:
    return Path(reported(stdout)[label].split(" (")[0].split(", see ")[-1])


def reported_run_id(stdout: str) -> str:
    return reported(stdout)["run"].split(" ")[0]
