"""Reading an input CSV's records exactly as written: every value as text, streamed in record batches.

Nothing is guessed: "0001" stays "0001" and a blank stays a blank, so the contract (not the
CSV parser) decides what a value means. Quoted values may hold delimiters, quotes or line
breaks, at any file size; the header is read first (``csv_header``).

Rows are numbered 1, 2, ... in the order of the file's data records. Blank lines,
whitespace-only lines and lines of nothing but delimiters (spreadsheets append those) carry no
values: they are skipped and not numbered. A record with more or fewer fields than the header
(a "ragged" row) keeps its number and is handed to the caller with its line number in the file
and its raw text, to be rejected like any other bad row; every other row is read as usual.

Every problem that makes the file as a whole unusable is raised as an ``InputFileError``
(text that is not UTF-8, a quote that is never closed, a record longer than a read block). A NUL
byte inside a value is read like any other character: the contract rejects that row alone.
"""

from __future__ import annotations

import codecs
import io
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from scoring_assets.core.csv_header import (
    CsvLayout,
    InputFileError,
    check_header,
    not_utf8_problem,
    output_columns,
    read_layout,
    shortened,
    split_fields,
)
from scoring_assets.core.lake import batch_to_frame
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase

DEFAULT_BLOCK_BYTES = 8 << 20  # CSV bytes parsed at a time (~60k rows of a Telco extract); a record must fit
RAGGED_TEXT_MAX_CHARS = 1_000  # of a ragged row's raw text kept for the reject report

