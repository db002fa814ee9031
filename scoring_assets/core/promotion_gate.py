"""The promotion gate: whether a challenger may replace the champion, judged on data neither model trained on.

The evidence (``GateEvidence``) is both models' scores and decisions on the champion's held-out
test split, on the time-ordered production holdout (the last ``holdout_rows`` labelled production
rows, ``core.training_set``) and on the last ``flip_files`` scored files (this challenger's
shadow scores of them when there are some, ``core.shadow_scores``). A champion trained
elsewhere (a model brought in with ``dvc add``) has no held-out test split here: the test-split
criteria are then judged on the challenger's own held-out test split, which training kept from
it and the champion never trained on either (when the champion learnt from any of those rows, it
can only look better there: the gate is stricter, never laxer), and each such criterion's note
says so; with neither split they are skipped, saying why. The criteria and
their thresholds are the use case's ``PromotionPolicy``; every criterion keeps its figure and its
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

from scoring_assets.core.features import build_features
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.model_lifecycle import record_gate_verdict
from scoring_assets.core.model_store import LoadedModel, load_challenger, load_model
from scoring_assets.core.paths import held_out_path
from scoring_assets.core.production_rows import latest_scored_inputs
from scoring_assets.core.reports.model_change import write_model_change_report
from scoring_assets.core.serving import LINEAR_LOGISTIC
from scoring_assets.core.shadow_scores import ShadowSummary, pooled_flip_share, shadow_summaries
from scoring_assets.core.training_set import production_holdout
from scoring_assets.core.use_case import PromotionPolicy, UseCase

FOUR_FIFTHS = 0.8  # the adverse-impact rule: the least favoured group gets at least 4/5 of the most favoured's rate
CHAMPION_SPLIT = "the champion's held-out test split"
CHALLENGER_SPLIT = "the challenger's held-out test split (the champion has none: a brought-in model)"
NO_TEST_SPLIT = "skipped: the champion has no held-out test split (a brought-in model) and none was given"


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
    ``test_split``: which held-out test split ``test`` is (``CHAMPION_SPLIT`` or ``CHALLENGER_SPLIT``;
    empty: none, ``test`` has no rows).
    """

    champion: LoadedModel
    challenger: LoadedModel
    test: Decisions
    holdout: Decisions
    recent: Decisions
    shadow: tuple[ShadowSummary, ...] = ()
    test_split: str = CHAMPION_SPLIT


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


