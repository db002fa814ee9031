"""Train a challenger with the use case's own training (the candidates, CV and threshold rule of ``dvc repro``).

The settings are the ``params.yaml`` of the DVC project holding the model (``root``: a use case's
own project, or the model store's) when it has one, else this repository's
(``training.load_params``). The training set is ``production``: the ``<use case>/training_set``
asset's DVC-tracked file (``core.training_set``: labelled production rows before the gate's
holdout, within the declared window), verified by its md5; or ``generated`` (the extract
``params.yaml`` ``<use case>.train.extract`` names, what ``dvc repro`` trains on) or a labelled
extract FILE, copied to ``challenger_training_set.csv`` beside the model so the md5 recorded with
the challenger names bytes that exist. The artifacts (model, card, reference
profile, serving form, test metrics, under the champion's file names) go through ``register_challenger``, then
the promotion gate judges the challenger (``core.promotion_gate``; on the rows its training held
out when the champion has no held-out test split, e.g. a brought-in model); with the policy's
``auto_promote`` a challenger the gate passed is promoted. ``train_challenger`` is what the Dagster
job ``<use case>__train_challenger`` runs, whoever starts it (the UI, the CLI's ``train``, a trigger).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoring_assets.core.dvc_cache import ensure_ignored
from scoring_assets.core.features import build_features
from scoring_assets.core.files import atomic_path, file_md5
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.model_lifecycle import ModelFiles, promote, register_challenger
from scoring_assets.core.promotion_gate import GateVerdict, judge_challenger
from scoring_assets.core.serving import SERVING_FILE
from scoring_assets.core.training_set import TrainingWindow, published_training_set, training_set_path
from scoring_assets.core.use_case import UseCase
from scoring_assets.training import load_params, repo_path

if TYPE_CHECKING:
    from scoring_assets.training.train import TrainedModel

GENERATED = "generated"
PRODUCTION = "production"
EXTRACT_COPY = "challenger_training_set.csv"  # a chosen extract, copied so its md5 names bytes that exist


class NoTrainingRows(ValueError):
    """The chosen training set has no rows to learn from (e.g. no outcomes came back yet)."""


@dataclass(frozen=True)
class ChallengerTrained:
    """A challenger registered and judged: its model md5, test metrics, the gate's verdict, whether it was promoted."""

    challenger_md5: str
    metrics: dict[str, Any]
    verdict: GateVerdict
    promoted: bool
    card: dict[str, Any]
    training_set: dict[str, Any]  # what it was trained on: source, path, md5, rows, label balance, date range

    def as_record(self) -> dict[str, Any]:
        return {
            "challenger_md5": self.challenger_md5,
            "metrics": self.metrics,
            "gate": self.verdict.as_record(),
            "impact_report": str(self.verdict.report),
            "promoted": self.promoted,
            "training_set": self.training_set,
        }


def training_window(use_case: UseCase, root: Path) -> TrainingWindow:
    """The window ``params.yaml`` ``<use case>.training_set`` declares (no section: no limit)."""
    try:
        section = load_params(use_case.name, "training_set", root)
    except KeyError:
        return TrainingWindow()
    return TrainingWindow.from_params(section)


def production_training_set(use_case: UseCase, root: Path) -> tuple[Path, dict[str, Any]]:
    """The published ``training_set`` (``core.training_set``), verified by md5; NoTrainingRows when empty or absent."""
    described = published_training_set(use_case, root)
    if described is None:
        raise NoTrainingRows(
            f"{use_case.name} has no published training set in {root} (or its file no longer matches its .dvc "
            f"record): materialize {use_case.name}/training_set first (the train_challenger job does)"
        )
    if not described["rows"]:
        raise NoTrainingRows(
            f"{use_case.name} has no labelled production rows to train on yet (beyond the "
            f"{described['holdout_rows']} held out for the gate): register outcomes or score labelled extracts first"
        )
    return training_set_path(use_case, root), described


def generated_extract(use_case: UseCase, root: Path) -> Path:
    """The extract ``params.yaml`` ``<use case>.train.extract`` names (relative: to its DVC project)."""
    extract = load_params(use_case.name, "train", root).get("extract")
    if not extract:
        raise NoTrainingRows(f"params.yaml names no {use_case.name}.train.extract: there is no generated extract")
    return repo_path(extract, root)


