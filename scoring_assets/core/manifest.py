"""The run manifest written beside every scored file, publishing the pair, and reading lineage back.

A manifest answers "where did this scored file come from": the input file and its sha256,
the model artifact and its md5, the run, the threshold and the counts. The scored file and
its manifest are published together by ``publish_scored_file``, and whatever they replace is
archived first, so the two never disagree and no earlier result is lost. ``lineage`` also
proves the scored file is still the one the manifest describes. The manifest itself, and its
JSON, are ``core.manifest_model.Manifest``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from scoring_assets.core.files import file_sha256, write_text_atomically
from scoring_assets.core.manifest_model import Manifest, Provenance, RunLineage, ScoredOutput
from scoring_assets.core.provenance import code_checkout

MANIFEST_SUFFIX = ".manifest.json"
ARCHIVE_FOLDER = "archive"


def manifest_path_for(scored_csv: Path) -> Path:
    """``OUT.csv`` -> ``OUT.manifest.json`` (any other name gets the suffix appended)."""
    return _beside(scored_csv, MANIFEST_SUFFIX)


def drift_report_path_for(scored_csv: Path) -> Path:
    """``OUT.csv`` -> ``OUT.drift.html``: the file's drift report, published and archived with it."""
    return _beside(scored_csv, ".drift.html")


def reject_report_path_for(scored_csv: Path) -> Path:
    """``OUT.csv`` -> ``OUT.rejected.csv``: where the CLI puts rejects beside an ``--output``."""
    return _beside(scored_csv, ".rejected.csv")


def _beside(scored_csv: Path, suffix: str) -> Path:
    scored_csv = Path(scored_csv)
    return scored_csv.with_name(_stem(scored_csv) + suffix)


def _stem(scored_csv: Path) -> str:
    name = scored_csv.name
    return name[: -len(".csv")] if name.lower().endswith(".csv") else name


def archive_folder_for(output: Path) -> Path:
    """``<folder>/archive/<stem>/``: where earlier versions of ``output`` (and its siblings) are kept."""
    output = Path(output)
    return output.parent / ARCHIVE_FOLDER / _stem(output)


def published_with(scored_csv: Path) -> dict[str, Path]:
    """The files published beside a scored file, by role: written, replaced and archived together with it.

    The one list of them: ``archive_previous`` moves these aside, ``publish_scored_file`` writes
    only these, and ``output_paths.paths_written_for`` checks each against the input, so a file
    added here is archived and checked everywhere at once.
    """
    return {"manifest": manifest_path_for(scored_csv), "drift report": drift_report_path_for(scored_csv)}


def archive_previous(scored_csv: Path, *others: Path) -> Path | None:
    """Move whatever exists of a scored file, the files published with it and ``others`` into a new archive folder.

    Called before anything replaces them, on every path (a run, a re-score, the UI materializing
    ``scores`` on its own, the CLI reusing an ``--output``), so no earlier result is ever
    overwritten. The folder is named after the earlier manifest's scoring timestamp and model
    version (or the file's modification time when it has no manifest), so each archived
    manifest still says which input and model produced its file. Returns the folder, or None
    if there was nothing to move (a file another run moved aside first is not this run's to move).
    """
    scored_csv = Path(scored_csv)
    present = [path for path in (scored_csv, *published_with(scored_csv).values(), *others) if path.exists()]
    if not present:
        return None
    destination = new_archive_folder(archive_folder_for(scored_csv), _archive_label(scored_csv, present))
    moved = [path for path in present if move_unless_gone(path, destination / path.name)]
    if not moved:
        _remove_empty(destination)
        return None
    return destination


def move_unless_gone(path: Path, destination: Path) -> bool:
    """Move ``path`` to ``destination``; False if it is gone already (another run moved it aside first)."""
    try:
        os.replace(path, destination)
    except FileNotFoundError:
        return False
    return True


def _archive_label(scored_csv: Path, present: list[Path]) -> str:
    try:
        manifest = Manifest.from_json(manifest_path_for(scored_csv).read_text(encoding="utf-8"))
        return f"{manifest.scoring_timestamp}_{manifest.model.version}".replace(":", "")
    except (OSError, ValueError):  # no manifest, or not one of ours
        return "modified_" + _timestamp(max(_modified(path) for path in present))


