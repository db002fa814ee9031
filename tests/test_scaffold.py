"""``scoring-assets new-use-case``: a draft from a labelled sample accepts that sample, trains with DVC and scores.

The drafts are made from real extracts (German credit, when ``/work/shared`` is there) and from a
small export written here with the quirks real ones have: an unnamed row-number column, header
names with a leading space or a space inside, yes/no flags, integer codes, blanks, an id. The
end-to-end test scaffolds inside a copy of the repository's code and DVC files, so the
repository's own ``params.yaml`` and ``dvc.yaml`` are never touched.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from scoring_assets.cli import main
from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.features import build_features
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.scaffold import ScaffoldRefused, ScaffoldRequest, scaffold_use_case
from tests.support.model_roots import DVC

GERMAN_CREDIT = Path("/work/shared/data/german_credit.csv")
needs_german_credit = pytest.mark.skipif(not GERMAN_CREDIT.is_file(), reason="no /work/shared/data/german_credit.csv")


def member_export(path: Path, n_rows: int = 600, seed: int = 7) -> Path:
    """A labelled member export as a real system writes it: quirks included, lapses that follow the numbers."""
    rng = np.random.default_rng(seed)
    fee = rng.uniform(10, 90, n_rows)
    autopay = rng.choice(["Yes", "No"], n_rows)
    visits = rng.integers(0, 400, n_rows)
    never = rng.uniform(size=n_rows) < 0.08
    odds = -1 + fee / 40 + (autopay == "No") - np.where(never, -1, visits / 200)
    frame = pd.DataFrame(
        {
            "member_id": [f"M{100_000 + row}" for row in range(n_rows)],
            " plan": rng.choice(["basic", "standard", "premium"], n_rows),
            "Auto Pay": autopay,
            "region_code": rng.choice(["1", "2", "3", "4"], n_rows),
            "tenure": rng.integers(0, 120, n_rows).astype(str),
            " monthly_fee": [f"{value:.2f}" for value in fee],
            "visits": np.where(never, "", visits.astype(str)),
            "lapsed": np.where(rng.uniform(size=n_rows) < 1 / (1 + np.exp(-odds)), "Yes", "No"),
        }
    )
    frame.loc[3, "Auto Pay"] = ""  # a flag the export left blank
    frame.to_csv(path)  # with pandas' unnamed row-number column, as many exports carry
    return path


def imported_draft(package_dir: Path, name: str):
    sys.path.insert(0, str(package_dir))
    try:
        return importlib.import_module(name).USE_CASE
    finally:
        sys.path.remove(str(package_dir))
        for module in [module for module in sys.modules if module == name or module.startswith(f"{name}.")]:
            del sys.modules[module]


def drafted(tmp_path: Path, sample: Path, name: str, label: str, positive: str, id_column: str | None = None):
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    request = ScaffoldRequest(name, sample, label, positive, id_column, project, package_dir=tmp_path / "packages")
    result = scaffold_use_case(request)
    return imported_draft(tmp_path / "packages", name), result


def test_a_draft_from_an_export_with_quirks_accepts_every_row_of_it_and_says_what_it_assumed(tmp_path):
    sample = member_export(tmp_path / "members.csv")
    use_case, result = drafted(tmp_path, sample, "member_lapse", "lapsed", "Yes", id_column="member_id")
    validation = validate_frame(use_case, read_csv_frame(sample, use_case))
    assert len(validation.rejects) == 0 and len(validation.accepted) == 600
    features = build_features(use_case.features, validation.accepted)
    assert not features.isna().any().any()
    assert use_case.contract_columns == [
        "member_id",
        "plan",
        "Auto Pay",
        "region_code",
        "tenure",
        "monthly_fee",
        "visits",
    ]
    assert use_case.value_sets["Auto Pay"] == ["No", "Yes", ""] and use_case.value_sets["region_code"] == [1, 2, 3, 4]
    assert use_case.schema.columns["visits"].nullable and use_case.id_column == "member_id"
    assumed = "\n".join(result.assumptions)
    for said in ("row number the export added", "yes/no flag", "integer codes 1, 2, 3, 4", "blank in", "set them from"):
        assert said in assumed
    assert (tmp_path / "project" / "params.yaml").read_text().startswith("\nmember_lapse:\n  train:\n")


@needs_german_credit
def test_a_draft_from_german_credit_accepts_all_its_rows_with_its_leading_space_headers(tmp_path):
    use_case, _ = drafted(tmp_path, GERMAN_CREDIT, "german", "class", "bad")
    validation = validate_frame(use_case, read_csv_frame(GERMAN_CREDIT, use_case))
    assert len(validation.accepted) == 1000
    assert "foreign_worker" in use_case.contract_columns and use_case.label.negative == "good"


def test_a_label_without_exactly_two_values_is_refused_and_nothing_is_written(tmp_path):
    sample = tmp_path / "three.csv"
    sample.write_text("x,outcome\n1,a\n2,b\n3,c\n")
    with pytest.raises(ScaffoldRefused, match="exactly two values"):
        drafted(tmp_path, sample, "three", "outcome", "a")
    assert not (tmp_path / "packages").exists() and not (tmp_path / "project" / "params.yaml").exists()


def test_new_use_case_never_overwrites_and_names_everything_that_exists(tmp_path, capsys):
    sample = member_export(tmp_path / "members.csv", n_rows=50)
    (tmp_path / "credit_risk").mkdir()
    before = {name: (REPO_ROOT / name).read_bytes() for name in ("params.yaml", "dvc.yaml")}
    argv = ["new-use-case", "credit_risk", "--from", str(sample), "--label", "lapsed", "--positive", "Yes"]
    assert main([*argv, "--package-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    for named in (f"{tmp_path / 'credit_risk'} already exists", "'credit_risk' section", "'credit_risk_train'"):
        assert named in error
    assert "'credit_risk_evaluate'" in error and "'credit_risk_generate'" in error
    assert {name: (REPO_ROOT / name).read_bytes() for name in ("params.yaml", "dvc.yaml")} == before
    assert list((tmp_path / "credit_risk").iterdir()) == []


def project_copy(root: Path) -> Path:
    """The repository's code, deployment settings and DVC files in ``root``, a DVC project of its own."""
    for folder in ("scoring_assets", "deploy"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml", "pyproject.toml"):
        shutil.copyfile(REPO_ROOT / name, root / name)
    subprocess.run([str(DVC), "init", "--no-scm", "-q"], cwd=root, check=True, env=dvc_environment())
    return root


def dvc_environment() -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": path}


def in_copy(project: Path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    """``scoring-assets ARGS`` run from the copy (its own code, its REPO_ROOT), with scratch folders."""
    env = {key: value for key, value in os.environ.items() if key not in ("SCORING_MODEL_ROOT", "PYTHONPATH")}
    env.update(SCORING_DATA_DIR=str(project / "scratch_data"), DAGSTER_HOME=str(project / "dagster_home"), **variables)
    return subprocess.run(
        [sys.executable, "-m", "scoring_assets", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.e2e
@pytest.mark.parametrize("extract", ["german_credit", "member_export"])
def test_a_scaffolded_use_case_trains_with_dvc_repro_and_scores_its_extract(tmp_path, extract):
    if extract == "german_credit" and not GERMAN_CREDIT.is_file():
        pytest.skip("no /work/shared/data/german_credit.csv")
    project = project_copy(tmp_path / "project")
    (project / "extracts").mkdir()
    if extract == "german_credit":
        sample, options = shutil.copyfile(GERMAN_CREDIT, project / "extracts" / "german.csv"), ["--label", "class"]
        options += ["--positive", "bad"]
    else:
        sample = member_export(project / "extracts" / "members.csv")
        options = ["--label", "lapsed", "--positive", "Yes", "--id", "member_id"]
    drafted_run = in_copy(project, "new-use-case", "drafted", "--from", str(sample), *options)
    assert drafted_run.returncode == 0, drafted_run.stderr
    assert "dvc repro drafted_train drafted_evaluate" in drafted_run.stdout
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert {"credit_risk_train", "drafted_train", "drafted_evaluate"} <= set(stages)
    assert (
        yaml.safe_load((project / "params.yaml").read_text())["drafted"]["train"]["extract"]
        == f"extracts/{sample.name}"
    )
    repro = subprocess.run(
        [str(DVC), "repro", "drafted_train", "drafted_evaluate"],
        cwd=project,
        env=dvc_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    scored = in_copy(project, "score", str(sample), "--use-case", "drafted")
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    again = in_copy(project, "new-use-case", "drafted", "--from", str(sample), *options)
    assert again.returncode == 2 and "already exists" in again.stderr