def test_split_rows(use_case: UseCase, challenger_test_rows: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """The held-out test rows to judge on and which split they are: the champion's, else the challenger's, else none."""
    champion_split = held_out_path(use_case)
    if champion_split.is_file():
        return pd.read_parquet(champion_split), CHAMPION_SPLIT
    if challenger_test_rows is not None and not challenger_test_rows.empty:
        return challenger_test_rows, CHALLENGER_SPLIT
    return pd.DataFrame(columns=[*use_case.contract_columns, use_case.label.column]), ""


def gather_evidence(
    use_case: UseCase, root: Path, own: UseCaseFolders, challenger_test_rows: pd.DataFrame | None = None
) -> GateEvidence:
    champion, challenger = load_model(use_case, root), load_challenger(use_case, root)
    policy = use_case.promotion
    holdout = production_holdout(use_case, own)
    test_rows, test_split = test_split_rows(use_case, challenger_test_rows)
    return GateEvidence(
        champion,
        challenger,
        test=decisions(use_case, champion, challenger, test_rows),
        holdout=decisions(use_case, champion, challenger, holdout),
        recent=decisions(use_case, champion, challenger, latest_scored_inputs(use_case, own, policy.flip_files)),
        shadow=tuple(shadow_summaries(own, challenger.md5, champion.md5, champion.threshold, policy.flip_files)),
        test_split=test_split,
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


def test_split_note(evidence: GateEvidence) -> str:
    """What a test-split criterion's note says: nothing on the champion's split, which split otherwise."""
    if evidence.test_split == CHAMPION_SPLIT:
        return ""
    return f"on {evidence.test_split}" if evidence.test_split else NO_TEST_SPLIT


def auc_criteria(policy: PromotionPolicy, evidence: GateEvidence) -> list[Criterion]:
    """AUC gain on the production holdout (skipped without one) and AUC loss on the test split (skipped without one)."""
    # Imported here: the code location imports this module, and scoring must not import scikit-learn.
    from sklearn.metrics import roc_auc_score

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
    note = test_split_note(evidence)
    if test.rows.empty:
        return [production, Criterion("roc_auc_loss_test", None, policy.max_test_auc_loss, True, note)]
    loss = roc_auc_score(test.labels, test.champion_scores) - roc_auc_score(test.labels, test.challenger_scores)
    passed = loss <= policy.max_test_auc_loss
    return [production, Criterion("roc_auc_loss_test", _figure(loss), policy.max_test_auc_loss, passed, note)]


def brier_criterion(policy: PromotionPolicy, evidence: GateEvidence) -> Criterion:
    # Imported here: the code location imports this module, and scoring must not import scikit-learn.
    from sklearn.metrics import brier_score_loss

    test, note = evidence.test, test_split_note(evidence)
    if test.rows.empty:
        return Criterion("brier_loss_test", None, policy.max_brier_loss, True, note)
    loss = brier_score_loss(test.labels, test.challenger_scores) - brier_score_loss(test.labels, test.champion_scores)
    return Criterion("brier_loss_test", _figure(loss), policy.max_brier_loss, loss <= policy.max_brier_loss, note)


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
    if not judged:
        why = "skipped: no held-out test split and no labelled production rows yet"
        return Criterion("adverse_impact_ratio", None, FOUR_FIFTHS, True, why)
    groups = pd.concat([segment.groups(each.rows) for each in judged], ignore_index=True)
    champion = adverse_impact_ratio(np.concatenate([each.champion_predicted for each in judged]), groups)
    challenger = adverse_impact_ratio(np.concatenate([each.challenger_predicted for each in judged]), groups)
    passed = four_fifths_passes(challenger, champion)
    note = f"across {segment.column}; champion {'n/a' if champion is None else f'{champion:.4f}'}"
    if evidence.test_split != CHAMPION_SPLIT:  # say which rows, when they are not the usual ones
        named = zip((evidence.test_split, "the production holdout"), (evidence.test, evidence.holdout), strict=True)
        note += f"; on {' and '.join(name for name, each in named if not each.rows.empty)}"
        note += "" if evidence.test_split else " alone (the champion has no held-out test split: a brought-in model)"
    return Criterion("adverse_impact_ratio", _figure(challenger), FOUR_FIFTHS, passed, note)


def reason_codes_criterion(use_case: UseCase, challenger: LoadedModel) -> Criterion:
    """With reason codes, only a model served by its linear form may be promoted: scoring refuses others (exit 4)."""
    if use_case.reasons is None:
        return Criterion("reason_codes_explainable", None, 1.0, True, "skipped: the use case declares no reason codes")
    kind = challenger.serving.kind if challenger.serving is not None else "unknown"
    if kind == LINEAR_LOGISTIC:
        return Criterion("reason_codes_explainable", 1.0, 1.0, True)
    why = f"served as {kind!r}: reason codes need a linear serving form, so scoring would refuse it"
    return Criterion("reason_codes_explainable", 0.0, 1.0, False, why)


def gate_criteria(use_case: UseCase, evidence: GateEvidence) -> tuple[Criterion, ...]:
    policy = use_case.promotion
    return (
        *auc_criteria(policy, evidence),
        brier_criterion(policy, evidence),
        flip_criterion(policy, evidence),
        adverse_impact_criterion(use_case, evidence),
        reason_codes_criterion(use_case, evidence.challenger),
    )


def judge_challenger(
    use_case: UseCase, root: Path, own: UseCaseFolders, challenger_test_rows: pd.DataFrame | None = None
) -> GateVerdict:
    """Judge the challenger against the champion, record the verdict on it and write the impact report.

    ``challenger_test_rows``: the rows the challenger's training held out, judged on when the
    champion has no held-out test split of its own.
    """
    evidence = gather_evidence(use_case, root, own, challenger_test_rows)
    verdict = GateVerdict(evidence.challenger.md5, gate_criteria(use_case, evidence))
    report = write_model_change_report(own.model_change_report(verdict.challenger_md5), use_case, evidence, verdict)
    record_gate_verdict(use_case, root, verdict.challenger_md5, verdict.passed, verdict.as_record()["criteria"])
    return replace(verdict, report=report)
