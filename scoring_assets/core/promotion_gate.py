"""The promotion gate: whether a challenger may replace the champion, judged on data neither model trained on.

The evidence (``GateEvidence``) is both models' scores and decisions on the champion's held-out
test split, on the time-ordered production holdout (the last ``holdout_rows`` labelled production
rows, ``core.training_set``) and on the last ``flip_files`` scored files (this challenger's
shadow scores of them when there are some, ``core.shadow_scores``). The criteria and their
thresholds are the use case's ``PromotionPolicy``; every criterion keeps its figure and its
threshold, so a refusal says by how much. ``judge_challenger`` records the verdict on the
challenger (``model_lifecycle.record_gate_verdict``: ``promote`` reads it) and writes the model
change impact report (``core.reports.model_change``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from scoring_assets.core.features import build_features
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.model_lifecycle import record_gate_verdict
from scoring_assets.core.model_store import LoadedModel, load_challenger, load_model
from scoring_assets.core.paths import held_out_path
from scoring_assets.core.production_rows import latest_scored_inputs
from scoring_assets.core.reports.model_change import write_model_change_report
from scoring_assets.core.shadow_scores import ShadowSummary, pooled_flip_share, shadow_summaries
from scoring_assets.core.training_set import production_holdout
from scoring_assets.core.use_case import PromotionPolicy, UseCase

FOUR_FIFTHS = 0.8  # the adverse-impact rule: the least favoured group gets at least 4/5 of the most favoured's rate


@dataclass(frozen=True)
class Criterion:
    """One test of the gate: its figure, the threshold it is held to, and whether it passed (``note``: why skipped)."""

    name: str
    value: float | None
    threshold: float
    passed: bool
    note: str = ""

    def as_record(self) -> dict[str, Any]:
        record = {"name": self.name, "value": self.value, "threshold": self.threshold, "passed": self.passed}
        return {**record, "note": self.note} if self.note else record


@dataclass(frozen=True)
class GateVerdict:
    """Every criterion on one challenger; it passes when all of them do. ``report``: its impact report."""

    challenger_md5: str
    criteria: tuple[Criterion, ...]
    report: Path | None = None

    @property
    def passed(self) -> bool:
        return all(criterion.passed for criterion in self.criteria)

    def as_record(self) -> dict[str, Any]:
        return {"passed": self.passed, "criteria": [criterion.as_record() for criterion in self.criteria]}


@dataclass(frozen=True)
class Decisions:
    """Both models on one set of rows: the rows, their 0/1 labels (None: unlabelled), scores and predicted labels."""

    rows: pd.DataFrame
    labels: np.ndarray | None
    champion_scores: np.ndarray
    challenger_scores: np.ndarray
    champion_predicted: np.ndarray
    challenger_predicted: np.ndarray

    @property
    def flipped(self) -> np.ndarray:
        return self.champion_predicted != self.challenger_predicted


@dataclass(frozen=True)
class GateEvidence:
    """Both models on the test split, the production holdout and the latest scored files' rows.

    ``shadow``: the latest scored files' shadow summaries by this challenger against this champion
    (empty when none was shadow-scored); the flip criterion prefers them to ``recent``.
    """

    champion: LoadedModel
    challenger: LoadedModel
    test: Decisions
    holdout: Decisions
    recent: Decisions
    shadow: tuple[ShadowSummary, ...] = ()


def decisions(use_case: UseCase, champion: LoadedModel, challenger: LoadedModel, rows: pd.DataFrame) -> Decisions:
    """Score ``rows`` with both models, each at its own threshold; labels when the rows carry the label column."""
    labelled = use_case.label.column in rows.columns
    labels = (rows[use_case.label.column] == use_case.label.positive).to_numpy(np.int64) if labelled else None
    if rows.empty:
        nothing = np.zeros(0)
        return Decisions(rows, labels, nothing, nothing, nothing.astype(np.int64), nothing.astype(np.int64))
    features = build_features(use_case.features, rows)
    scores = [model.pipeline.predict_proba(features)[:, 1] for model in (champion, challenger)]
    predicted = [
        (each >= model.threshold).astype(np.int64) for each, model in zip(scores, (champion, challenger), strict=True)
    ]
    return Decisions(rows, labels, scores[0], scores[1], predicted[0], predicted[1])


def gather_evidence(use_case: UseCase, root: Path, own: UseCaseFolders) -> GateEvidence:
    champion, challenger = load_model(use_case, root), load_challenger(use_case, root)
    policy = use_case.promotion
    holdout = production_holdout(use_case, own)
    return GateEvidence(
        champion,
        challenger,
        test=decisions(use_case, champion, challenger, pd.read_parquet(held_out_path(use_case))),
        holdout=decisions(use_case, champion, challenger, holdout),
        recent=decisions(use_case, champion, challenger, latest_scored_inputs(use_case, own, policy.flip_files)),
        shadow=tuple(shadow_summaries(own, challenger.md5, champion.md5, champion.threshold, policy.flip_files)),
    )


def adverse_impact_ratio(predicted_labels, groups) -> float | None:
    """Lowest group's favourable rate (predicted label 0) over the highest group's.

    None when there are fewer than two groups or no group is ever favoured (nothing to compare).
    """
    favourable = pd.Series(np.asarray(predicted_labels) == 0).groupby(np.asarray(groups)).mean()
    if len(favourable) < 2 or favourable.max() <= 0:
        return None
    return float(favourable.min() / favourable.max())


def four_fifths_passes(challenger: float | None, champion: float | None) -> bool:
    """The challenger's ratio is at least 4/5, or no lower than the champion's (None: nothing to compare, passes)."""
    return challenger is None or challenger >= FOUR_FIFTHS or (champion is not None and challenger >= champion)


def _figure(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def auc_criteria(policy: PromotionPolicy, evidence: GateEvidence) -> list[Criterion]:
    """AUC gain on the production holdout (skipped without one) and AUC loss on the test split."""
    holdout, test = evidence.holdout, evidence.test
    if holdout.labels is not None and len(np.unique(holdout.labels)) == 2:
        gain = roc_auc_score(holdout.labels, holdout.challenger_scores) - roc_auc_score(
            holdout.labels, holdout.champion_scores
        )
        production = Criterion(
            "roc_auc_gain_production", _figure(gain), policy.min_auc_gain, gain >= policy.min_auc_gain
        )
    else:
        why = "skipped: no labelled production rows with both outcomes yet"
        production = Criterion("roc_auc_gain_production", None, policy.min_auc_gain, True, why)
    loss = roc_auc_score(test.labels, test.champion_scores) - roc_auc_score(test.labels, test.challenger_scores)
    return [
        production,
        Criterion("roc_auc_loss_test", _figure(loss), policy.max_test_auc_loss, loss <= policy.max_test_auc_loss),
    ]


def brier_criterion(policy: PromotionPolicy, evidence: GateEvidence) -> Criterion:
    test = evidence.test
    loss = brier_score_loss(test.labels, test.challenger_scores) - brier_score_loss(test.labels, test.champion_scores)
    return Criterion("brier_loss_test", _figure(loss), policy.max_brier_loss, loss <= policy.max_brier_loss)


def flip_criterion(policy: PromotionPolicy, evidence: GateEvidence) -> Criterion:
    """The share of decisions that would flip on the latest scored files.

    From this challenger's shadow scores of them when there are some (the note says of how many
    files), else from scoring the latest files' validated rows with both models.
    """
    shadowed = pooled_flip_share(list(evidence.shadow))
    if shadowed is not None:
        files = len(evidence.shadow)
        note = f"from shadow scores of {files} file{'' if files == 1 else 's'}"
        passed = shadowed <= policy.max_flip_share
        return Criterion("decision_flip_share", _figure(shadowed), policy.max_flip_share, passed, note)
    recent = evidence.recent
    if recent.rows.empty:
        return Criterion("decision_flip_share", None, policy.max_flip_share, True, "skipped: no scored file yet")
    share = float(recent.flipped.mean())
    return Criterion("decision_flip_share", _figure(share), policy.max_flip_share, share <= policy.max_flip_share)


def adverse_impact_criterion(use_case: UseCase, evidence: GateEvidence) -> Criterion:
    """Four-fifths rule across the segment on the test split and the production holdout."""
    segment = use_case.promotion.segment
    if segment is None:
        return Criterion("adverse_impact_ratio", None, FOUR_FIFTHS, True, "skipped: the use case declares no segment")
    judged = [each for each in (evidence.test, evidence.holdout) if not each.rows.empty]
    groups = pd.concat([segment.groups(each.rows) for each in judged], ignore_index=True)
    champion = adverse_impact_ratio(np.concatenate([each.champion_predicted for each in judged]), groups)
    challenger = adverse_impact_ratio(np.concatenate([each.challenger_predicted for each in judged]), groups)
    passed = four_fifths_passes(challenger, champion)
    note = f"across {segment.column}; champion {'n/a' if champion is None else f'{champion:.4f}'}"
    return Criterion("adverse_impact_ratio", _figure(challenger), FOUR_FIFTHS, passed, note)


def gate_criteria(use_case: UseCase, evidence: GateEvidence) -> tuple[Criterion, ...]:
    policy = use_case.promotion
    return (
        *auc_criteria(policy, evidence),
        brier_criterion(policy, evidence),
        flip_criterion(policy, evidence),
        adverse_impact_criterion(use_case, evidence),
    )


def judge_challenger(use_case: UseCase, root: Path, own: UseCaseFolders) -> GateVerdict:
    """Judge the challenger against the champion, record the verdict on it and write the impact report."""
    evidence = gather_evidence(use_case, root, own)
    verdict = GateVerdict(evidence.challenger.md5, gate_criteria(use_case, evidence))
    report = write_model_change_report(own.model_change_report(verdict.challenger_md5), use_case, evidence, verdict)
    record_gate_verdict(use_case, root, verdict.challenger_md5, verdict.passed, verdict.as_record()["criteria"])
    return replace(verdict, report=report)
