"""The lake: the Parquet files every stage writes and the next one streams back, batch by batch.

Every lake file (raw, accepted, features, scores) is keyed by ``ROW_NUMBER``. Stages move
``BATCH_ROWS`` rows at a time, so memory is proportional to the batch size, not to the file.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring_assets.core.row_number import ROW_NUMBER

# Rows per record batch in every stage (and per Parquet row group): memory is proportional to
# this, not to the file. 64k rows of this schema is a few MB per column set.
BATCH_ROWS = 64_000
# Lake files are intermediates read back within seconds: favour write speed over size.
PARQUET_COMPRESSION = "lz4"


def lake_reader(path: Path | str, dictionary_columns=()) -> pq.ParquetFile:
    """A Parquet file opened for streaming in record batches with flat memory.

    ``pre_buffer`` is off: with it on, pyarrow keeps every byte range it has read cached until
    the file is closed, so reading a 10M-row file batch by batch grows by gigabytes.
    ``dictionary_columns`` are read as Arrow dictionary arrays, straight from their Parquet
    dictionary pages: a few distinct texts and a small integer per row, where plain strings cost
    a copy of every value (the categorical columns the writer dictionary-encodes, ``LakeWriter``);
    those the file does not have are left out.
    """
    source = pq.ParquetFile(path, pre_buffer=False)
    present = [name for name in dictionary_columns if name in source.schema_arrow.names]
    return pq.ParquetFile(path, pre_buffer=False, read_dictionary=present) if present else source


class LakeWriter:
    """A lake Parquet file written batch by batch, encoded and written on a second thread.

    Encoding, compressing and writing a batch releases the GIL, so it overlaps with the Python
    work on the next batch (parsing, validation, features, predict) and uses the machine's second
    core. At most ``MAX_PENDING`` batches wait to be written, so memory stays bounded by the batch
    size; batches are written in the order given. ``close`` (or leaving the ``with`` block) waits
    for every write and raises the first error any of them met. Lake files are intermediates
    read back within seconds, so they favour write speed: lz4, no column statistics (nothing
    reads them) and dictionary encoding only for ``dictionary_columns`` (the low-cardinality text
    columns: for ids and numbers a dictionary costs time and saves nothing).

    ``arriving_as_dictionaries``: text columns of ``schema`` given as Arrow dictionary arrays
    (``self.schema`` says so). Their pages are written straight from each batch's dictionary and
    indices, not hashed value by value again; the file still reads back as ``schema`` (plain text
    unless a reader asks for dictionaries, ``lake_reader``), as it keeps no Arrow schema of its own.
    """

    MAX_PENDING = 2

    def __init__(self, path: Path | str, schema: pa.Schema, dictionary_columns=(), arriving_as_dictionaries=()):
        self.schema = pa.schema(
            [_as_dictionary(field) if field.name in arriving_as_dictionaries else field for field in schema]
        )
        self._writer = pq.ParquetWriter(
            path,
            self.schema,
            compression=PARQUET_COMPRESSION,
            write_statistics=False,
            use_dictionary=[name for name in (*dictionary_columns, *arriving_as_dictionaries) if name in schema.names],
            store_schema=not arriving_as_dictionaries,
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-writer")
        self._pending: deque[Future] = deque()

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        while len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._thread.submit(self._writer.write, data))

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._thread.shutdown(wait=True, cancel_futures=True)
            self._writer.close()

    def __enter__(self) -> LakeWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _as_dictionary(field: pa.Field) -> pa.Field:
    return field.with_type(pa.dictionary(pa.int32(), field.type))


def batch_to_frame(batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """A record batch as a pandas frame indexed by row number (text stays Arrow-backed)."""
    frame = batch.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=float("nan"))}.get)
    return frame.set_index(ROW_NUMBER)
