"""How far a scored file is from the model's world: PSI per model input and for the score.

At training time ``build_reference_profile`` freezes what the training rows and the held-out
scores looked like (``data/models/<use case>/reference_profile.json``, a DVC output verified
with the model). Scoring feeds every batch of a file to a ``DriftAccumulator``, which keeps
bin counts only (memory grows with the number of bins, never with the rows); ``result()``
compares them to the reference.

Binning, the same for the reference and every batch:
- numeric inputs and the score: the inner bin edges are the unique deciles of the training
  values (of the held-out scores for the score), rounded to 6 decimals (whole numbers for a
  whole-number input), none at the largest value; the outer bins are open. A value goes to bin
  ``np.searchsorted(edges, value, side="left")``, so bins are closed
  on the right: ``<= e0``, ``(e0, e1]``, ..., ``> e_last``. Discrete inputs give fewer bins
  (their deciles repeat). Missing values (NaN) are a bin of their own.
- categorical inputs: one bin per declared level, in order; anything else (missing, or not a
  level) is the missing bin.

PSI (population stability index) = sum over bins of ``(b - r) * ln(b / r)``, with ``r`` the
reference and ``b`` the batch fraction of rows per bin, the missing bin included. An empty bin
would make it infinite, so both distributions are smoothed first: every fraction is floored at
``PSI_SMOOTHING`` (1e-4, one row in 10,000) and the fractions are renormalised to sum to 1.
Without drift, PSI is about ``(bins - 1) * (1 / batch rows + 1 / reference rows)`` from
sampling alone (about 0.004 for 11 bins and 3,000 rows): small files read noisier.

Levels: ``ok`` below ``warn``, ``warn`` from ``warn``, ``alert`` from ``alert``
(``UseCase.drift_thresholds``: rules of thumb 0.1 / 0.25 by default, per use case and per input).
Numpy only: see NOTES.md on why no monitoring library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from scoring_assets.core.use_case import DriftThresholds, UseCase

__all__ = [
    "DRIFT_LEVELS",
    "PSI_SMOOTHING",
    "PROFILE_VERSION",
    "DriftAccumulator",
    "DriftThresholds",
    "FeatureDrift",
    "FileDrift",
    "build_reference_profile",
    "SCORE_BANDS",
    "level",
    "psi",
    "score_band_counts",
    "score_shift_psi",
]

PROFILE_VERSION = 1
PSI_SMOOTHING = 1e-4  # floor of every bin's fraction before PSI, then renormalised (see the module docstring)
DRIFT_LEVELS = ("ok", "warn", "alert")  # in order of severity
SCORE = "score"  # the key of the score's thresholds in DriftThresholds.per_feature
DECILES = tuple(q / 10 for q in range(1, 10))
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
DIGITS = 6  # as the model card rounds: readable JSON that only changes when the data does
SCORE_BANDS = np.linspace(0.0, 1.0, 11)  # ten equal score bands: two models' scores on the same rows compared


# Reference, at training time
def build_reference_profile(
    use_case: UseCase,
    features: pd.DataFrame,
    heldout_scores: np.ndarray,
    threshold: float,
    positive_rate: float,
) -> dict[str, Any]:
    """What the training rows' model inputs and the held-out scores looked like: JSON-able, deterministic.

    ``features``: ``core.features.build_features`` of the training rows; ``heldout_scores``: the
    model's scores on the validation split; ``threshold``: the card's decision threshold;
    ``positive_rate``: the label's positive rate in training.
    """
    profile_features = {name: _numeric_profile(features[name]) for name in use_case.features.numeric}
    for name, levels in use_case.features.categorical.items():
        profile_features[name] = _categorical_profile(list(levels), features[name])
    scores = np.asarray(heldout_scores, dtype=np.float64)
    score_edges = _decile_edges(scores)
    score_counts = _numeric_counts(score_edges, scores)
    return {
        "version": PROFILE_VERSION,
        "use_case": use_case.name,
        "features": profile_features,
        "score": {
            "edges": score_edges.tolist(),
            "fractions": _rounded(score_counts[:-1] / max(len(scores), 1)),
            "share_at_or_above_threshold": _rounded(np.mean(scores >= threshold)) if len(scores) else 0.0,
            "mean": _rounded(scores.mean()) if len(scores) else None,
            "rows": len(scores),
        },
        "threshold": _rounded(threshold),
        "positive_rate": _rounded(positive_rate),
        "rows": len(features),
        "binning": (
            "numeric and score: inner edges = unique deciles of the reference values, outer bins open, "
            "bin = numpy.searchsorted(edges, value, side='left') (closed on the right); categorical: the declared "
            "levels in order; missing values (and non-levels) in a bin of their own"
        ),
        "psi_smoothing": PSI_SMOOTHING,
    }


def _numeric_profile(column: pd.Series) -> dict[str, Any]:
    values = column.to_numpy(dtype=np.float64)
    present = values[~np.isnan(values)]
    edges = _decile_edges(present)
    counts = _numeric_counts(edges, values)
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "fractions": _rounded(counts[:-1] / max(len(values), 1)),
        "missing_share": _rounded(counts[-1] / max(len(values), 1)),
        "mean": _rounded(present.mean()) if len(present) else None,
        "quantiles": {
            f"{q:g}": _rounded(v)
            for q, v in zip(QUANTILES, np.quantile(present, QUANTILES) if len(present) else [], strict=False)
        },
    }


def _categorical_profile(levels: list[str], column: pd.Series) -> dict[str, Any]:
    counts = _categorical_counts(levels, column)
    rows = max(int(counts.sum()), 1)
    return {
        "kind": "categorical",
        "levels": levels,
        "fractions": _rounded(counts[:-1] / rows),
        "missing_share": _rounded(counts[-1] / rows),
    }


def _decile_edges(values: np.ndarray) -> np.ndarray:
    """The unique deciles of ``values`` (NaN-free), rounded: the inner edges of the bins.

    Whole-number inputs (counts, integer codes) get whole-number edges, so a bin reads ``(6, 7]``,
    never ``(6, 7.3]``; no edge sits at the largest value, so the last bin (``> e_last``) holds it
    instead of always being empty in the reference.
    """
    if not len(values):
        return np.zeros(0, dtype=np.float64)
    edges = np.quantile(values, DECILES)
    if np.array_equal(values, np.round(values)):
        edges = np.floor(edges)
    edges = np.unique(np.round(edges, DIGITS))
    return edges[edges < values.max()]


def _numeric_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rows per bin: ``len(edges) + 1`` value bins, then the missing bin."""
    missing = np.isnan(values)
    bins = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1).astype(np.int64)
    return np.append(counts, int(missing.sum()))


