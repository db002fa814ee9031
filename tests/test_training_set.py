"""The training set a challenger learns from production: gathered, deduplicated, cut before the holdout, DVC-tracked.

Property tests hold the cut and the window to their promise on any rows; the end-to-end tests score
labelled files through the CLI (every shipped use case: with ids or without), publish the training
set with the ``train_challenger`` job and hold the result against the real ``dvc status``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.outcome_join import KNOWN_AT
from scoring_assets.core.training_set import (
    ROW_KEY,
    TrainingWindow,
    labelled_rows,
    production_holdout,
    published_training_set,
    split_at_holdout,
    training_set_path,
)
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import USE_CASE_NAMES, valid_rows, write_csv
from tests.support.model_roots import dvc_model_root, dvc_status

START = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def known_rows(draw) -> pd.DataFrame:
    """Labelled rows with distinct keys, ordered by when they were known (ties allowed), as ``labelled_rows`` gives."""
    offsets = sorted(draw(st.lists(st.integers(0, 400), max_size=60)))
    return pd.DataFrame(
        {ROW_KEY: [f"id{i}" for i in range(len(offsets))], KNOWN_AT: [START + timedelta(days=d) for d in offsets]}
    )


@settings(max_examples=200, deadline=None)
@given(
    rows=known_rows(),
    holdout_rows=st.integers(0, 70),
    max_rows=st.one_of(st.none(), st.integers(0, 70)),
    max_days=st.one_of(st.none(), st.integers(0, 400)),
)
def test_no_training_row_was_known_after_the_holdouts_cut_and_the_window_holds(rows, holdout_rows, max_rows, max_days):
    split = split_at_holdout(rows, holdout_rows, TrainingWindow(max_rows, max_days))

    assert len(split.holdout) == min(holdout_rows, len(rows))
    assert set(split.training[ROW_KEY]).isdisjoint(split.holdout[ROW_KEY])
    if split.cut is not None and len(split.training):
        assert split.training[KNOWN_AT].max() <= split.cut
        if max_days is not None:
            assert split.training[KNOWN_AT].min() >= split.cut - timedelta(days=max_days)
    if max_rows is not None:
        assert len(split.training) <= max_rows
    before_cut = rows.iloc[: len(rows) - len(split.holdout)]
    if max_rows is None and max_days is None:
        assert len(split.training) == len(before_cut)  # nothing dropped without a window
    kept = before_cut[ROW_KEY].tolist()
    assert split.training[ROW_KEY].tolist() == kept[len(kept) - len(split.training) :]  # the latest ones


def test_a_window_that_is_not_max_rows_or_max_days_is_refused_by_name():
    with pytest.raises(ValueError, match="not last_rows"):
        TrainingWindow.from_params({"last_rows": 100})


def train_json(workspace, name: str, model_root: Path) -> dict:
    result = workspace.run("train", "--use-case", name, "--training-set", "production", "--json", model_root=model_root)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.e2e
@pytest.mark.parametrize("name", USE_CASE_NAMES)
def test_labelled_extracts_become_a_dvc_tracked_training_set_before_the_holdout(name, tmp_path, workspace):
    use_case = declared_use_case(name)
    model_root = dvc_model_root(tmp_path / "models", use_case, git=True)
    labelled = valid_rows(use_case, 1100, seed=23, labelled=True)
    scored = workspace.run(
        "score", str(write_csv(labelled, tmp_path / "labelled.csv")), "--use-case", name, model_root=model_root
    )
    assert scored.returncode == 0, scored.stderr

    trained = train_json(workspace, name, model_root)

    described = published_training_set(use_case, model_root)
    holdout = production_holdout(use_case, UseCaseFolders(workspace.data_dir, name))
    assert described is not None and described["rows"] == len(labelled) - use_case.promotion.holdout_rows
    assert described["rows_by_source"] == {"labelled_extract": described["rows"]}
    written = pd.read_csv(training_set_path(use_case, model_root), dtype=str, keep_default_na=False)
    assert set(written[ROW_KEY]).isdisjoint(holdout[ROW_KEY].astype(str))
    assert pd.to_datetime(written[KNOWN_AT]).max() <= holdout[KNOWN_AT].min()
    if use_case.id_column is None:  # rows without ids are known by their file's content and row number
        assert written[ROW_KEY].str.fullmatch(r"[0-9a-f]{64}:\d+").all()
    assert dvc_status(model_root) == "Data and pipelines are up to date."
    challenger = workspace.run("models", "--use-case", name, "--json", model_root=model_root)
    recorded = json.loads(challenger.stdout)["challenger"]["training_set"]
    assert recorded["md5"] == described["md5"] and recorded["source"] == "production"
    figures = {each["name"]: each for each in trained["gate"]["criteria"]}
    assert figures["roc_auc_gain_production"]["value"] is not None  # judged on the holdout, not skipped


@pytest.mark.e2e
def test_the_latest_outcome_about_an_id_wins(tmp_path, workspace):
    use_case = next(declared_use_case(n) for n in USE_CASE_NAMES if declared_use_case(n).takes_outcomes)
    rows = valid_rows(use_case, 30, seed=3, labelled=True)
    batch = write_csv(rows.drop(columns=[use_case.label.column]), tmp_path / "batch.csv")
    assert workspace.run("score", str(batch), "--use-case", use_case.name).returncode == 0
    first = rows[[use_case.id_column]].assign(**{use_case.label.column: use_case.label.positive})
    later = first.assign(**{use_case.label.column: use_case.label.negative})
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    for frame, date, file_name in ((later, tomorrow, "later.csv"), (first, None, "first.csv")):
        frame = frame.assign(outcome_date=date) if date else frame
        registered = workspace.run("outcomes", str(write_csv(frame, tmp_path / file_name)), "--use-case", use_case.name)
        assert registered.returncode == 0, registered.stderr

    gathered = labelled_rows(use_case, UseCaseFolders(workspace.data_dir, use_case.name))

    assert len(gathered) == len(rows) and gathered[ROW_KEY].is_unique
    assert (gathered[use_case.label.column] == use_case.label.negative).all()  # dated later, registered first
