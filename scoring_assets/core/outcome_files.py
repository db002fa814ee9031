"""Reading an outcomes file: what really happened to scored rows, one row per id, checked row by row.

An outcomes file has the use case's id column and its label column (values as declared, e.g. the
positive and negative label), optionally ``outcome_date`` (ISO 8601: when the outcome was known);
other columns are ignored. A file without the id or the label column is unusable as a whole
(``InputFileError``). Every other row is either an outcome or rejected for exactly one reason,
the first that applies: a blank id, a label outside the declared values, an ``outcome_date``
that is not a date, an id that occurs more than once in the file (every row of it: which one is
true cannot be told). Rejected rows are written to a spreadsheet-safe reject report, never dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd
import pyarrow as pa

from scoring_assets.core.csv_header import InputFileError, read_layout
from scoring_assets.core.csv_safety import SpreadsheetSafeCsvWriter
from scoring_assets.core.files import atomic_path
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase

OUTCOME_DATE = "outcome_date"
OUTCOME = "outcome"  # 1 for the positive label, 0 for the negative one
REASON = "reason"


class OutcomeRejection(StrEnum):
    """Why a row of an outcomes file is not an outcome: the reject report's ``reason`` column."""

    BLANK_ID = "blank id"
    INVALID_LABEL = "label not one of the declared values"
    INVALID_DATE = "outcome_date is not a date (ISO 8601, e.g. 2026-12-01)"
    DUPLICATE_ID = "id occurs more than once in the file"


@dataclass(frozen=True)
class OutcomeRows:
    """An outcomes file read and checked: its outcomes and its rejected rows, every input row in one of them.

    ``outcomes`` has the row number, the id (under the scored file's id column name), the label as
    written, ``outcome`` (1/0) and ``outcome_date`` (UTC, NaT when not given); ``rejected`` has
    the row number, id, label and date as written and the ``reason``.
    """

    outcomes: pd.DataFrame
    rejected: pd.DataFrame

    @property
    def rows_in(self) -> int:
        return len(self.outcomes) + len(self.rejected)


def read_outcome_rows(use_case: UseCase, path: Path) -> OutcomeRows:
    """Read ``path`` as an outcomes file of ``use_case``; ``InputFileError`` when it cannot be one."""
    path = Path(path)
    header = read_layout(path).names
    missing = [name for name in (use_case.id_column, use_case.label_column) if name not in header]
    if missing:
        raise InputFileError(
            path,
            f"an outcomes file of {use_case.name} needs the columns {use_case.id_column} and "
            f"{use_case.label_column}; missing: {', '.join(missing)}",
        )
    wanted = {use_case.id_column, use_case.label_column, OUTCOME_DATE}
    try:
        text = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            usecols=lambda name: name.strip() in wanted,
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputFileError(path, f"cannot be read as CSV ({str(error).splitlines()[0]})") from None
    text = text.rename(columns=lambda name: name.strip())
    if OUTCOME_DATE not in text:
        text[OUTCOME_DATE] = ""
    return checked_outcome_rows(use_case, text)


def checked_outcome_rows(use_case: UseCase, text: pd.DataFrame) -> OutcomeRows:
    """Split an outcomes file's text columns (id, label, ``outcome_date``; data rows in file order) by the rules."""
    frame = pd.DataFrame(
        {
            ROW_NUMBER: pd.RangeIndex(1, len(text) + 1),
            use_case.scored_id_column: text[use_case.id_column].astype(str).str.strip().to_numpy(),
            use_case.label_column: text[use_case.label_column].astype(str).str.strip().to_numpy(),
            OUTCOME_DATE: text[OUTCOME_DATE].astype(str).str.strip().to_numpy(),
        }
    )
    dates = pd.to_datetime(frame[OUTCOME_DATE].replace("", None), utc=True, format="ISO8601", errors="coerce")
    ids = frame[use_case.scored_id_column]
    rules = [
        (OutcomeRejection.BLANK_ID, ids == ""),
        (
            OutcomeRejection.INVALID_LABEL,
            ~frame[use_case.label_column].isin([use_case.label.positive, use_case.label.negative]),
        ),
        (OutcomeRejection.INVALID_DATE, (frame[OUTCOME_DATE] != "") & dates.isna()),
        (OutcomeRejection.DUPLICATE_ID, (ids != "") & ids.duplicated(keep=False)),
    ]
    reason = pd.Series("", index=frame.index, dtype=object)
    for rule, broken in rules:
        reason = reason.mask((reason == "") & broken.to_numpy(), rule.value)
    kept = (reason == "").to_numpy()
    outcomes = frame[kept].assign(
        **{
            OUTCOME: (frame.loc[kept, use_case.label_column] == use_case.label.positive).astype("int8"),
            OUTCOME_DATE: dates[kept],
        }
    )
    rejected = frame[~kept].assign(**{REASON: reason[~kept]})
    return OutcomeRows(outcomes.reset_index(drop=True), rejected.reset_index(drop=True))


def write_outcome_rejects(use_case: UseCase, rejected: pd.DataFrame, path: Path) -> None:
    """The reject report: row number, id, label and date as written (under the input's names), and why."""
    columns = {
        ROW_NUMBER: ROW_NUMBER,
        use_case.scored_id_column: use_case.id_column,
        use_case.label_column: use_case.label_column,
        OUTCOME_DATE: OUTCOME_DATE,
        REASON: REASON,
    }
    shown = rejected[list(columns)].rename(columns=columns)
    schema = pa.schema([pa.field(name, pa.int64() if name == ROW_NUMBER else pa.string()) for name in shown.columns])
    with atomic_path(path) as temporary, SpreadsheetSafeCsvWriter(temporary, schema) as writer:
        writer.write(pa.Table.from_pandas(shown, schema=schema, preserve_index=False))
