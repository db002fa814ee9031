"""Registering an outcomes file: what really happened to scored rows, read, joined, kept and reported.

The one path for the ``outcomes`` command and the outcomes inbox sensor (both run the use case's
register_outcomes job, whose step calls ``register_outcomes``). An outcomes file is registered
like an input file, under the use case's outcomes folders (``UseCaseFolders.outcomes``: key =
name + content, so a re-delivered copy is recognised), read and checked (``outcome_files``),
joined to the latest scored rows before each outcome (``outcome_join``); its matched rows are
kept in the lake and the realized performance of the scored files it touches is recomputed
from every outcome so far (``realized_performance``). Every input row is counted once: matched,
unmatched (an id never scored before the outcome: normal) or rejected (in the reject report).

The file is refused (nothing kept, the reject report stays) when more than the use case's
``max_reject_fraction`` of its rows are rejected, or when no row matches a scored row; a file
without the id or label column is unusable (``InputFileError``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from scoring_assets.core.files import file_sha256
from scoring_assets.core.folders import InputRegistration, UseCaseFolders
from scoring_assets.core.outcome_files import REASON, read_outcome_rows, write_outcome_rejects
from scoring_assets.core.outcome_join import PARTITION, join_to_scored_rows, scored_rows
from scoring_assets.core.realized_performance import JOINED, realized_by_file, write_joined_rows
from scoring_assets.core.use_case import UseCase


class OutcomesRefusal(StrEnum):
    """Why a readable outcomes file is refused as a whole."""

    TOO_MANY_REJECTS = "too many rejected rows"
    NO_MATCH = "no row matches a scored row"


def outcomes_problem(use_case: UseCase) -> str | None:
    """Why outcomes cannot arrive apart from the scored file for ``use_case``, in plain words; None if they can."""
    if use_case.id_column is None:
        return (
            f"{use_case.name} has no id column, so a scored row cannot be found again by its id; its outcomes come "
            f"only from labelled extracts (a {use_case.label_column or 'label'} column in the file that is scored, "
            "whose backtest is in the manifest)"
        )
    if use_case.label is None:
        return f"{use_case.name} declares no label, so it has no outcomes to register"
    return None


@dataclass(frozen=True)
class OutcomesReport:
    """What registering one outcomes file did: its counts, its reject report, and the scored files it touched."""

    outcomes_key: str
    source_path: str
    rows_in: int
    matched: int
    unmatched: int
    rejected: int
    reject_counts: dict[str, int]
    reject_report: str  # "" when no row was rejected
    max_reject_fraction: float
    refusal: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # FileRealized records, by scoring time

    @property
    def reject_fraction(self) -> float:
        return self.rejected / self.rows_in if self.rows_in else 0.0

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "reject_fraction": self.reject_fraction}


def registered_outcomes_file(own: UseCaseFolders, source: Path) -> InputRegistration:
    """The registration of ``source`` under the outcomes folders: the earlier one for the same bytes, else a new one.

    Keeping the earlier one keeps its arrival time, which dates the outcomes without ``outcome_date``.
    """
    sha256 = file_sha256(source)
    earlier = own.outcomes.partition_for_content(sha256)
    if earlier is not None and own.outcomes.registration_file(earlier).exists():
        return own.outcomes.registered_input(earlier)
    return own.outcomes.register_input(Path(source), sha256)


def register_outcomes(use_case: UseCase, own: UseCaseFolders, source: Path) -> OutcomesReport:
    """Register, read, join and keep one outcomes file (see the module); ``InputFileError`` when it is unusable."""
    registration = registered_outcomes_file(own, source)
    key = registration.partition_key
    rows = read_outcome_rows(use_case, source)
    scored = scored_rows(use_case, own, rows.outcomes[use_case.scored_id_column])
    matched, unmatched = join_to_scored_rows(use_case, rows.outcomes, scored, registration.registered_at)
    report_path = own.outcomes.reject_report(key)
    if len(rows.rejected):
        write_outcome_rejects(use_case, rows.rejected, report_path)
    else:
        report_path.unlink(missing_ok=True)
    report = OutcomesReport(
        outcomes_key=key,
        source_path=registration.source_path,
        rows_in=rows.rows_in,
        matched=len(matched),
        unmatched=len(unmatched),
        rejected=len(rows.rejected),
        reject_counts={str(reason): int(count) for reason, count in rows.rejected[REASON].value_counts().items()},
        reject_report=str(report_path) if len(rows.rejected) else "",
        max_reject_fraction=use_case.max_reject_fraction,
    )
    if report.reject_fraction > use_case.max_reject_fraction:
        report = replace(report, refusal=OutcomesRefusal.TOO_MANY_REJECTS.value)
    elif not len(matched):
        report = replace(report, refusal=OutcomesRefusal.NO_MATCH.value)
    else:
        write_joined_rows(own, key, matched)
        touched = set(matched[PARTITION])
        report = replace(report, files=[each.as_record() for each in realized_by_file(use_case, own, touched)])
    own.outcomes.write_stage_summary(JOINED, key, report.as_record())
    return report
