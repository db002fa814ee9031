"""The model change impact report: what replacing the champion by the challenger would change, on one offline page.

Built by the promotion gate (``core.promotion_gate``) from its evidence: ROC and calibration curves
of both models on the held-out test split the gate judged on (the champion's, else the
challenger's; none: no curves), decisions that would flip (by segment and by
score band) on the latest scored files (else the test split), the score PSI champion -> challenger,
and the gate's criteria with its verdict. Inline SVG and CSS only (``templates/base.html.j2``), no
timestamp: the same evidence renders the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring_assets.core.drift import SCORE_BANDS, score_band_counts, score_shift_psi
from scoring_assets.core.reports.charts import Curve
from scoring_assets.core.reports.evaluation import calibration_chart, roc_chart
from scoring_assets.core.reports.pages import Badge, Table, write_page
from scoring_assets.core.reports.palette import SERIES_COLOURS
from scoring_assets.core.use_case import UseCase

TEMPLATE = "model_change_report.html.j2"
CALIBRATION_BINS = 10


def write_model_change_report(path: Path, use_case: UseCase, evidence: Any, verdict: Any) -> Path:
    """Write the report for ``evidence`` (a ``promotion_gate.GateEvidence``) and its ``GateVerdict`` to ``path``."""
    flips_on = evidence.recent if not evidence.recent.rows.empty else evidence.test
    test = evidence.test if not evidence.test.rows.empty else None
    return write_page(
        path,
        TEMPLATE,
        use_case=use_case,
        champion=evidence.champion.version,
        challenger=evidence.challenger.version,
        passed=verdict.passed,
        verdict=Badge("ok" if verdict.passed else "alert", "passed" if verdict.passed else "refused"),
        test_split=evidence.test_split,
        roc=_roc(test) if test else None,
        calibration=_calibration(use_case, test) if test else None,
        flips_source="the latest scored files"
        if flips_on is evidence.recent
        else f"{evidence.test_split or 'no rows'} (no scored file yet)",
        flip_rows=len(flips_on.rows),
        flip_share=float(flips_on.flipped.mean()) if len(flips_on.rows) else 0.0,
        flips_by_segment=_flips_by_segment(use_case, flips_on),
        flips_by_band=_flips_by_band(flips_on),
        score_psi=_score_psi(flips_on),
        criteria=_criteria_table(verdict),
    )


def _roc(test: Any):
    # Imported here: the code location imports this module, and scoring must not import scikit-learn.
    from sklearn.metrics import roc_curve

    curves = []
    for index, (name, scores) in enumerate(
        (("champion", test.champion_scores), ("challenger", test.challenger_scores))
    ):
        false_positive_rate, true_positive_rate, _ = roc_curve(test.labels, scores)
        curves.append(Curve(name, false_positive_rate, true_positive_rate, SERIES_COLOURS[index]))
    return roc_chart("ROC curves (test split)", curves)


def _calibration(use_case: UseCase, test: Any):
    # Imported here: the code location imports this module, and scoring must not import scikit-learn.
    from sklearn.calibration import calibration_curve

    curves = []
    for index, (name, scores) in enumerate(
        (("champion", test.champion_scores), ("challenger", test.challenger_scores))
    ):
        observed, predicted = calibration_curve(test.labels, scores, n_bins=CALIBRATION_BINS)
        curves.append(Curve(name, predicted, observed, SERIES_COLOURS[index], markers=True))
    return calibration_chart("Calibration (test split)", curves, use_case.label)


def _flip_rows(groups: pd.Series, decisions: Any) -> list[tuple[str, str, str, str]]:
    frame = pd.DataFrame({"group": groups.to_numpy(), "flipped": decisions.flipped})
    frame["to_positive"] = decisions.flipped & (decisions.challenger_predicted == 1)
    summary = frame.groupby("group", sort=True).agg(
        rows=("flipped", "size"), flipped=("flipped", "sum"), to_positive=("to_positive", "sum")
    )
    return [
        (
            str(group),
            f"{int(row.rows):,}",
            f"{int(row.flipped):,} ({row.flipped / row.rows:.1%})",
            f"{int(row.to_positive):,}",
        )
        for group, row in summary.iterrows()
    ]


def _flips_by_segment(use_case: UseCase, decisions: Any) -> Table | None:
    segment = use_case.promotion.segment
    if segment is None or decisions.rows.empty:
        return None
    columns = (f"segment ({segment.column})", "rows", "flipped", "flipped to positive")
    return Table(
        columns, _flip_rows(segment.groups(decisions.rows).reset_index(drop=True), decisions), frozenset({1, 2, 3})
    )


def _flips_by_band(decisions: Any) -> Table:
    band = np.clip(np.digitize(decisions.champion_scores, SCORE_BANDS[1:-1]), 0, len(SCORE_BANDS) - 2)
    names = pd.Series([f"{SCORE_BANDS[each]:.1f}-{SCORE_BANDS[each + 1]:.1f}" for each in band], dtype=object)
    return Table(
        ("champion score band", "rows", "flipped", "flipped to positive"),
        _flip_rows(names, decisions),
        frozenset({1, 2, 3}),
    )


def _score_psi(decisions: Any) -> float:
    """PSI of the challenger's scores against the champion's, on ten equal score bands."""
    if decisions.rows.empty:
        return 0.0
    return score_shift_psi(score_band_counts(decisions.champion_scores), score_band_counts(decisions.challenger_scores))


def _criteria_table(verdict: Any) -> Table:
    rows = [
        (
            criterion.name,
            "-" if criterion.value is None else f"{criterion.value:.4f}",
            f"{criterion.threshold:g}",
            Badge("ok" if criterion.passed else "alert", "passed" if criterion.passed else "failed"),
            criterion.note or None,
        )
        for criterion in verdict.criteria
    ]
    return Table(("criterion", "figure", "threshold", "verdict", "note"), rows, frozenset({1, 2}))
