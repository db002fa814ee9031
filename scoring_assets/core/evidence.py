"""The evidence bundle of a scored file: everything that decided its scores, in one folder, each hash re-checked.

A regulated team must show, per file, what produced the scores (model risk guidance such as SR
11-7); that is spread over the manifest, the reports, the lake, DVC and git. ``build_evidence``
gathers it from what the product keeps (never from Dagster's event log, which a deployment
prunes) into a new folder::

    evidence.json       the machine-readable record (schema: docs/operations.md, "Evidence bundle")
    index.html          the same for people: offline, one page, no script
    manifest.json       the scored file's manifest, as published
    check_results.json  every check result behind the file, with its meaning and description
    drift_report.html, reject_report.csv, model_card.json, model_metrics.json,
    reference_profile.json, packages.txt   when the file or its model has them

Each item's hash is taken again, on the bundle's copy where there is one, and compared with the
one recorded when the file was scored (the manifest, DVC, the packages list's own name): any
difference is an ``EvidenceMismatch`` naming the items and nothing is written, as ``lineage``
refuses a modified scored file. The input file is the sender's, not the product's: when it is no
longer at its path, or other bytes are, the bundle says so and still records the sha256 scored.
The folder is assembled under a temporary name beside ``out`` and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scoring_assets.core.check_results import checks_behind, read_check_records
from scoring_assets.core.dvc_cache import cache_object
from scoring_assets.core.files import file_md5, file_sha256
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.manifest import LineageError, drift_report_path_for, manifest_path_for, read_manifest
from scoring_assets.core.manifest_model import Manifest
from scoring_assets.core.model_store import (
    SERVED,
    ModelArtifact,
    ModelIntegrityError,
    lifecycle_file,
    recorded_md5,
    tracked_directory,
)
from scoring_assets.core.reports.evidence import write_evidence_page
from scoring_assets.core.use_case import UseCase

EVIDENCE_VERSION = 1
EVIDENCE_JSON = "evidence.json"
INDEX_PAGE = "index.html"


class EvidenceError(ValueError):
    """The bundle cannot be built as asked: no such scored file or partition, or ``out`` exists already."""


class EvidenceMismatch(RuntimeError):
    """Items whose bytes are no longer those recorded at scoring time; ``items`` names them."""

    def __init__(self, items: list[EvidenceItem]):
        self.items = items
        super().__init__("; ".join(f"{item.name} ({item.source}): {item.note}" for item in items))


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence: where it was found, its copy in the bundle, and whether its hash is the recorded one.

    ``verified`` is True when the hash taken now equals the recorded one, False when it differs (or a
    recorded file is gone), None when there is nothing to compare with or the item is not available.
    """

    name: str
    source: str | None
    copy: str | None  # its file in the bundle, None when not copied (the scored file, the input, the model)
    algorithm: str  # of ``recorded`` and ``actual``: sha256, or md5 for what DVC tracks
    recorded: str | None
    actual: str | None
    verified: bool | None
    note: str


@dataclass(frozen=True)
class EvidenceSources:
    """Where the evidence of one scored file is: the file, its use case's folders, and the model store's view."""

    scored_file: Path
    use_case: UseCase
    own: UseCaseFolders
    model_root: Path  # the DVC project whose cache holds every model version it served
    served: ModelArtifact | None  # the use case's served model, verified; None when it cannot be verified


def scored_file_of(own: UseCaseFolders, partition_key: str) -> Path:
    """The scored file a partition's last successful scoring published (wherever ``--output`` put it)."""
    try:
        return Path(own.read_stage_summary("scores", partition_key)["output_path"])
    except FileNotFoundError:
        raise EvidenceError(f"{own.use_case} has no scored file for partition {partition_key!r}") from None