def _categorical_counts(levels: list[str], values: pd.Series) -> np.ndarray:
    """Rows per declared level, in order, then the missing bin (blank, or not a level)."""
    if isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == levels:
        codes = values.cat.codes.to_numpy()
    else:
        codes = pd.Categorical(values, categories=levels).codes
    return np.bincount(np.asarray(codes, dtype=np.int64) + 1, minlength=len(levels) + 1)[
        np.r_[1 : len(levels) + 1, 0]
    ].astype(np.int64)


# PSI and levels
def psi(reference_fractions, batch_counts, smoothing: float = PSI_SMOOTHING) -> float:
    """Population stability index of a batch (rows per bin) against reference fractions (same bins).

    Both are normalised, floored at ``smoothing`` and renormalised (so an empty bin gives a large
    but finite term). A batch with no rows has nothing to compare: 0.
    """
    reference = np.asarray(reference_fractions, dtype=np.float64)
    counts = np.asarray(batch_counts, dtype=np.float64)
    if reference.shape != counts.shape:
        raise ValueError(f"{len(reference)} reference fractions but {len(counts)} batch counts")
    if counts.sum() <= 0:
        return 0.0
    expected, actual = _smoothed(reference, smoothing), _smoothed(counts, smoothing)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _smoothed(weights: np.ndarray, smoothing: float) -> np.ndarray:
    total = weights.sum()
    fractions = weights / total if total > 0 else np.full(len(weights), 1.0 / len(weights))
    floored = np.maximum(fractions, smoothing)
    return floored / floored.sum()


def score_band_counts(scores) -> np.ndarray:
    """Rows per ``SCORE_BANDS`` band (the last band includes 1.0); counts of batches add up to the file's."""
    return np.histogram(np.asarray(scores, dtype=np.float64), SCORE_BANDS)[0].astype(np.int64)


def score_shift_psi(champion_counts, challenger_counts) -> float:
    """PSI of a challenger's scores against the champion's on the same rows (``score_band_counts`` of each).

    The model change report's and shadow scoring's one figure; 0 when there are no rows.
    """
    champion = np.asarray(champion_counts, dtype=np.float64)
    if champion.sum() <= 0:
        return 0.0
    return psi(champion / champion.sum(), challenger_counts)


