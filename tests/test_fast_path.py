"""The streaming fast path gives the same answers as a straightforward whole-file reference.

The job reads in record batches, finds repeated ids across batches in a separate pass,
stores categories as codes and scores batch by batch. The reference does none of that: it
reads the whole file as text with pandas, validates it as one frame, builds features and
calls predict_proba once. Same rows, same order, scores equal within 1e-9, for every use case.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.features import build_features
from scoring_assets.core.lake import BATCH_ROWS
from scoring_assets.core.model_store import load_model
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.scoring import PREDICT_ROWS, positive_class_index, scored_columns
from tests.support.batches import valid_rows, write_csv
from tests.support.scoring_runs import score_file

ROWS = 2 * BATCH_ROWS + 22_000  # crosses two batch boundaries
# Rows broken around the batch boundaries: 0-based index -> {column: value}. Telco also repeats an id
# across batches and breaks a cross-field rule (blank TotalCharges with a tenure above 0).
BREAKS = {
    "telco_churn": {
        BATCH_ROWS - 1: {"gender": "X"},  # last row of the first batch
        BATCH_ROWS: {"tenure": "-2"},  # first row of the second batch
        2 * BATCH_ROWS + 100: {"TotalCharges": " ", "tenure": "5"},
    },
    "credit_risk": {
        5: {"purpose": "holiday"},
        BATCH_ROWS - 1: {"duration": "0"},
        BATCH_ROWS: {"age": "17"},
        2 * BATCH_ROWS + 100: {"credit_amount": "12.5", "housing": ""},
        ROWS - 3: {"job": "astronaut"},
    },
}


def reference_scores(path, use_case, model) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Whole-file, no streaming: pandas text read -> contract -> features -> predict_proba."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False).rename(columns=str.strip)
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row_number")
    validation = validate_frame(use_case, raw)
    features = build_features(use_case.features, validation.accepted)
    scores = model.pipeline.predict_proba(features[use_case.features.columns])[:, positive_class_index(model)]
    accepted = validation.accepted
    ids = accepted[use_case.id_column].to_numpy() if use_case.id_column else accepted.index.to_numpy()
    scored = pd.DataFrame(
        {use_case.scored_id_column: ids, use_case.score_column: scores, "row_number": accepted.index.to_numpy()}
    )
    return scored, validation.rejects


@pytest.mark.usefixtures("model_artifact")
def test_streamed_scores_equal_a_whole_file_reference(instance, folders, use_case, tmp_path):
    rows = valid_rows(use_case, ROWS, seed=99)
    spelled = {name.strip(): name for name in rows.columns}
    for index, values in BREAKS[use_case.name].items():
        for column, value in values.items():
            rows.loc[index, spelled[column]] = value
    broken = {index + 1 for index in BREAKS[use_case.name]}
    if use_case.id_column:
        rows.loc[5, use_case.id_column] = rows.loc[ROWS - 3, use_case.id_column]  # a repeat across batches
        broken |= {6, ROWS - 2}
    source = write_csv(rows, tmp_path / "many_batches.csv")

    registration, result = score_file(instance, folders, source, use_case=use_case)
    assert result.success
    own = folders.of(use_case.name)
    streamed = pd.read_csv(own.scored_file(registration.partition_key), dtype={use_case.scored_id_column: str})
    streamed_rejects = pd.read_csv(own.reject_report(registration.partition_key), dtype=str, keep_default_na=False)

    expected, expected_rejects = reference_scores(source, use_case, load_model(use_case))
    assert len(expected) == ROWS - len(broken)
    assert streamed["row_number"].astype(int).tolist() == expected["row_number"].tolist()
    id_column = use_case.scored_id_column
    assert streamed[id_column].astype(str).tolist() == expected[id_column].astype(str).tolist()
    np.testing.assert_allclose(streamed[use_case.score_column], expected[use_case.score_column], rtol=0, atol=1e-9)
    assert streamed_rejects[["row_number", "column", "rule"]].values.tolist() == (
        expected_rejects[["row_number", "column", "rule"]].astype(str).values.tolist()
    )
    assert sorted(set(streamed_rejects["row_number"].astype(int))) == sorted(broken)


@pytest.mark.usefixtures("model_artifact")
def test_the_benchmarks_model_floor_scores_a_clean_file_as_the_job_does(instance, folders, use_case, tmp_path):
    """bench/model_floor.py is only a fair floor if it computes the same scored file, row for row.

    Two read blocks of more than one ``predict_proba`` slice each: row numbers carry across blocks.
    """
    rows = 2 * PREDICT_ROWS + 5_000
    source = write_csv(valid_rows(use_case, rows, seed=5), tmp_path / "clean.csv")
    registration, result = score_file(instance, folders, source, use_case=use_case)
    assert result.success
    id_column = use_case.scored_id_column
    ids_as_text = {id_column: str} if use_case.id_column else None  # without an id, rows are known by number
    scored = pd.read_csv(folders.of(use_case.name).scored_file(registration.partition_key), dtype=ids_as_text)

    floor_output = tmp_path / "floor.csv"
    block_bytes = source.stat().st_size // 2 + 1
    floor_command = [sys.executable, str(REPO_ROOT / "bench" / "model_floor.py"), use_case.name, str(source)]
    run = subprocess.run([*floor_command, str(floor_output), str(block_bytes)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"{rows:,} rows" in run.stderr
    floor = pd.read_csv(floor_output, dtype=ids_as_text)
    assert floor.columns.tolist() == scored_columns(replace(use_case, reasons=None))  # the floor gives no reasons
    assert floor["row_number"].tolist() == scored["row_number"].tolist() == list(range(1, rows + 1))
    assert floor[id_column].tolist() == scored[id_column].tolist()
    np.testing.assert_allclose(floor[use_case.score_column], scored[use_case.score_column], rtol=0, atol=1e-12)
    assert floor["predicted_label"].tolist() == scored["predicted_label"].tolist()
    assert floor["model_version"].tolist() == scored["model_version"].tolist()
