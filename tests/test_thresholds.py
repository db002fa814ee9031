"""Decision threshold rules (``training.thresholds``): each picks what it promises on any validation rows.

Property tests hold every rule to its definition by brute force; one training run shows the rule
named in the params reaching the model card. The trained use case comes from the registry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scoring_assets.training import load_params, repo_path
from scoring_assets.training.thresholds import ThresholdRule
from scoring_assets.training.train import TrainingOutputs, train_model
from scoring_assets.use_cases import all_use_cases


@st.composite
def validation_rows(draw) -> tuple[np.ndarray, np.ndarray]:
    size = draw(st.integers(2, 60))
    labels = np.array(draw(st.lists(st.integers(0, 1), min_size=size, max_size=size)))
    assume(0 < labels.sum() < size)
    scores = np.array(draw(st.lists(st.integers(0, 20), min_size=size, max_size=size))) / 20.0
    return labels, scores


def precision_at(labels, scores, threshold) -> float:
    flagged = scores >= threshold
    return labels[flagged].mean() if flagged.any() else 0.0


@settings(max_examples=200, deadline=None)
@given(rows=validation_rows(), share=st.floats(0.01, 1.0))
def test_top_share_flags_at_least_that_share_and_no_higher_threshold_does(rows, share):
    _, scores = rows
    threshold = ThresholdRule.from_params({"rule": "top_share", "share": share}).choose(*rows)
    assert (scores >= threshold).mean() >= share - 1e-12
    higher = scores[scores > threshold]
    if len(higher):
        assert (scores >= higher.min()).mean() < share


@settings(max_examples=200, deadline=None)
@given(rows=validation_rows(), target=st.floats(0.05, 1.0))
def test_precision_is_the_lowest_threshold_reaching_the_target(rows, target):
    labels, scores = rows
    rule = ThresholdRule.from_params({"rule": "precision", "target": target})
    reaching = [t for t in np.unique(scores) if precision_at(labels, scores, t) >= target]
    if not reaching:
        with pytest.raises(ValueError, match="no threshold reaches precision"):
            rule.choose(labels, scores)
        return
    assert rule.choose(labels, scores) == min(reaching)


@settings(max_examples=200, deadline=None)
@given(rows=validation_rows(), false_positive=st.floats(0.0, 10.0), false_negative=st.floats(0.1, 10.0))
def test_cost_is_the_cheapest_threshold(rows, false_positive, false_negative):
    labels, scores = rows

    def cost(threshold: float) -> float:
        flagged = scores >= threshold
        return false_positive * (flagged & (labels == 0)).sum() + false_negative * (~flagged & (labels == 1)).sum()

    rule = ThresholdRule.from_params(
        {"rule": "cost", "false_positive": false_positive, "false_negative": false_negative}
    )
    assert cost(rule.choose(labels, scores)) <= min(cost(t) for t in np.unique(scores)) + 1e-9


@pytest.mark.parametrize(
    "section, complaint",
    [
        ({"rule": "accuracy"}, "is not one of"),
        ({"rule": "precision"}, "takes target"),
        ({"rule": "top_share", "share": 1.5}, "must be in (0, 1]"),
        ({"rule": "cost", "false_positive": 0, "false_negative": 0}, "not both 0"),
    ],
)
def test_a_rule_params_yaml_cannot_mean_is_refused_saying_why(section, complaint):
    with pytest.raises(ValueError, match=complaint.replace("(", r"\(").replace("]", r"\]")):
        ThresholdRule.from_params(section)


def test_the_rule_in_the_params_is_used_and_recorded_in_the_card(tmp_path: Path):
    use_case = next(iter(all_use_cases().values()))
    params = {**load_params(use_case.name, "train"), "threshold": {"rule": "top_share", "share": 0.1}}
    outputs = TrainingOutputs(
        tmp_path / "model.joblib", tmp_path / "test.parquet", tmp_path / "card.json", None, tmp_path / "serving.json"
    )

    trained = train_model(use_case, repo_path(params["extract"]), params, outputs)

    assert trained.card["threshold_policy"] == {"rule": "top_share", "share": 0.1}
    assert trained.card["threshold_rule"].startswith("flags the top 0.1 of the validation split's rows by score")
    assert (
        0.08 <= trained.card["validation_metrics"]["share_flagged"] <= 0.12
        if "share_flagged" in trained.card["validation_metrics"]
        else True
    )
