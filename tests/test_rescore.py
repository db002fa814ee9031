"""Rolling out a new model: `scoring-assets rescore` re-scores stale files and keeps the old results."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import customer_rows, reported_path, write_csv

from scoring_assets.core.files import file_md5
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.core.model_store import MODEL_RELATIVE_PATH, model_version

pytestmark = pytest.mark.usefixtures("model_artifact")


def test_rescore_uses_the_new_model_and_archives_the_previous_results(workspace, retrained_model_root, model_artifact):
    write_csv(customer_rows(40), workspace.cwd / "customers.csv")
    first = workspace.run("score", "customers.csv")
    assert first.returncode == 0, first.stderr
    scored = reported_path(first.stdout, "scored")
    before = pd.read_csv(scored)

    unchanged = workspace.run("rescore")
    assert unchanged.returncode == 0 and "nothing to re-score" in unchanged.stdout

    new_md5 = file_md5(retrained_model_root / MODEL_RELATIVE_PATH)
    rescored = workspace.run("rescore", model_root=retrained_model_root)
    assert rescored.returncode == 0, rescored.stderr
    assert "1 of 1 file(s) re-scored" in rescored.stdout

    after = pd.read_csv(scored)
    assert set(after["model_version"]) == {model_version(new_md5)}
    pd.testing.assert_series_equal(after["churn_score"], before["churn_score"])  # same Pipeline, new artifact
    manifest = json.loads(manifest_path_for(scored).read_text())
    assert manifest["model"]["md5"] == new_md5

    archive = manifest["previous_output_archived_to"]
    archived_manifest = json.loads(manifest_path_for(f"{archive}/{scored.name}").read_text())
    assert archived_manifest["model"]["md5"] == model_artifact.md5
    archived = pd.read_csv(f"{archive}/{scored.name}")
    pd.testing.assert_frame_equal(archived, before)

    again = workspace.run("rescore", model_root=retrained_model_root)
    assert again.returncode == 0 and "nothing to re-score" in again.stdout


def test_rescore_all_and_unknown_partition(workspace):
    write_csv(customer_rows(10), workspace.cwd / "small.csv")
    assert workspace.run("score", "small.csv").returncode == 0
    forced = workspace.run("rescore", "--all")
    assert forced.returncode == 0 and "1 of 1 file(s) re-scored" in forced.stdout
    unknown = workspace.run("rescore", "--partition", "nope-00000000")
    assert unknown.returncode == 2 and "no such partition" in unknown.stderr


def test_scoring_another_file_into_the_same_output_moves_the_earlier_results_aside(workspace):
    write_csv(customer_rows(10, seed=1), workspace.cwd / "first.csv")
    write_csv(customer_rows(10, seed=2), workspace.cwd / "second.csv")
    assert workspace.run("score", "first.csv", "--output", "out/latest.csv").returncode == 0
    second = workspace.run("score", "second.csv", "--output", "out/latest.csv")
    assert second.returncode == 0, second.stderr
    assert "moved to" in second.stdout
    latest = json.loads((workspace.cwd / "out" / "latest.manifest.json").read_text())
    assert latest["input"]["path"].endswith("second.csv")
    [archived] = (workspace.cwd / "out" / "archive" / "latest").iterdir()
    assert json.loads((archived / "latest.manifest.json").read_text())["input"]["path"].endswith("first.csv")
