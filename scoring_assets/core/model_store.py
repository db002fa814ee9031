"""Loading a use case's model: the one function every caller uses, and why it can be trusted.

A pickle executes code when loaded, and a model that silently differs from the one DVC built
gives numbers nobody can trace. So before anything is unpickled, ``load_model`` checks:
1. the model and its card exist (else: run ``dvc repro`` or ``dvc pull``);
2. their md5 equals the md5 DVC recorded for them: in ``dvc.lock`` for a model trained by the
   use case's DVC stages, in ``<file>.dvc`` for one brought in with ``dvc add`` (both read as
   plain YAML: the code location never imports dvc, see docs/deployment.md, "Why two environments");
3. the card has every field scoring needs (``CARD_FIELDS``), its features are the ones the use
   case builds, and its scikit-learn version matches the installed one in major.minor (pickles
   do not survive scikit-learn minor upgrades reliably); once unpickled (``load_model`` only),
   the Pipeline must have predict_proba and the card's positive_class among its classes.
4. when the use case declares a reference profile (``ModelSource.profile_path``, for drift
   checks), it is verified the same way, must be the one the card records, and is exposed as
   ``reference_profile`` with its ``reference_md5``; a model without one has no drift check.
5. when the card's ``serving`` names a linear form (``core.serving``), ``serving.json`` beside
   the model is verified the same way, must be the one the card records, and must cover exactly
   the use case's inputs and levels; it is exposed as ``serving``. Scoring then executes it and
   never unpickles the Pipeline (``serving_model``); a model without one (brought in, or not
   linear) is served as ``pipeline``, the verified pickle.
The model version carried by every scored row names the use case and the artifact's md5.
Nothing here imports scikit-learn or joblib until a Pipeline is really unpickled (``loaded``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, fields
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scoring_assets.core.dvc_cache import DIRECTORY_SUFFIX, DirectoryListing, cache_object
from scoring_assets.core.files import file_md5
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.serving import LINEAR_LOGISTIC, PIPELINE, LinearForm, ServingArtifact, serving_path
from scoring_assets.core.use_case import UseCase

# What a model card must say for its model to be scored (dotted paths into the JSON).
CARD_FIELDS = {
    "threshold": "decision threshold in [0, 1]: predicted_label is 1 when the score is at or above it",
    "positive_class": "the value in the Pipeline's classes_ whose probability is the score",
    "sklearn_version": "the scikit-learn version the Pipeline was pickled with",
    "feature_contract.numeric_features": "the numeric input columns, in the order the use case builds them",
    "feature_contract.categorical_features": "the categorical input columns, in the order the use case builds them",
}
# libyaml's safe loader when PyYAML has it (10x faster on a dvc.lock of many stages), else the pure-Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What git writes into a file it could not merge: <<<<<<< ours / ||||||| base / ======= / >>>>>>> theirs.
_CONFLICT_MARKER = re.compile(r"^(?:<{7}|\|{7}|={7}|>{7})(?:[ \r]|$)", re.MULTILINE)
_PROFILE = " (the model's reference profile)"
_SERVING = " (the model's serving form)"
SERVED = "served"  # the promoted model's folder and ``served.dvc``, beside the use case's model
CHALLENGER = "challenger"  # the challenger's folder and ``challenger.dvc``, beside them
REBUILD_HINT = "run `dvc repro` to rebuild it (or `dvc pull` to fetch it from the DVC remote)"


class ModelIntegrityError(RuntimeError):
    """The model artifact is missing, altered, or built for another scikit-learn."""


@dataclass(frozen=True)
class ModelArtifact:
    """A model file whose bytes match dvc.lock: safe to unpickle, described by its card."""

    path: Path
    md5: str
    card: dict[str, Any]
    version: str
    reference_profile: dict[str, Any] | None = None  # core.drift's reference, when the use case declares one
    reference_md5: str | None = None
    metrics_path: Path | None = None  # the test metrics training wrote beside the model, when there are any
    serving: ServingArtifact | None = None  # what scores it (core.serving); verify_files always sets it

    @property
    def positive_class(self) -> Any:
        return self.card["positive_class"]

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
    """A verified artifact with what scores it: its unpickled scikit-learn Pipeline, or (``serving_model``)
    None when its verified linear serving form scores it."""

    pipeline: Any = None


def recorded_md5s(root: Path | None = None) -> dict[str, str]:
    """Every output path -> md5 that ``dvc.lock`` records, without importing dvc; empty without a dvc.lock.

    A damaged lock file (merge-conflict markers, not YAML, not DVC's layout) cannot vouch for
    the model: that is an integrity failure too, reported with how to repair the file.
    """
    lock_path = Path(root or REPO_ROOT) / "dvc.lock"
    if not lock_path.exists():
        return {}
    lock = _parsed_lock(lock_path)
    recorded = {}
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs") or []:
            if "md5" in out:
                recorded[out["path"]] = out["md5"]
    return recorded


# A run verifies the model several times (before it starts, in the feature and scoring steps); the files
# are re-read and re-hashed only when they change. Keys are (path, size, mtime_ns, inode): a file rewritten
# or replaced has another key. The unpickled bytes are still hashed on every load (``load_model``).
_BY_FILE_STATE: dict[tuple, Any] = {}


def _file_state(path: Path) -> tuple:
    state = path.stat()
    return (str(path), state.st_size, state.st_mtime_ns, state.st_ino)


def _cached_md5(path: Path) -> str:
    key = ("md5", *_file_state(path))
    if key not in _BY_FILE_STATE:
        _BY_FILE_STATE[key] = file_md5(path)
    return _BY_FILE_STATE[key]


def _parsed_lock(lock_path: Path, layout_problem=None) -> dict[str, Any]:
    """``dvc.lock`` as DVC writes it (stages -> outs -> path/md5), or ModelIntegrityError saying what is wrong.

    Parsed once per state of the file (a damaged file is judged again every time); callers only read it.
    """
    try:
        key = ("lock", layout_problem, *_file_state(lock_path))
    except OSError:
        return _parse_lock(lock_path, layout_problem)
    if key not in _BY_FILE_STATE:
        _BY_FILE_STATE[key] = _parse_lock(lock_path, layout_problem)
    return _BY_FILE_STATE[key]


def _parse_lock(lock_path: Path, layout_problem=None) -> dict[str, Any]:
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
        lock = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ModelIntegrityError(f"{lock_path} is not valid YAML{where}; {repair}") from None
    problem = (layout_problem or _lock_layout_problem)(lock)
    if problem:
        raise ModelIntegrityError(f"{lock_path} is not a DVC file as DVC writes it: {problem}; {repair}")
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


def recorded_md5(root: Path, relative: str) -> str:
    """The md5 DVC recorded for ``relative``: its ``.dvc`` file if it was added, else ``dvc.lock``."""
    added = root / f"{relative}.dvc"
    if added.exists():
        outs = _parsed_lock(added, layout_problem=_added_layout_problem).get("outs")
        if outs[0].get("path") != Path(relative).name:
            raise ModelIntegrityError(
                f"{added} records {outs[0].get('path')!r}, not {Path(relative).name!r}: it belongs to another file; "
                f"run `dvc add {relative}` again"
            )
        return outs[0]["md5"]
    recorded = recorded_md5s(root)
    if relative not in recorded:
        raise ModelIntegrityError(
            f"DVC has no md5 for {relative} (neither in {root / 'dvc.lock'} nor a {added.name} beside it); "
            f"{REBUILD_HINT}, or bring the file in with `dvc add {relative}`"
        )
    return recorded[relative]


def _added_layout_problem(document: Any) -> str | None:
    """What keeps a ``.dvc`` file from being DVC's ``outs: [{md5, path}]``, if anything."""
    outs = document.get("outs") if isinstance(document, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        return "it has no single entry under `outs`"
    if not isinstance(outs[0].get("md5"), str):
        return "its `outs` entry has no md5"
    return None


def lifecycle_file(root: Path, use_case: UseCase, name: str) -> Path:
    """``<name>.dvc`` beside the use case's model in the DVC project ``root`` (``name``: SERVED or CHALLENGER)."""
    return Path(root) / Path(use_case.model.model_path).parent / f"{name}.dvc"


@dataclass(frozen=True)
class TrackedDirectory:
    """A directory that a ``.dvc`` file tracks (``served``, ``challenger``): its listing, read from the DVC cache."""

    dvc_file: Path
    root: Path
    listing: DirectoryListing
    meta: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.dvc_file.with_suffix("")

    @property
    def md5(self) -> str:
        return self.listing.md5

    @property
    def files(self) -> dict[str, str]:
        return self.listing.files

    def location(self, name: str) -> tuple[Path, str]:
        """(where the bytes of ``name`` are, its md5): the checked-out copy if it matches, else the cache object."""
        if name not in self.files:
            raise ModelIntegrityError(f"{self.dvc_file} tracks no {name}: it is not a model directory of this use case")
        md5 = self.files[name]
        checked_out = self.folder / name
        if checked_out.is_file() and _cached_md5(checked_out) == md5:
            return checked_out, md5
        cached = cache_object(self.root, md5)
        if not cached.is_file():
            raise ModelIntegrityError(
                f"{checked_out} (md5 {md5}, recorded in {self.dvc_file}) is neither checked out nor in the DVC cache "
                f"({cached}); run `dvc pull {self.dvc_file.relative_to(self.root)}` in {self.root}"
            )
        if _cached_md5(cached) != md5:
            raise ModelIntegrityError(f"the DVC cache object {cached} was altered; delete it and run `dvc pull`")
        return cached, md5


def tracked_directory(root: Path, dvc_file: Path) -> TrackedDirectory | None:
    """The directory ``dvc_file`` tracks, its listing verified by md5; None when there is no such file."""
    if not dvc_file.exists():
        return None
    document = _parsed_lock(dvc_file, layout_problem=_directory_layout_problem)
    out = document["outs"][0]
    if out["path"] != dvc_file.stem:
        raise ModelIntegrityError(f"{dvc_file} tracks {out['path']!r}, not {dvc_file.stem!r}: it was written by hand")
    listing = cached_listing(root, out["md5"].removesuffix(DIRECTORY_SUFFIX), dvc_file)
    return TrackedDirectory(dvc_file, Path(root), listing, document.get("meta") or {})


def cached_listing(root: Path, md5: str, recorded_in: Path) -> DirectoryListing:
    """The listing of directory ``md5`` (recorded in ``recorded_in``) from the DVC cache, verified by its md5."""
    listing_object = cache_object(root, md5 + DIRECTORY_SUFFIX)
    if not listing_object.is_file():
        raise ModelIntegrityError(
            f"{recorded_in} records directory {md5}, whose listing is not in the DVC cache ({listing_object}); "
            f"run `dvc pull` in {root}"
        )
    payload = listing_object.read_bytes()
    try:
        files = {entry["relpath"]: entry["md5"] for entry in json.loads(payload)}
    except (ValueError, TypeError, KeyError):
        files = None
    if files is None or hashlib.md5(payload).hexdigest() != md5:
        raise ModelIntegrityError(f"the DVC cache object {listing_object} was altered; delete it and run `dvc pull`")
    return DirectoryListing(files)


def _directory_layout_problem(document: Any) -> str | None:
    """What keeps a ``.dvc`` file from being DVC's record of one directory, if anything."""
    problem = _added_layout_problem(document)
    if problem is None and not document["outs"][0]["md5"].endswith(DIRECTORY_SUFFIX):
        return "its `outs` entry is not a directory (md5 without .dir)"
    if problem is None and not isinstance(document["outs"][0].get("path"), str):
        return "its `outs` entry has no path"
    meta = document.get("meta") if problem is None else None
    return problem if meta is None or isinstance(meta, dict) else "its `meta` is not a mapping"


def model_project(use_case: UseCase, store_root: Path) -> Path:
    """The DVC project holding the use case's model: its own ``ModelSource.root``, else the model store's."""
    return use_case.model.root or store_root


def verify_artifact(use_case: UseCase, root: Path | None = None) -> ModelArtifact:
    """Check the served model and its card against DVC, the use case and the installed scikit-learn.

    ``root`` is the DVC project (default: the use case's own, else this repository; the Dagster
    wiring passes the ``ModelStore`` resource's root). The served model is the ``served``
    directory when a ``served.dvc`` is beside the model (a promotion), else the champion
    ``dvc.lock`` (or the model's own ``.dvc`` file) records. Never unpickles anything; raises
    ``ModelIntegrityError`` with what to run on failure.
    """
    root = Path(root or use_case.model.root or REPO_ROOT)
    return verify_files(use_case, root, tracked_directory(root, lifecycle_file(root, use_case, SERVED)))


def verify_files(use_case: UseCase, root: Path, directory: TrackedDirectory | None) -> ModelArtifact:
    """The artifact made of ``directory``'s files (a served or challenger model), or of the recorded champion's."""
    source = use_case.model

    def located(relative: str, described: str = "") -> tuple[Path, str]:
        if directory is not None:
            return directory.location(Path(relative).name)
        path, recorded = root / relative, recorded_md5(root, relative)
        _require_present(path, described)
        return path, recorded

    model_path, model_md5 = _verified(*located(source.model_path))
    card = _checked_card(use_case, _verified(*located(source.card_path))[0])
    profile, profile_md5 = None, None
    if source.profile_path:
        profile, profile_md5 = _checked_profile(use_case, *located(source.profile_path, _PROFILE), card)
    metrics_path = root / source.metrics_path if source.metrics_path else None
    if directory is not None and metrics_path is not None:
        metrics_path = directory.location(metrics_path.name)[0] if metrics_path.name in directory.files else None
    serving = ServingArtifact(PIPELINE, model_path, model_md5)
    if _field(card, "serving.kind") not in (None, PIPELINE):
        located_serving = located(serving_path(source.model_path), _SERVING)
        serving = _checked_serving(use_case, *located_serving, card, (model_path, model_md5))
    return ModelArtifact(
        path=model_path,
        md5=model_md5,
        card=card,
        version=use_case.model_version(model_md5),
        reference_profile=profile,
        reference_md5=profile_md5,
        metrics_path=metrics_path,
        serving=serving,
    )


def _verified(path: Path, recorded: str) -> tuple[Path, str]:
    return path, _require_recorded(path, _cached_md5(path), recorded)


def _require_present(path: Path, described: str = "") -> None:
    if not path.exists():
        raise ModelIntegrityError(f"{path}{described} is missing; {REBUILD_HINT}")


def _require_recorded(path: Path, actual: str, recorded: str, what: str = "the file", use: str = "load") -> str:
    """``actual``, provided it is the md5 DVC records for ``path``; else what is wrong and how to fix it."""
    if actual != recorded:
        raise ModelIntegrityError(
            f"{path} has md5 {actual} but DVC records {recorded}: {what} was altered or "
            f"belongs to another version of the pipeline; refusing to {use} it. To fix it, {REBUILD_HINT}"
        )
    return actual


def _checked_profile(use_case: UseCase, path: Path, recorded: str, card: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The reference profile and its md5, provided DVC and the card vouch for it and it covers every model input.

    Parsed from the very bytes that were hashed, so the file cannot change in between.
    """
    payload = path.read_bytes()
    actual = _require_recorded(path, hashlib.md5(payload).hexdigest(), recorded, "the reference profile", "use")
    carded = _field(card, "reference_profile.md5")
    if carded is not None and carded != actual:
        raise ModelIntegrityError(
            f"{path} has md5 {actual} but the model card records {carded}: the profile was not written with this "
            f"model; {REBUILD_HINT}"
        )
    try:
        profile = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelIntegrityError(f"{path} is not a JSON reference profile ({error})") from None
    features = profile.get("features") if isinstance(profile, dict) else None
    missing = [name for name in use_case.features.columns if not isinstance(features, dict) or name not in features]
    if missing or not isinstance(profile.get("score"), dict):
        raise ModelIntegrityError(
            f"{path} is not a reference profile of use case {use_case.name}: it lacks "
            f"{', '.join(missing) if missing else 'the score'}; {REBUILD_HINT}"
        )
    return profile, actual


def _checked_serving(
    use_case: UseCase, path: Path, recorded: str, card: dict[str, Any], model: tuple[Path, str]
) -> ServingArtifact:
    """The linear serving form the card names, provided DVC, the card and the model vouch for it and it fits.

    ``model``: the verified model's path and md5, which the form must have been proved against.
    Parsed from the very bytes that were hashed, so the file cannot change in between.
    """
    kind = _field(card, "serving.kind")
    if kind != LINEAR_LOGISTIC:
        raise ModelIntegrityError(
            f"the model card names serving kind {kind!r}; this version serves {LINEAR_LOGISTIC!r} or {PIPELINE!r}"
        )
    payload = path.read_bytes()
    actual = _require_recorded(path, hashlib.md5(payload).hexdigest(), recorded, "the serving form", "score with")
    if _field(card, "serving.md5") != actual:
        raise ModelIntegrityError(
            f"{path} has md5 {actual} but the model card records {_field(card, 'serving.md5')}: the serving form "
            f"was not written with this model; {REBUILD_HINT}"
        )
    try:
        document = json.loads(payload.decode("utf-8"))
        form = LinearForm.from_record(document)
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelIntegrityError(f"{path} is not a linear serving form: {error}; {REBUILD_HINT}") from None
    model_path, model_md5 = model
    if document.get("model_md5") != model_md5:
        raise ModelIntegrityError(
            f"{path} was proved against model md5 {document.get('model_md5')}, but {model_path} has md5 {model_md5}: "
            f"the serving form does not belong to this model; refusing to score with it. To fix it, {REBUILD_HINT}"
        )
    problem = _serving_mismatch(use_case, form, card)
    if problem:
        raise ModelIntegrityError(f"{path} does not serve use case {use_case.name}'s model: {problem}; {REBUILD_HINT}")
    max_abs_diff, tolerance = _field(card, "serving.max_abs_diff"), _field(card, "serving.tolerance")
    return ServingArtifact(LINEAR_LOGISTIC, path, actual, max_abs_diff, tolerance, form)


def _serving_mismatch(use_case: UseCase, form: LinearForm, card: dict[str, Any]) -> str | None:
    """What keeps ``form`` from scoring this use case's model as the card describes it, if anything."""
    declared = {name: tuple(levels) for name, levels in use_case.features.categorical.items()}
    if sorted(form.numeric) != sorted(use_case.features.numeric):
        return f"its numeric inputs are {sorted(form.numeric)}, the use case builds {sorted(use_case.features.numeric)}"
    if {name: levels for name, (levels, _) in form.categorical.items()} != declared:
        return f"its categorical inputs or levels are not the use case's {declared}"
    if card["positive_class"] in form.classes and form.positive_class != card["positive_class"]:
        # (a positive class outside the model's classes is refused when it is loaded, as for a Pipeline)
        return f"its positive class is {form.positive_class!r}, the card's {card['positive_class']!r}"
    figures = [_field(card, f"serving.{name}") for name in ("max_abs_diff", "tolerance")]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in figures):
        return "the model card's serving section lacks max_abs_diff or tolerance"
    if not figures[0] <= figures[1]:
        return f"the model card's serving.max_abs_diff {figures[0]} exceeds its tolerance {figures[1]}"
    return None


def _checked_card(use_case: UseCase, card_path: Path) -> dict[str, Any]:
    """The model card, provided it says everything scoring needs and matches the use case."""
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelIntegrityError(f"{card_path} is not a JSON model card ({error})") from None
    missing = [f"{name} ({meaning})" for name, meaning in CARD_FIELDS.items() if _field(card, name) is None]
    if missing:
        raise ModelIntegrityError(f"{card_path} lacks what scoring needs: {'; '.join(missing)}")
    threshold = card["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise ModelIntegrityError(f"{card_path}: threshold must be a number in [0, 1], not {threshold!r}")
    contract = card["feature_contract"]
    card_features = [*contract["numeric_features"], *contract["categorical_features"]]
    if card_features != use_case.features.columns:
        raise ModelIntegrityError(
            f"{card_path}: the model was trained on {card_features}, but use case {use_case.name} builds "
            f"{use_case.features.columns}; retrain it (`dvc repro`) or declare the features it was trained on"
        )
    trained_with, installed = str(card["sklearn_version"]), installed_version("scikit-learn")
    if _major_minor(trained_with) != _major_minor(installed):
        raise ModelIntegrityError(
            f"the model was trained with scikit-learn {trained_with} but {installed} is installed; "
            f"a pickle is not portable across scikit-learn minor versions, refusing to load it. "
            f"Retrain with the installed version: `dvc repro --force`"
        )
    return card


def _field(card: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        card = card.get(part) if isinstance(card, dict) else None
    return card


def load_model(use_case: UseCase, root: Path | None = None) -> LoadedModel:
    """The use case's verified model; the only way any part of the project loads one."""
    return loaded(verify_artifact(use_case, root))


def verify_challenger(use_case: UseCase, root: Path) -> ModelArtifact:
    """The use case's challenger (``challenger.dvc`` in the DVC project ``root``), verified like the served model."""
    directory = tracked_directory(Path(root), lifecycle_file(root, use_case, CHALLENGER))
    if directory is None:
        raise ModelIntegrityError(f"{use_case.name} has no challenger in {root}: train one first")
    return verify_files(use_case, Path(root), directory)


def load_challenger(use_case: UseCase, root: Path) -> LoadedModel:
    """The challenger's verified, unpickled Pipeline (the gate compares Pipelines)."""
    return loaded(verify_challenger(use_case, root))


def serving_model(artifact: ModelArtifact) -> LoadedModel:
    """What scoring executes: the verified linear serving form as is (nothing unpickled), else the Pipeline.

    Either way the card's positive class must be one of the model's classes (``loaded`` checks the Pipeline's).
    """
    if artifact.serving is not None and artifact.serving.linear is not None:
        _require_positive_class(artifact.path, artifact.card, artifact.serving.linear.classes)
        return LoadedModel(**_artifact_fields(artifact))
    return loaded(artifact)


def _artifact_fields(artifact: ModelArtifact) -> dict[str, Any]:
    return {each.name: getattr(artifact, each.name) for each in fields(ModelArtifact)}


def loaded(artifact: ModelArtifact) -> LoadedModel:
    """A verified artifact unpickled; its Pipeline must score and have the card's positive class."""
    import joblib  # here, not at the top: the scoring path of a model with a serving form never unpickles

    # Unpickle the very bytes that are hashed here, so the file cannot change in between.
    payload = artifact.path.read_bytes()
    if hashlib.md5(payload).hexdigest() != artifact.md5:
        raise ModelIntegrityError(f"{artifact.path} changed while it was being loaded; {REBUILD_HINT}")
    pipeline = joblib.load(io.BytesIO(payload))
    if not hasattr(pipeline, "predict_proba"):
        raise ModelIntegrityError(f"{artifact.path} holds a {type(pipeline).__name__}, which has no predict_proba")
    _require_positive_class(artifact.path, artifact.card, getattr(pipeline, "classes_", []))
    return LoadedModel(**_artifact_fields(artifact), pipeline=pipeline)


def _require_positive_class(model_path: Path, card: dict[str, Any], model_classes: Any) -> None:
    """The card's positive_class must be one of the model's classes (its Pipeline's, or as its serving form records)."""
    classes = [value.item() if isinstance(value, np.generic) else value for value in model_classes]
    if card["positive_class"] not in classes:
        raise ModelIntegrityError(
            f"{model_path}: its model card says positive_class {card['positive_class']!r} but the model's classes "
            f"are {', '.join(map(repr, classes)) or 'not recorded'}; the card does not describe this model. To fix "
            f"it, {REBUILD_HINT}"
        )


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])
