"""Stage 1 and 2: an input CSV -> raw Parquet -> accepted rows + reject report.

Both stages stream record batches, so memory is bounded by the batch size, not the file.
The raw stage hashes the bytes it parses, so what is scored is provably the file that was
registered; rows with more or fewer fields than the header go to a side file beside the raw
Parquet (``<key>.ragged.parquet``). The validation stage applies the contract batch by batch;
ids repeated anywhere in the file are found in a first pass, so uniqueness holds
across batches too (for use cases with an id column). Ragged rows are rejected there like any other bad row (rule
``field_count``), so they count against the reject limit and appear in the reject report, which
is written spreadsheet-safe (``csv_safety``).
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoring_assets.core.arrow_contract import broken_rules, compile_contract, decoded, typed_text_batch
from scoring_assets.core.contract import ID, REJECT_RECORD_COLUMNS, no_rejects, reject_columns, validate_frame
from scoring_assets.core.csv_header import InputFileError
from scoring_assets.core.csv_records import RAGGED_SCHEMA, iter_record_batches
from scoring_assets.core.csv_safety import SpreadsheetSafeCsvWriter
from scoring_assets.core.files import atomic_path
from scoring_assets.core.lake import BATCH_ROWS, LakeWriter, batch_to_frame, lake_reader
from scoring_assets.core.manifest_model import InputFile, RejectedRows
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase

FIELD_COUNT_RULE = "field_count"
# A column a run carries into the scored file is kept, as written, under this prefix in every lake file,
# so it can never be confused with (or changed like) a contract column of the same name.
CARRIED_PREFIX = "carried:"
_HASH_BASE = np.uint64(0x100000001B3)  # text_hashes: FNV's 64-bit prime as the polynomial's base
_HASH_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))  # SplitMix64's multipliers
WHOLE_ROW = "(whole row)"  # the reject report's column for a row that could not be split into columns


@dataclass(frozen=True)
class RawSummary:
    """What parsing a file found; ``as_record()`` is the ``raw_batch`` stage summary (the manifest's input)."""

    path: str  # the input file
    rows: int  # rows in the raw Parquet (ragged rows not included)
    bytes: int
    sha256: str
    columns: list[str]
    has_label: bool
    carried: list[str]  # input columns carried through to the scored file
    ragged_rows: int = 0  # rows with more or fewer fields than the header, in the side file

    @property
    def input_file(self) -> InputFile:
        return InputFile(path=self.path, sha256=self.sha256, bytes=self.bytes, rows=self.rows)

    def as_record(self) -> dict[str, Any]:
        return self.input_file.as_dict()


@dataclass
class ValidationSummary:
    """What validating a file found; ``as_record()`` is the ``validated_batch`` stage summary."""

    rows_in: int = 0  # every data row of the file, ragged ones included
    rows_accepted: int = 0
    rows_rejected: int = 0
    reject_counts: Counter = field(default_factory=Counter)
    reject_report: str | None = None  # the reject report, written when rows were rejected
    report_cells_neutralised: int = 0  # reject report cells prefixed so a spreadsheet cannot run them

    @property
    def reject_fraction(self) -> float:
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0

    @property
    def rejected(self) -> RejectedRows:
        """The manifest's account of the rejected rows."""
        return RejectedRows(path=self.reject_report, rows=self.rows_rejected, counts_by_rule=dict(self.reject_counts))

    def as_record(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "reject_counts": dict(self.reject_counts.most_common()),
            "reject_report": self.reject_report,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ValidationSummary:
        """A summary from its stage summary (which does not keep ``report_cells_neutralised``)."""
        return cls(
            rows_in=record["rows_in"],
            rows_accepted=record["rows_accepted"],
            rows_rejected=record["rows_rejected"],
            reject_counts=Counter(record["reject_counts"]),
            reject_report=record["reject_report"],
        )


class _HashingReader(io.RawIOBase):
    """A read-only file that hashes every byte handed to the CSV parser."""

    def __init__(self, path: Path):
        self._handle = open(path, "rb")
        self.digest = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._handle.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
            self.bytes_read += count
        return count

    def close(self) -> None:
        self._handle.close()
        super().close()


def ragged_rows_path(raw_path: Path | str) -> Path:
    """The side file beside a raw Parquet that holds the file's ragged rows (``RAGGED_SCHEMA``)."""
    raw_path = Path(raw_path)
    return raw_path.with_name(f"{raw_path.stem}.ragged.parquet")


def write_raw_parquet(
    use_case: UseCase, source: Path, expected_sha256: str, destination: Path, carried: tuple[str, ...] = ()
) -> RawSummary:
    """Parse ``source`` into ``destination`` (text columns + row_number) and its ragged rows file, atomically.

    A file with a header and no data rows gives a raw Parquet of 0 rows. Fails with
    ``InputFileError`` if the file cannot be used, is gone or no longer has the content it was
    registered with; then neither file is touched.
    """
    source = Path(source)
    rows = 0
    with atomic_path(destination) as temporary, atomic_path(ragged_rows_path(destination)) as ragged_temporary:
        try:
            hashing = _HashingReader(source)
        except FileNotFoundError:
            raise InputFileError(source, "file not found: deleted or moved since it was registered") from None
        except OSError as error:
            raise InputFileError(source, f"cannot be read since registration ({error.strerror or error})") from None
        writer = None
        try:
            with LakeWriter(ragged_temporary, RAGGED_SCHEMA) as ragged_writer:
                batches = iter_record_batches(source, use_case, carried, reader=hashing, on_ragged=ragged_writer.write)
                try:
                    for batch in batches:
                        batch = _with_carried_copies(batch, use_case, carried)
                        if writer is None:
                            writer = LakeWriter(temporary, batch.schema, raw_dictionary_columns(use_case))
                        writer.write(batch)
                        rows += batch.num_rows
                finally:
                    if writer is not None:
                        writer.close()
        finally:
            hashing.close()
        sha256 = hashing.digest.hexdigest()
        if sha256 != expected_sha256:
            raise InputFileError(
                source,
                f"content changed since it was registered (sha256 {sha256[:12]}... now, {expected_sha256[:12]}... "
                "then); a new version of a file is scored as a new partition",
            )
        schema = pq.read_schema(temporary)
    names = [name for name in schema.names if name != ROW_NUMBER]
    return RawSummary(
        path=str(source),
        rows=rows,
        bytes=hashing.bytes_read,
        sha256=sha256,
        columns=names,
        has_label=use_case.label_column in names,
        carried=[name[len(CARRIED_PREFIX) :] for name in carried_columns(names)],
        ragged_rows=lake_reader(ragged_rows_path(destination)).metadata.num_rows,
    )


def _dictionary_columns(use_case: UseCase) -> list[str]:
    """The columns of the validated file worth dictionary encoding: those with a value set, and the label."""
    return [*use_case.value_sets, *([use_case.label_column] if use_case.label_column else [])]


def raw_dictionary_columns(use_case: UseCase) -> list[str]:
    """The raw file's columns stored and read back as dictionaries: the categorical ones and the whole numbers.

    Whole numbers are mostly codes, counts and amounts with few distinct texts per batch, so each
    text is parsed once (``core.arrow_contract``); the Parquet writer falls back to plain pages
    for a column with too many.
    """
    numbers = [name for name in use_case.integer_columns if name not in use_case.value_sets]
    return [*use_case.value_sets, *numbers, *([use_case.label_column] if use_case.label_column else [])]


def categorical_text_columns(use_case: UseCase) -> list[str]:
    """The text columns with a value set (and the label): read back from the lake as dictionary arrays.

    Each holds a few distinct texts, so a rule, a trim or a category code is computed once per
    text, not once per row (``core.arrow_contract``).
    """
    text = [name for name in use_case.value_sets if name not in (*use_case.integer_columns, *use_case.float_columns)]
    return [*text, *([use_case.label_column] if use_case.label_column else [])]


def carried_columns(names: list[str]) -> list[str]:
    """The carried columns of a lake file (``carried:<input column>``), in order."""
    return [name for name in names if name.startswith(CARRIED_PREFIX)]


def _with_carried_copies(batch: pa.RecordBatch, use_case: UseCase, carried: tuple[str, ...]) -> pa.RecordBatch:
    """The contract (and label) columns, then a ``carried:`` copy of every column to carry, as written."""
    kept = [
        name for name in batch.schema.names if name in (ROW_NUMBER, *use_case.contract_columns, use_case.label_column)
    ]
    arrays = [batch.column(name) for name in kept] + [batch.column(name) for name in carried]
    return pa.RecordBatch.from_arrays(arrays, names=kept + [f"{CARRIED_PREFIX}{name}" for name in carried])


def accepted_schema(use_case: UseCase, has_label: bool, carried: list[str] = ()) -> pa.Schema:
    """Arrow schema of the validated batch: contract columns typed, label and carried columns as text."""
    fields = [pa.field(ROW_NUMBER, pa.int64(), nullable=False)]
    for name in use_case.contract_columns:
        if name in use_case.integer_columns:  # a blank whole number is missing where the contract allows it
            fields.append(pa.field(name, pa.int64(), nullable=bool(use_case.schema.columns[name].nullable)))
        elif name in use_case.float_columns:
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string(), nullable=False))
    if has_label:
        fields.append(pa.field(use_case.label_column, pa.string()))
    fields += [pa.field(name, pa.string()) for name in carried]  # already ``carried:<name>``
    return pa.schema(fields)


