"""The streaming fast path gives the same answers as a straightforward whole-file reference.

The job reads in record batches, finds repeated ids across batches in a separate pass,
stores categories as codes and scores batch by batch. The reference does none of that: it
reads the whole file as text with pandas, validates it as one frame, builds features and
calls predict_proba once. Same rows, same order, scores equal within 1e-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import customer_rows, score_file, write_csv

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.features import FEATURE_COLUMNS, build_features
from scoring_assets.core.input_csv import BATCH_ROWS
from scoring_assets.core.model_store import load_model
from scoring_assets.core.scoring import positive_class_index

ROWS = 2 * BATCH_ROWS + 22_000  # crosses two batch boundaries


def reference_scores(path, model) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Whole-file, no streaming: pandas text read -> contract -> features -> predict_proba."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row_number")
    validation = validate_frame(raw)
    features = build_features(validation.accepted)
    scores = model.pipeline.predict_proba(features[FEATURE_COLUMNS])[:, positive_class_index(model)]
    scored = pd.DataFrame(
        {"customer_id": validation.accepted["customerID"].to_numpy(), "churn_score": scores,
         "row_number": validation.accepted.index.to_numpy()}
    )  # fmt: skip
    return scored, validation.rejects


@pytest.mark.usefixtures("model_artifact")
def test_streamed_scores_equal_a_whole_file_reference(instance, folders, tmp_path):
    rows = customer_rows(ROWS, seed=99)
    rows.loc[5, "customerID"] = rows.loc[ROWS - 3, "customerID"]  # a repeat across batches
    rows.loc[BATCH_ROWS - 1, "gender"] = "X"  # last row of the first batch
    rows.loc[BATCH_ROWS, "tenure"] = "-2"  # first row of the second batch
    rows.loc[2 * BATCH_ROWS + 100, "TotalCharges"] = " "
    rows.loc[2 * BATCH_ROWS + 100, "tenure"] = "5"
    source = write_csv(rows, tmp_path / "many_batches.csv")

    registration, result = score_file(instance, folders, source)
    assert result.success
    streamed = pd.read_csv(folders.scored_file(registration.partition_key), dtype={"customer_id": str})
    streamed_rejects = pd.read_csv(folders.reject_report(registration.partition_key), dtype=str, keep_default_na=False)

    expected, expected_rejects = reference_scores(source, load_model())
    assert len(expected) == ROWS - 5
    assert streamed["row_number"].tolist() == expected["row_number"].tolist()
    assert streamed["customer_id"].tolist() == expected["customer_id"].tolist()
    np.testing.assert_allclose(streamed["churn_score"], expected["churn_score"], rtol=0, atol=1e-9)
    assert streamed_rejects[["row_number", "column", "rule"]].values.tolist() == (
        expected_rejects[["row_number", "column", "rule"]].astype(str).values.tolist()
    )
    assert sorted(set(streamed_rejects["row_number"].astype(int))) == [
        6,
        BATCH_ROWS,
        BATCH_ROWS + 1,
        2 * BATCH_ROWS + 101,
        ROWS - 2,
    ]
