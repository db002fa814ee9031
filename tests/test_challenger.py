"""Challenger training and the promotion gate: a challenger is trained, registered, judged on data neither model saw.

Each test works in a DVC project of its own (``dvc_model_root``, as in ``test_model_lifecycle``) and a
temporary data folder; training sets are the generated extract or small extracts written by the use
case's own generator, so nothing needs ``../shared``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.model_lifecycle import models_overview
from scoring_assets.core.model_store import verify_artifact
from scoring_assets.core.promotion_gate import (
    adverse_impact_ratio,
    four_fifths_passes,
    judge_challenger,
    reason_codes_criterion,
)
from scoring_assets.core.use_case import Segment
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.training.challenger import train_challenger
from scoring_assets.use_cases.telco_churn.generate import write_extract
from tests.support.batches import TELCO, valid_rows, write_csv
from tests.support.model_roots import dvc_model_root

CRITERIA = {
    "roc_auc_gain_production",
    "roc_auc_loss_test",
    "brier_loss_test",
    "decision_flip_share",
    "adverse_impact_ratio",
    "reason_codes_explainable",
}
USE_CASE = ["--use-case", TELCO.name]


@pytest.fixture
def model_root(tmp_path, model_artifact) -> Path:
    return dvc_model_root(tmp_path / "models")


def shuffled_labels_extract(path: Path, rows: int = 2000, seed: int = 7) -> Path:
    """A labelled extract from the use case's generator whose labels are shuffled: nothing to learn."""
    write_extract(path, rows, seed)
    extract = pd.read_csv(path, dtype=str, keep_default_na=False)
    label = TELCO.label.column
    extract[label] = np.random.default_rng(seed).permutation(extract[label].to_numpy())
    extract.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind, passes", [("linear_logistic", True), ("pipeline", False)])
def test_a_challenger_without_a_linear_form_cannot_pass_where_the_use_case_gives_reasons(kind, passes):
    challenger = SimpleNamespace(serving=SimpleNamespace(kind=kind))
    criterion = reason_codes_criterion(TELCO, challenger)
    assert TELCO.reasons is not None
    assert criterion.passed is passes
    assert passes or "scoring would refuse it" in criterion.note
    assert reason_codes_criterion(replace(TELCO, reasons=None), challenger).passed


def test_adverse_impact_ratio_is_the_least_favoured_groups_rate_over_the_most_favoured():
    rows = pd.DataFrame({"age": [19, 22, 24, 24, 30, 41, 52, 67]})
    groups = Segment("age", cut=25).groups(rows)
    assert list(groups) == ["age < 25"] * 4 + ["age >= 25"] * 4
    predicted = [0, 1, 1, 1, 0, 0, 0, 1]  # favourable (0): 1/4 of the young, 3/4 of the others
    assert adverse_impact_ratio(predicted, groups) == pytest.approx(1 / 3)
    assert adverse_impact_ratio([0, 0, 0, 0, 0, 0, 0, 0], groups) == 1.0
    assert adverse_impact_ratio([1] * 8, groups) is None
    assert four_fifths_passes(0.85, 0.9) and four_fifths_passes(0.5, 0.4)
    assert not four_fifths_passes(0.5, 0.6)


def test_a_challenger_trained_on_the_generated_extract_is_registered_and_judged_on_every_criterion(
    workspace, model_root
):
    result = workspace.run("train", *USE_CASE, "--training-set", "generated", "--json", model_root=model_root)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert {"challenger_md5", "metrics", "gate"} <= set(outcome)
    assert set(outcome["gate"]) == {"passed", "criteria"}
    assert {criterion["name"] for criterion in outcome["gate"]["criteria"]} == CRITERIA
    for criterion in outcome["gate"]["criteria"]:
        assert {"name", "value", "threshold", "passed"} <= set(criterion)
    assert outcome["metrics"]["roc_auc"] > 0.7
    challenger = models_overview(TELCO, model_root)["challenger"]
    assert challenger["md5"] == outcome["challenger_md5"]
    assert challenger["gate"]["criteria"] == outcome["gate"]["criteria"]
    assert challenger["training_set"]["source"] == "generated" and challenger["training_set"]["rows"] > 0

    report = Path(outcome["impact_report"])
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page), "the report loads nothing from the network"
    own = UseCaseFolders(workspace.data_dir, TELCO.name)
    assert judge_challenger(TELCO, model_root, own).report.read_text(encoding="utf-8") == page, "deterministic"


