"""Sniffing an input CSV's header: what kind of file it is, its column names, where its data starts.

CSV is accepted as people and spreadsheets really write it (RFC 4180 and beyond): a UTF-8
byte-order mark; LF, CRLF, old-Mac CR or mixed line endings; Excel's ``sep=,`` first line; blank
lines before the header; padded or quoted header names; a delimiter at the end of every line;
columns outside the contract (dropped, except the use case's label, kept for back-testing, and
the columns a run carries through to the scored file).

A file that cannot be used as a whole is refused with an ``InputFileError`` that names the file
and says what to do: compressed, binary (a NUL byte in the header, or many in the first 64 KiB)
or UTF-16 files, a header that is not UTF-8, another delimiter, missing or repeated columns, a
header quote that is never closed, a header line over ``HEADER_MAX_BYTES`` (16 MiB). Only the
start of the file is read, 64 KiB at first.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from scoring_assets.core.use_case import UseCase

# A header line, with the blank lines, byte-order mark or ``sep=,`` line before it, must end within
# this many bytes. Wide extracts have headers over 1 MiB; data records are bounded by the read
# block instead (``csv_records.DEFAULT_BLOCK_BYTES``).
HEADER_MAX_BYTES = 16 << 20
_FIRST_READ_BYTES = 64 << 10  # what is read first: a usual header and the sample below fit in it
# A file is binary (refused whole) when its header holds a NUL byte, or when at least one byte in
# _BINARY_ONE_NUL_IN of the first read (and at least _BINARY_NUL_BYTES_MIN bytes) is NUL: binary
# formats are full of them, while a text file with a damaged cell has a handful, and only the rows
# holding one are rejected.
_BINARY_ONE_NUL_IN = 100
_BINARY_NUL_BYTES_MIN = 16
# Whether every data line ends with a delimiter is judged on the first rows after the header.
_SAMPLE_ROWS = 50
_SAMPLE_BYTES = 1 << 20
_UTF8_BOM = b"\xef\xbb\xbf"
# One line of the header region. As in RFC 4180 (and pyarrow), a quote is special only at the start
# of a field; a quoted field may hold delimiters and line breaks, "" is a quote.
_FIELD = rb'(?:"(?:[^"]|"")*+"[^,\r\n]*+|(?!")[^,\r\n]*+)'
_HEADER_LINE_BODY = re.compile(rb"(?:" + _FIELD + rb"(?:," + _FIELD + rb")*+)?+")
_EXCEL_SEPARATOR_LINE = re.compile(rb"\s*sep=(.)\s*", re.IGNORECASE)
_OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}
# How other kinds of file start (checked in order), and what to do instead.
_SIGNATURES = [
    (rb"\x1f\x8b", "is gzip-compressed; decompress it (e.g. `gunzip`) and score the CSV inside"),
    (rb"PK\x03\x04", "is a ZIP archive (an Excel .xlsx workbook is one); save the sheet as CSV UTF-8 and score that"),
    (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "is an Excel 97-2003 workbook (.xls); save the sheet as CSV UTF-8"),
    (rb"\xfd7zXZ\x00", "is xz-compressed; decompress it (e.g. `unxz`) and score the CSV inside"),
    (rb"\x28\xb5\x2f\xfd", "is zstd-compressed; decompress it (e.g. `unzstd`) and score the CSV inside"),
    (rb"BZh[1-9]1AY&SY", "is bzip2-compressed; decompress it (e.g. `bunzip2`) and score the CSV inside"),
    (rb"PAR1", "is a Parquet file, not CSV; export the table as CSV UTF-8"),
    (rb"\xff\xfe\x00\x00|\x00\x00\xfe\xff", "is UTF-32 text, not UTF-8; save it as UTF-8 (in Excel: CSV UTF-8)"),
    (rb"\xff\xfe|\xfe\xff", "is UTF-16 text, not UTF-8; save it as UTF-8 (in Excel: CSV UTF-8)"),
]


class InputFileError(ValueError):
    """The file as a whole cannot be scored (unreadable, empty, not UTF-8, wrong columns)."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class CsvLayout:
    """Where a file's data starts: its column names and what comes before the first data record."""

    names: list[str]
    data_offset: int  # bytes before the first data record (byte-order mark, blank lines, sep=, header)
    lines_before_data: int  # physical lines before the first data record


