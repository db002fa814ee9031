"""Where scoring may write: never onto its own input, never where inputs are picked up.

Scoring writes several files for one input (the scored CSV, the files published with it, a
reject report) and moves earlier results into archive folders. If any of those paths leads to
the input file, however it is spelled (the same path, a relative spelling, ``..``, a symlink
either way, a hard link), the input would be replaced by its own scores or moved away as an
earlier result. ``paths_written_for`` is the one list of those paths; every entry point applies
``check_scored_output_path`` to it (and ``check_outputs_do_not_reach_input`` to any other
output it is given) before it registers, moves or writes anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from scoring_assets.core.files import is_temporary_name
from scoring_assets.core.manifest import ARCHIVE_FOLDER, published_with, reject_report_path_for

SCORED_FILE = "scored file"


class UnsafeOutputPathError(ValueError):
    """An output path would overwrite or move the input, is a folder, or lies where inputs are read."""


def paths_written_for(scored_csv: Path | str, reject_report: Path | str | None = None) -> dict[str, Path]:
    """Every path a run may write, replace or move things into for a scored file at ``scored_csv``, by role.

    The file itself, every file published with it (``manifest.published_with``: the manifest,
    the drift report...), the reject report (``reject_report``, by default beside the scored
    file as the CLI puts it with ``--output``), and the archive folders that earlier versions of
    them are moved into (``manifest.archive_previous``, ``manifest.set_aside``).
    """
    scored_csv = Path(scored_csv)
    reject_report = Path(reject_report) if reject_report is not None else reject_report_path_for(scored_csv)
    return {
        SCORED_FILE: scored_csv,
        **published_with(scored_csv),
        "reject report": reject_report,
        "archive folder": scored_csv.parent / ARCHIVE_FOLDER,
        "reject report's archive folder": reject_report.parent / ARCHIVE_FOLDER,
    }


def check_scored_output_path(
    input_path: Path | str,
    scored_csv: Path | str,
    protected_folders: Iterable[Path | str] = (),
    reject_report: Path | str | None = None,
) -> None:
    """Refuse a scored-file destination (``--output``, ``output_path``, the default) before anything is written.

    It must name a file (not an existing folder, not below something that is not a folder),
    none of the paths written for it (``paths_written_for``, with ``reject_report``) may reach
    the input or lie in ``protected_folders``, and the input may not be named like a temporary
    of an unfinished write (a run deletes those when their writer is gone). Raises
    ``UnsafeOutputPathError`` naming the problem.
    """
    scored_csv = Path(scored_csv)
    _refuse_temporary_named_input(Path(input_path))
    resolved = scored_csv.expanduser().resolve()
    if resolved.is_dir():
        raise UnsafeOutputPathError(
            f"output {scored_csv} is a folder; give a file name such as {scored_csv}/scored.csv"
        )
    blocker = next((folder for folder in resolved.parents if folder.exists() and not folder.is_dir()), None)
    if blocker is not None:
        raise UnsafeOutputPathError(f"output {scored_csv} cannot be written: {blocker} is not a folder")
    protected = list(protected_folders)
    for role, path in paths_written_for(scored_csv, reject_report).items():
        problem = _clash(Path(input_path), path, protected)
        if problem:
            subject = f"output {scored_csv}" if role == SCORED_FILE else f"the {role} of output {scored_csv}, {path},"
            raise UnsafeOutputPathError(f"{subject} {problem}")


def _refuse_temporary_named_input(source: Path) -> None:
    """An input named like an ``atomic_path`` temporary would be deleted as a dead writer's litter."""
    if any(is_temporary_name(path.name) for path in (source, source.expanduser().resolve())):
        raise UnsafeOutputPathError(
            f"input {source} is named like the temporary file of an unfinished write (.<name>.<host>.<pid>.<8 hex>"
            ".tmp), which scoring deletes once the process that wrote it has gone; rename it"
        )


def check_outputs_do_not_reach_input(
    input_path: Path | str, output_paths: Iterable[Path | str], protected_folders: Iterable[Path | str] = ()
) -> None:
    """Raise ``UnsafeOutputPathError`` naming the clash if writing any of ``output_paths`` could destroy the input.

    An output clashes when it is the input file (compared after resolving symlinks, ``..``
    and relative parts, and by device + inode when both exist: hard links, case-insensitive
    file systems), when it is a folder holding the input (the archive folder), or when it
    lies inside one of ``protected_folders`` (e.g. the inbox, where a written CSV would be
    taken for a new input).
    """
    protected = list(protected_folders)
    for output in map(Path, output_paths):
        problem = _clash(Path(input_path), output, protected)
        if problem:
            raise UnsafeOutputPathError(f"output {output} {problem}")


def _clash(source: Path, output: Path, protected_folders: list[Path | str]) -> str | None:
    """Why writing ``output`` could destroy ``source`` or feed the inbox (a predicate), or None."""
    resolved_source, resolved = source.expanduser().resolve(), output.expanduser().resolve()
    if resolved == resolved_source or _same_file(output, source):
        return f"is the input file {source}{_how_it_is_the_same(output, source)}: it would be overwritten"
    if resolved in resolved_source.parents:
        return f"is a folder holding the input {source}, where scoring moves earlier results"
    for folder in (Path(folder).expanduser().resolve() for folder in protected_folders):
        if resolved == folder or folder in resolved.parents:
            return f"is inside {folder}, where every CSV is taken for a new input to score"
    return None


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet): it cannot be the same file
        return False


def _how_it_is_the_same(output: Path, source: Path) -> str:
    if output.absolute() == source.absolute():
        return ""
    if any(path.is_symlink() for path in (output, *output.parents, source, *source.parents)):
        return " (through a symlink)"
    if output.resolve() == source.resolve():
        return " (another spelling of the same path)"
    return " (a hard link to it)"
