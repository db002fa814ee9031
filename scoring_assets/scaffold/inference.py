"""What a labelled sample says about its table: one drafted contract field per column, and what was assumed.

The sample is read as text, as scoring reads a file (header names and values trimmed, a blank is
an empty value). Each column becomes a ``ColumnDraft``: the id (unique text), a value set (few
distinct values: categories, yes/no flags, integer codes), a bounded number (whole or not) or
free text left out of the model; the label column is not part of the contract. Everything the
draft decided that a person should check is an ``assumptions`` line, and the drafted contract
carries the same words as comments.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring_assets.core.use_case import Label

MAX_VALUE_SET = 20  # a column with at most this many distinct values is drafted as a value set
YES_NO_VALUES = frozenset({"yes", "no", "y", "n", "true", "false", "t", "f"})
UNNAMED_INDEX = re.compile(r"^(|Unnamed: 0)$")


class SampleError(ValueError):
    """The sample cannot be drafted from (a label that is not two-valued, a missing column, ...)."""


@dataclass(frozen=True)
class ColumnDraft:
    """One contract field as drafted: its kind, its checks and what to review about it."""

    name: str  # the column's name in the file (trimmed)
    attribute: str  # the DataFrameModel attribute (the name itself when it is a valid identifier)
    kind: str  # id | category | code | integer | float | text
    values: tuple = ()  # the value set (category, code)
    bounds: tuple = ()  # (lower, upper) for integer and float
    sample_range: tuple = ()  # (min, max) seen in the sample
    nullable: bool = False
    review: str = ""  # the comment the contract carries above the field
    median: float | None = None  # the fill for a blank-able number's feature

    @property
    def feature(self) -> str | None:
        """How the model sees the column: numeric, categorical, or not at all."""
        return {"category": "categorical", "code": "numeric", "integer": "numeric", "float": "numeric"}.get(self.kind)


@dataclass
class SampleDraft:
    """The drafted columns of a sample, its label, and every assumption in one line each."""

    columns: list[ColumnDraft]
    label: Label
    id_column: str | None
    assumptions: list[str] = field(default_factory=list)


def read_sample(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The sample as trimmed text (blank = ""), with an unnamed row-number column dropped, and what was dropped."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=False)
    raw.columns = [str(name).strip() for name in raw.columns]
    frame = raw.apply(lambda column: column.str.strip())
    notes = []
    first = str(frame.columns[0]) if len(frame.columns) else None
    if first is not None and UNNAMED_INDEX.match(first) and _is_row_number(frame.iloc[:, 0]):
        frame = frame.iloc[:, 1:]
        notes.append(f"column 1 ({first or 'no name'}) is a row number the export added (0.. or 1..n): left out")
    return frame, notes


def _is_row_number(column: pd.Series) -> bool:
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.isna().any():
        return False
    start = int(numbers.iloc[0]) if len(numbers) else 0
    return start in (0, 1) and bool((numbers.to_numpy() == np.arange(start, start + len(numbers))).all())


def draft_sample(path: Path, label: str, positive: str, id_column: str | None) -> SampleDraft:
    """Every column of the sample at ``path`` drafted, the label checked two-valued with ``positive`` one of them."""
    frame, assumptions = read_sample(path)
    for column in (label, id_column):
        if column is not None and column not in frame.columns:
            raise SampleError(f"{path} has no column {column!r}; its columns: {', '.join(frame.columns)}")
    drafted_label = _label(frame[label], label, positive)
    attributes = _attributes([name for name in frame.columns if name != label])
    columns = []
    for name, attribute in attributes.items():
        drafted = _id_draft(frame[name], name, attribute) if name == id_column else _draft(frame[name], attribute)
        columns.append(drafted)
        if drafted.review:
            assumptions.append(f"{name}: {drafted.review}")
    aliased = [name for name, attribute in attributes.items() if name != attribute]
    if aliased:
        assumptions.append(f"{', '.join(aliased)}: not Python names, so fields with alias= (the file's name)")
    assumptions.append(
        f"{label}: the label ({positive} = positive, {drafted_label.negative} = negative), not a feature"
    )
    return SampleDraft(columns, drafted_label, id_column, assumptions)


def _label(values: pd.Series, column: str, positive: str) -> Label:
    seen = sorted(set(values) - {""})
    if len(seen) != 2 or positive not in seen:
        raise SampleError(
            f"label column {column!r} must hold exactly two values, {positive!r} one of them; it holds "
            f"{', '.join(repr(value) for value in seen[:10]) or 'none'}"
        )
    if (values == "").any():
        raise SampleError(f"label column {column!r} is blank in {int((values == '').sum())} rows; fill or drop them")
    return Label(column, positive=positive, negative=next(value for value in seen if value != positive))


def _attributes(names: list[str]) -> dict[str, str]:
    """A distinct Python identifier per column name (the name itself when it is one)."""
    attributes: dict[str, str] = {}
    for name in names:
        attribute = re.sub(r"\W+", "_", name).strip("_").lower() or "column"
        if attribute[0].isdigit() or keyword.iskeyword(attribute):
            attribute = f"column_{attribute}"
        while attribute in attributes.values():
            attribute += "_"
        attributes[name] = name if name.isidentifier() and not keyword.iskeyword(name) else attribute
    return attributes


def _id_draft(values: pd.Series, name: str, attribute: str) -> ColumnDraft:
    repeated = int(values.duplicated().sum())
    review = "the id: unique, non-empty text" + (
        f"; the sample repeats {repeated} values, review it" if repeated else ""
    )
    return ColumnDraft(name, attribute, "id", review=review)


def _draft(values: pd.Series, attribute: str) -> ColumnDraft:
    name = str(values.name)
    given = values[values != ""]
    blanks = len(values) - len(given)
    nullable = blanks > 0
    blank_note = f"; blank in {blanks} of {len(values)} rows: allowed (nullable), review when a blank is valid"
    numbers = pd.to_numeric(given, errors="coerce")
    distinct = sorted(set(given))
    if len(given) and numbers.notna().all() and np.isfinite(numbers).all():
        return _numeric_draft(name, attribute, numbers, nullable, blank_note if nullable else "")
    if len(distinct) <= MAX_VALUE_SET:
        flag = "yes/no flag" if {value.lower() for value in distinct} <= YES_NO_VALUES else "category"
        with_blank = tuple(distinct) + (("",) if nullable else ())
        blank_text = f"; blank in {blanks} rows: kept as a level of its own, review it" if nullable else ""
        review = f"{flag}: the sample's {len(distinct)} values; add the levels it does not show{blank_text}"
        return ColumnDraft(name, attribute, "category", values=with_blank, review=review)
    review = f"free text ({len(distinct)} distinct values): checked as text only, left out of the features"
    return ColumnDraft(name, attribute, "text", nullable=nullable, review=review)


def _numeric_draft(name: str, attribute: str, numbers: pd.Series, nullable: bool, blank_note: str) -> ColumnDraft:
    whole = bool((numbers == np.floor(numbers)).all())
    low, high = (int(numbers.min()), int(numbers.max())) if whole else (float(numbers.min()), float(numbers.max()))
    median = float(numbers.median())
    distinct = sorted({int(value) for value in numbers}) if whole else []
    if whole and len(distinct) <= MAX_VALUE_SET:
        review = (
            f"integer codes {', '.join(map(str, distinct))}: a value set, used as a number; if the codes are "
            f"unordered categories, make it categorical{blank_note}"
        )
        return ColumnDraft(
            name, attribute, "code", values=tuple(distinct), nullable=nullable, review=review, median=median
        )
    width = max(high - low, 1)
    lower = 0 if low >= 0 else low - width
    # Whole bounds for decimals too: readable, and still outside the sample's range.
    bounds = (lower, high + width) if whole else (float(np.floor(lower)), float(np.ceil(high + width)))
    kind = "integer" if whole else "float"
    review = (
        f"{'whole numbers' if whole else 'numbers'} {low:g} to {high:g} in the sample; bounds {bounds[0]:g} to "
        f"{bounds[1]:g} (the sample's range widened by its width): set them from the domain{blank_note}"
    )
    return ColumnDraft(
        name, attribute, kind, bounds=bounds, sample_range=(low, high), nullable=nullable, review=review, median=median
    )
