"""Shared fixtures: isolated data folders and Dagster instances, models, CLI workspaces.

Helpers that are not fixtures live in ``tests/support/`` (batches, model roots, scoring runs, the CLI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.storage.defs_state.base import set_defs_state_storage

from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.settings import DATA_DIR_VARIABLE, MODEL_ROOT_VARIABLE
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import TELCO, USE_CASE_NAMES
from tests.support.cli_workspace import Workspace, new_workspace
from tests.support.model_roots import built_model, copy_dvc_project, install_new_model


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


@pytest.fixture(autouse=True)
def no_state_storage_left_by_an_earlier_test():
    """Each test starts with no "current" Dagster defs-state storage.

    A Dagster instance used as a context manager makes its defs-state storage the current one (a
    ContextVar); instances entered and left out of order (sensor and schedule contexts built on a
    test's instance) can leave a disposed instance's storage current, and a later test's
    ``Definitions.get_repository_def()`` then fails with "Attempted to resolve undefined
    DagsterInstance weakref". Resetting it per test keeps tests independent of their order.
    """
    with set_defs_state_storage(None):
        yield


@pytest.fixture(params=USE_CASE_NAMES)
def use_case(request) -> UseCase:
    """Each registered use case in turn: for behaviour every use case must have."""
    return declared_use_case(request.param)


@pytest.fixture(scope="session")
def model_artifact():
    """The DVC-built Telco model; tests that score need it (``python3 dev.py test`` builds it first)."""
    return built_model(TELCO)


@pytest.fixture
def folders(tmp_path, monkeypatch) -> ScoringFolders:
    """Working folders in a temporary SCORING_DATA_DIR, as every entry point resolves them."""
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path / "data"))
    return scoring_resources()["folders"]


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def retrained_model_root(tmp_path, model_artifact) -> Path:
    """A DVC project whose dvc.lock records a different Telco model file than the repository's."""
    root = copy_dvc_project(tmp_path / "retrained")
    install_new_model(root)
    return root


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return new_workspace(tmp_path / "workspace")
