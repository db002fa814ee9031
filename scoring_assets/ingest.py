"""Stage 1 and 2: an input CSV -> raw Parquet -> accepted rows + reject report.

Both stages stream record batches, so memory is bounded by the batch size, not the file.
The raw stage hashes the bytes it parses, so what is scored is provably the file that was
registered. The validation stage applies the contract batch by batch; customer ids repeated
anywhere in the file are found in a first pass, so uniqueness holds across batches too.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scoring_assets.contract import (
    CONTRACT_COLUMNS,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    LABEL_COLUMN,
    REJECT_COLUMNS,
    validate_frame,
)
from scoring_assets.files import atomic_path
from scoring_assets.input_csv import (
    BATCH_ROWS,
    PARQUET_COMPRESSION,
    ROW_NUMBER,
    InputFileError,
    batch_to_frame,
    iter_record_batches,
    lake_reader,
)


@dataclass(frozen=True)
class RawSummary:
    rows: int
    bytes: int
    sha256: str
    columns: list[str]
    has_label: bool


@dataclass
class ValidationSummary:
    rows_in: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    reject_counts: Counter = field(default_factory=Counter)

    @property
    def reject_fraction(self) -> float:
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0


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


def write_raw_parquet(source: Path, expected_sha256: str, destination: Path) -> RawSummary:
    """Parse ``source`` into ``destination`` (text columns + row_number), atomically.

    Fails with ``InputFileError`` if the file cannot be used or no longer has the content it
    was registered with; then ``destination`` is left untouched.
    """
    source = Path(source)
    rows = 0
    with atomic_path(destination) as temporary:
        hashing = _HashingReader(source)
        writer = None
        try:
            for batch in iter_record_batches(source, reader=hashing):
                if writer is None:
                    writer = pq.ParquetWriter(temporary, batch.schema, compression=PARQUET_COMPRESSION)
                writer.write_batch(batch)
                rows += batch.num_rows
            # The parser may stop before the last bytes (e.g. a trailing newline); hash the rest.
            while hashing.read(1 << 20):
                pass
        finally:
            if writer is not None:
                writer.close()
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
        rows=rows, bytes=hashing.bytes_read, sha256=sha256, columns=names, has_label=LABEL_COLUMN in names
    )


def accepted_schema(has_label: bool) -> pa.Schema:
    """Arrow schema of the validated batch: contract columns typed, label passed through."""
    fields = [pa.field(ROW_NUMBER, pa.int64(), nullable=False)]
    for name in CONTRACT_COLUMNS:
        if name in INTEGER_COLUMNS:
            fields.append(pa.field(name, pa.int64(), nullable=False))
        elif name in FLOAT_COLUMNS:
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string(), nullable=False))
    if has_label:
        fields.append(pa.field(LABEL_COLUMN, pa.string()))
    return pa.schema(fields)


REJECT_SCHEMA = pa.schema(
    [pa.field(name, pa.int64() if name == ROW_NUMBER else pa.string()) for name in REJECT_COLUMNS]
)


def find_repeated_ids(raw_path: Path) -> frozenset[str]:
    """Every customer id that occurs more than once anywhere in the file.

    A first pass over 64-bit hashes of the ids keeps memory small for huge files; the few
    ids whose hashes repeat are then compared exactly, so a hash collision cannot reject a
    valid row.
    """
    source = lake_reader(raw_path)
    hashes = np.empty(source.metadata.num_rows, dtype=np.uint64)  # 8 bytes a row, filled in place
    filled = 0
    for batch in source.iter_batches(columns=["customerID"], batch_size=BATCH_ROWS):
        ids = pc.utf8_trim_whitespace(batch.column(0)).to_pandas()
        hashes[filled : filled + len(ids)] = pd.util.hash_pandas_object(ids, index=False).to_numpy()
        filled += len(ids)
    hashes.sort()
    suspects = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if not len(suspects):
        return frozenset()
    counts: Counter = Counter()
    for batch in source.iter_batches(columns=["customerID"], batch_size=BATCH_ROWS):
        ids = pc.utf8_trim_whitespace(batch.column(0)).to_pandas()
        candidates = ids[np.isin(pd.util.hash_pandas_object(ids, index=False).to_numpy(), suspects)]
        counts.update(candidates.tolist())
    return frozenset(value for value, count in counts.items() if count > 1 and value != "")


def validate_raw_parquet(raw_path: Path, accepted_path: Path, report_path: Path) -> ValidationSummary:
    """Split the raw batch into accepted rows (typed Parquet) and a reject report (CSV).

    Both files are written atomically. The report exists exactly when rows were rejected: a
    report left at ``report_path`` by an earlier, different file is removed.
    """
    source = lake_reader(raw_path)
    has_label = LABEL_COLUMN in source.schema_arrow.names
    schema = accepted_schema(has_label)
    repeated_ids = find_repeated_ids(raw_path)
    summary = ValidationSummary()
    with atomic_path(accepted_path) as accepted_tmp, atomic_path(report_path) as report_tmp:
        with (
            pq.ParquetWriter(accepted_tmp, schema, compression=PARQUET_COMPRESSION) as accepted_writer,
            pacsv.CSVWriter(report_tmp, REJECT_SCHEMA) as report_writer,
        ):
            for batch in source.iter_batches(batch_size=BATCH_ROWS):
                raw = batch_to_frame(batch)
                result = validate_frame(raw, repeated_ids)
                summary.rows_in += len(raw)
                summary.rows_accepted += len(result.accepted)
                summary.rows_rejected += result.rejected_row_count
                summary.reject_counts.update(result.rejects["rule"].tolist())
                accepted = result.accepted.reset_index()[schema.names]
                accepted_writer.write_table(pa.Table.from_pandas(accepted, schema=schema, preserve_index=False))
                if len(result.rejects):
                    report_writer.write_table(
                        pa.Table.from_pandas(result.rejects, schema=REJECT_SCHEMA, preserve_index=False)
                    )
    if summary.rows_rejected == 0:
        Path(report_path).unlink(missing_ok=True)
    return summary


def read_accepted_frame(batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch of the validated Parquet as the typed frame the contract produced."""
    frame = batch_to_frame(batch)
    for name in INTEGER_COLUMNS:
        frame[name] = frame[name].astype("Int64")
    return frame
