"""The DVC pipeline: reproducible, up to date, and the lock file tells the truth about the model.

These run the real `dvc` (installed by dev.py in its own environment, linked as .venv/bin/dvc).
In CI, `python3 dev.py test` has just run `dvc repro` on a clean clone, so an unchanged
dvc.lock proves the pipeline rebuilds the very model that was committed.
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

from scoring_assets.files import file_md5
from scoring_assets.paths import REPO_ROOT


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


def test_every_output_md5_in_dvc_lock_matches_the_file_on_disk():
    lock = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text())
    outs = [out for stage in lock["stages"].values() for out in stage.get("outs", [])]
    assert {out["path"] for out in outs} >= {"data/model/churn_model.joblib", "data/model/model_card.json"}
    for out in outs:
        assert file_md5(REPO_ROOT / out["path"]) == out["md5"], out["path"]


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


def test_metrics_are_readable_by_dvc_metrics_show():
    shown = dvc("metrics", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    metrics = json.loads(shown.stdout)
    values = next(iter(metrics.values()))["data"]["data/metrics/metrics.json"]["data"]
    assert {"roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "threshold"} <= set(values)
    assert 0.5 < values["roc_auc"] <= 1.0
