"""Where things live: the repository, its DVC project, and the default data folder.

Use cases name their own model files (``core.use_case.ModelSource``) relative to the DVC
project (this repository unless the ``ModelStore`` resource names another); the working folders
(inbox, lake, scored, rejected) live under the data folder, which the ``ScoringFolders`` resource
takes from its setting (default: the repository's ``data/``). The settings themselves have one
home, ``scoring_assets/settings.py``: nothing here reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoring_assets.core.use_case import UseCase

REPO_ROOT = Path(__file__).resolve().parents[2]

PARAMS_FILE = "params.yaml"  # at the top of a DVC project: its stages' settings
# The instance settings every Dagster home of this project gets (not at the repository root, where
# Dagster would warn that a dagster.yaml outside DAGSTER_HOME is ignored).
INSTANCE_CONFIG_PATH = REPO_ROOT / "deploy" / "dagster.yaml"


def default_data_dir() -> Path:
    """The repository's ``data/``: the data folder when ``SCORING_DATA_DIR`` is not set."""
    return REPO_ROOT / "data"


def configured_folder(configured: str, default: Path) -> Path:
    """A folder setting's path: ``configured`` (``~`` expanded, made absolute), else ``default`` when it is empty."""
    return Path(configured).expanduser().resolve() if configured else default


def repo_relative(path: Path) -> str:
    """The POSIX path of ``path`` relative to the repository, as DVC writes it in dvc.lock."""
    return path.resolve().relative_to(REPO_ROOT).as_posix()


def held_out_path(use_case: UseCase) -> Path:
    """The test split: the rows training holds out for ``evaluate`` (and the promotion gate) and never looks at."""
    return REPO_ROOT / "data" / "training" / use_case.name / "test_split.parquet"
