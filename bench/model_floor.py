"""The bare model floor: read, build the model's inputs, ``predict_proba``, write; nothing else.

    python bench/model_floor.py USE_CASE INPUT.csv OUTPUT.csv

The least any scorer using this model must do, in one process: ``pyarrow.csv.read_csv`` of the
whole file (every column as text), the contract's numeric columns as numbers (Arrow casts), the model inputs
from the use case's own feature code (what training and the product use), the same joblib
model's ``predict_proba`` in the product's slice size, and ``pyarrow.csv.write_csv`` of row
number, score and label. No contract, no rejects, no checks, no drift, no lineage, no Dagster.
bench/run.py prints it beside the project so a throughput target can be set against what the
model itself allows on this machine. Run by hand, it prints the time of each phase to stderr.
"""

from __future__ import annotations

import sys
import time
from itertools import pairwise
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


def main(use_case_name: str, source: str, target: str) -> None:
    phases = [("start", time.perf_counter())]
    use_case = use_case_named(use_case_name)
    model = joblib.load(REPO_ROOT / use_case.model.model_path)
    phases.append(("load model", time.perf_counter()))
    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    table = table.rename_columns([name.strip() for name in table.column_names])
    table = table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))
    numbers = {}
    for name in (*use_case.integer_columns, *use_case.float_columns):
        text = pc.utf8_trim_whitespace(table[name])
        numbers[name] = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.float64())
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    for name, values in numbers.items():
        frame[name] = values.to_numpy(zero_copy_only=False)
    phases.append(("read and cast", time.perf_counter()))
    features = build_features(use_case.features, frame)
    phases.append(("features", time.perf_counter()))
    slices = (features.iloc[start : start + PREDICT_ROWS] for start in range(0, len(features), PREDICT_ROWS))
    scores = np.concatenate([model.predict_proba(part)[:, 1] for part in slices])
    phases.append(("predict_proba", time.perf_counter()))
    labels = (scores >= 0.5).astype(np.int8)
    pacsv.write_csv(pa.table({"row_number": np.arange(1, len(scores) + 1), "score": scores, "label": labels}), target)
    phases.append(("write", time.perf_counter()))
    timings = (f"{name} {end - begin:.2f} s" for (_, begin), (name, end) in pairwise(phases))
    print(f"after the imports: {', '.join(timings)}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
