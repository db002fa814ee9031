"""Model training as DVC stages: generate -> train -> evaluate.

Each stage is a module run as ``python -m scoring_assets.training.<stage>``; this package
holds only what all of them share: their configuration (``params.yaml``, the one home of
training settings). Outputs are written all-or-nothing with ``scoring_assets.files``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scoring_assets.paths import PARAMS_PATH, REPO_ROOT

TEST_SPLIT_PATH = REPO_ROOT / "data" / "training" / "test_split.parquet"


def load_params(section: str) -> dict[str, Any]:
    """One stage's section of ``params.yaml``."""
    params = yaml.safe_load(PARAMS_PATH.read_text(encoding="utf-8")) or {}
    if section not in params:
        raise KeyError(f"{PARAMS_PATH} has no '{section}' section")
    return params[section]


def repo_path(configured: str | Path) -> Path:
    """A path from ``params.yaml``: relative ones are from the repository root, where DVC runs the stages."""
    path = Path(configured).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path
