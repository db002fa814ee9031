"""The ``scoring-assets`` command as a user runs it: a real process, its exit code, stdout and stderr.

Every run gets its own ``SCORING_DATA_DIR`` and ``DAGSTER_HOME`` and starts in a scratch
folder. A scoring run takes a few seconds, so runs whose output several tests read are
module fixtures. Without ``--use-case`` a file is scored as the one use case whose contract
its header satisfies.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from scoring_assets.core.contract import reject_columns
from scoring_assets.core.model_store import recorded_md5
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from scoring_assets.use_cases import EXTRA_MODULES_VARIABLE, all_use_cases
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import (
    CREDIT_RISK,
    REAL_EXTRACTS,
    TELCO,
    USE_CASE_NAMES,
    customer_rows,
    valid_rows,
    write_csv,
)
from tests.support.cli_workspace import Workspace, new_workspace, reported, reported_path, reported_run_id
from tests.support.model_roots import built_model, copy_dvc_project, install_new_model, with_classes

pytestmark = pytest.mark.usefixtures("model_artifact")

EXIT_OK, EXIT_USAGE, EXIT_REFUSED, EXIT_MODEL = 0, 2, 3, 4
TELCO_SCORED_COLUMNS = [
    "customer_id",
    "churn_score",
    "predicted_label",
    "model_version",
    "scoring_timestamp",
    "row_number",
    "reason_1",
    "reason_2",
    "reason_3",
]
CREDIT_SCORED_COLUMNS = [
    *["row_number", "risk_score", "predicted_label", "model_version", "scoring_timestamp"],
    *["reason_1", "reason_2", "reason_3", "reason_4"],
]


def break_rows(rows: pd.DataFrame, count: int) -> pd.DataFrame:
    """Give ``count`` rows a gender outside the contract."""
    rows.loc[rows.index[1 : 3 * count : 3], "gender"] = "unknown"
    return rows


def flip_one_byte(path: Path, position: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def write_use_case_module(folder: Path, name: str) -> Path:
    """A use case declared outside the repository (as ``$SCORING_USE_CASE_MODULES`` names them), in ``folder/name.py``.

    Its contract columns (customerID, tenure) are a subset of Telco's, so a Telco file satisfies
    both; it has no model, which routing does not need.
    """
    folder.mkdir(parents=True, exist_ok=True)
    module = folder / f"{name}.py"
    module.write_text(
        textwrap.dedent(
            f'''
            """Tenure only: a use case kept outside the repository."""

            import pandas as pd
            import pandera.pandas as pa
            from pandera.typing import Series

            from scoring_assets.core.use_case import FeatureSet, ModelSource, UseCase


            class TenureOnly(pa.DataFrameModel):
                customerID: Series[str] = pa.Field(unique=True)
                tenure: Series[pd.Int64Dtype] = pa.Field(ge=0)

                class Config:
                    strict = False


            def build(accepted: pd.DataFrame) -> pd.DataFrame:
                return pd.DataFrame({{"tenure": accepted["tenure"].astype("float64")}}, index=accepted.index)


            USE_CASE = UseCase(
                name="{name}",
                title="Tenure only: a use case whose columns every Telco file has.",
                contract=TenureOnly,
                features=FeatureSet(numeric=("tenure",), categorical={{}}, build=build),
                model=ModelSource("data/models/{name}/model.joblib", "data/models/{name}/model_card.json"),
                score_column="tenure_score",
                id_column="customerID",
                scored_id_column="customer_id",
            )
            '''
        )
    )
    return module


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
    assert scored.parent == manifest.parent == workspace.data_dir.resolve() / "scored" / "telco_churn"
    assert scored.suffix == ".csv" and manifest.name.endswith(".manifest.json")
    drift_report = scored.with_name(scored.stem + ".drift.html")
    assert workspace.scored_files(TELCO) == sorted([scored, manifest, drift_report])
    assert len(pd.read_csv(scored)) == 60

    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        runs = instance.get_runs()
    assert [(run.job_name, run.status, run.run_id) for run in runs] == [
        ("telco_churn__score_file", DagsterRunStatus.SUCCESS, reported_run_id(result.stdout))
    ]


def test_lineage_names_input_model_run_threshold_and_counts(clean_run, model_artifact):
    scored = reported_path(clean_run.result.stdout, "scored")
    result = clean_run.workspace.run("lineage", str(scored))

    assert result.returncode == EXIT_OK, result.stderr
    lineage = json.loads(result.stdout)
    assert lineage["matches_manifest"] is True
    assert lineage["input"]["path"] == str(clean_run.source.resolve())
    assert lineage["input"]["sha256"] == sha256_of(clean_run.source)
    assert lineage["model"] == {
        "use_case": "telco_churn",
        "version": model_artifact.version,
        "md5": recorded_md5(REPO_ROOT, TELCO.model.model_path),
        "path": str(REPO_ROOT / TELCO.model.model_path),
        "serving": model_artifact.serving.as_record(),  # what computed the scores
    }
    assert lineage["run_id"] == reported_run_id(clean_run.result.stdout)
    assert lineage["threshold"] == model_artifact.threshold
    assert lineage["counts"] == {"input_rows": 60, "scored_rows": 60, "rejected_rows": 0}
    assert lineage["scored_sha256"] == lineage["recorded_sha256"] == sha256_of(scored)


# What `lineage` must not import: it reads a manifest, the lake and DVC's records, so Dagster (~0.6 s of a
# process's start), scikit-learn and scipy would only slow it down (issue 27: lineage in <= 1 s).
NOT_FOR_LINEAGE = ("dagster", "sklearn", "scipy")
LOADED_PROBE = """
import sys
from scoring_assets import cli
sys.argv = ["scoring-assets", "lineage", sys.argv[1]]
code = cli.console_main()
print("LOADED", " ".join(sorted({name.split(".")[0] for name in sys.modules})), "EXIT", code)
"""


def test_lineage_imports_neither_dagster_nor_scikit_learn(clean_run):
    scored = reported_path(clean_run.result.stdout, "scored")
    done = subprocess.run(
        [sys.executable, "-c", LOADED_PROBE, str(scored)],
        env=clean_run.workspace.environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = done.stdout.splitlines()[-1].split()
    assert loaded[-2:] == ["EXIT", str(EXIT_OK)], done.stderr
    assert json.loads("\n".join(done.stdout.splitlines()[:-1]))["matches_manifest"] is True
    assert [name for name in NOT_FOR_LINEAGE if name in loaded] == []


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
        "churn.drift.html",
        "churn.manifest.json",
        "churn.rejected.csv",
    ]
    assert reported_path(result.stdout, "scored") == handoff / "churn.csv"
    assert reported_path(result.stdout, "manifest") == handoff / "churn.manifest.json"
    assert reported_path(result.stdout, "rejected") == handoff / "churn.rejected.csv"
    assert len(pd.read_csv(handoff / "churn.csv")) == 197
    with (handoff / "churn.rejected.csv").open(newline="") as report:
        records = list(csv.reader(report))
    assert records[0] == reject_columns(TELCO) == ["row_number", "customer_id", "column", "rule", "value"]
    assert [record[3] for record in records[1:]] == ["allowed_values"] * 3
    assert json.loads((handoff / "churn.manifest.json").read_text())["output"]["path"] == str(handoff / "churn.csv")
    assert workspace.scored_files(TELCO) == []


def test_output_flag_without_rejects_writes_no_reject_report(high_threshold_run):
    result, out = high_threshold_run.result, high_threshold_run.workspace.cwd / "out"
    assert result.returncode == EXIT_OK, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["high.csv", "high.drift.html", "high.manifest.json"]
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
    assert report.parent == workspace.data_dir.resolve() / "rejected" / "telco_churn"
    assert len(pd.read_csv(report)) == 10
    assert workspace.scored_files(TELCO) == []


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
    "content, args, problem",
    [
        (b"", [], "file is empty (so no use case can be chosen for it)"),
        (b"", ["--use-case", "telco_churn"], "file is empty"),
        (
            b"customerID,gender\nA,Male\n",
            ["--use-case", "telco_churn"],
            "missing required column(s): SeniorCitizen",
        ),
    ],
    ids=["empty", "empty_as_telco", "missing_columns_as_telco"],
)
def test_unusable_file_is_refused_naming_the_file_without_traceback(workspace, content, args, problem):
    source = workspace.cwd / "unusable.csv"
    source.write_bytes(content)

    result = workspace.run("score", "unusable.csv", *args)

    assert result.returncode == EXIT_REFUSED
    assert_no_traceback(result)
    assert f"{source.resolve()}: {problem}" in result.stderr
    assert workspace.scored_files(TELCO) == []


@pytest.mark.parametrize(
    "own, named",
    [(a, b) for a in all_use_cases() for b in all_use_cases() if a != b],
)
def test_a_file_scored_as_another_use_case_is_turned_away_before_it_is_registered(workspace, own, named):
    source = write_csv(valid_rows(declared_use_case(own), 10), workspace.cwd / f"{own}.csv")

    result = workspace.run("score", str(source), "--use-case", named)

    assert result.returncode == EXIT_REFUSED
    assert_no_traceback(result)
    assert f"{source}: not a {named} file, missing required column(s): " in result.stderr
    assert f"its header fits {own}: score it with --use-case {own}" in result.stderr
    assert not (workspace.data_dir / "lake" / named).exists(), "nothing registered for the wrong use case"


def test_input_file_not_found_is_a_usage_error(workspace):
    result = workspace.run("score", "no_such_file.csv")

    assert result.returncode == EXIT_USAGE
    assert "no_such_file.csv: input file not found" in result.stderr
    assert not workspace.dagster_home.exists(), "nothing is started for a file that is not there"


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_an_input_that_exists_but_is_not_a_regular_file_is_a_usage_error_saying_so(workspace, kind):
    places = {"fifo": workspace.cwd / "pipe.csv", "device": Path("/dev/null"), "directory": workspace.cwd / "folder"}
    source = places[kind]
    if kind == "fifo":
        os.mkfifo(source)
    elif kind == "directory":
        source.mkdir()

    result = workspace.run("score", str(source), timeout=60)  # opening a FIFO would wait for a writer forever

    assert result.returncode == EXIT_USAGE
    assert f"{source}: not a regular file" in result.stderr
    assert "not found" not in result.stderr
    assert_no_traceback(result)
    assert not workspace.dagster_home.exists(), "nothing is started for an input that is not a file"


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


def test_help_describes_every_command():
    result = subprocess.run(
        [sys.executable, "-m", "scoring_assets", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == EXIT_OK
    assert result.stdout.startswith("usage: scoring-assets")
    for command in ("score", "rescore", "lineage", "use-cases"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "damage, problem",
    [(flip_one_byte, "has md5"), (Path.unlink, "is missing")],
    ids=["tampered", "missing"],
)
def test_model_that_fails_its_integrity_check_exits_4_with_the_fix(use_case, workspace, tmp_path, damage, problem):
    model_root = copy_dvc_project(tmp_path / "model_root", use_case)
    damage(model_root / use_case.model.model_path)
    write_csv(valid_rows(use_case, 20), workspace.cwd / "batch.csv")

    result = workspace.run("score", "batch.csv", model_root=model_root)

    assert result.returncode == EXIT_MODEL
    assert_no_traceback(result)
    assert f"{use_case.name} model: {model_root / use_case.model.model_path} {problem}" in result.stderr
    assert "dvc repro" in result.stderr
    assert workspace.scored_files(use_case) == []


def test_a_model_whose_classes_lack_the_cards_positive_class_exits_4_before_registering(use_case, workspace, tmp_path):
    model_root = copy_dvc_project(tmp_path / "model_root", use_case)
    install_new_model(model_root, use_case, alter=with_classes("No", "Maybe"))
    write_csv(valid_rows(use_case, 20), workspace.cwd / "batch.csv")

    result = workspace.run("score", "batch.csv", model_root=model_root)

    assert result.returncode == EXIT_MODEL
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(
        f"scoring-assets: {use_case.name} model: {model_root / use_case.model.model_path}: its model card says "
        "positive_class 1 but the model's classes are 'No', 'Maybe';"
    )
    assert not (workspace.data_dir / "lake").exists(), "nothing is registered for a model that cannot run"


# --- which use case a file is scored as ------------------------------------------------------------


def with_spaces_before_names(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.rename(columns=lambda name: f" {name.strip()}")


@pytest.mark.parametrize(
    "name, rows",
    [
        ("telco_churn", customer_rows(30)),
        ("credit_risk", valid_rows(CREDIT_RISK, 30)),
        ("telco_churn", with_spaces_before_names(customer_rows(30))),
    ],
    ids=["telco", "german_credit_with_spaces_before_some_names", "telco_with_spaces_before_every_name"],
)
def test_without_use_case_a_file_is_scored_as_the_use_case_its_header_satisfies(workspace, name, rows):
    use_case = declared_use_case(name)
    write_csv(rows, workspace.cwd / "batch.csv")

    result = workspace.run("score", "batch.csv")

    assert result.returncode == EXIT_OK, result.stderr
    scored = reported_path(result.stdout, "scored")
    assert scored.parent == workspace.data_dir.resolve() / "scored" / name
    assert f"model {built_model(use_case).version}" in reported(result.stdout)["scored"]
    frame = pd.read_csv(scored)
    assert list(frame.columns) == {"telco_churn": TELCO_SCORED_COLUMNS, "credit_risk": CREDIT_SCORED_COLUMNS}[name]
    assert len(frame) == 30
    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        assert [run.job_name for run in instance.get_runs()] == [f"{name}__score_file"]


def test_a_header_satisfying_no_use_case_exits_2_naming_what_each_lacks(workspace):
    (workspace.cwd / "partial.csv").write_text("customerID,gender\nA,Male\n")

    result = workspace.run("score", "partial.csv")

    assert result.returncode == EXIT_USAGE
    assert_no_traceback(result)
    source = (workspace.cwd / "partial.csv").resolve()
    assert f"{source}: the header satisfies no use case's contract (telco_churn lacks" in result.stderr
    assert "telco_churn lacks SeniorCitizen, Partner, Dependents, tenure ..." in result.stderr
    assert "credit_risk lacks checking_status, duration, credit_history, purpose ..." in result.stderr
    assert "--use-case" in result.stderr
    assert not workspace.dagster_home.exists(), "nothing is registered or run for a file without a use case"


@pytest.fixture
def tenure_only_installed(tmp_path, monkeypatch) -> str:
    """``$SCORING_USE_CASE_MODULES`` names a use case outside the repository that every Telco file satisfies too."""
    module = write_use_case_module(tmp_path / "extra_use_cases", "tenure_only")
    already = [os.environ.get(variable, "") for variable in ("PYTHONPATH", EXTRA_MODULES_VARIABLE)]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(module.parent), already[0]])))
    monkeypatch.setenv(EXTRA_MODULES_VARIABLE, ",".join(filter(None, [already[1], module.stem])))
    return module.stem


def test_a_header_satisfying_several_use_cases_exits_2_naming_them(workspace, tenure_only_installed):
    write_csv(customer_rows(20), workspace.cwd / "customers.csv")

    ambiguous = workspace.run("score", "customers.csv")

    assert ambiguous.returncode == EXIT_USAGE
    assert_no_traceback(ambiguous)
    source = (workspace.cwd / "customers.csv").resolve()
    assert f"{source}: the header satisfies several use cases (telco_churn, tenure_only)" in ambiguous.stderr
    assert "choose one with --use-case" in ambiguous.stderr
    assert workspace.scored_files(TELCO) == []

    chosen = workspace.run("score", "customers.csv", "--use-case", "telco_churn")
    assert chosen.returncode == EXIT_OK, chosen.stderr
    assert reported_path(chosen.stdout, "scored").parent.name == "telco_churn"


def test_an_unknown_use_case_exits_2_listing_the_use_cases(workspace):
    write_csv(customer_rows(5), workspace.cwd / "customers.csv")

    for command in (["score", "customers.csv"], ["rescore"]):
        result = workspace.run(*command, "--use-case", "unknown")

        assert result.returncode == EXIT_USAGE
        assert_no_traceback(result)
        assert f"no use case named 'unknown'; use cases: {', '.join(USE_CASE_NAMES)}" in result.stderr


def use_case_sections(listing: str) -> dict[str, str]:
    """``scoring-assets use-cases`` output as {name: its lines}: a section starts at an unindented ``name: title``."""
    sections: dict[str, str] = {}
    for line in listing.splitlines():
        if not line.startswith(" "):
            name = line.split(":", 1)[0]
        sections[name] = sections.get(name, "") + line + "\n"
    return sections


def test_use_cases_lists_each_use_case_with_its_model_version_columns_and_folders(workspace, tenure_only_installed):
    result = workspace.run("use-cases")

    assert result.returncode == EXIT_OK, result.stderr
    sections = use_case_sections(result.stdout)
    assert list(sections) == sorted([*USE_CASE_NAMES, "tenure_only"])
    for name in USE_CASE_NAMES:
        use_case, section = declared_use_case(name), sections[name]
        assert section.startswith(f"{name}: {use_case.title}")
        assert f"model:    {name}_model-{built_model(use_case).md5[:12]}\n" in section
        assert f"columns:  {', '.join(use_case.contract_columns)}\n" in section
        assert f"inbox:    {workspace.data_dir.resolve() / 'inbox' / name}\n" in section
        assert f"scored:   {workspace.data_dir.resolve() / 'scored' / name}\n" in section
    assert "model:    not usable:" in sections["tenure_only"]
    assert "columns:  customerID, tenure\n" in sections["tenure_only"]


# --- re-scoring ------------------------------------------------------------------------------------


def scored_keys(workspace: Workspace, use_case: UseCase) -> list[str]:
    return [path.stem for path in workspace.scored_files(use_case) if path.suffix == ".csv"]


def manifest_md5(workspace: Workspace, use_case: UseCase, key: str) -> str:
    manifest = workspace.data_dir / "scored" / use_case.name / f"{key}.manifest.json"
    return json.loads(manifest.read_text())["model"]["md5"]


def test_rescore_re_scores_stale_files_of_the_chosen_use_case_or_of_every_use_case(workspace, tmp_path):
    for use_case in (TELCO, CREDIT_RISK):
        write_csv(valid_rows(use_case, 25), workspace.cwd / f"{use_case.name}.csv")
        assert workspace.run("score", f"{use_case.name}.csv").returncode == EXIT_OK
    [telco_key], [credit_key] = scored_keys(workspace, TELCO), scored_keys(workspace, CREDIT_RISK)
    model_root = tmp_path / "retrained"
    new_md5 = {}
    for use_case in (TELCO, CREDIT_RISK):
        copy_dvc_project(model_root, use_case)
    for use_case in (TELCO, CREDIT_RISK):
        new_md5[use_case.name] = install_new_model(model_root, use_case)

    only_credit = workspace.run("rescore", "--use-case", "credit_risk", model_root=model_root)

    assert only_credit.returncode == EXIT_OK, only_credit.stderr
    credit_version = CREDIT_RISK.model_version(new_md5["credit_risk"])
    assert f"re-scored credit_risk {credit_key} with {credit_version}" in only_credit.stdout
    assert f"credit_risk: 1 of 1 file(s) re-scored with {credit_version}" in only_credit.stdout
    assert "telco_churn" not in only_credit.stdout
    assert manifest_md5(workspace, CREDIT_RISK, credit_key) == new_md5["credit_risk"]
    assert manifest_md5(workspace, TELCO, telco_key) == built_model(TELCO).md5

    every = workspace.run("rescore", model_root=model_root)

    assert every.returncode == EXIT_OK, every.stderr
    telco_version = TELCO.model_version(new_md5["telco_churn"])
    assert f"re-scored telco_churn {telco_key} with {telco_version}" in every.stdout
    assert f"credit_risk: nothing to re-score: 1 scored file(s), all by {credit_version}" in every.stdout
    assert manifest_md5(workspace, TELCO, telco_key) == new_md5["telco_churn"]
    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        rescore_runs = sorted(run.job_name for run in instance.get_runs() if "__rescore" in run.job_name)
    assert rescore_runs == ["credit_risk__rescore_batch", "telco_churn__rescore_batch"]


# --- the real extracts -------------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_EXTRACTS["telco_churn"].exists(), reason=f"{REAL_EXTRACTS['telco_churn']} is not present")
def test_real_extract_is_scored_in_full_by_the_model_named_in_dvc_lock(workspace):
    result = workspace.run("score", str(REAL_EXTRACTS["telco_churn"]), "--output", "telco_scored.csv")

    assert result.returncode == EXIT_OK, result.stderr
    scored = pd.read_csv(workspace.cwd / "telco_scored.csv", dtype={"customer_id": str})
    manifest = json.loads((workspace.cwd / "telco_scored.manifest.json").read_text())
    assert list(scored.columns) == TELCO_SCORED_COLUMNS
    assert len(scored) == manifest["input"]["rows"] == manifest["output"]["rows"] == 7043
    assert manifest["rejected"]["rows"] == 0
    assert not (workspace.cwd / "telco_scored.rejected.csv").exists()
    model_md5 = recorded_md5(REPO_ROOT, TELCO.model.model_path)
    assert set(scored["model_version"]) == {f"telco_churn_model-{model_md5[:12]}"}
    assert manifest["backtest"]["rows_with_label"] == 7043


@pytest.mark.skipif(not REAL_EXTRACTS["credit_risk"].exists(), reason=f"{REAL_EXTRACTS['credit_risk']} is not present")
def test_real_german_credit_extract_is_routed_by_its_header_and_scored_in_full(workspace):
    result = workspace.run("score", str(REAL_EXTRACTS["credit_risk"]), "--output", "credit_scored.csv")

    assert result.returncode == EXIT_OK, result.stderr
    scored = pd.read_csv(workspace.cwd / "credit_scored.csv")
    manifest = json.loads((workspace.cwd / "credit_scored.manifest.json").read_text())
    assert list(scored.columns) == CREDIT_SCORED_COLUMNS
    assert len(scored) == manifest["input"]["rows"] == manifest["output"]["rows"] == 1000
    assert list(scored["row_number"]) == list(range(1, 1001))
    assert manifest["rejected"]["rows"] == 0
    assert not (workspace.cwd / "credit_scored.rejected.csv").exists()
    model_md5 = recorded_md5(REPO_ROOT, CREDIT_RISK.model.model_path)
    assert set(scored["model_version"]) == {f"credit_risk_model-{model_md5[:12]}"}
    assert manifest["model"]["use_case"] == "credit_risk"
    assert manifest["backtest"]["rows_with_label"] == 1000


@pytest.mark.skipif(not REAL_EXTRACTS["credit_risk"].exists(), reason=f"{REAL_EXTRACTS['credit_risk']} is not present")
def test_real_german_credit_extract_with_a_tampered_credit_model_exits_4(workspace, tmp_path):
    model_root = copy_dvc_project(tmp_path / "model_root", CREDIT_RISK)
    flip_one_byte(model_root / CREDIT_RISK.model.model_path)

    result = workspace.run("score", str(REAL_EXTRACTS["credit_risk"]), model_root=model_root)

    assert result.returncode == EXIT_MODEL
    assert_no_traceback(result)
    assert f"credit_risk model: {model_root / CREDIT_RISK.model.model_path} has md5" in result.stderr
    assert workspace.scored_files(CREDIT_RISK) == []
