"""Rolling out a new model: `scoring-assets rescore` re-scores stale files and keeps the old results."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scoring_assets.core.manifest import manifest_path_for
from tests.support.batches import CREDIT_RISK, TELCO, customer_rows, valid_rows, write_csv
from tests.support.cli_workspace import reported_path
from tests.support.model_roots import built_model, copy_dvc_project, install_new_model

pytestmark = pytest.mark.usefixtures("model_artifact")


def test_rescore_uses_the_new_model_and_archives_the_previous_results(workspace, use_case, tmp_path):
    model_artifact = built_model(use_case)
    retrained_model_root = copy_dvc_project(tmp_path / "retrained", use_case)
    new_md5 = install_new_model(retrained_model_root, use_case)
    write_csv(valid_rows(use_case, 40), workspace.cwd / "extract.csv")
    first = workspace.run("score", "extract.csv")
    assert first.returncode == 0, first.stderr
    scored = reported_path(first.stdout, "scored")
    before = pd.read_csv(scored)

    unchanged = workspace.run("rescore")
    assert unchanged.returncode == 0 and "nothing to re-score" in unchanged.stdout

    rescored = workspace.run("rescore", model_root=retrained_model_root)
    assert rescored.returncode == 0, rescored.stderr
    assert f"{use_case.name}: 1 of 1 file(s) re-scored" in rescored.stdout

    after = pd.read_csv(scored)
    assert set(after["model_version"]) == {use_case.model_version(new_md5)}
    pd.testing.assert_series_equal(after[use_case.score_column], before[use_case.score_column])  # same Pipeline
    assert list(after.columns) == list(before.columns)
    manifest = json.loads(manifest_path_for(scored).read_text())
    assert manifest["model"]["md5"] == new_md5 and manifest["model"]["use_case"] == use_case.name

    archive = manifest["previous_output_archived_to"]
    archived_manifest = json.loads(manifest_path_for(f"{archive}/{scored.name}").read_text())
    assert archived_manifest["model"]["md5"] == model_artifact.md5
    archived = pd.read_csv(f"{archive}/{scored.name}")
    pd.testing.assert_frame_equal(archived, before)

    again = workspace.run("rescore", model_root=retrained_model_root)
    assert again.returncode == 0 and "nothing to re-score" in again.stdout


def test_a_new_model_of_one_use_case_rescores_only_that_use_cases_files(workspace, tmp_path):
    for use_case in (TELCO, CREDIT_RISK):
        write_csv(valid_rows(use_case, 10), workspace.cwd / f"{use_case.name}.csv")
        assert workspace.run("score", f"{use_case.name}.csv").returncode == 0
    retrained = copy_dvc_project(tmp_path / "retrained", CREDIT_RISK)
    copy_dvc_project(retrained, TELCO)
    new_md5 = install_new_model(retrained, CREDIT_RISK)

    rescored = workspace.run("rescore", model_root=retrained)

    assert rescored.returncode == 0, rescored.stderr
    assert "credit_risk: 1 of 1 file(s) re-scored" in rescored.stdout
    assert "telco_churn: nothing to re-score" in rescored.stdout
    [credit_scored] = [path for path in workspace.scored_files(CREDIT_RISK) if path.suffix == ".csv"]
    assert set(pd.read_csv(credit_scored)["model_version"]) == {CREDIT_RISK.model_version(new_md5)}


def test_rescore_all_and_unknown_partition(workspace):
    write_csv(customer_rows(10), workspace.cwd / "small.csv")
    assert workspace.run("score", "small.csv").returncode == 0
    forced = workspace.run("rescore", "--all")
    assert forced.returncode == 0 and "1 of 1 file(s) re-scored" in forced.stdout
    unknown = workspace.run("rescore", "--partition", "nope-00000000")
    assert unknown.returncode == 2 and "no such partition" in unknown.stderr
    no_such_use_case = workspace.run("rescore", "--use-case", "nope")
    assert no_such_use_case.returncode == 2 and "no use case named 'nope'" in no_such_use_case.stderr


def test_scoring_another_file_into_the_same_output_moves_the_earlier_results_aside(workspace, use_case):
    write_csv(valid_rows(use_case, 10, seed=1), workspace.cwd / "first.csv")
    write_csv(valid_rows(use_case, 10, seed=2), workspace.cwd / "second.csv")
    assert workspace.run("score", "first.csv", "--output", "out/latest.csv").returncode == 0
    second = workspace.run("score", "second.csv", "--output", "out/latest.csv")
    assert second.returncode == 0, second.stderr
    assert "moved to" in second.stdout
    latest = json.loads((workspace.cwd / "out" / "latest.manifest.json").read_text())
    assert latest["input"]["path"].endswith("second.csv")
    [archived] = (workspace.cwd / "out" / "archive" / "latest").iterdir()
    assert json.loads((archived / "latest.manifest.json").read_text())["input"]["path"].endswith("first.csv")
