"""Model training as DVC stages: generate -> train -> evaluate.

Each stage is a module run as ``python -m scoring_assets.training.<stage>``; this package
holds only what all of them share: their configuration (``params.yaml``, the one home of
training settings) and the all-or-nothing way they write outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and move it into place only if the block succeeds.

    Readers (a Dagster sensor, DVC, a person) never see a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # created by the writer, so umask applies
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
