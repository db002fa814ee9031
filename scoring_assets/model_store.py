"""Loading the churn model: the one function every caller uses, and why it can be trusted.

A pickle executes code when loaded, and a model that silently differs from the one DVC built
gives numbers nobody can trace. So before anything is unpickled, ``load_model`` checks:
1. the model and its card exist (else: run ``dvc repro`` or ``dvc pull``);
2. their md5 equals the md5 DVC recorded for them in ``dvc.lock`` (read as plain YAML: the
   code location never imports dvc, see README "Why two environments");
3. the card's scikit-learn version matches the installed one in major.minor (pickles do not
   survive scikit-learn minor upgrades reliably).
The model version carried by every scored row names the artifact's md5.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import sklearn
import yaml

from scoring_assets.files import file_md5
from scoring_assets.paths import MODEL_CARD_PATH, MODEL_PATH, REPO_ROOT, model_root

MODEL_RELATIVE_PATH = MODEL_PATH.relative_to(REPO_ROOT).as_posix()
CARD_RELATIVE_PATH = MODEL_CARD_PATH.relative_to(REPO_ROOT).as_posix()
VERSION_PREFIX = "churn_model-"
# What git writes into a file it could not merge: <<<<<<< ours / ||||||| base / ======= / >>>>>>> theirs.
_CONFLICT_MARKER = re.compile(r"^(?:<{7}|\|{7}|={7}|>{7})(?:[ \r]|$)", re.MULTILINE)
REBUILD_HINT = "run `dvc repro` to rebuild it (or `dvc pull` to fetch it from the DVC remote)"


class ModelIntegrityError(RuntimeError):
    """The model artifact is missing, altered, or built for another scikit-learn."""


@dataclass(frozen=True)
class ModelArtifact:
    """A model file whose bytes match dvc.lock: safe to unpickle, described by its card."""

    path: Path
    md5: str
    card: dict[str, Any]

    @property
    def version(self) -> str:
        return model_version(self.md5)

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"])

    @property
    def sklearn_version(self) -> str:
        return str(self.card["sklearn_version"])

    @property
    def feature_columns(self) -> list[str]:
        """The model's input columns, in order, as recorded when it was trained."""
        contract = self.card["feature_contract"]
        return [*contract["numeric_features"], *contract["categorical_features"]]


@dataclass(frozen=True)
class LoadedModel(ModelArtifact):
    """A verified artifact together with its unpickled scikit-learn Pipeline."""

    pipeline: Any = None


def model_version(md5: str) -> str:
    """The version string written on every scored row: names the exact artifact."""
    return f"{VERSION_PREFIX}{md5[:12]}"


def recorded_md5s(root: Path | None = None) -> dict[str, str]:
    """Every output path -> md5 that ``dvc.lock`` records, without importing dvc.

    A damaged lock file (merge-conflict markers, not YAML, not DVC's layout) cannot vouch for
    the model: that is an integrity failure too, reported with how to repair the file.
    """
    lock_path = Path(root or model_root()) / "dvc.lock"
    if not lock_path.exists():
        raise ModelIntegrityError(f"{lock_path} does not exist, so the model cannot be verified; {REBUILD_HINT}")
    lock = _parsed_lock(lock_path)
    recorded = {}
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs") or []:
            if "md5" in out:
                recorded[out["path"]] = out["md5"]
    return recorded