def level(psi_value: float, warn: float, alert: float) -> str:
    """``alert`` at or above ``alert``, ``warn`` at or above ``warn``, else ``ok``."""
    if psi_value >= alert:
        return "alert"
    if psi_value >= warn:
        return "warn"
    return "ok"


def worst_level(levels) -> str:
    return max(levels, key=DRIFT_LEVELS.index, default="ok")


# Per file
@dataclass(frozen=True)
class FeatureDrift:
    """One model input's (or the score's) drift in a file: its PSI, level and both distributions.

    ``labels``, ``batch_fractions`` and ``reference_fractions`` are aligned, one per value bin
    (fractions of all rows); the missing bin is ``missing_share`` / ``reference_missing_share``.
    """

    name: str
    kind: str  # numeric | categorical | score
    psi: float
    level: str
    warn: float
    alert: float
    rows: int
    labels: list[str]
    batch_fractions: list[float]
    reference_fractions: list[float]
    missing_share: float
    reference_missing_share: float
    batch_mean: float | None = None  # numeric inputs and the score
    ref_mean: float | None = None
    share_at_or_above_threshold: float | None = None  # the score only
    reference_share_at_or_above_threshold: float | None = None

    @property
    def batch_summary(self) -> str:
        """This file in a few words: the mean, or the most common level and its share."""
        return self._summary(self.batch_mean, self.batch_fractions, self.share_at_or_above_threshold)

    @property
    def reference_summary(self) -> str:
        """The training reference, the same way."""
        return self._summary(self.ref_mean, self.reference_fractions, self.reference_share_at_or_above_threshold)

    def _summary(self, mean: float | None, fractions: list[float], share_at_or_above: float | None) -> str:
        if self.kind == "categorical":
            if not fractions or max(fractions) <= 0:
                return "no rows"
            top = int(np.argmax(fractions))
            return f"{self.labels[top]} {fractions[top]:.1%}"
        if mean is None:
            return "no rows"
        text = f"mean {_number(mean)}"
        return text if share_at_or_above is None else f"{text}; {share_at_or_above:.1%} at or above the threshold"


@dataclass(frozen=True)
class FileDrift:
    """A scored file's drift: every model input (in the use case's order) and the score."""

    features: dict[str, FeatureDrift]
    score: FeatureDrift
    rows: int
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)

    @property
    def input_level(self) -> str:
        """The worst level of any model input."""
        return worst_level(feature.level for feature in self.features.values())

    def most_drifted(self, n: int = 6) -> list[tuple[str, float, str]]:
        """The ``n`` inputs with the highest PSI, highest first: (name, psi, level)."""
        ranked = sorted(self.features.values(), key=lambda feature: (-feature.psi, feature.name))
        return [(feature.name, feature.psi, feature.level) for feature in ranked[:n]]