def reject_schema(use_case: UseCase) -> pa.Schema:
    """The reject report's columns (``contract.reject_columns``) as Arrow types."""
    return pa.schema(
        [pa.field(name, pa.int64() if name == ROW_NUMBER else pa.string()) for name in reject_columns(use_case)]
    )


def find_repeated_ids(raw_path: Path, id_column: str) -> frozenset[str]:
    """Every id that occurs more than once anywhere in the file.

    A first pass over 64-bit hashes of the ids keeps memory small for huge files; the few
    ids whose hashes repeat are then compared exactly, so a hash collision cannot reject a
    valid row.
    """
    source = lake_reader(raw_path)
    hashes = np.empty(source.metadata.num_rows, dtype=np.uint64)  # 8 bytes a row, filled in place
    filled = 0
    for batch in source.iter_batches(columns=[id_column], batch_size=BATCH_ROWS):
        hashes[filled : filled + batch.num_rows] = text_hashes(pc.utf8_trim_whitespace(batch.column(0)))
        filled += batch.num_rows
    hashes.sort()
    suspects = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if not len(suspects):
        return frozenset()
    counts: Counter = Counter()
    for batch in source.iter_batches(columns=[id_column], batch_size=BATCH_ROWS):
        ids = pc.utf8_trim_whitespace(batch.column(0))
        counts.update(ids.filter(pa.array(np.isin(text_hashes(ids), suspects))).to_pylist())
    return frozenset(value for value, count in counts.items() if count > 1 and value != "")


