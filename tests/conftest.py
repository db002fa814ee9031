"""Shared fixtures: isolated data folders and Dagster instances, and batches built from the generator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance, EnvVar

from scoring_assets.builders.resources import InboxSettings, ModelStore, ScoringFolders
from scoring_assets.core.files import atomic_path, file_md5, write_text_atomically
from scoring_assets.core.model_store import ModelIntegrityError, verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.resources import DATA_DIR_VARIABLE, MODEL_ROOT_VARIABLE, scoring_resources
from scoring_assets.runs import execute_score_run, register_file
from scoring_assets.use_cases import use_case as declared_use_case
from scoring_assets.use_cases.credit_risk import generate as credit_risk_generate
from scoring_assets.use_cases.telco_churn import generate as telco_churn_generate

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_EXTRACT = SHARED_DATA / "telco_customer_churn.csv"
REAL_EXTRACTS = {
    "telco_churn": SHARED_DATA / "telco_customer_churn.csv",
    "credit_risk": SHARED_DATA / "german_credit.csv",
}
CONSOLE_SCRIPT = Path(sys.executable).with_name("scoring-assets")
# The use cases shipped with DVC stages; generic behaviour is tested on each of them.
SHIPPED_USE_CASES = ("telco_churn", "credit_risk")
GENERATORS = {
    "telco_churn": telco_churn_generate.generate_extract,
    "credit_risk": credit_risk_generate.generate_extract,
}

TELCO = declared_use_case("telco_churn")
CREDIT_RISK = declared_use_case("credit_risk")


@pytest.fixture(autouse=True, scope="session")
def data_folder_outside_the_repository(tmp_path_factory):
    """No test writes into the repository's data/: a session-wide SCORING_DATA_DIR (tests may set their own).

    SCORING_MODEL_ROOT is set too (to the repository, the default), so the model store is an EnvVar
    setting that a test may point elsewhere with ``monkeypatch.setenv`` and back.
    """
    settings = {DATA_DIR_VARIABLE: str(tmp_path_factory.mktemp("session_data")), MODEL_ROOT_VARIABLE: str(REPO_ROOT)}
    previous = {variable: os.environ.get(variable) for variable in settings}
    os.environ.update(settings)
    yield
    for variable, value in previous.items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value


def sensor_resources(folders: ScoringFolders, settle_seconds: float = 5.0) -> dict:
    """The resources a sensor evaluated in a test gets: these folders, the model store the environment names."""
    return {
        "folders": folders,
        "inbox_settings": InboxSettings(settle_seconds=settle_seconds),
        "model_store": ModelStore(root=EnvVar(MODEL_ROOT_VARIABLE)),
    }


@pytest.fixture(params=SHIPPED_USE_CASES)
def use_case(request) -> UseCase:
    """Each shipped use case in turn: for behaviour every use case must have."""
    return declared_use_case(request.param)


@pytest.fixture(scope="session")
def model_artifact():
    """The DVC-built Telco model; tests that score need it (``python3 dev.py test`` builds it first)."""
    return built_model(TELCO)


def built_model(use_case: UseCase):
    try:
        return verify_artifact(use_case)
    except ModelIntegrityError as error:
        pytest.fail(
            f"the {use_case.name} model is not built or does not match DVC ({error}); run `python3 dev.py test`"
        )


@pytest.fixture
def folders(tmp_path, monkeypatch) -> ScoringFolders:
    """Working folders in a temporary SCORING_DATA_DIR, as every entry point resolves them."""
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path / "data"))
    return scoring_resources()["folders"]


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


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


def run_config(use_case: UseCase, validation: dict | None = None, scoring: dict | None = None, raw: dict | None = None):
    """The score_file job's run config, keyed by the use case's op names."""
    name = use_case.name
    return {
        "ops": {
            f"{name}__raw_batch": {"config": raw or {}},
            f"{name}__validated_batch": {"config": validation or {}},
            f"{name}__score_and_publish": {"config": scoring or {}},
        }
    }


def score_file(
    instance,
    folders: ScoringFolders,
    path: Path,
    validation: dict | None = None,
    scoring: dict | None = None,
    use_case: UseCase = TELCO,
    raw: dict | None = None,
):
    """Register ``path`` and run the use case's real score_file job for it, as the CLI does."""
    registration = register_file(instance, use_case, folders.of(use_case.name), path)
    config = run_config(use_case, validation, scoring, raw)
    return registration, execute_score_run(instance, use_case, registration.partition_key, config)


def copy_dvc_project(root: Path, use_case: UseCase = TELCO) -> Path:
    """Copy dvc.lock and the use case's model, card, reference profile and metrics under ``root``: safe to change."""
    source = use_case.model
    for relative in ("dvc.lock", source.model_path, source.card_path, source.metrics_path, source.profile_path):
        if relative is None:
            continue
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, root / relative)
    return root


def install_new_model(root: Path, use_case: UseCase = TELCO, alter=None) -> str:
    """Replace the model under ``root`` by another artifact and record it in dvc.lock; returns its md5.

    The same Pipeline pickled with compression: other bytes, other md5, same predictions;
    what `dvc repro` on new data or `dvc pull` of a new model looks like to the code location.
    ``alter(pipeline)``, if given, changes the Pipeline first (a model DVC vouches for but its card does not fit).
    """
    model_path = use_case.model.model_path
    pipeline = joblib.load(root / model_path)
    if alter is not None:
        alter(pipeline)
    with atomic_path(root / model_path) as temporary:
        joblib.dump(pipeline, temporary, compress=3)
    md5 = file_md5(root / model_path)
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == model_path:
                out["md5"] = md5
    write_text_atomically(root / "dvc.lock", yaml.safe_dump(lock, sort_keys=False))
    return md5


def with_classes(*classes):
    """An ``alter`` for ``install_new_model``: the Pipeline's classifier says its classes are ``classes``."""

    def alter(pipeline) -> None:
        pipeline.steps[-1][1].classes_ = np.array(classes)

    return alter


@pytest.fixture
def retrained_model_root(tmp_path, model_artifact) -> Path:
    """A DVC project whose dvc.lock records a different Telco model file than the repository's."""
    root = copy_dvc_project(tmp_path / "retrained")
    install_new_model(root)
    return root


@dataclass
class Workspace:
    """A scratch folder to run the CLI in, with its own data folders and Dagster instance."""

    cwd: Path
    data_dir: Path
    dagster_home: Path

    def run(self, *args: str, console_script: bool = False, model_root: Path | None = None, timeout: float = 600):
        command = [str(CONSOLE_SCRIPT)] if console_script else [sys.executable, "-m", "scoring_assets"]
        env = {key: value for key, value in os.environ.items() if key != "SCORING_MODEL_ROOT"}
        env.update(SCORING_DATA_DIR=str(self.data_dir), DAGSTER_HOME=str(self.dagster_home))
        if model_root is not None:
            env["SCORING_MODEL_ROOT"] = str(model_root)
        return subprocess.run(
            [*command, *args], cwd=self.cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def scored_files(self, use_case: UseCase = TELCO) -> list[Path]:
        return sorted((self.data_dir / "scored" / use_case.name).glob("*"))


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
