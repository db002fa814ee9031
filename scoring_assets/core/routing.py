"""Which use case a file belongs to, by its header: the one rule the CLI and the inbox router share.

A file goes to the one use case whose contract columns its header has. When none or several fit,
or the header cannot be read, the file is refused with a ``Decision`` and a reason that says
what each use case lacks; the caller adds how to choose (``--use-case`` on the command line, a
use case's own inbox folder in the UI).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scoring_assets.core.csv_header import InputFileError, read_layout
from scoring_assets.core.inbox import Decision
from scoring_assets.core.use_case import UseCase

COLUMNS_NAMED_PER_USE_CASE = 4


@dataclass(frozen=True)
class Unrouted:
    """Why a file goes to no use case: the inbox's decision, a reason naming the file's problem, and
    whether the file itself is unusable (no header to read) rather than a header that fits no contract."""

    decision: Decision
    reason: str
    file_unusable: bool = False


def route_by_header(path: Path, use_cases: list[UseCase]) -> UseCase | Unrouted:
    """The one use case whose contract the header of ``path`` satisfies, else why there is none.

    Raises ``OSError`` when the file cannot be read at all (the inbox retries; the CLI reports it).
    """
    try:
        header = read_layout(path).names
    except InputFileError as error:
        return Unrouted(Decision.NO_USE_CASE, f"{error.problem} (so no use case can be chosen for it)", True)
    matching = [use_case for use_case in use_cases if use_case.matches_header(header)]
    if len(matching) == 1:
        return matching[0]
    if matching:
        names = ", ".join(use_case.name for use_case in matching)
        return Unrouted(Decision.SEVERAL_USE_CASES, f"the header satisfies several use cases ({names})")
    return Unrouted(
        Decision.NO_USE_CASE, f"the header satisfies no use case's contract ({_lacking(header, use_cases)})"
    )


def _lacking(header: list[str], use_cases: list[UseCase]) -> str:
    """What each use case's contract lacks in ``header``, closest first, a few columns each."""
    missing = {use_case.name: use_case.missing_columns(header) for use_case in use_cases}
    closest = sorted(use_cases, key=lambda use_case: len(missing[use_case.name]))
    return "; ".join(
        f"{use_case.name} lacks {', '.join(missing[use_case.name][:COLUMNS_NAMED_PER_USE_CASE])}"
        + (" ..." if len(missing[use_case.name]) > COLUMNS_NAMED_PER_USE_CASE else "")
        for use_case in closest
    )


def route_outcomes_by_header(path: Path, use_cases: list[UseCase]) -> UseCase | Unrouted:
    """The one use case whose id and label columns the header of an outcomes file has, else why there is none.

    Only use cases that take outcomes (an id column and a label) are candidates; raises ``OSError`` as above.
    """
    try:
        header = {name.strip() for name in read_layout(path).names}
    except InputFileError as error:
        return Unrouted(Decision.NO_USE_CASE, f"{error.problem} (so no use case can be chosen for it)", True)
    candidates = [use_case for use_case in use_cases if use_case.takes_outcomes]
    matching = [each for each in candidates if {each.id_column, each.label_column} <= header]
    if len(matching) == 1:
        return matching[0]
    if matching:
        names = ", ".join(use_case.name for use_case in matching)
        return Unrouted(Decision.SEVERAL_USE_CASES, f"the header has the id and label columns of {names}")
    lacking = [f"{each.name} needs {each.id_column} and {each.label_column}" for each in candidates] or [
        "no use case has an id column and a label"
    ]
    return Unrouted(Decision.NO_USE_CASE, f"the header has no use case's id and label columns ({'; '.join(lacking)})")


def header_mismatch(path: Path, chosen: UseCase, use_cases: list[UseCase]) -> str | None:
    """Why a file named for ``chosen`` is another use case's file (the columns it lacks, the use case it fits).

    None when its header fits ``chosen``, fits no other use case (then it is ``chosen``'s file with
    a defect, which scoring reports in detail: a separator, a missing column) or cannot be read. So
    a file sent to the wrong use case is turned away before it is registered there, instead of
    leaving a refused partition in that use case's graph.
    """
    try:
        header = read_layout(path).names
    except InputFileError:
        return None
    fits = [use_case.name for use_case in use_cases if use_case.name != chosen.name and use_case.matches_header(header)]
    if chosen.matches_header(header) or not fits:
        return None
    missing = chosen.missing_columns(header)
    shown = ", ".join(missing[: COLUMNS_NAMED_PER_USE_CASE * 2]) + (" ..." if len(missing) > 8 else "")
    return (
        f"not a {chosen.name} file, missing required column(s): {shown} ({len(missing)} in all); its header fits "
        f"{' and '.join(fits)}: score it with --use-case {fits[0]}, or without --use-case"
    )
