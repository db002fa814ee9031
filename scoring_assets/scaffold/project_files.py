"""A drafted use case's place in the DVC project: its ``params.yaml`` section and its ``dvc.yaml`` stages.

Both files are appended to as text, so their comments and layout stay as people wrote them;
nothing already there is ever replaced (``existing_entries`` says what would be). The stages
depend on exactly the source files their commands import (``training.stage_deps``), as
``tests/test_dvc_pipeline.py`` demands.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from scoring_assets.core.paths import PARAMS_FILE
from scoring_assets.core.serving import serving_path
from scoring_assets.training.stage_deps import required_source_files

DVC_FILE = "dvc.yaml"
STAGE_KINDS = ("generate", "train", "evaluate")  # a generate stage of the same name would be a clash too
PLOTS = ("roc", "precision_recall", "calibration", "confusion")  # what training.evaluate draws

PARAMS_SECTION = """
{name}:
  train:
    # The labelled extract `scoring-assets new-use-case` drafted the use case from; any labelled
    # extract in the input contract's format will do.
    extract: {extract}
    seed: 42
    validation_fraction: 0.2
    test_fraction: 0.2
    cv_folds: 5
    # Refuse to train when more than this fraction of the extract breaks the contract.
    max_rejected_fraction: 0.01
    logistic_regression:
      C: 1.0
      max_iter: 2000
    hist_gradient_boosting:
      learning_rate: 0.05
      max_iter: 200
      max_leaf_nodes: 15
      min_samples_leaf: 40
      l2_regularization: 1.0

  evaluate:
    calibration_bins: 10
"""


def _yaml_file(path: Path) -> dict:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


def existing_entries(project: Path, name: str) -> list[str]:
    """What the use case would overwrite in the project: its params.yaml section, its dvc.yaml stages."""
    found = []
    if name in _yaml_file(project / PARAMS_FILE):
        found.append(f"{project / PARAMS_FILE} already has a '{name}' section")
    stages = _yaml_file(project / DVC_FILE).get("stages") or {}
    found += [
        f"{project / DVC_FILE} already has a stage '{name}_{kind}'"
        for kind in STAGE_KINDS
        if f"{name}_{kind}" in stages
    ]
    return found


def _appended(path: Path, text: str) -> None:
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if not existing or existing.endswith("\n") else "\n"
    path.write_text(existing + separator + text, encoding="utf-8")


def add_params_section(project: Path, name: str, extract: str) -> Path:
    """Append the ``<name>:`` section (train on ``extract``, evaluate) to the project's params.yaml."""
    _appended(project / PARAMS_FILE, PARAMS_SECTION.format(name=name, extract=extract))
    return project / PARAMS_FILE


def _listed(items: list[str], indent: str = "      ") -> str:
    return "".join(f"{indent}- {item}\n" for item in items)


def stages_text(project: Path, name: str) -> str:
    """The ``<name>_train`` and ``<name>_evaluate`` stages, each depending on the files its command imports."""
    train_cmd = f"python -m scoring_assets.training.train {name}"
    evaluate_cmd = f"python -m scoring_assets.training.evaluate {name}"
    model, card = f"data/models/{name}/model.joblib", f"data/models/{name}/model_card.json"
    test_split = f"data/training/{name}/test_split.parquet"
    train_outs = [model, card, f"data/models/{name}/reference_profile.json", serving_path(model), test_split]
    plots = "".join(f"      - data/metrics/{name}/plots/{plot}.svg:\n          cache: false\n" for plot in PLOTS)
    return (
        f"\n  {name}_train:\n    cmd: {train_cmd}\n    deps:\n"
        + _listed([f"${{{name}.train.extract}}", *required_source_files(train_cmd, project)])
        + f"    params:\n      - {name}.train\n    outs:\n"
        + _listed(train_outs)
        + f"\n  {name}_evaluate:\n    cmd: {evaluate_cmd}\n    deps:\n"
        + _listed([model, card, test_split, *required_source_files(evaluate_cmd, project)])
        + f"    params:\n      - {name}.evaluate\n    metrics:\n"
        + f"      - data/metrics/{name}/metrics.json:\n          cache: false\n    plots:\n"
        + plots
    )


def add_stages(project: Path, name: str) -> Path:
    """Append the use case's train and evaluate stages to the project's dvc.yaml (under its ``stages:``)."""
    text = stages_text(project, name)
    path = project / DVC_FILE
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    if not _yaml_file(path).get("stages"):
        text = "stages:" + text
    _appended(path, text)
    if f"{name}_evaluate" not in (_yaml_file(path).get("stages") or {}):  # `stages:` was not the file's last key
        path.write_text(before, encoding="utf-8")
        raise ValueError(f"{path}: could not append the stages under `stages:`; add them by hand:\n{text}")
    return path
