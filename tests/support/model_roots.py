"""DVC projects for tests: copies of the repository's model files that a test may change or replace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml

from scoring_assets.core.dvc_cache import add_file
from scoring_assets.core.files import atomic_path, file_md5, write_text_atomically
from scoring_assets.core.model_lifecycle import ModelFiles, record_gate_verdict, register_challenger
from scoring_assets.core.model_store import ModelIntegrityError, verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.serving import LINEAR_LOGISTIC, SERVING_FILE, LinearForm, serving_path
from scoring_assets.core.use_case import UseCase
from scoring_assets.training.serving_export import linear_form_of, serving_text
from tests.support.batches import TELCO

DVC = REPO_ROOT / ".venv-dvc" / "bin" / "dvc"


def dvc_add(path: Path) -> str:
    """What ``dvc add`` leaves beside a file: ``<file>.dvc`` recording its md5 and size; returns the md5."""
    md5 = file_md5(path)
    out = {"md5": md5, "size": path.stat().st_size, "hash": "md5", "path": path.name}
    path.with_name(f"{path.name}.dvc").write_text(yaml.safe_dump({"outs": [out]}, sort_keys=False))
    return md5


def built_model(use_case: UseCase):
    """The repository's DVC-built model of ``use_case``, verified; fails the test if it is not built."""
    try:
        return verify_artifact(use_case)  # its own DVC project, else the repository
    except ModelIntegrityError as error:
        pytest.fail(
            f"the {use_case.name} model is not built or does not match DVC ({error}); run `python3 dev.py test`"
        )


def copy_dvc_project(root: Path, use_case: UseCase = TELCO) -> Path:
    """Copy dvc.lock and the use case's model, card, reference profile, serving form and metrics under ``root``.

    Only for a model in the deployment's DVC project: one in its own (``ModelSource.root``) is not
    moved by ``SCORING_MODEL_ROOT``, so a test that needs a copy it can change skips that use case.
    """
    source = use_case.model
    if source.root is not None:
        pytest.skip(f"{use_case.name}'s model lives in its own DVC project ({source.root}), not a copyable one")
    relatives = (source.model_path, source.card_path, source.metrics_path, source.profile_path)
    for relative in ("dvc.lock", *relatives, serving_path(source.model_path)):
        if relative is None or not (REPO_ROOT / relative).exists():
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
    source = use_case.model
    serving = root / serving_path(model_path)
    rebind_serving_form(use_case, pipeline, root / model_path, serving, root / source.card_path, serving)
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] in (model_path, source.card_path, serving_path(model_path)):
                out["md5"] = file_md5(root / out["path"])
    write_text_atomically(root / "dvc.lock", yaml.safe_dump(lock, sort_keys=False))
    return md5


def rebind_serving_form(
    use_case: UseCase, pipeline, model_file: Path, serving_file: Path, card_file: Path, trained_form: Path
) -> None:
    """What training writes for a new pickle of ``pipeline`` at ``model_file``: its serving form, and the card's md5.

    Only for a card that names a linear serving form; the form is exported as training does it
    (``training.serving_export``), bound to the new pickle's md5, with the reason reference of the
    form training wrote (``trained_form``: the same weights, so the same reference).
    """
    card = json.loads(card_file.read_text(encoding="utf-8"))
    if (card.get("serving") or {}).get("kind") != LINEAR_LOGISTIC:
        return
    reference = LinearForm.from_record(json.loads(trained_form.read_text(encoding="utf-8"))).reference
    form = replace(linear_form_of(pipeline, use_case.features, card["positive_class"]), reference=reference)
    serving_file.write_text(serving_text(form, file_md5(model_file)), encoding="utf-8")
    card["serving"]["md5"] = file_md5(serving_file)
    card_file.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def with_classes(*classes):
    """An ``alter`` for ``install_new_model``: the Pipeline's classifier says its classes are ``classes``."""

    def alter(pipeline) -> None:
        pipeline.steps[-1][1].classes_ = np.array(classes)

    return alter


def dvc_model_root(root: Path, use_case: UseCase = TELCO, git: bool = False) -> Path:
    """A DVC project of its own: ``copy_dvc_project`` plus ``.dvc/config`` and the champion's files in its cache.

    ``git``: also a git repository with everything committed, so ``git status`` shows what a command changed.
    """
    copy_dvc_project(root, use_case)
    (root / ".dvc").mkdir(exist_ok=True)
    shutil.copyfile(REPO_ROOT / ".dvc" / "config", root / ".dvc" / "config")
    (root / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    for relative in ModelFiles(use_case, root).artifact_names().values():
        add_file(root, root / relative)  # what `dvc repro` left in the cache (metrics are not cached there)
    if git:
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "model root"]):
            subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *command], cwd=root, check=True)
    return root


def challenger_files(root: Path, use_case: UseCase = TELCO, compress: int = 3) -> dict[str, Path]:
    """A challenger's artifacts: the champion's Pipeline re-pickled with compression (other md5, same predictions).

    ``compress`` (1-9) gives each challenger its own bytes; the card, profile and metrics are the champion's.
    """
    files = ModelFiles(use_case, root)
    scratch = root.parent / f"{root.name}_challenger_{compress}"
    scratch.mkdir(exist_ok=True)
    artifacts = {name: root / relative for name, relative in files.artifact_names().items()}
    artifacts = {name: path for name, path in artifacts.items() if path.exists()}
    pipeline = joblib.load(root / use_case.model.model_path)
    for name in (files.model_name, Path(use_case.model.card_path).name, SERVING_FILE):
        artifacts[name] = scratch / name
    shutil.copyfile(root / use_case.model.card_path, artifacts[Path(use_case.model.card_path).name])
    joblib.dump(pipeline, artifacts[files.model_name], compress=compress)
    rebind_serving_form(
        use_case,
        pipeline,
        artifacts[files.model_name],
        artifacts[SERVING_FILE],
        artifacts[Path(use_case.model.card_path).name],
        root / serving_path(use_case.model.model_path),
    )
    if not artifacts[SERVING_FILE].exists():
        del artifacts[SERVING_FILE]
    return artifacts


def new_challenger(root: Path, use_case: UseCase = TELCO, compress: int = 3, passed: bool | None = True) -> str:
    """Register a challenger (``challenger_files``) with a gate verdict (``passed`` None: none); returns its md5."""
    record = register_challenger(
        use_case,
        root,
        challenger_files(root, use_case, compress),
        training_set={"md5": "0" * 32, "rows": 100, "date_range": ["2026-01-01", "2026-06-30"]},
        metrics={"roc_auc": 0.84},
    )
    if passed is not None:
        figure = 0.84 if passed else 0.71
        criteria = [{"name": "roc_auc", "value": figure, "threshold": 0.75, "passed": passed}]
        record_gate_verdict(use_case, root, record["model_md5"], passed, criteria)
    return record["model_md5"]


def dvc_status(root: Path) -> str:
    """What the real ``dvc status`` says in the DVC project ``root`` (it must not fail)."""
    result = subprocess.run(
        [str(DVC), "status"], cwd=root, capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
