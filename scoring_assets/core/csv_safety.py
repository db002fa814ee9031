"""CSV files for people that cannot run formulas when opened in a spreadsheet (OWASP "CSV Injection").

Every CSV written for people (the scored file and the reject report) goes through
``SpreadsheetSafeCsvWriter``, so the rule below holds everywhere, header cells included, the same way:

    A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or with
    spaces or line breaks followed by ``=``, ``+``, ``-`` or ``@``) is written with a single quote
    ``'`` in front of it, unless the whole cell, spaces aside, is a plain decimal number such as
    ``-3``, ``+1.5`` or ``-1.5e3`` (a spreadsheet reads those as numbers, never as formulas). A cell
    that already starts with ``'`` also gets one more. So removing exactly one leading ``'`` from
    every cell that starts with one gives back the value exactly as it was in the input, and two
    different values never come out the same. Numeric columns are written as numbers, unchanged.

Ids are not rejected for starting with such a character: the row is scored and its id is
neutralised in the scored file. The rule is vectorised (Arrow compute): a look at the first
character of every text cell, and regular expressions only on the few cells that start with one
of the characters above.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

NEUTRALISING_PREFIX = "'"
# Every first character the rule can care about ("\s" below is these five whitespace characters):
# a cheap first pass, so the regular expressions only run on the few cells that start with one.
_FIRST_BYTES_TO_CHECK = pa.array([character.encode() for character in " \t\n\f\r'=+-@"], pa.binary())
_STARTS_LIKE_FORMULA = r"^(?:['\t\r]|\s*[=+\-@])"
_PLAIN_NUMBER = r"^ *[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)? *$"


def neutralise_formulas(cells: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, int]:
    """``cells`` with every cell the rule above catches prefixed by ``'``, and how many were."""
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    bytes_type = pa.large_binary() if pa.types.is_large_string(cells.type) else pa.binary()
    first_bytes = pc.binary_slice(cells.view(bytes_type), 0, 1)  # a zero-copy view: no UTF-8 decoding
    to_check = pc.is_in(first_bytes, value_set=_FIRST_BYTES_TO_CHECK.cast(bytes_type))
    if not pc.any(to_check).as_py():
        return cells, 0
    checked = cells.filter(to_check)
    unsafe = pc.and_not(
        pc.match_substring_regex(checked, _STARTS_LIKE_FORMULA), pc.match_substring_regex(checked, _PLAIN_NUMBER)
    )
    count = int(pc.sum(unsafe).as_py() or 0)
    if not count:
        return cells, 0
    unsafe_in_place = pc.replace_with_mask(to_check, to_check, unsafe)
    prefixed = pc.binary_join_element_wise(
        pa.scalar(NEUTRALISING_PREFIX, cells.type), checked.filter(unsafe), pa.scalar("", cells.type)
    )
    return pc.replace_with_mask(cells, unsafe_in_place, prefixed), count


def _neutralised_dictionary(cells: pa.DictionaryArray) -> tuple[pa.DictionaryArray, int]:
    """A dictionary of texts with the rule applied once per text; the count is of cells (rows), not texts."""
    texts, count = neutralise_formulas(cells.dictionary)
    if not count:
        return cells, 0
    changed = pc.not_equal(texts, cells.dictionary).take(cells.indices)
    return pa.DictionaryArray.from_arrays(cells.indices, texts), int(pc.sum(changed).as_py() or 0)


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def neutralise_text_columns(data: pa.RecordBatch | pa.Table) -> tuple[pa.RecordBatch | pa.Table, int]:
    """``data`` with the rule applied to each text column, plain or dictionary; other columns are left as they are."""
    columns, total = [], 0
    for column in data.columns:
        if _is_text(column.type):
            column, count = neutralise_formulas(column)
            total += count
        elif pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
            column, count = _neutralised_dictionary(
                column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            )
            total += count
        columns.append(column)
    if not total:
        return data, 0
    return type(data).from_arrays(columns, schema=data.schema), total


class SpreadsheetSafeCsvWriter:
    """A ``pyarrow.csv.CSVWriter`` that neutralises its header and every batch it writes; counts the cells it changed.

    Header cells are column names a person may have chosen (a column carried through), so they
    follow the same rule as values: ``=1+1`` is written ``'=1+1``.
    """

    def __init__(self, path: Path | str | BinaryIO, schema: pa.Schema):
        names, self.cells_neutralised = neutralise_formulas(pa.array(schema.names, pa.string()))
        self._names = names.to_pylist()
        header_schema = pa.schema([field.with_name(name) for field, name in zip(schema, self._names, strict=True)])
        write_options = pacsv.WriteOptions(quoting_style="needed")
        sink = str(path) if isinstance(path, (str, Path)) else path  # a file object: e.g. one that hashes
        self._writer = pacsv.CSVWriter(sink, header_schema, write_options=write_options)

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        safe, count = neutralise_text_columns(data)
        safe = safe.rename_columns(self._names)
        self.cells_neutralised += count
        if isinstance(safe, pa.Table):
            self._writer.write_table(safe)
        else:
            self._writer.write_batch(safe)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> SpreadsheetSafeCsvWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
