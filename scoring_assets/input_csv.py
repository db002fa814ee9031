"""Reading an input CSV exactly as written: every value as text, streamed in record batches.

Nothing is guessed: "0001" stays "0001" and a blank stays a blank, so the contract (not the
CSV parser) decides what a value means. Header names are trimmed, a UTF-8 byte-order mark and
CRLF line endings are accepted, columns outside the contract are dropped (``Churn`` is kept
for back-testing), and every problem that makes the file as a whole unusable is raised as an
``InputFileError`` that names the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scoring_assets.contract import CONTRACT_COLUMNS, LABEL_COLUMN

ROW_NUMBER = "row_number"
# Rows per record batch in every stage (and per Parquet row group): memory is proportional to
# this, not to the file. 64k rows of this schema is a few MB per column set.
BATCH_ROWS = 64_000
# Lake files are intermediates read back within seconds: favour write speed over size.
PARQUET_COMPRESSION = "lz4"
DEFAULT_BLOCK_BYTES = 8 << 20  # CSV bytes parsed at a time (~60k rows of a Telco extract)
_HEADER_PROBE_BYTES = 1 << 20


class InputFileError(ValueError):
    """The file as a whole cannot be scored (unreadable, empty, not UTF-8, wrong columns)."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def read_header(path: Path) -> list[str]:
    """The file's column names with surrounding whitespace removed."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEADER_PROBE_BYTES)
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error})") from None
    if not head.strip():
        raise InputFileError(path, "file is empty")
    first_line = head.split(b"\n", 1)[0]
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputFileError(path, f"header is not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    names = [name.strip() for name in next(csv.reader(io.StringIO(text)))]
    return names


def output_columns(header: list[str]) -> list[str]:
    """The columns kept from a file: the contract's, plus the label when the file has one."""
    return [*CONTRACT_COLUMNS, *([LABEL_COLUMN] if LABEL_COLUMN in header else [])]


def check_header(path: Path, header: list[str]) -> None:
    missing = [name for name in CONTRACT_COLUMNS if name not in header]
    if missing:
        raise InputFileError(path, f"missing required column(s): {', '.join(missing)}")
    repeated = sorted({name for name in header if header.count(name) > 1 and name in output_columns(header)})
    if repeated:
        raise InputFileError(path, f"column(s) appear more than once in the header: {', '.join(repeated)}")


def iter_record_batches(
    path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES, reader: BinaryIO | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream the file as record batches of text columns plus a 1-based ``row_number``.

    Memory stays proportional to ``block_bytes``, whatever the file size. ``reader``, if
    given, is an open binary stream of the same file to parse instead of opening ``path``
    (the raw stage passes one that hashes what it reads).
    """
    path = Path(path)
    header = read_header(path)
    check_header(path, header)
    kept = output_columns(header)
    # Unique placeholder names for columns we drop, so odd or repeated extra headers cannot
    # confuse the reader.
    names = [name if name in kept else f"__ignored_{index}" for index, name in enumerate(header)]
    try:
        batches = pacsv.open_csv(
            reader if reader is not None else path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=block_bytes),
            parse_options=pacsv.ParseOptions(),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in kept},
                include_columns=kept,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        rows_seen = 0
        for batch in batches:
            if batch.num_rows == 0:
                continue
            numbers = pa.array(range(rows_seen + 1, rows_seen + 1 + batch.num_rows), type=pa.int64())
            rows_seen += batch.num_rows
            yield pa.RecordBatch.from_arrays([numbers, *batch.columns], names=[ROW_NUMBER, *batch.schema.names])
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise InputFileError(path, _explain_arrow_error(str(error))) from None
    if rows_seen == 0:
        raise InputFileError(path, "has a header but no data rows")


def _explain_arrow_error(message: str) -> str:
    if "UTF8" in message or "UTF-8" in message:
        return f"is not valid UTF-8 text; save it as UTF-8 ({message.strip()})"
    if "Expected" in message and "columns" in message:
        return f"a row has the wrong number of fields ({message.strip()})"
    return f"cannot be parsed as CSV ({message.strip()})"


def lake_reader(path: Path | str) -> pq.ParquetFile:
    """A Parquet file opened for streaming in record batches with flat memory.

    ``pre_buffer`` is off: with it on, pyarrow keeps every byte range it has read cached until
    the file is closed, so reading a 10M-row file batch by batch grows by gigabytes.
    """
    return pq.ParquetFile(path, pre_buffer=False)


def batch_to_frame(batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """A record batch as a pandas frame indexed by row number (text stays Arrow-backed)."""
    frame = batch.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=float("nan"))}.get)
    return frame.set_index(ROW_NUMBER)


def read_csv_frame(path: Path) -> pd.DataFrame:
    """A whole (small) file as a frame of text columns; training uses the same reader as scoring."""
    table = pa.Table.from_batches(list(iter_record_batches(Path(path))))
    return batch_to_frame(table)
