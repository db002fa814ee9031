"""How a model's decision threshold is chosen on the validation split: the rule ``params.yaml`` names.

``<use case>.train.threshold`` (absent: ``{rule: f1}``):
- ``{rule: f1}``: the score that maximises F1 (precision and recall weighed alike);
- ``{rule: precision, target: 0.7}``: the lowest threshold whose precision reaches the target, so
  the most positives are caught at that precision (refused when no threshold reaches it);
- ``{rule: top_share, share: 0.1}``: flag the highest-scored share of rows (a team that can call
  10% of its customers), whatever their scores;
- ``{rule: cost, false_positive: 1, false_negative: 5}``: the threshold with the lowest total cost
  of mistakes on the validation rows, given what each kind of mistake costs.
On a weak model F1-max can flag almost every row; the other rules are what teams use instead.
The card records the rule and its settings beside the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

RULE_SETTINGS = {
    "f1": (),
    "precision": ("target",),
    "top_share": ("share",),
    "cost": ("false_positive", "false_negative"),
}


@dataclass(frozen=True)
class ThresholdRule:
    """One of ``RULE_SETTINGS`` with its settings, as ``params.yaml`` names it."""

    rule: str = "f1"
    settings: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_params(cls, section: dict[str, Any] | None) -> ThresholdRule:
        section = dict(section or {"rule": "f1"})
        rule = section.pop("rule", None)
        if rule not in RULE_SETTINGS:
            raise ValueError(f"threshold rule {rule!r} is not one of {', '.join(RULE_SETTINGS)}")
        wanted = RULE_SETTINGS[rule]
        if set(section) != set(wanted):
            raise ValueError(f"threshold rule {rule} takes {', '.join(wanted) or 'no settings'}, not {sorted(section)}")
        settings = tuple((name, float(section[name])) for name in wanted)
        _check(rule, dict(settings))
        return cls(rule, settings)

    def as_record(self) -> dict[str, Any]:
        return {"rule": self.rule, **dict(self.settings)}

    def choose(self, labels: np.ndarray, scores: np.ndarray) -> float:
        """The threshold (predict positive when score >= it) this rule picks on these validation rows."""
        settings = dict(self.settings)
        if self.rule == "precision":
            return _precision_threshold(labels, scores, settings["target"])
        if self.rule == "top_share":
            return _top_share_threshold(scores, settings["share"])
        if self.rule == "cost":
            return _cost_threshold(labels, scores, settings["false_positive"], settings["false_negative"])
        return f1_maximising_threshold(labels, scores)

    def describe(self) -> str:
        """The card's words for the rule."""
        settings = dict(self.settings)
        return {
            "f1": "maximises F1 on the validation split",
            "precision": f"the lowest reaching precision {settings.get('target')} on the validation split",
            "top_share": f"flags the top {settings.get('share')} of the validation split's rows by score",
            "cost": f"minimises {settings.get('false_positive')} x false positives + "
            f"{settings.get('false_negative')} x false negatives on the validation split",
        }[self.rule]


def _check(rule: str, settings: dict[str, float]) -> None:
    if rule in ("precision", "top_share") and not 0 < next(iter(settings.values())) <= 1:
        raise ValueError(f"threshold rule {rule}: {next(iter(settings))} must be in (0, 1]")
    if rule == "cost" and (min(settings.values()) < 0 or max(settings.values()) <= 0):
        raise ValueError("threshold rule cost: costs must be >= 0 and not both 0")


def f1_maximising_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score at or above which a row is predicted positive, chosen for the best F1."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return float(thresholds[np.argmax(f1[:-1])])  # the last point has no threshold


def _precision_threshold(labels: np.ndarray, scores: np.ndarray, target: float) -> float:
    precision, _, thresholds = precision_recall_curve(labels, scores)
    reaching = np.flatnonzero(precision[:-1] >= target)
    if not len(reaching):
        raise ValueError(
            f"no threshold reaches precision {target} on the validation split (best {precision[:-1].max():.3f}): "
            "lower the target in params.yaml or choose another rule"
        )
    return float(thresholds[reaching[0]])  # thresholds ascend: the first reaching one catches the most positives


def _top_share_threshold(scores: np.ndarray, share: float) -> float:
    """The score of the row at the top ``share`` boundary: that many rows (ties included) are at or above it."""
    ordered = np.sort(scores)[::-1]
    return float(ordered[max(int(np.ceil(share * len(ordered))) - 1, 0)])


def _cost_threshold(labels: np.ndarray, scores: np.ndarray, false_positive: float, false_negative: float) -> float:
    candidates = np.unique(scores)
    order = np.argsort(scores)
    sorted_scores, sorted_labels = scores[order], labels[order]
    below = np.searchsorted(sorted_scores, candidates, side="left")  # rows predicted negative at each threshold
    positives_below = np.concatenate([[0], np.cumsum(sorted_labels)])[below]
    negatives_below = below - positives_below
    missed = positives_below  # false negatives
    false_alarms = (len(labels) - labels.sum()) - negatives_below
    cost = false_positive * false_alarms + false_negative * missed
    return float(candidates[np.argmin(cost)])
