"""The bare model floor: read, build the model's inputs, ``predict_proba``, write; nothing else.

    python bench/model_floor.py USE_CASE INPUT.csv OUTPUT.csv [BLOCK_BYTES]

The least any scorer using this model must do, in one process, streaming as the project does
(so memory does not decide the figure at 10M rows): pyarrow's streaming CSV reader (every
column as text, 16 MB blocks unless BLOCK_BYTES says otherwise), the contract's numeric
columns trimmed and cast by Arrow (other columns are taken as they are, which is right for
clean files only), the model inputs from the use case's own feature code (what training and
the product use), the same model's ``predict_proba`` sliced as the product slices it (``predict_positive``), the model
card's positive class and threshold, and pyarrow's CSV writer for the scored file's fixed
columns (id, score, label, model version, timestamp, row number). No reason codes (their cost is
``bench/reasons_cost.py``'s), no contract, no rejects, no
checks, no drift, no lineage, no spreadsheet safety, no Dagster.
bench/run.py prints it beside the project so a throughput target can be set against what the
model itself allows on this machine. Run by hand, it prints where its time went to stderr.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring_assets.core.features import build_features  # noqa: E402
from scoring_assets.core.model_store import load_model  # noqa: E402
from scoring_assets.core.scoring import positive_class_index, predict_positive, scored_columns, scores_schema  # noqa: E402
from scoring_assets.use_cases import use_case as use_case_named  # noqa: E402

BLOCK_BYTES = 16 << 20


def main(use_case_name: str, source: str, target: str, block_bytes: str = str(BLOCK_BYTES)) -> None:
    spent: Counter[str] = Counter()
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        spent[phase] += now - clock
        clock = now

    use_case = replace(use_case_named(use_case_name), reasons=None)  # the fixed columns only
    model = load_model(use_case)
    positive, threshold = positive_class_index(model), model.threshold
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    numeric = {*use_case.integer_columns, *use_case.float_columns}
    schema = scores_schema(use_case)
    lap("load model")
    with open(source, newline="", encoding="utf-8-sig") as header_line:
        names = next(csv.reader(header_line))
    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=int(block_bytes)),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names}, strings_can_be_null=False
        ),
    )
    lap("read and cast")
    rows = 0
    with pacsv.CSVWriter(target, schema) as writer:
        for batch in reader:
            batch = batch.rename_columns([name.strip() for name in batch.schema.names])
            frame = batch.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
            for name in numeric:
                text = pc.utf8_trim_whitespace(batch.column(name))
                frame[name] = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.float64()).to_numpy(
                    zero_copy_only=False
                )
            lap("read and cast")
            features = build_features(use_case.features, frame)
            lap("features")
            scores = predict_positive(model, features, positive)
            lap("predict_proba")
            count = len(scores)
            row_numbers = pa.array(np.arange(rows + 1, rows + count + 1), pa.int64())
            columns = {
                use_case.scored_id_column: (
                    pc.utf8_trim_whitespace(batch.column(use_case.id_column)) if use_case.id_column else row_numbers
                ),
                use_case.score_column: scores,
                "predicted_label": (scores >= threshold).astype(np.int8),
                "model_version": pa.repeat(pa.scalar(model.version), count),
                "scoring_timestamp": pa.repeat(pa.scalar(timestamp), count),
                "row_number": row_numbers,
            }
            writer.write(pa.table([columns[name] for name in scored_columns(use_case)], schema=schema))
            rows += count
            lap("write")
    timings = ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in spent.items())
    print(f"{rows:,} rows, after the imports: {timings}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