def _modified(path: Path) -> float:
    """The file's modification time; 0 if another run has just moved it away."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H%M%S.%fZ")


def new_archive_folder(parent: Path, label: str) -> Path:
    """``parent/label``, or ``parent/label-2``, ``-3``... if taken: an archive never merges two versions."""
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        folder = parent / (label if attempt == 1 else f"{label}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"no free archive folder name for {label} under {parent}")


def set_aside(path: Path) -> Path | None:
    """Move an existing file into its archive folder before something is written at ``path``.

    Returns where it went, or None if there was none (or another run moved it aside first).
    """
    path = Path(path)
    if not path.exists():
        return None
    destination = new_archive_folder(archive_folder_for(path), f"replaced_{_timestamp(_modified(path))}") / path.name
    if not move_unless_gone(path, destination):
        _remove_empty(destination.parent)
        return None
    return destination


def drop_if_unchanged(archived: Path | None, current: Path) -> Path | None:
    """Forget an archived copy that is byte-identical to what replaced it (nothing was lost)."""
    if archived is None:
        return None
    try:
        unchanged = file_sha256(archived) == file_sha256(current)
    except FileNotFoundError:  # nothing replaced it, or another run has just moved it aside
        return archived
    if unchanged:
        archived.unlink()
        _remove_empty(archived.parent)
        return None
    return archived


def _remove_empty(folder: Path) -> None:
    for candidate in (folder, folder.parent, folder.parent.parent):
        try:
            candidate.rmdir()
        except OSError:
            return


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout of its own."""
    package = installed_version("scoring-assets")
    checkout = code_checkout()
    return f"{package}+g{checkout.git_commit[:12]}" if checkout else package


@dataclass(frozen=True)
class Publication:
    """A scored file and its manifest as published, and where the ones they replaced went."""

    scored_path: Path
    manifest_path: Path
    manifest: Manifest
    archived_to: Path | None

    def as_record(self) -> dict[str, Any]:
        """The ``scores`` stage summary: where the scored file and its manifest are, and what the CLI reports."""
        manifest = self.manifest
        return {
            "run_id": manifest.run_id,
            "output_path": str(self.scored_path),
            "manifest_path": str(self.manifest_path),
            "output_sha256": manifest.output.sha256,
            "rows": manifest.output.rows,
            "threshold": manifest.threshold,
            "model": manifest.model.as_dict(),
        }


def publish_scored_file(
    write_scored_csv,
    scored_csv: Path,
    rows: int,
    run_lineage: RunLineage,
    companions: Mapping[str, Callable[[Path], None]] | None = None,
    provenance: Provenance | None = None,
) -> Publication:
    """Archive what is there, write the scored file and its companions, then the manifest describing them.

    ``write_scored_csv(path) -> (sha256, cells neutralised)`` writes the ``rows`` scored rows
    atomically; ``companions`` maps the role of each other file published beside it (one of
    ``published_with``, e.g. "drift report") to the function that writes it atomically at the path
    that role has; ``run_lineage`` is the rest of the manifest (input, model, run, counts), and
    ``provenance`` the code, packages and contract behind it. Everything ``published_with`` names
    is archived first, written this time or not, so no file of an earlier result is left beside
    the new one. The manifest records the sha256 of each companion and of the reject report, so an
    evidence bundle can prove them unchanged later (``core.evidence``).
    """
    scored_csv = Path(scored_csv)
    beside = published_with(scored_csv)
    writers = {beside[role]: write for role, write in (companions or {}).items()}  # KeyError: not a published role
    archived = archive_previous(scored_csv)
    sha256, neutralised = write_scored_csv(scored_csv)
    for path, write in writers.items():
        write(path)
    output = ScoredOutput(path=str(scored_csv), sha256=sha256, rows=rows, cells_neutralised=neutralised)
    reports = {role: path for role, path in beside.items() if path in writers}
    if run_lineage.rejected.path and Path(run_lineage.rejected.path).is_file():
        reports["reject report"] = Path(run_lineage.rejected.path)
    manifest = Manifest.published(
        run_lineage,
        output,
        str(archived) if archived else None,
        code_version=code_version(),
        provenance=provenance,
        published_sha256={role: file_sha256(path) for role, path in reports.items()},
    )
    manifest_path = beside["manifest"]
    write_text_atomically(manifest_path, manifest.to_json())
    return Publication(scored_csv, manifest_path, manifest, archived)


class LineageError(RuntimeError):
    """The scored file has no manifest, or no longer matches it."""


def read_manifest(scored_csv: Path) -> Manifest:
    path = manifest_path_for(scored_csv)
    if not path.exists():
        raise LineageError(f"{path} not found: {scored_csv} has no manifest beside it")
    return Manifest.from_json(path.read_text(encoding="utf-8"))


def lineage(scored_csv: Path) -> dict[str, Any]:
    """The lineage recorded for ``scored_csv``, with ``matches_manifest`` False if the file changed."""
    scored_csv = Path(scored_csv)
    if not scored_csv.exists():
        raise LineageError(f"{scored_csv} not found")
    manifest = read_manifest(scored_csv)
    actual = file_sha256(scored_csv)
    return {
        "scored_file": str(scored_csv),
        "scored_sha256": actual,
        "recorded_sha256": manifest.output.sha256,
        "matches_manifest": actual == manifest.output.sha256,
        "partition_key": manifest.partition_key,
        "run_id": manifest.run_id,
        "input": manifest.input.as_dict(),
        "model": manifest.model.as_dict(),
        "threshold": manifest.threshold,
        "scoring_timestamp": manifest.scoring_timestamp,
        "counts": {
            "input_rows": manifest.input.rows,
            "scored_rows": manifest.output.rows,
            "rejected_rows": manifest.rejected.rows,
        },
    }