def test_a_challenger_trained_on_shuffled_labels_fails_the_blocking_check_and_cannot_be_promoted(
    tmp_path, workspace, model_root, monkeypatch, instance
):
    champion = verify_artifact(TELCO, model_root).md5
    poisoned = shuffled_labels_extract(tmp_path / "poisoned.csv")
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(model_root))
    monkeypatch.setenv("SCORING_DATA_DIR", str(tmp_path / "data"))
    keys = keys_of(TELCO)
    job = scoring_definitions().resolve_job_def(keys.train_challenger_job)
    run = job.execute_in_process(
        instance=instance,
        run_config={"ops": {keys.challenger_op: {"config": {"training_set": str(poisoned)}}}},
        raise_on_error=False,
    )
    [check] = [
        event.event_specific_data for event in run.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert check.check_name == "challenger_beats_champion" and not check.passed
    assert Path(check.metadata["impact_report"].value).is_file()
    assert "roc_auc_loss_test" in check.metadata["failed"].value

    refused = workspace.run("promote", *USE_CASE, model_root=model_root)
    assert refused.returncode == 5
    assert "failed the gate: roc_auc_loss_test = " in refused.stderr
    assert verify_artifact(TELCO, model_root).md5 == champion


def test_training_on_production_rows_before_any_outcome_exits_2(workspace, model_root):
    result = workspace.run("train", *USE_CASE, "--training-set", "production", model_root=model_root)
    assert result.returncode == 2
    assert "no labelled production rows" in result.stderr
    assert models_overview(TELCO, model_root)["challenger"] is None


def test_a_challenger_trained_on_production_rows_leaves_the_latest_outcomes_to_the_gate(
    tmp_path, workspace, model_root
):
    labelled = valid_rows(TELCO, 1200, seed=5, labelled=True)
    unlabelled = write_csv(labelled.drop(columns=[TELCO.label_column]), tmp_path / "batch.csv")
    assert workspace.run("score", str(unlabelled), *USE_CASE, model_root=model_root).returncode == 0
    outcomes = write_csv(labelled[[TELCO.id_column, TELCO.label_column]], tmp_path / "outcomes.csv")
    assert workspace.run("outcomes", str(outcomes), *USE_CASE, model_root=model_root).returncode == 0

    result = workspace.run("train", *USE_CASE, "--training-set", "production", "--json", model_root=model_root)

    assert result.returncode == 0, result.stderr
    figures = {each["name"]: each["value"] for each in json.loads(result.stdout)["gate"]["criteria"]}
    assert figures["roc_auc_gain_production"] is not None and figures["decision_flip_share"] is not None
    training_set = models_overview(TELCO, model_root)["challenger"]["training_set"]
    assert training_set["source"] == "production" and training_set["date_range"] is not None
    assert training_set["rows"] == 1200 - TELCO.promotion.holdout_rows


def test_with_auto_promote_a_challenger_the_gate_passed_is_served_with_the_gate_figures_as_the_reason(
    tmp_path, model_root
):
    promoting = replace(TELCO, promotion=replace(TELCO.promotion, auto_promote=True))
    trained = train_challenger(promoting, model_root, UseCaseFolders(tmp_path / "data", TELCO.name), "generated")
    assert trained.verdict.passed and trained.promoted
    assert verify_artifact(TELCO, model_root).md5 == trained.challenger_md5
    [*_, promoted] = models_overview(TELCO, model_root)["history"]
    assert promoted["event"] == "promoted" and promoted["why"].startswith("gate passed: roc_auc_gain_production")
