"""Retiring a file: a partition that was a mistake (wrong table, a test file) leaves, its files kept.

``retire_partition`` moves every file the data folder holds for one partition (its registration
and content record, the lake files of every asset, the scored file with what is published beside
it, the reject report) into a new folder ``archive/<use case>/retired/<key>/<when>/``, each file
renamed atomically and keeping its path below the data folder; a scored file published elsewhere
(``--output``) goes to the archive folder beside it, as a re-score would move it
(``manifest.archive_previous``). The input file the user dropped is never touched. It then
appends what it did (partition, source file, sha256, when, who, why, every file's old and new
path) to ``lake/<use case>/retired.jsonl``. With the content record gone, the same bytes can be
registered (and scored) again; the key they get is the same, and it may never stand for other
content (``UseCaseFolders.retired_key_record``). Removing the partition from Dagster is the
caller's part (``builders.retirement``), so pruning old files can build on the same function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scoring_assets.core.files import append_json_line, json_lines, write_text_atomically
from scoring_assets.core.folders import InputRegistration, UseCaseFolders
from scoring_assets.core.manifest import (
    archive_previous,
    move_unless_gone,
    new_archive_folder,
    published_with,
    set_aside,
)
from scoring_assets.core.model_history import who_and_when


class RetirementRefused(ValueError):
    """Nothing was retired: no reason given, or the partition has no files to retire."""


@dataclass(frozen=True)
class Retirement:
    """One retired file: which, when, by whom, why, and where each of its files went (``from`` -> ``to``)."""

    use_case: str
    partition: str
    source_path: str | None
    sha256: str | None
    when: str
    who: str
    why: str
    archive_folder: str
    archived: list[dict[str, str]]

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def retire_partition(own: UseCaseFolders, partition_key: str, reason: str) -> Retirement:
    """Archive every file of ``partition_key`` and record why; the partition's run lock is held meanwhile.

    Raises ``RetirementRefused`` for a blank ``reason``. A partition without any file left (a
    retirement cut short after its files moved) is recorded all the same, so the caller can finish.
    """
    if not reason.strip():
        raise RetirementRefused("say why the file is retired (--reason): it is recorded with it")
    with own.one_run_at_a_time(partition_key):
        registration = _registration_or_none(own, partition_key)
        stamp = who_and_when()
        folder = new_archive_folder(own.retirement_archive(partition_key), stamp["when"].replace(":", ""))
        archived = _archive_outputs_elsewhere(own, partition_key) + _archive_in_data_folder(
            own, partition_key, registration, folder
        )
        retirement = Retirement(
            use_case=own.use_case,
            partition=partition_key,
            source_path=registration.source_path if registration else None,
            sha256=registration.sha256 if registration else None,
            why=reason.strip(),
            archive_folder=str(folder),
            archived=archived,
            **stamp,
        )
        if registration is not None:
            write_text_atomically(own.retired_key_record(partition_key), json.dumps(registration.as_dict()) + "\n")
        append_json_line(own.retired_ledger, retirement.as_record())
    return retirement


def _registration_or_none(own: UseCaseFolders, partition_key: str) -> InputRegistration | None:
    try:
        return own.registered_input(partition_key)
    except FileNotFoundError:  # a partition added by hand, or files already moved by a retirement cut short
        return None


def partition_files(own: UseCaseFolders, partition_key: str, registration: InputRegistration | None) -> list[Path]:
    """Every file under the data folder that belongs to the partition (never the input, never its lock)."""
    lake = own.root / "lake" / own.use_case
    files = [path for path in lake.glob(f"*/{partition_key}.*") if path.parent.name != "locks"]
    if registration is not None and own.partition_for_content(registration.sha256) == partition_key:
        files.append(own.content_record(registration.sha256))
    scored = own.scored_file(partition_key)
    files += [scored, *published_with(scored).values(), own.reject_report(partition_key)]
    return sorted({path for path in files if path.is_file()})


def _archive_in_data_folder(
    own: UseCaseFolders, partition_key: str, registration: InputRegistration | None, folder: Path
) -> list[dict[str, str]]:
    """Move the partition's files into ``folder``, each at its path relative to the data folder."""
    moved = []
    for path in partition_files(own, partition_key, registration):
        destination = folder / path.relative_to(own.root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if move_unless_gone(path, destination):
            moved.append({"from": str(path), "to": str(destination)})
    return moved


def _archive_outputs_elsewhere(own: UseCaseFolders, partition_key: str) -> list[dict[str, str]]:
    """A scored file or reject report published outside the data folder (``--output``): aside beside it.

    They go where a re-score to the same ``--output`` would move them (``manifest.archive_previous``,
    ``manifest.set_aside``), so nothing is moved across file systems.
    """
    scored = _published(own, partition_key, "scores", "output_path", own.scored_file(partition_key))
    rejects = _published(own, partition_key, "validated_batch", "reject_report", own.reject_report(partition_key))
    if scored is not None:
        present = [path for path in (scored, *published_with(scored).values(), rejects) if path and path.exists()]
        folder = archive_previous(scored, *([rejects] if rejects else []))
        return [{"from": str(path), "to": str(folder / path.name)} for path in present if folder]
    moved_to = set_aside(rejects) if rejects is not None else None
    return [{"from": str(rejects), "to": str(moved_to)}] if moved_to else []


def _published(own: UseCaseFolders, partition_key: str, asset: str, field: str, default: Path) -> Path | None:
    """The path a stage summary says a file was published at, when that is not its place in the data folder."""
    try:
        recorded = own.read_stage_summary(asset, partition_key).get(field)
    except FileNotFoundError:  # the stage never ran (or was refused before its summary)
        return None
    return Path(recorded) if recorded and Path(recorded).resolve() != default.resolve() else None


def retirements(own: UseCaseFolders) -> list[dict[str, Any]]:
    """The use case's retirement records, oldest first (none when nothing was retired)."""
    return json_lines(own.retired_ledger)


def retired_scored_file(ledgers: Iterable[UseCaseFolders], scored_csv: Path) -> tuple[Path, dict[str, Any] | None]:
    """Where to read the lineage of ``scored_csv`` from, and the retirement it went through (None if none).

    A retired scored file is found by its archived path, or by the path it had (then its archived
    copy is the one to read) unless a file has been published there again since.
    """
    wanted = Path(scored_csv).expanduser().resolve()
    for own in ledgers:
        for record in reversed(retirements(own)):
            for moved in record["archived"]:
                archived, original = Path(moved["to"]).resolve(), Path(moved["from"]).resolve()
                if archived == wanted or (original == wanted and not wanted.exists()):
                    return Path(moved["to"]), record
    return Path(scored_csv), None
