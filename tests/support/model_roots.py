"""DVC projects for tests: copies of the repository's model files that a test may change or replace."""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml

from scoring_assets.core.files import atomic_path, file_md5, write_text_atomically
from scoring_assets.core.model_store import ModelIntegrityError, verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from tests.support.batches import TELCO


def built_model(use_case: UseCase):
    """The repository's DVC-built model of ``use_case``, verified; fails the test if it is not built."""
    try:
        return verify_artifact(use_case)  # its own DVC project, else the repository
    except ModelIntegrityError as error:
        pytest.fail(
            f"the {use_case.name} model is not built or does not match DVC ({error}); run `python3 dev.py test`"
        )


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
