"""Challenger, promotion and rollback of a use case's model: DVC-tracked directories switched by one ``.dvc`` file.

Beside the use case's model (the folder of ``ModelSource.model_path`` in the DVC project):
- ``served/`` + ``served.dvc``: the promoted model (same file names as the champion's). Without
  ``served.dvc`` the champion ``dvc.lock`` records is served, as before any promotion;
- ``challenger/`` + ``challenger.dvc``: a candidate, with its training set, metrics and the gate's
  verdict in the ``.dvc`` file's ``meta``;
- ``model_history.jsonl``: every event (``core.model_history``).
``served.dvc`` is the one switch: a promotion or rollback first puts every artifact in the DVC
cache, then replaces ``served.dvc`` at once, then checks ``served/`` out file by file, then writes
the history and (promotion) drops the challenger. The model store verifies the served files by
md5 and falls back to the cache objects while ``served/`` is not yet checked out, so a process
killed at any point leaves the old or the new champion served and verifiable.

Test seam: when the environment variable ``SCORING_LIFECYCLE_PAUSE_AT`` names a step
(``STEPS``), the process says so on stderr and sleeps there, so a test can kill it at that step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from scoring_assets.core.dvc_cache import (
    DirectoryListing,
    add_directory,
    cache_object,
    checkout_directory,
    ensure_ignored,
    remove_directory,
    write_directory_record,
)
from scoring_assets.core.files import exclusive_lock
from scoring_assets.core.model_history import (
    HISTORY_FILE,
    Event,
    append_record,
    read_history,
    served_sequence,
    who_and_when,
)
from scoring_assets.core.model_store import (
    CHALLENGER,
    SERVED,
    ModelIntegrityError,
    TrackedDirectory,
    cached_listing,
    lifecycle_file,
    recorded_md5,
    tracked_directory,
    verify_files,
)
from scoring_assets.core.serving import serving_path
from scoring_assets.core.use_case import UseCase

PAUSE_VARIABLE = "SCORING_LIFECYCLE_PAUSE_AT"
STEPS = ("cached", "switched", "materializing", "materialized", "recorded")
# The step to pause at, set by the CLI's entry from ``SCORING_LIFECYCLE_PAUSE_AT`` (this module reads no environment).
pause_at: str | None = None


def pause_point(step: str) -> None:
    """The test seam: stop here (saying so on stderr) when ``pause_at`` names ``step``."""
    if pause_at == step:
        print(f"paused at {step}", file=sys.stderr, flush=True)
        time.sleep(3600)


class Refusal(StrEnum):
    NO_CHALLENGER = "no_challenger"
    UNKNOWN_MODEL = "unknown_model"
    REASON_REQUIRED = "reason_required"
    NOTHING_TO_ROLL_BACK = "nothing_to_roll_back"
    GATE = "gate"


class LifecycleRefused(RuntimeError):
    """The command was refused (nothing changed): ``refusal`` says why in one word, the message in a sentence."""

    def __init__(self, refusal: Refusal, message: str):
        super().__init__(message)
        self.refusal = refusal


@dataclass(frozen=True)
class ModelFiles:
    """Where one use case's lifecycle files are in the DVC project ``root``."""

    use_case: UseCase
    root: Path

    @property
    def folder(self) -> Path:
        return self.root / Path(self.use_case.model.model_path).parent

    @property
    def served(self) -> Path:
        return lifecycle_file(self.root, self.use_case, SERVED)

    @property
    def challenger(self) -> Path:
        return lifecycle_file(self.root, self.use_case, CHALLENGER)

    @property
    def history(self) -> Path:
        return self.folder / HISTORY_FILE

    @property
    def model_name(self) -> str:
        return Path(self.use_case.model.model_path).name

    def artifact_names(self) -> dict[str, str]:
        """The file names a model directory holds: the champion's model, card, profile, serving form and metrics."""
        source = self.use_case.model
        serving = serving_path(source.model_path)
        relatives = (source.model_path, source.card_path, source.profile_path, serving, source.metrics_path)
        return {Path(relative).name: relative for relative in relatives if relative}

    def model_md5(self, directory: TrackedDirectory | DirectoryListing) -> str:
        return directory.files[self.model_name]

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One lifecycle command at a time per DVC project (the lock file is in DVC's own ignored tmp folder)."""
        folder = self.root / ".dvc" / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(folder / "model_lifecycle.lock"):
            yield


@dataclass(frozen=True)
class Champion:
    """The model served now: its model md5 and its directory's (None: the champion dvc.lock records)."""

    md5: str
    dir_md5: str | None
    meta: dict[str, Any]


def current_champion(files: ModelFiles) -> Champion:
    """The served model as ``served.dvc`` (else dvc.lock) records it; ModelIntegrityError if the record is unusable."""
    served = tracked_directory(files.root, files.served)
    if served is None:
        return Champion(recorded_md5(files.root, files.use_case.model.model_path), None, {})
    if files.model_name not in served.files:
        raise ModelIntegrityError(f"{files.served} tracks no {files.model_name}: it is not a model directory")
    return Champion(files.model_md5(served), served.md5, served.meta)


def register_challenger(
    use_case: UseCase, root: Path, artifact_files: dict[str, Path], training_set: dict, metrics: dict
) -> dict[str, Any]:
    """Make these artifacts (file name as the champion's -> path) the challenger; returns its history record.

    They go into the DVC cache and are verified as a model of the use case (md5s, card, reference
    profile) before ``challenger.dvc`` is replaced at once; a challenger replaced is ``discarded``.
    """
    files = ModelFiles(use_case, Path(root))
    unknown = sorted(set(artifact_files) - set(files.artifact_names()))
    if unknown or files.model_name not in artifact_files:
        raise ValueError(f"a challenger holds {sorted(files.artifact_names())} (model required), not {unknown}")
    with files.locked():
        listing = add_directory(files.root, {name: Path(path) for name, path in artifact_files.items()})
        verify_files(use_case, files.root, TrackedDirectory(files.challenger, files.root, listing, {}))
        try:
            replaced = tracked_directory(files.root, files.challenger)
        except ModelIntegrityError:
            replaced = None  # an unreadable challenger record is replaced all the same
        ensure_ignored(files.folder, SERVED, CHALLENGER)
        meta = {"model_md5": files.model_md5(listing), "training_set": training_set, "metrics": metrics}
        write_directory_record(files.root, files.challenger, listing, meta)
        checkout_directory(files.root, listing, files.challenger.with_suffix(""))
        if replaced is not None and replaced.md5 != listing.md5:
            _record(files, Event.DISCARDED, replaced, why="replaced by a new challenger")
        return _record(files, Event.CHALLENGED, TrackedDirectory(files.challenger, files.root, listing, meta))


def _record(files: ModelFiles, event: Event, directory: TrackedDirectory, **fields: Any) -> dict[str, Any]:
    meta = directory.meta
    return append_record(
        files.history,
        event,
        model_md5=files.model_md5(directory),
        dir_md5=directory.md5,
        training_set=meta.get("training_set"),
        metrics=meta.get("metrics"),
        gate=meta.get("gate"),
        **fields,
    )


def record_gate_verdict(
    use_case: UseCase, root: Path, challenger_md5: str, passed: bool, criteria: list[dict]
) -> dict[str, Any]:
    """Record the gate's verdict on the challenger whose model md5 is ``challenger_md5``; returns the verdict.

    Each criterion is a dict with at least ``name``, ``value`` and ``passed`` (and usually ``threshold``).
    """
    files = ModelFiles(use_case, Path(root))
    with files.locked():
        challenger = _challenger(files)
        if files.model_md5(challenger) != challenger_md5:
            raise LifecycleRefused(
                Refusal.UNKNOWN_MODEL,
                f"the challenger of {use_case.name} is {files.model_md5(challenger)}, not {challenger_md5}",
            )
        verdict = {"passed": bool(passed), "criteria": list(criteria), **who_and_when()}
        write_directory_record(files.root, files.challenger, challenger.listing, {**challenger.meta, "gate": verdict})
        return verdict


def _challenger(files: ModelFiles) -> TrackedDirectory:
    challenger = tracked_directory(files.root, files.challenger)
    if challenger is None:
        raise LifecycleRefused(Refusal.NO_CHALLENGER, f"{files.use_case.name} has no challenger ({files.challenger})")
    return challenger


@dataclass(frozen=True)
class Switch:
    """What a promotion or rollback did: the model md5 served now and the one served before."""

    served_md5: str
    previous_md5: str
    record: dict[str, Any]

    def as_record(self) -> dict[str, Any]:
        return {"served_md5": self.served_md5, "previous_md5": self.previous_md5, "record": self.record}


def failed_criteria(gate: dict[str, Any]) -> list[str]:
    """Each failed criterion of a verdict with its figure, e.g. ``roc_auc = 0.71 (threshold 0.75)``."""
    lines = []
    for criterion in gate.get("criteria") or []:
        if not criterion.get("passed", False):
            threshold = f" (threshold {criterion['threshold']})" if "threshold" in criterion else ""
            lines.append(f"{criterion.get('name', '?')} = {criterion.get('value', '?')}{threshold}")
    return lines


def _gate_refusal(use_case: UseCase, challenger_md5: str, gate: dict[str, Any] | None) -> str | None:
    """Why the gate does not let this challenger through, or None when its verdict passed."""
    version = use_case.model_version(challenger_md5)
    if not isinstance(gate, dict):
        return f"no gate verdict is recorded for the challenger {version}: evaluate it first (or --force --reason)"
    if gate.get("passed") is True:
        return None
    failed = failed_criteria(gate) or ["the verdict says it failed"]
    return f"the challenger {version} failed the gate: {'; '.join(failed)}"


def promote(use_case: UseCase, root: Path, force: bool = False, reason: str = "") -> Switch:
    """Serve the challenger, provided the gate passed it (or ``force`` with a ``reason``, which is recorded)."""
    if force and not reason.strip():
        raise LifecycleRefused(Refusal.REASON_REQUIRED, "--force needs --reason: say why the gate is overridden")
    files = ModelFiles(use_case, Path(root))
    with files.locked():
        challenger = _challenger(files)
        challenger_md5 = files.model_md5(challenger)
        gate = challenger.meta.get("gate")
        refusal = None if force else _gate_refusal(use_case, challenger_md5, gate)
        if refusal:
            raise LifecycleRefused(Refusal.GATE, refusal)
        # Every artifact into the cache first (from the checked-out copy if the cache lost it), verified.
        listing = add_directory(files.root, {name: challenger.location(name)[0] for name in challenger.files})
        verify_files(use_case, files.root, challenger)
        pause_point("cached")
        previous = current_champion(files)
        ensure_ignored(files.folder, SERVED, CHALLENGER)
        _switch_to(files, listing, challenger.meta)
        why = f"forced: {reason.strip()}" if force else f"gate passed: {'; '.join(_criteria_figures(gate))}"
        record = _record(files, Event.PROMOTED, challenger, **_previous_fields(previous), why=why)
        pause_point("recorded")
        files.challenger.unlink(missing_ok=True)
        remove_directory(files.challenger.with_suffix(""))
        return Switch(challenger_md5, previous.md5, record)


def _criteria_figures(gate: dict[str, Any]) -> list[str]:
    return [f"{each.get('name', '?')} = {each.get('value', '?')}" for each in gate.get("criteria") or []]


def _previous_fields(previous: Champion) -> dict[str, Any]:
    return {"previous_model_md5": previous.md5, "previous_dir_md5": previous.dir_md5}


def _switch_to(files: ModelFiles, listing: DirectoryListing | None, meta: dict[str, Any]) -> None:
    """The one switch: ``served.dvc`` replaced at once (removed: the dvc.lock champion), then ``served/``."""
    folder = files.served.with_suffix("")
    if listing is None:
        files.served.unlink(missing_ok=True)
        pause_point("switched")
        remove_directory(folder)
    else:
        write_directory_record(files.root, files.served, listing, meta)
        pause_point("switched")
        checkout_directory(files.root, listing, folder, after_each=lambda name: pause_point("materializing"))
    pause_point("materialized")


def rollback(use_case: UseCase, root: Path, to: str | None = None) -> Switch:
    """Serve again the champion served before the current one, or the earlier champion ``to`` names (md5 or prefix).

    Back past the first promotion is the champion dvc.lock records (``served.dvc`` removed). The
    target comes from the DVC cache and is verified by md5 before the switch.
    """
    files = ModelFiles(use_case, Path(root))
    with files.locked():
        records = read_history(files.history)
        current = current_champion(files)
        target = _chosen_target(files, records, current, to) if to else _previous_target(files, records, current)
        if target is None:
            verify_files(use_case, files.root, None)
            listing, meta, target_md5 = None, {}, recorded_md5(files.root, use_case.model.model_path)
        else:
            listing = cached_listing(files.root, target, files.history)
            meta = _meta_of(records, target)
            _require_cached(files, listing)
            verify_files(use_case, files.root, TrackedDirectory(files.served, files.root, listing, meta))
            target_md5 = files.model_md5(listing)
        pause_point("cached")
        _switch_to(files, listing, meta)
        why = f"rolled back to {use_case.model_version(target_md5)}" + (f" (--to {to})" if to else "")
        record = append_record(
            files.history,
            Event.ROLLED_BACK,
            model_md5=target_md5,
            dir_md5=target,
            **{name: meta.get(name) for name in ("training_set", "metrics", "gate")},
            **_previous_fields(current),
            why=why,
        )
        pause_point("recorded")
        return Switch(target_md5, current.md5, record)


def _previous_target(files: ModelFiles, records: list[dict[str, Any]], current: Champion) -> str | None:
    """The directory md5 served before the current champion (None: the dvc.lock champion)."""
    sequence = served_sequence(records)
    if current.dir_md5 in sequence:  # not there: a promotion the history missed (killed before writing it)
        del sequence[len(sequence) - sequence[::-1].index(current.dir_md5) - 1 :]
    if not sequence:
        raise LifecycleRefused(
            Refusal.NOTHING_TO_ROLL_BACK,
            f"{files.use_case.name} serves the champion dvc.lock records and no model was served before it",
        )
    return sequence[-1]


def _served_models(files: ModelFiles, records: list[dict[str, Any]]) -> dict[str, str | None]:
    """Every model md5 ever served -> its directory md5 (None: the dvc.lock champion)."""
    served: dict[str, str | None] = {}
    try:
        served[recorded_md5(files.root, files.use_case.model.model_path)] = None
    except ModelIntegrityError:
        pass  # no dvc.lock champion to go back to
    for record in records:
        if record["event"] in (Event.PROMOTED, Event.ROLLED_BACK):
            served[record["model_md5"]] = record["dir_md5"]
        if record["event"] in (Event.PROMOTED, Event.ROLLED_BACK) and record.get("previous_model_md5"):
            served.setdefault(record["previous_model_md5"], record.get("previous_dir_md5"))
    return served


def _chosen_target(files: ModelFiles, records: list[dict[str, Any]], current: Champion, to: str) -> str | None:
    """The directory of the earlier champion ``to`` names: its model md5, a prefix of it, or its model version."""
    wanted = to.strip().removeprefix(f"{files.use_case.model_name}-").lower()
    matches = {md5: directory for md5, directory in _served_models(files, records).items() if md5.startswith(wanted)}
    if not wanted or len(matches) != 1:
        how = "names more than one" if len(matches) > 1 else "was never served"
        raise LifecycleRefused(Refusal.UNKNOWN_MODEL, f"{to} {how} as the {files.use_case.name} model")
    [(md5, directory)] = matches.items()
    if md5 == current.md5:
        raise LifecycleRefused(Refusal.UNKNOWN_MODEL, f"{files.use_case.model_version(md5)} is already served")
    return directory


def _meta_of(records: list[dict[str, Any]], dir_md5: str) -> dict[str, Any]:
    """What the history says about the model directory ``dir_md5`` (its latest record)."""
    for record in reversed(records):
        if record.get("dir_md5") == dir_md5:
            return {name: record.get(name) for name in ("model_md5", "training_set", "metrics", "gate")}
    return {}


def _require_cached(files: ModelFiles, listing: DirectoryListing) -> None:
    missing = [name for name, md5 in listing.files.items() if not cache_object(files.root, md5).is_file()]
    if missing:
        raise ModelIntegrityError(
            f"{', '.join(missing)} of {files.use_case.model_version(files.model_md5(listing))} are not in the DVC "
            f"cache of {files.root}; run `dvc pull` there (or fetch them from the DVC remote) first"
        )


def discard(use_case: UseCase, root: Path) -> dict[str, Any]:
    """Drop the challenger (its objects stay in the DVC cache); returns the ``discarded`` history record."""
    files = ModelFiles(use_case, Path(root))
    with files.locked():
        challenger = _challenger(files)
        files.challenger.unlink()
        remove_directory(files.challenger.with_suffix(""))
        return _record(files, Event.DISCARDED, challenger, why="discarded by hand")


def models_overview(use_case: UseCase, root: Path) -> dict[str, Any]:
    """``champion`` and ``challenger`` (md5, version, directory md5, training set, metrics, gate) and ``history``."""
    files = ModelFiles(use_case, Path(root))
    served = tracked_directory(files.root, files.served)
    artifact = verify_files(use_case, files.root, served)
    champion = _described(use_case, artifact.md5, served)
    champion["source"] = str(files.served.relative_to(files.root)) if served else "dvc.lock"
    challenger = tracked_directory(files.root, files.challenger)
    return {
        "champion": champion,
        "challenger": _described(use_case, files.model_md5(challenger), challenger) if challenger else None,
        "history": read_history(files.history),
    }


def _described(use_case: UseCase, md5: str, directory: TrackedDirectory | None) -> dict[str, Any]:
    meta = directory.meta if directory else {}
    return {
        "md5": md5,
        "version": use_case.model_version(md5),
        "dir_md5": directory.md5 if directory else None,
        **{name: meta.get(name) for name in ("training_set", "metrics", "gate")},
    }