def build_evidence(sources: EvidenceSources, out: Path) -> dict[str, Any]:
    """Write the bundle of ``sources.scored_file`` to the new folder ``out``; returns its ``evidence.json`` record.

    Raises ``EvidenceError`` (nothing written) when ``out`` exists or the file has no manifest, and
    ``EvidenceMismatch`` (nothing written) when any item's hash is not the recorded one.
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise EvidenceError(f"{out} exists already: an evidence bundle is written into a new folder")
    manifest = _manifest_of(sources.scored_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()  # as any folder the user makes (umask), unlike a tempfile.mkdtemp one
    try:
        record = _assemble(sources, manifest, staging)
        mismatched = [item for item in record["items"] if item["verified"] is False]
        if mismatched:
            raise EvidenceMismatch([EvidenceItem(**item) for item in mismatched])
        _write_json(staging / EVIDENCE_JSON, record)
        write_evidence_page(staging / INDEX_PAGE, record)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def _manifest_of(scored_file: Path) -> Manifest:
    if not Path(scored_file).is_file():
        raise EvidenceError(f"{scored_file}: scored file not found")
    try:
        return read_manifest(scored_file)
    except (LineageError, ValueError) as error:
        raise EvidenceError(f"{scored_file}: {error}") from None


def _assemble(sources: EvidenceSources, manifest: Manifest, staging: Path) -> dict[str, Any]:
    """The ``evidence.json`` record, with every copied item already in ``staging``."""
    raw = json.loads(manifest_path_for(sources.scored_file).read_text(encoding="utf-8"))
    log = sources.own.check_results(manifest.partition_key)
    checks = checks_behind(read_check_records(log), manifest.scores_run_id)
    _write_json(staging / "check_results.json", checks)
    items = [
        *_file_items(sources, manifest, staging),
        *_model_items(sources, manifest, staging),
        _check_results_item(checks, log, staging / "check_results.json"),
    ]
    provenance = manifest.provenance
    return {
        "evidence_version": EVIDENCE_VERSION,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "use_case": sources.use_case.name,
        "partition_key": manifest.partition_key,
        "scored_file": {
            "path": str(sources.scored_file),
            "sha256": manifest.output.sha256,
            "rows": manifest.output.rows,
        },
        "input": {"path": manifest.input.path, "bytes": manifest.input.bytes, "sha256": manifest.input.sha256},
        "model": {**manifest.model.as_dict(), "still_the_champion": _still_the_champion(sources, manifest)},
        "reference_md5": manifest.drift.reference_md5 if manifest.drift else None,
        "contract_version": provenance.contract_version if provenance else None,
        "reasons": raw.get("reasons"),  # the reason dictionary's version and explainer, when the use case has reasons
        "run": _run(manifest, checks),
        "code_version": manifest.code_version,
        "code_checkout": provenance.code_checkout.as_dict() if provenance and provenance.code_checkout else None,
        "environment": {"sha256": provenance.environment.sha256} if provenance else None,
        "checks": checks,
        "items": [asdict(item) for item in items],
        "verified": all(item.verified is not False for item in items),
    }


def _still_the_champion(sources: EvidenceSources, manifest: Manifest) -> bool | None:
    return None if sources.served is None else sources.served.md5 == manifest.model.md5


def _run(manifest: Manifest, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The run that scored the file, and its tags as the lake kept them with its check results."""
    published = [record for record in checks if record["run_id"] == manifest.scores_run_id]
    return {
        "run_id": manifest.run_id,
        "scores_run_id": manifest.scores_run_id,
        "tags": published[-1]["run_tags"] if published else None,
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _file_items(sources: EvidenceSources, manifest: Manifest, staging: Path) -> list[EvidenceItem]:
    """The scored file, its input, its manifest, its reports and the packages list of its environment."""
    scored = sources.scored_file
    recorded = manifest.published_sha256 or {}
    items = [
        _hashed_item("scored file", scored, manifest.output.sha256, "as the manifest records it"),
        _input_item(manifest),
        _copied_item("manifest", manifest_path_for(scored), staging / "manifest.json", None, "the record of the file"),
    ]
    if manifest.drift is not None:
        report = drift_report_path_for(scored)
        items.append(_copied_item("drift report", report, staging / "drift_report.html", recorded.get("drift report")))
    if manifest.rejected.path:
        report = Path(manifest.rejected.path)
        items.append(
            _copied_item("reject report", report, staging / "reject_report.csv", recorded.get("reject report"))
        )
    if manifest.provenance is not None:
        environment = manifest.provenance.environment
        listed = Path(environment.packages_file) if environment.packages_file else None
        items.append(_copied_item("packages list", listed, staging / "packages.txt", environment.sha256))
    return items


def _hashed_item(name: str, path: Path, recorded: str, agreed: str) -> EvidenceItem:
    """A file the product wrote and keeps, hashed where it is (not copied: it can be large)."""
    if not path.is_file():
        return EvidenceItem(name, str(path), None, "sha256", recorded, None, False, "missing")
    actual = file_sha256(path)
    note = agreed if actual == recorded else "its sha256 is not the recorded one: it was modified after scoring"
    return EvidenceItem(name, str(path), None, "sha256", recorded, actual, actual == recorded, note)


def _input_item(manifest: Manifest) -> EvidenceItem:
    """The input file: the sender's, so other bytes at its path (or none) are reported, never a mismatch."""
    path, recorded = Path(manifest.input.path), manifest.input.sha256
    if not path.is_file():
        return EvidenceItem("input file", str(path), None, "sha256", recorded, None, None, "no longer at its path")
    actual = file_sha256(path)
    if actual != recorded:
        note = "other bytes are at its path now (a newer delivery?): the sha256 scored is the recorded one"
        return EvidenceItem("input file", str(path), None, "sha256", recorded, actual, None, note)
    return EvidenceItem("input file", str(path), None, "sha256", recorded, actual, True, "still at its path, unchanged")


def _copied_item(
    name: str, source: Path | None, copy: Path, recorded: str | None, unrecorded: str = "no hash was recorded"
) -> EvidenceItem:
    """A file copied into the bundle, its copy hashed and compared with ``recorded`` (None: nothing to compare)."""
    if source is None or not source.is_file():
        verified = False if recorded else None
        return EvidenceItem(name, str(source) if source else None, None, "sha256", recorded, None, verified, "missing")
    shutil.copyfile(source, copy)
    actual = file_sha256(copy)
    if recorded is None:
        return EvidenceItem(name, str(source), copy.name, "sha256", None, actual, None, unrecorded)
    same = actual == recorded
    note = "as recorded at scoring time" if same else "its sha256 is not the recorded one: it was modified"
    return EvidenceItem(name, str(source), copy.name, "sha256", recorded, actual, same, note)


def _check_results_item(checks: list[dict[str, Any]], log: Path, copy: Path) -> EvidenceItem:
    """The check results behind the file, as the lake keeps them (appended to by each run: no hash to compare)."""
    results = sum(len(record["checks"]) for record in checks)
    note = (
        f"{results} check result(s) of {len(checks)} step(s), as kept in the lake"
        if checks
        else "none kept: the file was scored before check results were kept in the lake"
    )
    return EvidenceItem("check results", str(log), copy.name, "sha256", None, file_sha256(copy), None, note)


def _model_items(sources: EvidenceSources, manifest: Manifest, staging: Path) -> list[EvidenceItem]:
    """The model (by its md5, wherever its bytes still are), its reference profile, and its card and metrics.

    A model no longer served is found in the DVC cache by its md5; its card and metrics are only
    taken while it is still the champion, whose DVC record (``dvc.lock``, or ``served.dvc`` after a
    promotion) gives their md5s.
    """
    source = sources.use_case.model
    items = [_by_md5("model", manifest.model.md5, [Path(manifest.model.path), *_cached(sources, manifest.model.md5)])]
    if manifest.drift is not None and manifest.drift.reference_md5 and source.profile_path:
        md5 = manifest.drift.reference_md5
        candidates = [_dvc_record(sources, source.profile_path)[0], *_cached(sources, md5)]
        items.append(_by_md5("reference profile", md5, candidates, staging / "reference_profile.json"))
    if not _still_the_champion(sources, manifest):
        gone = "not included: the file's model is not the one served now (its card is kept in the DVC cache)"
        return [*items, EvidenceItem("model card", None, None, "md5", None, None, None, gone)]
    for name, relative, copy in (
        ("model card", source.card_path, "model_card.json"),
        ("model metrics", source.metrics_path, "model_metrics.json"),
    ):
        if relative:
            path, md5 = _dvc_record(sources, relative)
            found = _by_md5(name, md5, [path, *_cached(sources, md5)], staging / copy) if md5 else None
            items.append(found or _copied_item(name, path, staging / copy, None, "DVC records no md5 for it"))
    return items


def _dvc_record(sources: EvidenceSources, relative: str) -> tuple[Path, str | None]:
    """Where the served model's file ``relative`` is checked out, and the md5 DVC records for it (None: none)."""
    root, name = sources.model_root, Path(relative).name
    try:
        directory = tracked_directory(root, lifecycle_file(root, sources.use_case, SERVED))
        if directory is not None:
            return directory.folder / name, directory.files.get(name)
        return root / relative, recorded_md5(root, relative)
    except ModelIntegrityError:  # no record to go by; the served model's own check says why
        return root / relative, None


def _cached(sources: EvidenceSources, md5: str) -> list[Path]:
    return [cache_object(sources.model_root, md5)]


def _by_md5(name: str, recorded: str, candidates: list[Path], copy: Path | None = None) -> EvidenceItem:
    """The first candidate whose bytes have the md5 ``recorded`` (hashed on its copy when ``copy`` is given).

    A candidate with other bytes is no mismatch: the model's path holds whichever model is served now.
    Verified None when no candidate has those bytes any more.
    """
    for candidate in (path for path in candidates if path.is_file()):
        if copy is not None:
            shutil.copyfile(candidate, copy)
        if file_md5(copy or candidate) == recorded:
            found = "its md5 is the recorded one"
            return EvidenceItem(
                name, str(candidate), copy.name if copy else None, "md5", recorded, recorded, True, found
            )
    if copy is not None:
        copy.unlink(missing_ok=True)
    where = ", ".join(str(candidate) for candidate in candidates)
    return EvidenceItem(
        name, None, None, "md5", recorded, None, None, f"not available: no file with its md5 at {where}"
    )
