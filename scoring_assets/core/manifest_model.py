"""The manifest of a scored file as one typed, frozen structure with one serializer.

``Manifest.as_dict()`` (and ``to_json()``) writes exactly the JSON every version so far has
written beside a scored file (``<scored>.manifest.json``: same keys, same nesting, keys sorted);
``Manifest.from_dict`` reads it back, from this version or an earlier one: a field added since
the first manifests takes its default (noted on the field), and a key it does not know is
ignored. Everything else in the package reads a manifest through these attributes, never by
its JSON keys, so a field is named in one place.

``RunLineage`` is what a manifest says before the scored file exists (the input, the rejects,
the model, the decision rule and what scoring found); ``Manifest`` adds the file as published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Self


def _plain(value: Any) -> Any:
    """A part of the manifest as JSON values: a part as it writes itself (by its fields in order), a pair as a list."""
    if isinstance(value, _Part):
        return value.as_dict()
    if is_dataclass(value):
        return {field.name: _plain(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, Mapping):
        return {name: _plain(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class _Part:
    """A part of the manifest: written by its fields, read back from them (defaults for those it lacks)."""

    def as_dict(self) -> dict[str, Any]:
        return {field.name: _plain(getattr(self, field.name)) for field in fields(self)}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], **parts: Any) -> Self:
        """``cls`` from its JSON object; ``parts``: the fields that are parts themselves, already read."""
        written = {field.name: document[field.name] for field in fields(cls) if field.name in document}
        return cls(**{**written, **parts})


def figures(part: _Part | None) -> dict[str, Any]:
    """A part's figures by name, in order; none for a part the manifest does not have (no labels, no drift)."""
    return part.as_dict() if part is not None else {}


def _optional(part: type[_Part], document: Mapping[str, Any] | None) -> Any:
    return None if document is None else part.from_dict(document)


@dataclass(frozen=True, kw_only=True)
class InputFile(_Part):
    """The input file as parsed: also the ``raw_batch`` stage summary."""

    path: str
    sha256: str
    bytes: int
    rows: int  # data rows parsed (rows with more or fewer fields than the header not included)


@dataclass(frozen=True, kw_only=True)
class RejectedRows(_Part):
    path: str | None  # the reject report; None when no row was rejected
    rows: int
    counts_by_rule: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class ServingUsed(_Part):
    """What computed the scores (``core.serving``): the model's linear form or its Pipeline, and how close they are."""

    kind: str  # "linear_logistic", or "pipeline": the unpickled scikit-learn Pipeline itself
    md5: str  # of the serving artifact: serving.json, or the pickle for kind "pipeline"
    max_abs_diff: float  # largest difference to predict_proba measured on the held-out split when it was built
    tolerance: float  # the bound training proved max_abs_diff within (0 for the Pipeline itself)


@dataclass(frozen=True, kw_only=True)
class ModelUsed(_Part):
    use_case: str | None = None  # written since use cases were declared (2026-11-23)
    version: str
    md5: str
    path: str
    serving: ServingUsed | None = None  # written since models have a serving form (2026-12); absent before

    def as_dict(self) -> dict[str, Any]:
        written = super().as_dict()
        if self.serving is None:  # an earlier manifest writes back exactly as it was written
            del written["serving"]
        return written

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], **parts: Any) -> Self:
        return super().from_dict(document, serving=_optional(ServingUsed, document.get("serving")), **parts)


@dataclass(frozen=True, kw_only=True)
class ScoreDistribution(_Part):
    """The scores' mean and quantiles, and the share predicted positive (a file with no rows has none)."""

    mean: float
    p05: float
    p25: float
    median: float
    p75: float
    p95: float
    share_at_or_above_threshold: float


@dataclass(frozen=True, kw_only=True)
class Backtest(_Part):
    """Model quality on the file's own labels, when it has usable ones."""

    rows_with_label: int
    roc_auc: float
    precision: float
    recall: float
    observed_positive_rate: float


@dataclass(frozen=True, kw_only=True)
class EstimatedPerformance(_Part):
    """Precision and recall at the threshold expected from the (calibrated) scores alone."""

    expected_precision: float
    expected_recall: float
    expected_positive_rate: float


@dataclass(frozen=True, kw_only=True)
class FeatureDriftFigures(_Part):
    psi: float
    level: str  # core.drift.DRIFT_LEVELS
    missing_share: float


@dataclass(frozen=True, kw_only=True)
class ScoreDriftFigures(_Part):
    psi: float
    level: str
    share_at_or_above_threshold: float
    reference_share_at_or_above_threshold: float
    mean: float | None  # None when the file has no rows
    reference_mean: float | None


@dataclass(frozen=True, kw_only=True)
class DriftThresholdFigures(_Part):
    """The PSI levels the file was judged by: (warn, alert) for every input, and per input where set."""

    warn: float
    alert: float
    per_feature: dict[str, tuple[float, float]]

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], **parts: Any) -> Self:
        per_feature = {name: (warn, alert) for name, (warn, alert) in document["per_feature"].items()}
        return super().from_dict(document, per_feature=per_feature, **parts)


@dataclass(frozen=True, kw_only=True)
class DriftFigures(_Part):
    """The file's drift from the training reference: every model input (in the use case's order) and the score."""

    reference_md5: str | None
    rows: int
    features: dict[str, FeatureDriftFigures]
    score: ScoreDriftFigures
    input_level: str  # the worst level of any input
    report_path: str | None
    thresholds: DriftThresholdFigures

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], **parts: Any) -> Self:
        return super().from_dict(
            document,
            features={name: FeatureDriftFigures.from_dict(each) for name, each in document["features"].items()},
            score=ScoreDriftFigures.from_dict(document["score"]),
            thresholds=DriftThresholdFigures.from_dict(document["thresholds"]),
            **parts,
        )