def chosen_training_set(use_case: UseCase, root: Path, training_set: str) -> tuple[Path, dict[str, Any]]:
    """The file to train on and what the challenger's record says about it (source, path, md5, rows, dates)."""
    if training_set == PRODUCTION:
        path, described = production_training_set(use_case, root)
        keep = ("md5", "rows", "label_balance", "date_range", "holdout_cut", "rows_by_source")
        return path, {"source": PRODUCTION, "path": described["path"], **{k: described.get(k) for k in keep}}
    source = generated_extract(use_case, root) if training_set == GENERATED else Path(training_set).expanduser()
    if not source.is_file():
        raise NoTrainingRows(f"{source}: no such labelled extract (--training-set production|generated|FILE)")
    destination = ModelFiles(use_case, Path(root)).folder / EXTRACT_COPY
    with atomic_path(destination) as temporary:
        shutil.copyfile(source, temporary)
    ensure_ignored(destination.parent, EXTRACT_COPY)
    return destination, {"source": training_set, "path": str(source), "md5": file_md5(destination), "date_range": None}


def test_metrics(use_case: UseCase, trained: TrainedModel) -> dict[str, Any]:
    """The challenger on its own held-out rows, as ``evaluate`` measures the champion."""
    from scoring_assets.training.metrics import binary_labels, classification_metrics  # see fit_challenger

    labels = binary_labels(use_case.label, trained.test_rows)
    scores = trained.model.predict_proba(build_features(use_case.features, trained.test_rows))[:, 1]
    return {**classification_metrics(labels, scores, trained.card["threshold"]), "n_test": len(labels)}


def fit_challenger(
    use_case: UseCase, root: Path, training_file: Path, scratch: Path
) -> tuple[dict[str, Path], TrainedModel, dict]:
    """Train on ``training_file`` into ``scratch`` with ``root``'s settings: artifacts (champion's names), metrics.

    Training is imported here, not at the top: the code location imports this module, and a
    scoring process must not import scikit-learn.
    """
    from scoring_assets.training.train import TrainingOutputs, train_model

    source = use_case.model
    names = {kind: Path(path).name for kind, path in (("model", source.model_path), ("card", source.card_path))}
    profile = scratch / Path(source.profile_path).name if source.profile_path else None
    test_split, serving = scratch / "test_split.parquet", scratch / SERVING_FILE
    outputs = TrainingOutputs(scratch / names["model"], test_split, scratch / names["card"], profile, serving)
    trained = train_model(use_case, training_file, load_params(use_case.name, "train", root), outputs)
    metrics = test_metrics(use_case, trained)
    artifacts = {path.name: path for path in (outputs.model, outputs.card, profile, serving) if path is not None}
    if source.metrics_path:
        metrics_file = scratch / Path(source.metrics_path).name
        metrics_file.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        artifacts[metrics_file.name] = metrics_file
    return artifacts, trained, metrics


def train_challenger(use_case: UseCase, root: Path, own: UseCaseFolders, training_set: str) -> ChallengerTrained:
    """Train, register and judge a challenger on ``training_set`` (production, generated or a file path)."""
    training_file, described = chosen_training_set(use_case, root, training_set)
    scratch_parent = Path(root) / ".dvc" / "tmp"
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_parent) as scratch:
        artifacts, trained, metrics = fit_challenger(use_case, root, training_file, Path(scratch))
        described = {
            **described,
            "rows": trained.card["training_data"]["rows_accepted"],
            "label_balance": trained.card["training_data"]["positive_rate"],
        }
        record = register_challenger(use_case, root, artifacts, training_set=described, metrics=metrics)
    verdict = judge_challenger(use_case, root, own, challenger_test_rows=trained.test_rows)
    promoted = use_case.promotion.auto_promote and verdict.passed
    if promoted:
        promote(use_case, root)  # records the gate's figures as the reason
    return ChallengerTrained(record["model_md5"], metrics, verdict, promoted, trained.card, described)