# A ragged row, as handed to ``on_ragged``: its data row number, the line it starts on, how many
# fields it has and the header has, the row's id where the header puts it (if the use case has an
# id column and the row reaches that far) and its raw text (shortened beyond RAGGED_TEXT_MAX_CHARS).
RAGGED_SCHEMA = pa.schema(
    [
        pa.field(ROW_NUMBER, pa.int64(), nullable=False),
        pa.field("line_number", pa.int64(), nullable=False),
        pa.field("fields", pa.int32(), nullable=False),
        pa.field("header_fields", pa.int32(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)
_LINE_BREAK = r"\r\n|\r|\n"
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_BLANK = r"^\s*$"
_EMPTY_OR_WHITESPACE_BYTE = pa.array([b"", b" ", b"\t", b"\n", b"\f", b"\r", b"\v"], pa.binary())
_ONLY_DELIMITERS = re.compile(r'[\s,"]*')  # a line with no value in any field: `,,,,` or `"",""`


def iter_record_batches(
    path: Path,
    use_case: UseCase,
    carried: tuple[str, ...] = (),
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    reader: BinaryIO | None = None,
    on_ragged: Callable[[pa.RecordBatch], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream the file as record batches of text columns plus a 1-based ``row_number``.

    Memory stays proportional to ``block_bytes``, whatever the file size. ``reader``, if
    given, is an open binary stream of the same file to parse instead of opening ``path``
    (the raw stage passes one that hashes what it reads). Ragged rows go to ``on_ragged`` as
    batches of ``RAGGED_SCHEMA``, each before the batch of good rows that follows it; without
    ``on_ragged`` the first one is an ``InputFileError``. A file with a header and no data rows
    gives one batch of 0 rows, so its schema is still known.
    """
    path = Path(path)
    layout = read_layout(path)
    check_header(path, layout.names, use_case, carried)
    kept = output_columns(use_case, layout.names, carried)
    schema = pa.schema([pa.field(ROW_NUMBER, pa.int64()), *(pa.field(name, pa.string()) for name in kept)])
    rows_seen = 0
    own_file = open(path, "rb") if reader is None else None
    source = reader if reader is not None else own_file
    try:
        parse = _numbered_batches(path, source, layout, kept, use_case.id_column, block_bytes, on_ragged)
        with closing(parse):  # should the caller stop half way, the parse stops before its file is closed
            for batch in parse:
                if batch.num_rows:
                    rows_seen += batch.num_rows
                    yield batch.select(schema.names)
    finally:
        if own_file is not None:
            own_file.close()
    if rows_seen == 0:
        yield pa.RecordBatch.from_pylist([], schema)


def _numbered_batches(
    path: Path,
    source: BinaryIO,
    layout: CsvLayout,
    kept: list[str],
    id_column: str | None,
    block_bytes: int,
    on_ragged: Callable[[pa.RecordBatch], None] | None,
) -> Iterator[pa.RecordBatch]:
    """The parser's batches of the data in ``source``, numbered; ragged rows handed over (or refused)."""
    # Unique placeholder names for columns we drop, so odd or repeated extra headers cannot
    # confuse the reader; dropped columns are read as bytes, so their encoding does not matter.
    names = [name if name in kept else f"__ignored_{index}" for index, name in enumerate(layout.names)]
    stream = _DataStream(source, layout.data_offset)
    records = _RecordNumbering(
        layout,
        names,
        id_column,
        on_ragged or (lambda ragged: _refuse_ragged(path, ragged)),
        on_refused=stream.record_refused,
    )
    try:
        with _undecodable_rows_kept_quiet(records.on_invalid_row):
            for batch in _open_parser(stream, names, kept, block_bytes, records.on_invalid_row):
                stream.batch_taken()
                yield records.number(batch, count_line_breaks=stream.saw_quote)
            records.finish()
    except pa.ArrowInvalid as error:
        if records.failure is not None:  # raised while handing over ragged rows from inside the parser
            raise records.failure from None
        raise InputFileError(path, _explain_arrow_error(path, layout, str(error), block_bytes, records)) from None
    finally:
        stream.unthrottle()  # a parse abandoned half way must not leave the reading thread waiting
    _refuse_a_quote_left_open(path, records)


def _open_parser(
    stream: _DataStream, names: list[str], kept: list[str], block_bytes: int, on_invalid_row: Callable
) -> pacsv.CSVStreamingReader:
    """pyarrow's streaming CSV reader as this module needs it (see ``_RecordNumbering``)."""
    return pacsv.open_csv(
        stream,
        # Serial, so the parser numbers the records it hands to on_invalid_row.
        read_options=pacsv.ReadOptions(column_names=names, block_size=block_bytes, use_threads=False),
        parse_options=pacsv.ParseOptions(
            newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid_row
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() if name in kept else pa.binary() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _refuse_a_quote_left_open(path: Path, records: _RecordNumbering) -> None:
    """Refuse what the parser let through: a quoted value still open at the end of the file."""
    if not records.saw_end_of_input:
        raise InputFileError(
            path,
            f'a quote (") in the record that starts on line {records.last_record_line} is never closed, so the rest '
            "of the file would be read as one value; close or remove that quote",
        )


@contextmanager
def _undecodable_rows_kept_quiet(handler: Callable) -> Iterator[None]:
    """Keep pyarrow's "Exception ignored" traceback for a ragged row that is not UTF-8 off stderr.

    pyarrow decodes a bad row's text before calling the handler; when it cannot, it prints the
    decoding error as unraisable and fails the parse, which ``_explain_arrow_error`` turns into
    the one-line "not UTF-8" refusal. Any other unraisable exception is reported as usual.
    """
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if not (isinstance(unraisable.exc_value, UnicodeDecodeError) and unraisable.object == handler):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _refuse_ragged(path: Path, ragged: pa.RecordBatch) -> None:
    first = ragged.slice(0, 1).to_pylist()[0]
    raise InputFileError(
        path, f"line {first['line_number']} has {first['fields']} fields where the header has {first['header_fields']}"
    )


_INVALID_ROWS_HELD = 10_000  # invalid records kept before a run of them is handed over from the parser
_NO_ROWS = pa.RecordBatch.from_pylist([], pa.schema([]))

# Appended after the file's last byte (never hashed): a one-field record the parser can only
# see if the file did not end inside a quoted value.
_END_OF_INPUT_TEXT = f'"end of input {uuid.uuid4().hex}"'
_END_OF_INPUT = f"\n{_END_OF_INPUT_TEXT}\n".encode()


class _DataStream(io.RawIOBase):
    """The file from its first data byte on, as the CSV parser reads it, plus what it has seen.

    The bytes before the data (header and all) are read through ``source`` too, so a hashing
    source hashes the whole file; ``source`` is read to its end but not closed. ``saw_quote``
    tells whether any quote character has been read yet: until then no record can span lines.

    pyarrow's streaming reader reads on a background thread and queues up to 32 blocks ahead of
    the batches taken from it: a whole 135 MB file was in memory a moment after the parse began.
    So a read waits while ``READ_AHEAD_BLOCKS`` blocks are read and not yet parsed into a batch
    (``batch_taken`` counts them); the parser needs at most the block after the one it parses. A
    block of ragged records only gives no batch, so a refused record (``record_refused``) lets
    one more block in. Which block a refused record came from is not known, so ragged rows in
    many blocks (measured: 1 row in 100) let the reading run ahead again, up to pyarrow's own 32
    blocks: as far as before, never further. Should a read still wait ``STALL_SECONDS``, the bound
    is dropped (a stuck count costs memory, never a hang); ``unthrottle`` drops it when the parse
    ends or is abandoned.
    """

    READ_AHEAD_BLOCKS = 4
    STALL_SECONDS = 5.0

    def __init__(self, source: BinaryIO, skip: int):
        self._source = source
        self._end_sent = False
        self._reads = self._batches = 0
        self._bounded = True
        self._refused_since_read = False
        self._progress = threading.Condition()
        self.saw_quote = False
        while skip > 0:
            skipped = source.read(min(skip, 1 << 20))
            if not skipped:
                break
            skip -= len(skipped)

    def readable(self) -> bool:
        return True

    def batch_taken(self) -> None:
        with self._progress:
            self._batches += 1
            self._progress.notify_all()

    def record_refused(self) -> None:
        with self._progress:
            self._refused_since_read = True
            self._progress.notify_all()

    def unthrottle(self) -> None:
        with self._progress:
            self._bounded = False
            self._progress.notify_all()

    def _may_read(self) -> bool:
        return not self._bounded or self._refused_since_read or self._reads - self._batches < self.READ_AHEAD_BLOCKS

    def read(self, size: int = -1) -> bytes:
        with self._progress:
            if not self._end_sent and not self._progress.wait_for(self._may_read, timeout=self.STALL_SECONDS):
                self._bounded = False
            self._reads += 1
            self._refused_since_read = False
        chunk = self._source.read(size if size is not None and size >= 0 else -1)
        if not chunk:
            if self._end_sent:
                return b""
            self._end_sent = True
            return _END_OF_INPUT
        if not self.saw_quote and b'"' in chunk:
            self.saw_quote = True
        return chunk


class _RecordNumbering:
    """Turns the parser's record numbers into data row numbers and line numbers; hands over ragged rows.

    The parser (serial, empty lines kept) numbers every record after the header 1, 2, ...: blank
    lines too, and records it cannot split into the header's columns, which it hands to
    ``on_invalid_row`` instead of a batch. Records arrive in order, so a running count of blank
    records gives each record its data row number, and a running count of line breaks inside
    quoted values gives the line it starts on. Ragged rows go to ``deliver`` in row order, each
    before the good rows that follow it.
    """

    def __init__(
        self,
        layout: CsvLayout,
        names: list[str],
        id_column: str | None,
        deliver: Callable[[pa.RecordBatch], None],
        on_refused: Callable[[], None] = lambda: None,
    ):
        self._deliver = deliver
        self._on_refused = on_refused  # told of every record the parser refuses, as it refuses it
        self._lock = threading.Lock()  # in case the parser calls on_invalid_row from another thread
        self.failure: Exception | None = None
        self._header_fields = len(names)
        self._id_index = names.index(id_column) if id_column else None
        self._lines_before_data = layout.lines_before_data
        self._next_record = 1
        self._blank_records = 0
        self._line_breaks = 0
        self._invalid: list[tuple[int, int, str]] = []  # (record, fields, text), reported ahead of their batch
        self.saw_end_of_input = False
        self.last_record_line = layout.lines_before_data

    def on_invalid_row(self, row) -> str:
        """The parser's handler: note the record; hand over a long run of them with no good row among them.

        The parser yields no batch for a block of invalid records only, so without this a file
        of ragged rows would pile up here. An exception cannot leave this handler (the parser
        would print it and fail with a message of its own): it is kept in ``failure`` instead.
        """
        self._on_refused()
        if row.text == _END_OF_INPUT_TEXT:
            self.saw_end_of_input = True
            return "skip"
        with self._lock:
            self._invalid.append((row.number, row.actual_columns, row.text))
            if len(self._invalid) < _INVALID_ROWS_HELD or row.number != self._next_record + len(self._invalid) - 1:
                return "skip"
            try:
                self._number(_NO_ROWS, len(self._invalid), count_line_breaks=False)
            except Exception as error:  # re-raised by iter_record_batches once the parser stops
                self.failure = error
                return "error"
        return "skip"

    def number(self, batch: pa.RecordBatch, count_line_breaks: bool) -> pa.RecordBatch:
        """The batch's data rows with their ``row_number``; the ragged rows up to the next good row go out.

        Invalid records reported so far that come before the next good record are numbered now,
        so a long run of them never piles up in memory.
        """
        with self._lock:
            numbers = np.fromiter((number for number, _, _ in self._invalid), np.int64, count=len(self._invalid))
            good_records_before = numbers - self._next_record - np.arange(len(numbers))
            invalid_count = int(np.searchsorted(good_records_before, batch.num_rows, side="right"))
            return self._number(batch, invalid_count, count_line_breaks)

    def finish(self) -> None:
        """Hand over the ragged rows after the last good row."""
        with self._lock:
            self._number(_NO_ROWS, len(self._invalid), count_line_breaks=False)

    def _number(self, batch: pa.RecordBatch, invalid_count: int, count_line_breaks: bool) -> pa.RecordBatch:
        """Number the batch's rows and the first ``invalid_count`` invalid records, which lie among them."""
        records = np.arange(self._next_record, self._next_record + batch.num_rows + invalid_count)
        invalid, self._invalid = self._invalid[:invalid_count], self._invalid[invalid_count:]
        good = np.ones(len(records), dtype=bool)
        good[[record - self._next_record for record, _, _ in invalid]] = False
        blank = np.zeros(len(records), dtype=bool)
        line_breaks = np.zeros(len(records), dtype=np.int64)
        good_blank = _blank_rows(batch)
        blank[good] = good_blank
        if count_line_breaks:
            line_breaks[good] = _line_breaks(batch)
        ragged = []
        for record, fields, text in invalid:
            position = record - self._next_record
            blank[position] = _ONLY_DELIMITERS.fullmatch(text) is not None
            line_breaks[position] = len(re.findall(_LINE_BREAK, text))
            if not blank[position]:
                ragged.append((position, fields, text))
        row_numbers = records - (self._blank_records + np.cumsum(blank) - blank)
        lines = self._lines_before_data + records + (self._line_breaks + np.cumsum(line_breaks) - line_breaks)
        self._next_record += len(records)
        self._blank_records += int(blank.sum())
        self._line_breaks += int(line_breaks.sum())
        if len(records):
            self.last_record_line = int(lines[-1])
        columns = batch.columns
        if good_blank.any():
            keep = pa.array(~good_blank)
            columns = [column.filter(keep) for column in columns]
        if ragged:
            self._deliver(self._ragged_batch(ragged, row_numbers, lines))
        return pa.RecordBatch.from_arrays(
            [pa.array(row_numbers[good][~good_blank], pa.int64()), *columns], names=[ROW_NUMBER, *batch.schema.names]
        )

    def _ragged_batch(self, ragged: list, row_numbers: np.ndarray, lines: np.ndarray) -> pa.RecordBatch:
        rows = []
        for position, fields, text in ragged:
            values = split_fields(text) or []
            rows.append(
                {
                    ROW_NUMBER: int(row_numbers[position]),
                    "line_number": int(lines[position]),
                    "fields": fields,
                    "header_fields": self._header_fields,
                    "id": self._id_of(values),
                    "text": shortened(text, RAGGED_TEXT_MAX_CHARS),
                }
            )
        return pa.RecordBatch.from_pylist(rows, RAGGED_SCHEMA)

    def _id_of(self, values: list[str]) -> str:
        if self._id_index is None or self._id_index >= len(values):
            return ""
        return values[self._id_index].strip()


def _blank_rows(batch: pa.RecordBatch) -> np.ndarray:
    """Rows whose every field is empty or whitespace (blank lines, lines of only delimiters).

    Only rows whose first field is empty or starts with whitespace can be blank; the rest of
    each row is looked at for those few rows only.
    """
    if batch.num_columns == 0:
        return np.zeros(batch.num_rows, dtype=bool)
    first_bytes = pc.binary_slice(batch.column(0).view(pa.binary()), 0, 1)
    candidates = pc.is_in(first_bytes, value_set=_EMPTY_OR_WHITESPACE_BYTE)
    if not pc.any(candidates).as_py():
        return np.zeros(batch.num_rows, dtype=bool)
    blank = pa.array(np.ones(int(pc.sum(candidates).as_py()), dtype=bool))
    for column in batch.filter(candidates).columns:
        blank = pc.and_(blank, pc.match_substring_regex(column, _BLANK))
    return pc.replace_with_mask(candidates, candidates, blank).to_numpy(zero_copy_only=False)


def _line_breaks(batch: pa.RecordBatch) -> np.ndarray:
    """Line breaks inside each row's values (quoted newlines): how many lines the row spans, minus one.

    A column whose bytes hold no line break at all (a fast byte search) is not counted row by row.
    """
    total = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        values = column.buffers()[2]
        if values is None:
            continue
        data = values.to_pybytes()
        if b"\n" in data or b"\r" in data:
            total += pc.count_substring_regex(column, _LINE_BREAK).to_numpy(zero_copy_only=False)
    return total


def _explain_arrow_error(
    path: Path, layout: CsvLayout, message: str, block_bytes: int, records: _RecordNumbering
) -> str:
    message = message.strip()
    if "UTF8" in message or "UTF-8" in message or ("Expected" in message and "columns" in message):
        # The parser cannot show a ragged row that is not UTF-8 either: both mean a non-UTF-8 byte.
        found = _first_non_utf8_byte(path, layout)
        if found is not None:
            return not_utf8_problem(*found)
    if "straddling" in message:
        return (
            f"a record after line {records.last_record_line} is longer than {block_bytes:,} bytes: usually a "
            'quote (") that is never closed, so the rest of the file reads as one value; otherwise not a CSV file'
        )
    return f"cannot be parsed as CSV ({message})"


def _first_non_utf8_byte(path: Path, layout: CsvLayout) -> tuple[int, int] | None:
    """(line, byte value) of the first byte after the header that is not UTF-8 text, if any."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = layout.lines_before_data + 1  # where the chunk starts
    after_cr = False
    with open(path, "rb") as handle:
        handle.seek(layout.data_offset)
        while True:
            chunk = handle.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                in_chunk = max(error.start - (len(error.object) - len(chunk)), 0)
                return line + _count_line_breaks(chunk[:in_chunk], after_cr), error.object[error.start]
            if not chunk:
                return None
            line += _count_line_breaks(chunk, after_cr)
            after_cr = chunk.endswith(b"\r")


def _count_line_breaks(data: bytes, after_cr: bool) -> int:
    """Line breaks in ``data``; a "\n" first, after a chunk that ended in "\r", ends no new line."""
    return len(_LINE_BREAK_BYTES.findall(data)) - (after_cr and data.startswith(b"\n"))


def read_csv_frame(path: Path, use_case: UseCase) -> pd.DataFrame:
    """A whole (small) file as a frame of text columns; training uses the same reader as scoring."""
    table = pa.Table.from_batches(list(iter_record_batches(Path(path), use_case)))
    return batch_to_frame(table)