class DriftAccumulator:
    """Bin counts of a file's model inputs and scores, batch by batch; ``result()`` compares them to the profile.

    ``add`` takes a batch as ``core.scoring.read_feature_frame`` returns it (numeric float64,
    categorical with the declared levels; other columns are ignored) and its scores. Memory is a
    few counters per bin, whatever the file's size. The share of scores at or above the threshold
    is measured at the profile's threshold (the card's), the one its reference share was measured at.
    """

    def __init__(self, use_case: UseCase, profile: Mapping[str, Any]):
        if profile.get("version") != PROFILE_VERSION:
            raise ValueError(f"reference profile version {profile.get('version')!r}, expected {PROFILE_VERSION}")
        self.use_case = use_case
        self.profile = profile
        self.thresholds = use_case.drift_thresholds
        missing = [name for name in use_case.features.columns if name not in profile["features"]]
        if missing:
            raise ValueError(f"the reference profile has no entry for the model inputs {missing}")
        self._numeric = {
            name: _NumericCounter(np.asarray(profile["features"][name]["edges"], dtype=np.float64))
            for name in use_case.features.numeric
        }
        self._levels = {name: list(profile["features"][name]["levels"]) for name in use_case.features.categorical}
        self._categorical = {name: np.zeros(len(levels) + 1, np.int64) for name, levels in self._levels.items()}
        self._score = _NumericCounter(np.asarray(profile["score"]["edges"], dtype=np.float64))
        self._threshold = float(profile["threshold"])
        self._at_or_above = 0
        self.rows = 0

    def add(self, features_frame: pd.DataFrame, scores: np.ndarray) -> None:
        scores = np.asarray(scores, dtype=np.float64)
        if len(scores) != len(features_frame):
            raise ValueError(f"{len(features_frame)} feature rows but {len(scores)} scores")
        self.rows += len(features_frame)
        for name, counter in self._numeric.items():
            counter.add(features_frame[name].to_numpy(dtype=np.float64))
        for name, levels in self._levels.items():
            self._categorical[name] += _categorical_counts(levels, features_frame[name])
        self._score.add(scores)
        self._at_or_above += int(np.count_nonzero(scores >= self._threshold))

    def result(self) -> FileDrift:
        features: dict[str, FeatureDrift] = {}
        for name in self.use_case.features.columns:
            reference = self.profile["features"][name]
            if name in self._numeric:
                counter = self._numeric[name]
                features[name] = self._drift(
                    name, "numeric", reference, counter.counts, _bin_labels(counter.edges), counter.mean()
                )
            else:
                features[name] = self._drift(
                    name, "categorical", reference, self._categorical[name], self._levels[name]
                )
        score_reference = {**self.profile["score"], "missing_share": 0.0}
        score = self._drift(
            SCORE,
            "score",
            score_reference,
            self._score.counts,
            _bin_labels(self._score.edges),
            self._score.mean(),
            share_at_or_above=self._at_or_above / self.rows if self.rows else 0.0,
        )
        return FileDrift(features=features, score=score, rows=self.rows, thresholds=self.thresholds)

    def _drift(
        self,
        name: str,
        kind: str,
        reference: Mapping[str, Any],
        counts: np.ndarray,
        labels: list[str],
        batch_mean: float | None = None,
        share_at_or_above: float | None = None,
    ) -> FeatureDrift:
        reference_fractions = [float(value) for value in reference["fractions"]]
        if len(reference_fractions) + 1 != len(counts):
            raise ValueError(
                f"{name}: the reference profile has {len(reference_fractions)} bins, the batch {len(counts) - 1}"
            )
        reference_missing = float(reference.get("missing_share", 0.0))
        value = psi([*reference_fractions, reference_missing], counts)
        warn, alert = self.thresholds.for_feature(name)
        rows = int(counts.sum())
        batch_fractions = (counts / rows).tolist() if rows else [0.0] * len(counts)
        return FeatureDrift(
            name=name,
            kind=kind,
            psi=value,
            level=level(value, warn, alert),
            warn=warn,
            alert=alert,
            rows=rows,
            labels=labels,
            batch_fractions=batch_fractions[:-1],
            reference_fractions=reference_fractions,
            missing_share=batch_fractions[-1],
            reference_missing_share=reference_missing,
            batch_mean=batch_mean,
            ref_mean=None if reference.get("mean") is None else float(reference["mean"]),
            share_at_or_above_threshold=share_at_or_above,
            reference_share_at_or_above_threshold=(
                float(reference["share_at_or_above_threshold"]) if kind == "score" else None
            ),
        )


class _NumericCounter:
    """Rows per frozen bin (then missing), and the sum and count of the present values for the mean."""

    def __init__(self, edges: np.ndarray):
        self.edges = edges
        self.counts = np.zeros(len(edges) + 2, dtype=np.int64)
        self.total = 0.0
        self.present = 0

    def add(self, values: np.ndarray) -> None:
        self.counts += _numeric_counts(self.edges, values)
        present = values[~np.isnan(values)]
        self.total += float(present.sum())
        self.present += len(present)

    def mean(self) -> float | None:
        return self.total / self.present if self.present else None


def _bin_labels(edges) -> list[str]:
    """``<= e0``, ``(e0, e1]``, ..., ``> e_last`` (one bin, ``all``, without edges)."""
    texts = [_number(edge) for edge in edges]
    if not texts:
        return ["all"]
    return [f"<= {texts[0]}", *(f"({low}, {high}]" for low, high in pairwise(texts)), f"> {texts[-1]}"]


def _number(value: float) -> str:
    return f"{value:.6g}"


def _rounded(values):
    """Plain-Python floats with 6 decimals (as ``training.train`` rounds the card)."""
    if np.ndim(values) == 0:
        return round(float(values), DIGITS)
    return [round(float(value), DIGITS) for value in values]