def _parsed_lock(lock_path: Path) -> dict[str, Any]:
    """``dvc.lock`` as DVC writes it (stages -> outs -> path/md5), or ModelIntegrityError saying what is wrong."""
    repair = f"restore it with `git checkout {lock_path.name}` (or fix it by hand), then run `dvc repro`"
    try:
        text = lock_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ModelIntegrityError(f"{lock_path} is not text (byte {error.start} is not UTF-8); {repair}") from None
    except OSError as error:
        raise ModelIntegrityError(f"{lock_path} cannot be read ({error.strerror}); {repair}") from None
    conflict = _CONFLICT_MARKER.search(text)
    if conflict is not None:
        line = text.count("\n", 0, conflict.start()) + 1
        raise ModelIntegrityError(
            f"{lock_path} has merge-conflict markers (line {line}): resolve the merge conflict or {repair}"
        )
    try:
        lock = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ModelIntegrityError(f"{lock_path} is not valid YAML{where}; {repair}") from None
    layout_problem = _lock_layout_problem(lock)
    if layout_problem:
        raise ModelIntegrityError(f"{lock_path} is not a DVC lock file: {layout_problem}; {repair}")
    return lock


def _lock_layout_problem(lock: Any) -> str | None:
    """What keeps ``lock`` from being DVC's ``stages: {name: {outs: [{path, md5}]}}``, if anything."""
    if not isinstance(lock, dict) or not isinstance(lock.get("stages"), dict):
        return "it has no `stages` mapping"
    for name, stage in lock["stages"].items():
        if not isinstance(stage, dict):
            return f"stage {name!r} is not a mapping"
        outs = stage.get("outs") or []
        if not isinstance(outs, list):
            return f"`outs` of stage {name!r} is not a list"
        for out in outs:
            if not isinstance(out, dict) or not isinstance(out.get("path"), str):
                return f"an entry of `outs` of stage {name!r} has no `path`"
            if "md5" in out and not isinstance(out["md5"], str):
                return f"the md5 of {out['path']} is not a string"
    return None


def verify_artifact(root: Path | None = None) -> ModelArtifact:
    """Check the model and its card against dvc.lock and the installed scikit-learn.

    ``root`` is the DVC project (default: ``paths.model_root()``). Never unpickles anything;
    raises ``ModelIntegrityError`` with what to run on failure.
    """
    root = Path(root or model_root())
    recorded = recorded_md5s(root)
    checked: dict[str, str] = {}
    for relative in (MODEL_RELATIVE_PATH, CARD_RELATIVE_PATH):
        path = root / relative
        if relative not in recorded:
            raise ModelIntegrityError(f"dvc.lock has no md5 for {relative}; {REBUILD_HINT}")
        if not path.exists():
            raise ModelIntegrityError(f"{path} is missing; {REBUILD_HINT}")
        actual = file_md5(path)
        if actual != recorded[relative]:
            raise ModelIntegrityError(
                f"{path} has md5 {actual} but dvc.lock records {recorded[relative]}: the file was altered or "
                f"belongs to another version of the pipeline; refusing to load it. To fix it, {REBUILD_HINT}"
            )
        checked[relative] = actual

    card = json.loads((root / CARD_RELATIVE_PATH).read_text(encoding="utf-8"))
    trained_with = str(card.get("sklearn_version", "unknown"))
    if _major_minor(trained_with) != _major_minor(sklearn.__version__):
        raise ModelIntegrityError(
            f"the model was trained with scikit-learn {trained_with} but {sklearn.__version__} is installed; "
            f"a pickle is not portable across scikit-learn minor versions, refusing to load it. "
            f"Retrain with the installed version: `dvc repro --force train`"
        )
    return ModelArtifact(path=root / MODEL_RELATIVE_PATH, md5=checked[MODEL_RELATIVE_PATH], card=card)


def load_model(root: Path | None = None) -> LoadedModel:
    """The verified churn model; the only way any part of the project loads it."""
    artifact = verify_artifact(root)
    # Unpickle the very bytes that are hashed here, so the file cannot change in between.
    payload = artifact.path.read_bytes()
    if hashlib.md5(payload).hexdigest() != artifact.md5:
        raise ModelIntegrityError(f"{artifact.path} changed while it was being loaded; {REBUILD_HINT}")
    pipeline = joblib.load(io.BytesIO(payload))
    return LoadedModel(path=artifact.path, md5=artifact.md5, card=artifact.card, pipeline=pipeline)


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])
