"""The bare model floor: read, build the model's inputs, ``predict_proba``, write; nothing else.

    python bench/model_floor.py USE_CASE INPUT.csv OUTPUT.csv

The least any scorer using this model must do, in one process, streaming as the project does
(so memory does not decide the figure at 10M rows): pyarrow's streaming CSV reader (every
column as text, 16 MB blocks), the contract's numeric columns cast by Arrow, the model inputs
from the use case's own feature code (what training and the product use), the same joblib
model's ``predict_proba`` in the product's slice size, and pyarrow's CSV writer for row number,
score and label. No contract, no rejects, no checks, no drift, no lineage, no Dagster.
bench/run.py prints it beside the project so a throughput target can be set against what the
model itself allows on this machine. Run by hand, it prints where its time went to stderr.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring_assets.core.features import build_features  # noqa: E402
from scoring_assets.core.paths import REPO_ROOT  # noqa: E402
from scoring_assets.core.scoring import PREDICT_ROWS  # noqa: E402
from scoring_assets.use_cases import use_case as use_case_named  # noqa: E402

BLOCK_BYTES = 16 << 20
OUTPUT_SCHEMA = pa.schema([("row_number", pa.int64()), ("score", pa.float64()), ("label", pa.int8())])


def main(use_case_name: str, source: str, target: str) -> None:
    spent: Counter[str] = Counter()
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        spent[phase] += now - clock
        clock = now

    use_case = use_case_named(use_case_name)
    model = joblib.load(REPO_ROOT / use_case.model.model_path)
    numeric = {*use_case.integer_columns, *use_case.float_columns}
    with open(source, newline="", encoding="utf-8") as header_line:
        names = next(csv.reader(header_line))
    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names}, strings_can_be_null=False
        ),
    )
    lap("load model")
    rows = 0
    with pacsv.CSVWriter(target, OUTPUT_SCHEMA) as writer:
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
            slices = (features.iloc[start : start + PREDICT_ROWS] for start in range(0, len(features), PREDICT_ROWS))
            scores = np.concatenate([model.predict_proba(part)[:, 1] for part in slices])
            lap("predict_proba")
            row_numbers = np.arange(rows + 1, rows + len(scores) + 1)
            writer.write(pa.table([row_numbers, scores, (scores >= 0.5).astype(np.int8)], schema=OUTPUT_SCHEMA))
            rows += len(scores)
            lap("write")
    timings = ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in spent.items())
    print(f"{rows:,} rows, after the imports: {timings}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
