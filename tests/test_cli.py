"""The ``scoring-assets`` command as a user runs it: a real process, its exit code, stdout and stderr.

Every run gets its own ``SCORING_DATA_DIR`` and ``DAGSTER_HOME`` and starts in a scratch
folder. A scoring run takes a few seconds, so runs whose output several tests read are
module fixtures.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    REAL_EXTRACT,
    Workspace,
    copy_dvc_project,
    customer_rows,
    new_workspace,
    reported,
    reported_path,
    reported_run_id,
    write_csv,
)
from dagster import DagsterInstance, DagsterRunStatus
from test_model_store import flip_one_byte, recorded_md5

from scoring_assets.core.contract import REJECT_COLUMNS
from scoring_assets.core.model_store import MODEL_RELATIVE_PATH
from scoring_assets.core.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("model_artifact")

EXIT_OK, EXIT_USAGE, EXIT_REFUSED, EXIT_MODEL = 0, 2, 3, 4


def break_rows(rows: pd.DataFrame, count: int) -> pd.DataFrame:
    """Give ``count`` rows a gender outside the contract."""
    rows.loc[rows.index[1 : 3 * count : 3], "gender"] = "unknown"
    return rows


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


@dataclass
class FinishedRun:
    workspace: Workspace
    source: Path
    result: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> FinishedRun:
    """``scoring-assets score clean.csv``, through the installed console script."""
    workspace = new_workspace(tmp_path_factory.mktemp("clean_run"))
    source = write_csv(customer_rows(60), workspace.cwd / "clean.csv")
    return FinishedRun(workspace, source, workspace.run("score", "clean.csv", console_script=True))


@pytest.fixture(scope="module")
def high_threshold_run(tmp_path_factory) -> FinishedRun:
    workspace = new_workspace(tmp_path_factory.mktemp("high_threshold_run"))
    source = write_csv(customer_rows(200, seed=4), workspace.cwd / "customers.csv")
    return FinishedRun(
        workspace, source, workspace.run("score", "customers.csv", "--output", "out/high.csv", "--threshold", "0.9")
    )


@pytest.fixture(scope="module")
def mostly_bad_file(tmp_path_factory) -> Path:
    """100 rows, 10 of them against the contract: over the default 5% reject limit."""
    return write_csv(break_rows(customer_rows(100, seed=8), 10), tmp_path_factory.mktemp("inputs") / "mostly_bad.csv")


@pytest.fixture(scope="module")
def refused_run(tmp_path_factory, mostly_bad_file) -> FinishedRun:
    workspace = new_workspace(tmp_path_factory.mktemp("refused_run"))
    return FinishedRun(workspace, mostly_bad_file, workspace.run("score", str(mostly_bad_file)))


def test_clean_file_is_scored_into_the_data_dir_and_recorded_as_a_dagster_run(clean_run):
    workspace, result = clean_run.workspace, clean_run.result
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stderr == ""

    scored, manifest = reported_path(result.stdout, "scored"), reported_path(result.stdout, "manifest")
    assert scored.parent == manifest.parent == workspace.data_dir.resolve() / "scored"
    assert scored.suffix == ".csv" and manifest.name.endswith(".manifest.json")
    assert workspace.scored_files() == sorted([scored, manifest])
    assert len(pd.read_csv(scored)) == 60

    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        runs = instance.get_runs()
    assert [(run.job_name, run.status, run.run_id) for run in runs] == [
        ("score_file", DagsterRunStatus.SUCCESS, reported_run_id(result.stdout))
    ]


def test_lineage_names_input_model_run_threshold_and_counts(clean_run, model_artifact):
    scored = reported_path(clean_run.result.stdout, "scored")
    result = clean_run.workspace.run("lineage", str(scored))

    assert result.returncode == EXIT_OK, result.stderr
    lineage = json.loads(result.stdout)
    assert lineage["matches_manifest"] is True
    assert lineage["input"]["path"] == str(clean_run.source.resolve())
    assert lineage["input"]["sha256"] == sha256_of(clean_run.source)
    assert lineage["model"]["md5"] == recorded_md5(REPO_ROOT, MODEL_RELATIVE_PATH)
    assert lineage["model"]["version"] == model_artifact.version
    assert lineage["run_id"] == reported_run_id(clean_run.result.stdout)
    assert lineage["threshold"] == model_artifact.threshold
    assert lineage["counts"] == {"input_rows": 60, "scored_rows": 60, "rejected_rows": 0}
    assert lineage["scored_sha256"] == lineage["recorded_sha256"] == sha256_of(scored)


def test_lineage_of_a_scored_file_changed_after_scoring_fails(clean_run, tmp_path):
    scored = reported_path(clean_run.result.stdout, "scored")
    copy = Path(shutil.copy(scored, tmp_path))
    shutil.copy(reported_path(clean_run.result.stdout, "manifest"), tmp_path)
    with copy.open("ab") as handle:
        handle.write(b" ")

    result = clean_run.workspace.run("lineage", str(copy))

    assert result.returncode not in (EXIT_OK, EXIT_USAGE)
    assert "was modified after it was written" in result.stderr
    assert json.loads(result.stdout)["matches_manifest"] is False


def test_lineage_of_a_file_without_manifest_is_a_usage_error(clean_run, tmp_path):
    copy = Path(shutil.copy(reported_path(clean_run.result.stdout, "scored"), tmp_path))

    result = clean_run.workspace.run("lineage", str(copy))

    assert result.returncode == EXIT_USAGE
    assert "has no manifest" in result.stderr and copy.name in result.stderr
    assert result.stdout == ""


def test_output_flag_puts_scores_manifest_and_rejects_beside_each_other(workspace):
    rows = break_rows(customer_rows(200, seed=6), 3)
    write_csv(rows, workspace.cwd / "some_bad.csv")

    result = workspace.run("score", "some_bad.csv", "--output", "handoff/churn.csv")

    assert result.returncode == EXIT_OK, result.stderr
    handoff = workspace.cwd / "handoff"
    assert sorted(path.name for path in handoff.iterdir()) == [
        "churn.csv",
        "churn.manifest.json",
        "churn.rejected.csv",
    ]
    assert reported_path(result.stdout, "scored") == handoff / "churn.csv"
    assert reported_path(result.stdout, "manifest") == handoff / "churn.manifest.json"
    assert reported_path(result.stdout, "rejected") == handoff / "churn.rejected.csv"
    assert len(pd.read_csv(handoff / "churn.csv")) == 197
    with (handoff / "churn.rejected.csv").open(newline="") as report:
        records = list(csv.reader(report))
    assert records[0] == REJECT_COLUMNS == ["row_number", "customer_id", "column", "rule", "value"]
    assert [record[3] for record in records[1:]] == ["allowed_values"] * 3
    assert json.loads((handoff / "churn.manifest.json").read_text())["output"]["path"] == str(handoff / "churn.csv")
    assert workspace.scored_files() == []


def test_output_flag_without_rejects_writes_no_reject_report(high_threshold_run):
    result, out = high_threshold_run.result, high_threshold_run.workspace.cwd / "out"
    assert result.returncode == EXIT_OK, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["high.csv", "high.manifest.json"]
    assert "rejected" not in reported(result.stdout)


def test_threshold_flag_sets_predicted_labels_and_is_recorded_in_the_manifest(high_threshold_run, model_artifact):
    out = high_threshold_run.workspace.cwd / "out"
    scored = pd.read_csv(out / "high.csv")

    assert (scored["predicted_label"] == (scored["churn_score"] >= 0.9).astype(int)).all()
    between = scored["churn_score"].between(model_artifact.threshold, 0.9, inclusive="left")
    assert between.any(), "some rows must be churners at the card's threshold but not at 0.9"
    manifest = json.loads((out / "high.manifest.json").read_text())
    assert manifest["threshold"] == 0.9 and manifest["threshold_source"] == "run config"


def test_too_many_bad_rows_refuse_the_batch_briefly_and_keep_only_the_reject_report(refused_run):
    result, workspace = refused_run.result, refused_run.workspace

    assert result.returncode == EXIT_REFUSED
    assert_no_traceback(result)
    assert len(result.stderr.strip().splitlines()) <= 2
    assert f"{refused_run.source.resolve()}: batch refused: 10 of 100 rows rejected" in result.stderr
    report = Path(result.stderr.split("reject report: ")[1].split()[0])
    assert report.parent == workspace.data_dir.resolve() / "rejected"
    assert len(pd.read_csv(report)) == 10
    assert workspace.scored_files() == []


def test_a_higher_reject_limit_lets_the_refused_file_through(workspace, mostly_bad_file):
    result = workspace.run("score", str(mostly_bad_file), "--max-reject-fraction", "0.5")

    assert result.returncode == EXIT_OK, result.stderr
    assert len(pd.read_csv(reported_path(result.stdout, "scored"))) == 90
    assert "rejected: 10 rows" in result.stdout


def test_verbose_shows_dagster_log_and_stack_for_a_failing_run(workspace, refused_run, mostly_bad_file):
    result = workspace.run("--verbose", "score", str(mostly_bad_file))

    assert result.returncode == EXIT_REFUSED
    assert "batch refused" in result.stderr
    assert "STEP_FAILURE" in result.stderr and "Stack Trace" in result.stderr
    assert "STEP_FAILURE" not in refused_run.result.stderr
    assert len(result.stderr.splitlines()) > len(refused_run.result.stderr.splitlines()) + 10


@pytest.mark.parametrize(
    "content, problem",
    [(b"", "file is empty"), (b"customerID,gender\nA,Male\n", "missing required column(s): SeniorCitizen")],
    ids=["empty", "missing_columns"],
)
def test_unusable_file_is_refused_naming_the_file_without_traceback(workspace, content, problem):
    source = workspace.cwd / "unusable.csv"
    source.write_bytes(content)

    result = workspace.run("score", "unusable.csv")

    assert result.returncode == EXIT_REFUSED
    assert_no_traceback(result)
    assert f"{source.resolve()}: {problem}" in result.stderr
    assert workspace.scored_files() == []


def test_input_file_not_found_is_a_usage_error(workspace):
    result = workspace.run("score", "no_such_file.csv")

    assert result.returncode == EXIT_USAGE
    assert "no_such_file.csv: input file not found" in result.stderr
    assert not workspace.dagster_home.exists(), "nothing is started for a file that is not there"


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["score", "x.csv", "--threshold", "2"], "2 is not between 0 and 1"),
        (["score", "x.csv", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        ([], "the following arguments are required: command"),
    ],
    ids=["threshold_above_one", "unknown_flag", "no_arguments"],
)
def test_bad_usage_exits_2_with_usage(workspace, args, complaint):
    result = workspace.run(*args)

    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("usage: scoring-assets")
    assert complaint in result.stderr
    assert_no_traceback(result)


def test_help_describes_both_commands():
    result = subprocess.run(
        [sys.executable, "-m", "scoring_assets", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == EXIT_OK
    assert result.stdout.startswith("usage: scoring-assets")
    assert "score" in result.stdout and "lineage" in result.stdout


@pytest.mark.parametrize(
    "damage, problem",
    [(flip_one_byte, "has md5"), (Path.unlink, "is missing")],
    ids=["tampered", "missing"],
)
def test_model_that_fails_its_integrity_check_exits_4_with_the_fix(workspace, tmp_path, damage, problem):
    model_root = copy_dvc_project(tmp_path / "model_root")
    damage(model_root / MODEL_RELATIVE_PATH)
    write_csv(customer_rows(20), workspace.cwd / "customers.csv")

    result = workspace.run("score", "customers.csv", model_root=model_root)

    assert result.returncode == EXIT_MODEL
    assert_no_traceback(result)
    assert f"{model_root / MODEL_RELATIVE_PATH} {problem}" in result.stderr
    assert "dvc repro" in result.stderr
    assert workspace.scored_files() == []


@pytest.mark.skipif(not REAL_EXTRACT.exists(), reason=f"{REAL_EXTRACT} is not present")
def test_real_extract_is_scored_in_full_by_the_model_named_in_dvc_lock(workspace):
    result = workspace.run("score", str(REAL_EXTRACT), "--output", "telco_scored.csv")

    assert result.returncode == EXIT_OK, result.stderr
    scored = pd.read_csv(workspace.cwd / "telco_scored.csv", dtype={"customer_id": str})
    manifest = json.loads((workspace.cwd / "telco_scored.manifest.json").read_text())
    assert len(scored) == manifest["input"]["rows"] == manifest["output"]["rows"] == 7043
    assert manifest["rejected"]["rows"] == 0
    assert not (workspace.cwd / "telco_scored.rejected.csv").exists()
    model_md5 = recorded_md5(REPO_ROOT, MODEL_RELATIVE_PATH)
    assert set(scored["model_version"]) == {f"churn_model-{model_md5[:12]}"}
    assert manifest["backtest"]["rows_with_label"] == 7043