def read_layout(path: Path) -> CsvLayout:
    """The header (names trimmed) and where the data starts, or why the file is not a CSV we can read.

    Reads the start of the file only: 64 KiB, and more (doubling) only while the header line has
    not ended, up to ``HEADER_MAX_BYTES``.
    """
    with _opened(path) as handle:
        start = _FileStart(handle)
        _refuse_non_text(path, start.data)
        body, offset, lines, complete = _header_line(path, start)
        _refuse_a_nul_byte_in_the_header(path, start.data[:offset])
        names = [name.strip() for name in _header_fields(path, body, lines)]
        if complete and _every_row_ends_with_a_delimiter(start, offset, len(names)):
            names.append("")  # the empty field after that delimiter, dropped like any extra column
    return CsvLayout(names=names, data_offset=offset, lines_before_data=lines)


@contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    """``path`` open for reading; not finding or reading it is an ``InputFileError``."""
    try:
        with open(path, "rb") as handle:
            yield handle
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a CSV file") from None
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error})") from None


class _FileStart:
    """The first bytes of a file, read as far as they are needed: 64 KiB, then twice as much each time."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self.data = handle.read(_FIRST_READ_BYTES)
        self.whole_file = len(self.data) < _FIRST_READ_BYTES

    def read_more(self, limit: int = HEADER_MAX_BYTES) -> bool:
        """Read as much again as was read, up to ``limit`` bytes in all; False when nothing more was read."""
        wanted = min(len(self.data), limit - len(self.data))
        if self.whole_file or wanted <= 0:
            return False
        more = self._handle.read(wanted)
        self.data += more
        self.whole_file = len(more) < wanted
        return bool(more)


def _header_line(path: Path, start: _FileStart) -> tuple[bytes, int, int, bool]:
    """The header line, the offset after it, how many lines it ends, and whether it had a line break.

    A byte-order mark, blank lines and Excel's ``sep=,`` line before it are skipped.
    """
    offset = len(_UTF8_BOM) if start.data.startswith(_UTF8_BOM) else 0
    lines = 0
    while True:
        body, offset, complete = _next_line(path, start, offset)
        lines += 1
        if body.strip() == b"":
            if offset >= len(start.data) and not start.read_more():
                limit = f"its first {HEADER_MAX_BYTES >> 20} MiB is blank lines"
                raise InputFileError(path, "file is empty" if start.whole_file else limit)
            continue
        separator = _EXCEL_SEPARATOR_LINE.fullmatch(body)
        if separator is None:
            return body, offset, lines, complete
        if separator.group(1) != b",":
            delimiter = separator.group(1).decode("latin-1")
            raise InputFileError(
                path,
                f"its first line says sep={delimiter}: {_OTHER_DELIMITERS.get(delimiter, repr(delimiter))}-separated; "
                "save it as comma-separated CSV (in Excel: CSV UTF-8)",
            )


def _header_fields(path: Path, body: bytes, line: int) -> list[str]:
    """The fields of the header line (``line`` is its line number), or why they cannot be read."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(path, not_utf8_problem(line, body[error.start])) from None
    fields = split_fields(text)
    if fields is None:
        raise InputFileError(path, f"its first line holds a value over {csv.field_size_limit():,} characters long")
    return fields


