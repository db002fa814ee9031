"""Where things live: the repository's DVC-tracked artifacts and the scoring data folders.

The model artifacts are DVC outputs inside the repository; the working folders (inbox, lake,
scored, rejected) live under ``SCORING_DATA_DIR`` so a deployment can point them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

PARAMS_PATH = REPO_ROOT / "params.yaml"
# The instance settings every Dagster home of this project gets (not at the repository root, where
# Dagster would warn that a dagster.yaml outside DAGSTER_HOME is ignored).
INSTANCE_CONFIG_PATH = REPO_ROOT / "deploy" / "dagster.yaml"
DVC_LOCK_PATH = REPO_ROOT / "dvc.lock"
MODEL_DIR = REPO_ROOT / "data" / "model"
MODEL_PATH = MODEL_DIR / "churn_model.joblib"
MODEL_CARD_PATH = MODEL_DIR / "model_card.json"
METRICS_PATH = REPO_ROOT / "data" / "metrics" / "metrics.json"


def data_dir() -> Path:
    """The root of the working folders: ``$SCORING_DATA_DIR`` or the repository's ``data/``."""
    configured = os.environ.get("SCORING_DATA_DIR")
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT / "data"


def model_root() -> Path:
    """The DVC project holding ``dvc.lock`` and ``data/model/``: ``$SCORING_MODEL_ROOT`` or this repository.

    Set it when the package is installed away from its repository (or to try another model).
    """
    configured = os.environ.get("SCORING_MODEL_ROOT")
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT


def repo_relative(path: Path) -> str:
    """The POSIX path of ``path`` relative to the repository, as DVC writes it in dvc.lock."""
    return path.resolve().relative_to(REPO_ROOT).as_posix()
