"""The DVC pipeline: reproducible, up to date, and the lock file tells the truth about every model.

These run the real `dvc` (installed by dev.py in its own environment, linked as .venv/bin/dvc).
In CI, `python3 dev.py test` has just run `dvc repro` on a clean clone, so an unchanged
dvc.lock proves the pipeline rebuilds the very models that were committed. Each use case with
DVC stages (``<use case>_train`` and ``_evaluate``, and ``_generate`` when its package has a
generator; one trained on a real extract named in params.yaml has none) is checked on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scoring_assets.core.files import file_md5
from scoring_assets.core.model_store import CARD_FIELDS, verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.training.stage_deps import imported_source_files, required_source_files
from scoring_assets.use_cases import all_use_cases

pytestmark = pytest.mark.e2e  # the real `dvc`: `pytest -m 'not e2e'` leaves it out
STAGE_KINDS = ("train", "evaluate")  # and "generate", for a use case whose package has a generate.py
DVC_STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
# Use cases trained by this repository's pipeline (a test may declare others, with no stages).
TRAINED_USE_CASES = [use_case for name, use_case in all_use_cases().items() if f"{name}_train" in DVC_STAGES]


def dvc_binary() -> str:
    beside_python = Path(sys.executable).with_name("dvc")
    found = str(beside_python) if beside_python.exists() else shutil.which("dvc")
    if not found:
        pytest.fail("dvc is not installed; `python3 dev.py test` installs it into .venv-dvc")
    return found


def dvc(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run([dvc_binary(), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_pipeline_is_up_to_date_after_repro():
    status = dvc("status")
    assert status.returncode == 0, status.stderr
    assert "Data and pipelines are up to date" in status.stdout


def expected_stages(package: Path) -> list[str]:
    """A packaged use case's stages: train and evaluate, and generate when it has a generator."""
    kinds = ("generate", *STAGE_KINDS) if (package / "generate.py").exists() else STAGE_KINDS
    return [f"{package.name}_{kind}" for kind in kinds]


def test_every_use_case_packaged_here_has_its_stages_and_a_generate_stage_only_with_a_generator():
    packages = sorted(path.parent for path in (REPO_ROOT / "scoring_assets" / "use_cases").glob("*/__init__.py"))
    assert [package.name for package in packages] == sorted(use_case.name for use_case in TRAINED_USE_CASES)
    assert sorted(DVC_STAGES) == sorted(stage for package in packages for stage in expected_stages(package))


def test_a_use_case_trained_on_a_real_extract_needs_no_generate_stage(tmp_path):
    package = tmp_path / "scoring_assets" / "use_cases" / "from_a_real_extract"
    package.mkdir(parents=True)
    assert expected_stages(package) == ["from_a_real_extract_train", "from_a_real_extract_evaluate"]
    (package / "generate.py").touch()
    assert expected_stages(package)[0] == "from_a_real_extract_generate"


def test_every_output_md5_in_dvc_lock_matches_the_file_on_disk():
    lock = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text())
    outs = [out for stage in lock["stages"].values() for out in stage.get("outs", [])]
    models = {path for use_case in TRAINED_USE_CASES for path in (use_case.model.model_path, use_case.model.card_path)}
    assert {out["path"] for out in outs} >= models
    for out in outs:
        assert file_md5(REPO_ROOT / out["path"]) == out["md5"], out["path"]


@pytest.mark.parametrize("use_case", TRAINED_USE_CASES, ids=lambda use_case: use_case.name)
def test_each_trained_model_passes_the_loaders_checks_and_its_card_names_the_label(use_case):
    card = verify_artifact(use_case, REPO_ROOT).card
    for dotted in CARD_FIELDS:
        value = card
        for part in dotted.split("."):
            value = value[part]
        assert value is not None, dotted
    assert card["model"]["name"] == use_case.model_name
    assert card["label"] == {
        "column": use_case.label.column,
        "positive": use_case.label.positive,
        "negative": use_case.label.negative,
    }
    assert card["classes"] == [0, 1] and card["positive_class"] == 1
    assert card["feature_contract"]["input_columns"] == use_case.contract_columns


@pytest.mark.parametrize("stage", sorted(DVC_STAGES))
def test_each_stage_depends_on_exactly_the_source_files_its_command_imports(stage):
    """A stage reruns when code it runs changes, and only then (empty files may be left out: DVC warns about them)."""
    imported = set(imported_source_files(DVC_STAGES[stage]["cmd"], REPO_ROOT))
    required = set(required_source_files(DVC_STAGES[stage]["cmd"], REPO_ROOT))
    source_deps = {path for path in DVC_STAGES[stage]["deps"] if path.endswith(".py")}
    assert required <= source_deps, f"{stage} imports these but does not depend on them: {required - source_deps}"
    unused = source_deps - imported
    assert not unused, f"{stage} depends on these but never imports them: {unused}"


def output_md5s(lock_text: str) -> dict[str, str]:
    lock = yaml.safe_load(lock_text)
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


@pytest.mark.skipif(not (REPO_ROOT / ".git").exists(), reason="not a git checkout")
def test_rebuilding_the_pipeline_reproduces_the_committed_outputs():
    committed = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=REPO_ROOT, capture_output=True, text=True)
    if committed.returncode != 0:
        pytest.skip("dvc.lock is not committed yet")
    rebuilt = output_md5s((REPO_ROOT / "dvc.lock").read_text())
    assert rebuilt == output_md5s(committed.stdout), (
        "dvc repro produced outputs that differ from the committed dvc.lock: either training is not "
        "deterministic, or training changed and the new dvc.lock must be committed"
    )


@pytest.mark.parametrize("use_case", TRAINED_USE_CASES, ids=lambda use_case: use_case.name)
def test_metrics_are_readable_by_dvc_metrics_show(use_case):
    shown = dvc("metrics", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    metrics = json.loads(shown.stdout)
    values = next(iter(metrics.values()))["data"][use_case.model.metrics_path]["data"]
    assert {"roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "threshold"} <= set(values)
    assert 0.5 < values["roc_auc"] <= 1.0