def _refuse_non_text(path: Path, head: bytes) -> None:
    """Refuse a file whose first bytes show it is not UTF-8 text: compressed, a workbook, UTF-16/32, binary."""
    for signature, problem in _SIGNATURES:
        if re.match(signature, head):
            raise InputFileError(path, problem)
    nul_bytes = head.count(0)
    if not nul_bytes:
        return
    if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4:
        raise InputFileError(
            path, "looks like UTF-16 text (no byte-order mark), not UTF-8; save it as UTF-8 (in Excel: CSV UTF-8)"
        )
    if nul_bytes >= max(_BINARY_NUL_BYTES_MIN, len(head) // _BINARY_ONE_NUL_IN):
        raise InputFileError(
            path,
            f"is binary, not CSV text: {nul_bytes:,} of its first {len(head):,} bytes are NUL bytes; "
            "export the table as CSV UTF-8",
        )


def _refuse_a_nul_byte_in_the_header(path: Path, header_region: bytes) -> None:
    """A NUL byte in a data value rejects that row only (``contract.NUL_BYTE_RULE``); in the header, the file."""
    position = header_region.find(0)
    if position >= 0:
        raise InputFileError(
            path, f"has a NUL byte in its header (at byte {position:,}): the file is binary or damaged, not CSV text"
        )


def _next_line(path: Path, start: _FileStart, offset: int) -> tuple[bytes, int, bool]:
    """The line of the header region at ``offset``, the offset after its line break, and whether it had one.

    Reads further into the file while the line (or a quoted value in it) goes on past what was read.
    """
    while True:
        data = start.data
        end = _HEADER_LINE_BODY.match(data, offset).end()
        at_line_break = end < len(data) and data[end] in b"\r\n"
        if at_line_break and data[end:] != b"\r":  # a "\r" read last may be the start of "\r\n"
            return data[offset:end], end + (2 if data.startswith(b"\r\n", end) else 1), True
        if start.read_more():
            continue
        if at_line_break:
            return data[offset:end], end + 1, True
        if not start.whole_file:
            raise InputFileError(path, f"its first line is over {HEADER_MAX_BYTES >> 20} MiB long; is this a CSV file?")
        if end < len(data):  # stopped at a quote that is never closed
            raise InputFileError(path, 'the header has a quote (") that is never closed')
        return data[offset:end], end, False


def _every_row_ends_with_a_delimiter(start: _FileStart, offset: int, header_fields: int) -> bool:
    """Whether the first complete data lines all have one empty field more than the header (``a,b,c,``).

    The sample is the first ``_SAMPLE_ROWS`` rows, or those within ``_SAMPLE_BYTES`` after the header.
    """
    while True:
        data = start.data[offset:]
        complete = data[: max(data.rfind(b"\n"), data.rfind(b"\r")) + 1]
        rows = (row for row in csv.reader(io.StringIO(complete.decode("utf-8", "replace"), newline="")) if any(row))
        try:
            sample = list(itertools.islice(rows, _SAMPLE_ROWS))
        except csv.Error:  # a value over the csv module's size limit: not the simple file this is about
            return False
        if len(sample) == _SAMPLE_ROWS or not start.read_more(limit=offset + _SAMPLE_BYTES):
            return bool(sample) and all(len(row) == header_fields + 1 and not row[-1].strip() for row in sample)


def split_fields(text: str) -> list[str] | None:
    """The fields of one CSV record, or None when a value is over the csv module's size limit."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return None


def output_columns(use_case: UseCase, header: list[str], carried: tuple[str, ...] = ()) -> list[str]:
    """The columns kept from a file: the contract's, the label when the file has one, then the carried ones."""
    kept = [*use_case.contract_columns, *([use_case.label_column] if use_case.label_column in header else [])]
    return kept + [name for name in carried if name not in kept]


def check_header(path: Path, header: list[str], use_case: UseCase, carried: tuple[str, ...] = ()) -> None:
    """Every contract column (and every column to carry through) once in the header, or why not."""
    missing = [name for name in use_case.contract_columns if name not in header]
    if missing:
        raise InputFileError(path, _missing_columns_problem(use_case.contract_columns, header, missing))
    absent = [name for name in carried if name not in header]
    if absent:
        raise InputFileError(
            path,
            f"column(s) to carry into the scored file are not in the file: {', '.join(absent)} "
            f"(its columns: {shortened(', '.join(header), 200)})",
        )
    kept = output_columns(use_case, header, carried)
    repeated = sorted({name for name in header if header.count(name) > 1 and name in kept})
    if repeated:
        raise InputFileError(path, f"column(s) appear more than once in the header: {', '.join(repeated)}")


def _missing_columns_problem(contract_columns: list[str], header: list[str], missing: list[str]) -> str:
    """Why the contract's columns are not there, with the likely cause when there is one."""
    line = ",".join(header)
    for delimiter, described in _OTHER_DELIMITERS.items():
        if sum(part.strip().strip('"') in contract_columns for part in line.split(delimiter)) > len(missing) // 2:
            return f"looks like {described}-separated; save it as comma-separated CSV (in Excel: CSV UTF-8)"
    lowered = {name.lower(): name for name in header}
    near = [f"{lowered[name.lower()]!r} for {name!r}" for name in missing if name.lower() in lowered]
    if len(missing) == len(contract_columns) and not near:
        expected = ", ".join(contract_columns[:3])
        return f"has no header row: its first line must name the columns ({expected}, ...), not {shortened(line, 60)!r}"
    hint = f" (column names are case-sensitive: found {', '.join(near)})" if near else ""
    return f"missing required column(s): {', '.join(missing)}{hint}"


def shortened(text: str, max_chars: int) -> str:
    """``text``, cut after ``max_chars`` characters with a note of how many more there were."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... ({len(text) - max_chars:,} more characters)"


def not_utf8_problem(line: int, byte: int) -> str:
    """Why a file with a non-UTF-8 ``byte`` on ``line`` is refused, with how Windows-1252 would read it."""
    guess = bytes([byte]).decode("cp1252", errors="replace")
    looks_like = f", which Windows-1252 / Latin-1 reads as {guess!r}" if guess != "\ufffd" else ""
    return f"is not UTF-8 text (line {line} has byte 0x{byte:02X}{looks_like}); save it as UTF-8 (in Excel: CSV UTF-8)"
