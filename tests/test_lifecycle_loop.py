"""The whole model-lifecycle loop through the command line, as a team would run it.

Score a file without its label, register what happened (outcomes), train a challenger on those
production rows, read the gate's verdict with every figure, promote it (forced when the gate
refuses: the reason is recorded), score a new file and find the new model in its lineage, then roll
back and find the old model served and used again. On the real Telco extract when ``../shared``
is there, else on a generated extract of the same shape.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.support.batches import REAL_EXTRACTS, TELCO, valid_rows, write_csv
from tests.support.cli_workspace import reported_path
from tests.support.model_roots import dvc_model_root

pytestmark = pytest.mark.e2e  # several CLI runs and two trainings: a minute or two
USE_CASE = ["--use-case", TELCO.name]
CRITERION_FIELDS = {"name", "value", "threshold", "passed"}


def labelled_extract() -> pd.DataFrame:
    real = REAL_EXTRACTS[TELCO.name]
    if real.exists():
        return pd.read_csv(real, dtype=str, keep_default_na=False)
    return valid_rows(TELCO, 3000, seed=17, labelled=True)


def lineage_of(workspace, scored, model_root) -> dict:
    shown = workspace.run("lineage", str(scored), model_root=model_root)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def lineage_model_md5(workspace, scored, model_root) -> str:
    return lineage_of(workspace, scored, model_root)["model"]["md5"]


def still_the_champion(workspace, scored, model_root) -> bool:
    return lineage_of(workspace, scored, model_root)["still_the_champion"]


def score(workspace, path, model_root):
    result = workspace.run("score", str(path), *USE_CASE, model_root=model_root)
    assert result.returncode == 0, result.stderr
    return reported_path(result.stdout, "scored")


def test_score_outcomes_train_promote_rescore_and_roll_back(tmp_path, workspace, model_artifact):
    model_root = dvc_model_root(tmp_path / "models")
    extract = labelled_extract()
    first_half, second_half = extract.iloc[: len(extract) // 2], extract.iloc[len(extract) // 2 :]
    label, id_column = TELCO.label.column, TELCO.id_column

    scored = score(workspace, write_csv(first_half.drop(columns=[label]), tmp_path / "first.csv"), model_root)
    champion = lineage_model_md5(workspace, scored, model_root)
    outcomes = write_csv(first_half[[id_column, label]], tmp_path / "outcomes.csv")
    registered = workspace.run("outcomes", str(outcomes), *USE_CASE, "--json", model_root=model_root)
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["matched"] == len(first_half)

    trained = workspace.run("train", *USE_CASE, "--training-set", "production", "--json", model_root=model_root)
    assert trained.returncode == 0, trained.stderr
    verdict = json.loads(trained.stdout)
    challenger = verdict["challenger_md5"]
    assert challenger != champion
    assert verdict["gate"]["criteria"] and all(set(each) >= CRITERION_FIELDS for each in verdict["gate"]["criteria"])

    promote = ["promote", *USE_CASE, "--json"]
    if not verdict["gate"]["passed"]:
        refused = workspace.run(*promote, model_root=model_root)
        assert refused.returncode == 5 and "failed the gate" in refused.stderr
        promote += ["--force", "--reason", "loop test: serve the challenger the gate refused"]
    promoted = workspace.run(*promote, model_root=model_root)
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["served_md5"] == challenger

    rescored = score(workspace, write_csv(second_half.drop(columns=[label]), tmp_path / "second.csv"), model_root)
    assert lineage_model_md5(workspace, rescored, model_root) == challenger
    assert still_the_champion(workspace, rescored, model_root)
    assert not still_the_champion(workspace, scored, model_root), "the first file was scored by the old champion"

    rolled_back = workspace.run("rollback", *USE_CASE, "--json", model_root=model_root)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert json.loads(rolled_back.stdout)["served_md5"] == champion
    third = write_csv(second_half.drop(columns=[label]).iloc[:300], tmp_path / "third.csv")
    assert lineage_model_md5(workspace, score(workspace, third, model_root), model_root) == champion
    assert still_the_champion(workspace, scored, model_root) and not still_the_champion(workspace, rescored, model_root)

    history = json.loads(workspace.run("models", *USE_CASE, "--json", model_root=model_root).stdout)["history"]
    assert [record["event"] for record in history][-2:] == ["promoted", "rolled_back"]


def test_poisoned_outcomes_train_a_challenger_the_gate_refuses_and_the_served_model_stays(
    tmp_path, workspace, model_artifact
):
    model_root = dvc_model_root(tmp_path / "models")
    extract = labelled_extract().iloc[:2000]
    label, id_column = TELCO.label.column, TELCO.id_column
    score(workspace, write_csv(extract.drop(columns=[label]), tmp_path / "batch.csv"), model_root)
    poisoned = extract[[id_column, label]].assign(
        **{label: np.random.default_rng(3).permutation(extract[label].to_numpy())}
    )
    registered = workspace.run(
        "outcomes", str(write_csv(poisoned, tmp_path / "poisoned.csv")), *USE_CASE, model_root=model_root
    )
    assert registered.returncode == 0, registered.stderr
    served = json.loads(workspace.run("models", *USE_CASE, "--json", model_root=model_root).stdout)["champion"]["md5"]

    trained = workspace.run("train", *USE_CASE, "--training-set", "production", "--json", model_root=model_root)

    assert trained.returncode == 0, trained.stderr  # trained; the verdict is in the output
    gate = json.loads(trained.stdout)["gate"]
    failed = [each["name"] for each in gate["criteria"] if not each["passed"]]
    assert not gate["passed"] and "roc_auc_loss_test" in failed
    refused = workspace.run("promote", *USE_CASE, model_root=model_root)
    assert refused.returncode == 5 and "roc_auc_loss_test = " in refused.stderr
    after = json.loads(workspace.run("models", *USE_CASE, "--json", model_root=model_root).stdout)["champion"]["md5"]
    assert after == served