@dataclass(frozen=True, kw_only=True)
class ReasonsUsed(_Part):
    """The reason codes written beside the scores (``core.reason_codes``): which dictionary, which explainer."""

    version: str  # the use case's reason dictionary version (a hash of its texts, maximum and exclusions)
    explainer: str  # "linear_exact": exact contributions of the model's linear form
    max_reasons: int
    rows_only_never_reasons: (
        int  # rows predicted positive given only_never_text: their only reasons are excluded inputs
    )


@dataclass(frozen=True, kw_only=True)
class ScoredOutput(_Part):
    path: str
    sha256: str  # of the file as written (spreadsheet-safe), so as people receive it
    rows: int
    cells_neutralised: int = 0  # written since formula-like cells are neutralised (2026-11-23)


@dataclass(frozen=True, kw_only=True)
class RunLineage(_Part):
    """Everything a manifest says before the scored file exists: which file, run, model and rule, and what was found."""

    partition_key: str
    run_id: str
    scores_run_id: str  # the run that wrote the scored file: the same step writes it and its manifest
    input: InputFile
    rejected: RejectedRows
    model: ModelUsed
    threshold: float
    threshold_source: str  # "model card", or "run config" when the run chose its own
    scoring_timestamp: str  # UTC, ISO 8601 to the millisecond, as in every scored row
    score_column: str | None = None  # written since use cases were declared (2026-11-23)
    score_summary: ScoreDistribution | None  # written as {} for a file with no rows
    backtest: Backtest | None
    estimated_performance: EstimatedPerformance | None = None  # written since drift is measured (2026-11-23)
    drift: DriftFigures | None = None  # None: the model has no reference profile (or predates drift)
    reasons: ReasonsUsed | None = None  # written since reason codes (2026-12), for a use case that declares them

    def as_dict(self) -> dict[str, Any]:
        written = {**super().as_dict(), "score_summary": figures(self.score_summary)}
        if self.reasons is None:  # no reason columns: the manifest reads as before reason codes existed
            del written["reasons"]
        return written


@dataclass(frozen=True, kw_only=True)
class CodeCheckoutUsed(_Part):
    """The git commit the code ran from and whether the checkout had changes of its own (``core.provenance``)."""

    git_commit: str
    dirty: bool


@dataclass(frozen=True, kw_only=True)
class EnvironmentUsed(_Part):
    """The installed packages: sha256 of their sorted ``name==version`` list, and where that list is kept."""

    sha256: str
    packages_file: str | None


@dataclass(frozen=True, kw_only=True)
class Provenance(_Part):
    """What besides the model decided the scores: the code, the packages and the input contract's version."""

    code_checkout: CodeCheckoutUsed | None  # None: the package did not run from a git checkout of its own
    environment: EnvironmentUsed
    contract_version: str  # sha256 of the contract's declaration (core.provenance.contract_version)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], **parts: Any) -> Self:
        return super().from_dict(
            document,
            code_checkout=_optional(CodeCheckoutUsed, document.get("code_checkout")),
            environment=EnvironmentUsed.from_dict(document["environment"]),
            **parts,
        )


@dataclass(frozen=True, kw_only=True)
class Manifest(RunLineage):
    """A scored file's manifest: its lineage, the file as published and what it replaced, and the code."""

    output: ScoredOutput
    previous_output_archived_to: str | None = None  # written since earlier results are archived (2026-11-22)
    code_version: str  # the package version, and the git commit when run from a checkout
    # Both written since evidence bundles (2026-12); absent before, and then not written back.
    provenance: Provenance | None = None
    published_sha256: dict[str, str] | None = None  # the drift and reject reports' sha256, by role, as published

    @classmethod
    def published(cls, lineage: RunLineage, output: ScoredOutput, archived_to: str | None, **written: Any) -> Self:
        """The manifest of a file published with ``lineage``; ``written``: ``code_version`` and the later fields."""
        known = {field.name: getattr(lineage, field.name) for field in fields(RunLineage)}
        return cls(**known, output=output, previous_output_archived_to=archived_to, **written)

    def as_dict(self) -> dict[str, Any]:
        written = super().as_dict()
        for name in ("provenance", "published_sha256"):
            if written[name] is None:  # an earlier manifest writes back exactly as it was written
                del written[name]
        return written

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], **parts: Any) -> Self:
        """A manifest as this or an earlier version wrote it; ``ValueError`` if ``document`` is not one."""
        try:
            return super().from_dict(
                document,
                input=InputFile.from_dict(document["input"]),
                rejected=RejectedRows.from_dict(document["rejected"]),
                model=ModelUsed.from_dict(document["model"]),
                score_summary=_optional(ScoreDistribution, document["score_summary"] or None),
                backtest=_optional(Backtest, document["backtest"]),
                estimated_performance=_optional(EstimatedPerformance, document.get("estimated_performance")),
                drift=_optional(DriftFigures, document.get("drift")),
                reasons=_optional(ReasonsUsed, document.get("reasons")),
                output=ScoredOutput.from_dict(document["output"]),
                provenance=_optional(Provenance, document.get("provenance")),
                **parts,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as error:  # a part missing, or not an object
            raise ValueError(f"not a scoring manifest: {type(error).__name__}: {error}") from None

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))

    def to_json(self) -> str:
        """The manifest file's text: indented, keys sorted, one final newline."""
        return json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n"