def text_hashes(text: pa.Array) -> np.ndarray:
    """A 64-bit hash of every text, straight from Arrow's buffers: no Python string per row.

    A polynomial over the bytes (mod 2**64), mixed with the length by SplitMix64's finaliser.
    Equal texts hash equal; callers compare the few texts whose hashes repeat exactly.
    """
    if not len(text):
        return np.empty(0, np.uint64)
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(text.buffers()[1], dtype=width)[text.offset : text.offset + len(text) + 1].astype(np.int64)
    data = np.frombuffer(text.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    with np.errstate(over="ignore"):  # unsigned arithmetic wraps: that is the modulus
        powers = np.cumprod(np.full(max(int(lengths.max()), 1), _HASH_BASE, dtype=np.uint64))
        terms = data.astype(np.uint64) * powers[np.arange(len(data)) - np.repeat(starts, lengths)]
        sums = np.zeros(len(text), np.uint64)
        if len(terms):
            sums[lengths > 0] = np.add.reduceat(terms, starts[lengths > 0])
        mixed = sums ^ (lengths.astype(np.uint64) * _HASH_MIX[1])
        for shift, multiplier in ((30, _HASH_MIX[0]), (27, _HASH_MIX[1])):
            mixed ^= mixed >> np.uint64(shift)
            mixed *= multiplier
        return mixed ^ (mixed >> np.uint64(31))


def validate_raw_parquet(
    use_case: UseCase, raw_path: Path, accepted_path: Path, report_path: Path
) -> ValidationSummary:
    """Split the raw batch into accepted rows (typed Parquet) and a reject report (CSV).

    Ragged rows from the raw stage's side file are rejected rows too (rule ``field_count``),
    merged into the report in row order. Both files are written atomically. The report exists
    exactly when rows were rejected: a report left at ``report_path`` by an earlier, different
    file is removed.
    """
    source = lake_reader(raw_path, raw_dictionary_columns(use_case))
    names = source.schema_arrow.names
    schema = accepted_schema(use_case, use_case.label_column in names, carried_columns(names))
    repeated_ids = find_repeated_ids(raw_path, use_case.id_column) if use_case.id_column else frozenset()
    ragged = _RaggedRejects(ragged_rows_path(raw_path))
    summary = ValidationSummary()
    categories = [name for name in categorical_text_columns(use_case) if name in schema.names]
    with atomic_path(accepted_path) as accepted_tmp, atomic_path(report_path) as report_tmp:
        with (
            LakeWriter(accepted_tmp, schema, _dictionary_columns(use_case), categories) as accepted_writer,
            SpreadsheetSafeCsvWriter(report_tmp, reject_schema(use_case)) as report_writer,
        ):
            judge = _BatchJudge(use_case, accepted_writer.schema, repeated_ids)
            for batch in source.iter_batches(batch_size=BATCH_ROWS):
                if not batch.num_rows:
                    continue
                accepted, rejects = judge(batch)
                ragged_rejects = ragged.up_to(pc.max(batch.column(ROW_NUMBER)).as_py())
                summary.rows_in += batch.num_rows + len(ragged_rejects)
                summary.rows_accepted += accepted.num_rows
                summary.rows_rejected += int(rejects[ROW_NUMBER].nunique()) + len(ragged_rejects)
                summary.reject_counts.update(rejects["rule"].tolist() + ragged_rejects["rule"].tolist())
                accepted_writer.write(accepted)
                if len(ragged_rejects):
                    rejects = pd.concat([rejects, ragged_rejects]).sort_values(ROW_NUMBER, kind="stable")
                _write_rejects(report_writer, use_case, rejects)
            while len(ragged_rejects := ragged.up_to(None)):
                summary.rows_in += len(ragged_rejects)
                summary.rows_rejected += len(ragged_rejects)
                summary.reject_counts.update(ragged_rejects["rule"].tolist())
                _write_rejects(report_writer, use_case, ragged_rejects)
            summary.report_cells_neutralised = report_writer.cells_neutralised
    if summary.rows_rejected == 0:
        Path(report_path).unlink(missing_ok=True)
    else:
        summary.reject_report = str(report_path)
    return summary


class _BatchJudge:
    """Judges raw batches: accepted rows (typed, as ``schema``: categories as dictionaries) and reject records.

    A batch Arrow proves clean (``core.arrow_contract``: every rule of the compiled contract holds
    for every row, and no id repeats elsewhere in the file) is typed and accepted without building
    a pandas frame. Any other batch goes to pandera (``validate_frame``), which finds and names
    every broken rule, so reject reasons and reports are pandera's.
    """

    def __init__(self, use_case: UseCase, schema: pa.Schema, repeated_ids: frozenset[str]):
        self._use_case = use_case
        self._schema = schema
        self._repeated_ids = repeated_ids
        self._repeated = pa.array(sorted(repeated_ids), pa.string())
        self._contract = compile_contract(use_case.schema)
        self._trimmed = [*use_case.contract_columns, *([use_case.label_column] if use_case.label_column else [])]

    def __call__(self, batch: pa.RecordBatch) -> tuple[pa.Table, pd.DataFrame]:
        accepted = self._proven_clean(batch)
        if accepted is not None:
            return accepted, no_rejects()
        batch = pa.RecordBatch.from_arrays([decoded(column) for column in batch.columns], names=batch.schema.names)
        result = validate_frame(self._use_case, batch_to_frame(batch), self._repeated_ids)
        accepted_rows = result.accepted.reset_index()[self._schema.names]
        return pa.Table.from_pandas(accepted_rows, schema=self._schema, preserve_index=False), result.rejects

    def _proven_clean(self, batch: pa.RecordBatch) -> pa.Table | None:
        """The whole batch typed as accepted rows, or None when Arrow cannot prove every row clean."""
        if not self._contract.complete or not set(self._schema.names) <= set(batch.schema.names):
            return None
        typed = typed_text_batch(self._contract, batch, self._trimmed)
        if typed is None or next(broken_rules(self._contract, typed), None) is not None:
            return None
        id_column = self._use_case.id_column
        if id_column and len(self._repeated) and pc.any(pc.is_in(typed[id_column], self._repeated)).as_py():
            return None
        columns = [typed[field.name].cast(field.type) for field in self._schema]
        return pa.Table.from_arrays(columns, schema=self._schema)


def _write_rejects(report: SpreadsheetSafeCsvWriter, use_case: UseCase, rejects: pd.DataFrame) -> None:
    """Reject records into the report, the id column named as in the scored file.

    A NUL byte is written as the four characters ``\\x00``, so the report stays a text file.
    """
    if not len(rejects):
        return
    if use_case.id_column:
        rejects = rejects.rename(columns={ID: use_case.scored_id_column})
    schema = reject_schema(use_case)
    texts = [name for name in schema.names if name != ROW_NUMBER]
    shown = rejects[schema.names].assign(**{name: rejects[name].str.replace("\x00", "\\x00") for name in texts})
    report.write(pa.Table.from_pandas(shown, schema=schema, preserve_index=False))


class _RaggedRejects:
    """The raw stage's ragged rows as reject records, handed out in row order beside the raw batches.

    Reads the side file batch by batch, so memory stays bounded however many rows are ragged. A
    raw Parquet without a side file (written before ragged rows were kept) has none.
    """

    def __init__(self, ragged_path: Path):
        self._batches = lake_reader(ragged_path).iter_batches(batch_size=BATCH_ROWS) if ragged_path.exists() else None
        self._pending = pa.Table.from_batches([], RAGGED_SCHEMA)

    def up_to(self, last_row_number: int | None) -> pd.DataFrame:
        """Reject records of the ragged rows numbered up to ``last_row_number``.

        With None: the next batch of whatever remains (empty when nothing does).
        """
        if last_row_number is None:
            self._read_batch()
            count = self._pending.num_rows
        else:
            while not self._pending_goes_past(last_row_number) and self._read_batch():
                pass
            count = int(pc.sum(pc.less_equal(self._pending.column(ROW_NUMBER), last_row_number)).as_py() or 0)
        taken, self._pending = self._pending.slice(0, count), self._pending.slice(count)
        return _ragged_reject_records(taken)

    def _pending_goes_past(self, row_number: int) -> bool:
        return self._pending.num_rows > 0 and self._pending.column(ROW_NUMBER)[-1].as_py() > row_number

    def _read_batch(self) -> bool:
        following = next(self._batches, None) if self._batches is not None else None
        if following is None:
            self._batches = None
            return False
        self._pending = pa.concat_tables([self._pending, pa.Table.from_batches([following])])
        return True


def _ragged_reject_records(ragged: pa.Table) -> pd.DataFrame:
    """One reject record per ragged row: the line it starts on, its field counts and its raw text."""
    rows = ragged.to_pydict()
    values = [
        f"line {line}: {fields} fields where the header has {expected}: {text}"
        for line, fields, expected, text in zip(
            rows["line_number"], rows["fields"], rows["header_fields"], rows["text"], strict=True
        )
    ]
    return pd.DataFrame(
        {
            ROW_NUMBER: pd.Series(rows[ROW_NUMBER], dtype="int64"),
            ID: pd.Series(rows["id"], dtype="str"),
            "column": WHOLE_ROW,
            "rule": FIELD_COUNT_RULE,
            "value": pd.Series(values, dtype="str"),
        },
        columns=REJECT_RECORD_COLUMNS,
    )


def read_accepted_frame(use_case: UseCase, batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch of the validated Parquet as the typed frame the contract produced."""
    frame = batch_to_frame(batch)
    for name in use_case.integer_columns:
        frame[name] = frame[name].astype("Int64")
    return frame
