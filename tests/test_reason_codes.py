"""Reason codes are exact for a linear model, never name an excluded input, and are refused without an explainer.

The generic properties are proved on every registered use case that declares reasons and is
served by its linear form; the acceptance figures on the real extracts when they are present.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.features import build_features
from scoring_assets.core.model_store import loaded
from scoring_assets.core.reason_check import judge_reasons
from scoring_assets.core.reason_codes import (
    BLANK,
    LinearContributions,
    ReasonsUnavailable,
    reason_coder,
    reason_columns,
    require_explainer,
)
from scoring_assets.core.scoring import scored_columns, scores_schema
from scoring_assets.core.serving import LINEAR_LOGISTIC, PIPELINE, ServingArtifact
from scoring_assets.core.use_case import Reasons, UseCase
from scoring_assets.training.serving_export import reason_reference
from scoring_assets.use_cases import use_case as declared_use_case
from scoring_assets.use_cases.credit_risk.features import MONTHLY_AMOUNT
from tests.support.batches import CREDIT_RISK, REAL_EXTRACTS, TELCO, USE_CASE_NAMES, valid_rows, write_csv
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file

EXIT_OK, EXIT_MODEL = 0, 4
DECLINED_SAMPLE = 50


@pytest.fixture(params=USE_CASE_NAMES)
def explained(request):
    """A registered use case declaring reasons, its verified model served by its linear form, and some valid rows."""
    use_case = declared_use_case(request.param)
    artifact = built_model(use_case)
    if use_case.reasons is None or artifact.serving.kind != LINEAR_LOGISTIC:
        pytest.skip(f"{use_case.name}: no reasons declared, or its model has no linear form")
    accepted = validate_frame(use_case, valid_rows(use_case, 3_000, seed=21).rename(columns=str.strip)).accepted
    return use_case, artifact, build_features(use_case.features, accepted)


def positive_log_odds(artifact, features: pd.DataFrame) -> np.ndarray:
    """The positive class's log-odds from the Pipeline itself (scikit-learn's decision function), not the form."""
    pipeline = loaded(artifact).pipeline
    decision = pipeline.decision_function(features)
    return decision if list(pipeline.classes_).index(artifact.positive_class) == 1 else -decision


def test_contributions_plus_the_reference_equal_the_models_decision_function(explained):
    use_case, artifact, features = explained
    explainer = LinearContributions(artifact.serving.linear)

    contributions = explainer.contributions(features)

    assert contributions.shape == (len(features), len(use_case.features.columns))
    np.testing.assert_allclose(
        contributions.sum(axis=1) + explainer.reference_log_odds, positive_log_odds(artifact, features), atol=1e-9
    )


def at_reference_but(explainer: LinearContributions, row: pd.DataFrame, kept: tuple[str, ...] = ()) -> pd.DataFrame:
    """``row`` with every input but ``kept`` moved to its reference value."""
    for name in explainer.inputs:
        if name not in kept:
            row = explainer.at_reference(row, np.array([name] * len(row), dtype=object))
    return row


def test_a_row_at_the_reference_point_has_no_contribution_and_every_row_predicted_positive_has_a_positive_one(
    explained,
):
    use_case, artifact, features = explained
    explainer = LinearContributions(artifact.serving.linear)
    assert np.all(explainer.contributions(at_reference_but(explainer, features.head(3))) == 0.0)

    declined = artifact.serving.linear.positive_scores(features) >= artifact.threshold
    assert declined.any()
    assert (explainer.contributions(features[declined]) > 0).any(axis=1).all()


def test_reasons_are_the_largest_positive_contributions_largest_first_never_an_excluded_input(explained):
    use_case, artifact, features = explained
    reasons = use_case.reasons
    coder = reason_coder(use_case, artifact)
    score = artifact.serving.linear.positive_scores(features)
    columns, _ = coder.code(features, (score >= artifact.threshold).astype("int8"))
    texts = np.column_stack([column.to_numpy(zero_copy_only=False) for column in columns])
    contributions = coder.explainer.contributions(features)
    position = {reasons.texts[name]: i for i, name in enumerate(coder.explainer.inputs) if name in reasons.texts}

    for row in range(0, len(features), 97):
        allowed = [
            (value, i)
            for i, (name, value) in enumerate(zip(coder.explainer.inputs, contributions[row], strict=True))
            if value > 0 and name not in reasons.never_reasons
        ]
        expected = [reasons.texts[coder.explainer.inputs[i]] for _, i in sorted(allowed, key=lambda p: (-p[0], p[1]))]
        expected = (expected + [BLANK] * reasons.max_reasons)[: reasons.max_reasons]
        assert list(texts[row]) == expected
        values = [contributions[row, position[text]] for text in texts[row] if text in position]
        assert values == sorted(values, reverse=True)


def test_a_declined_row_whose_only_reasons_are_excluded_inputs_gets_the_declared_text_and_is_counted():
    declared = [declared_use_case(name) for name in USE_CASE_NAMES]
    with_exclusions = [each for each in declared if each.reasons is not None and each.reasons.never_reasons]
    if not with_exclusions:
        pytest.skip("no registered use case excludes an input from its reasons")
    use_case = with_exclusions[0]
    coder = reason_coder(use_case, built_model(use_case))
    excluded = use_case.reasons.never_reasons[0]
    rows = build_features(
        use_case.features,
        validate_frame(use_case, valid_rows(use_case, 200, seed=3).rename(columns=str.strip)).accepted,
    )
    pushes_up = coder.explainer.contributions(rows)[:, coder.explainer.inputs.index(excluded)] > 0
    assert pushes_up.any(), f"no row where {excluded} raises the score"
    only_excluded = at_reference_but(coder.explainer, rows[pushes_up].head(1), kept=(excluded,))

    columns, only_never = coder.code(only_excluded, np.array([1], dtype="int8"))

    blanks = [BLANK] * (use_case.reasons.max_reasons - 1)
    assert [column[0].as_py() for column in columns] == [use_case.reasons.only_never_text, *blanks]
    assert only_never == 1
    assert coder.code(only_excluded, np.array([0], dtype="int8"))[1] == 0  # not predicted positive: no reason owed


def test_the_reference_is_the_most_favourable_value_seen_in_training_or_the_typical_one_where_declared(explained):
    use_case, artifact, features = explained
    form = artifact.serving.linear
    numeric, categorical = next(iter(form.numeric)), next(iter(form.categorical))
    sign = 1.0 if form.positive_is_second else -1.0

    favourable = reason_reference(form, features, None)
    typical = reason_reference(form, features, replace(use_case.reasons, typical_reference=(numeric, categorical)))

    values = features[numeric].to_numpy(dtype="float64")
    lowest = min((values.min(), values.max()), key=lambda value: sign * form.numeric[numeric] * value)
    assert favourable.numeric[numeric] == lowest and favourable.typical == ()
    levels, weights = form.categorical[categorical]
    seen = [level for level in levels if (features[categorical] == level).any()]
    assert favourable.categorical[categorical] == min(seen, key=lambda level: sign * weights[levels.index(level)])
    assert typical.numeric[numeric] == pytest.approx(values.mean())
    assert typical.categorical[categorical] == features[categorical].value_counts().idxmax()
    assert typical.typical == (numeric, categorical)


def test_a_model_served_as_its_pipeline_is_refused_reason_codes_when_loaded(explained):
    use_case, artifact, _ = explained
    as_pipeline = replace(artifact, serving=ServingArtifact(PIPELINE, artifact.path, artifact.md5))

    with pytest.raises(ReasonsUnavailable, match=r"served as 'pipeline'.*no exact explainer"):
        require_explainer(use_case, as_pipeline)
    without_reference = replace(
        artifact, serving=replace(artifact.serving, linear=replace(artifact.serving.linear, reference=None))
    )
    with pytest.raises(ReasonsUnavailable, match="no reason reference"):
        require_explainer(use_case, without_reference)


def test_reasons_that_do_not_fit_the_model_inputs_are_refused_when_the_use_case_is_declared():
    inputs = list(CREDIT_RISK.features.columns)
    texts = {name: f"text {name}" for name in inputs}
    with pytest.raises(ValueError, match="has no reason text"):
        replace(CREDIT_RISK, reasons=Reasons({name: text for name, text in texts.items() if name != inputs[0]}))
    with pytest.raises(ValueError, match="not a model input"):
        replace(CREDIT_RISK, reasons=Reasons({**texts, "not_an_input": "x"}))
    with pytest.raises(ValueError, match="must differ"):
        Reasons({inputs[0]: "same", inputs[1]: "same"})
    assert Reasons(texts).version != Reasons(texts, max_reasons=2).version


@pytest.mark.usefixtures("model_artifact")
def test_the_scores_check_judges_stored_reasons_and_catches_a_first_reason_that_does_not_push_the_score_up(
    instance, folders, tmp_path
):
    use_case = TELCO
    source = write_csv(valid_rows(use_case, 800, seed=4), tmp_path / "batch.csv")
    registration, result = score_file(instance, folders, source, use_case=use_case)
    assert result.success
    own, key = folders.of(use_case.name), registration.partition_key
    model = built_model(use_case)
    scores_path, features_path = own.lake_file("scores", key), own.lake_file("feature_matrix", key)
    verdict = judge_reasons(use_case, model, scores_path, features_path)
    assert verdict.passed and verdict.sampled == 200
    # written from dictionary arrays, read back as the plain text columns its schema declares
    assert pq.read_schema(scores_path).equals(scores_schema(use_case, name_inputs=use_case.reasons.name_inputs))

    scores = pd.read_parquet(scores_path)
    explainer = LinearContributions(model.serving.linear)
    features = pd.read_parquet(features_path)
    contributions = explainer.contributions(build_features_frame(use_case, features))
    lowest = np.array(explainer.inputs, dtype=object)[
        contributions.argmin(axis=1)
    ]  # pushes the score down, or not at all
    assert (contributions.min(axis=1) <= 0.0).all()
    scores["reason_1"] = [use_case.reasons.texts[name] for name in lowest]
    scores.to_parquet(scores_path, index=False)

    wrong = judge_reasons(use_case, model, scores_path, features_path)
    assert not wrong.passed and wrong.sample_not_lowered == wrong.sampled == 200


def build_features_frame(use_case: UseCase, stored: pd.DataFrame) -> pd.DataFrame:
    """The feature matrix file's coded categories as the categoricals ``build_features`` makes."""
    frame = stored[use_case.features.columns].copy()
    for name, levels in use_case.features.categorical.items():
        frame[name] = pd.Categorical.from_codes(frame[name].to_numpy(), categories=list(levels))
    return frame


@pytest.mark.skipif(not REAL_EXTRACTS["credit_risk"].exists(), reason=f"{REAL_EXTRACTS['credit_risk']} is not present")
def test_real_german_credit_is_scored_in_full_with_four_reasons_and_every_declined_row_has_one(workspace):
    result = workspace.run("score", str(REAL_EXTRACTS["credit_risk"]), "--output", "credit.csv", "--reason-inputs")

    assert result.returncode == EXIT_OK, result.stderr
    scored = pd.read_csv(workspace.cwd / "credit.csv", dtype=str, keep_default_na=False)
    reasons = reason_columns(CREDIT_RISK.reasons)
    assert reasons == ["reason_1", "reason_2", "reason_3", "reason_4"]
    assert list(scored.columns) == [*scored_columns(CREDIT_RISK), *reason_columns(CREDIT_RISK.reasons, True)[4:]]
    assert list(scored.columns[:9]) == [
        "row_number", "risk_score", "predicted_label", "model_version", "scoring_timestamp", *reasons
    ]  # fmt: skip
    assert len(scored) == 1000
    declined = scored[scored["predicted_label"] == "1"]
    assert len(declined) > 0 and (declined["reason_1"] != BLANK).all()
    given = set(scored[reasons].to_numpy().ravel()) - {BLANK}
    assert given <= {*CREDIT_RISK.reasons.texts.values(), CREDIT_RISK.reasons.only_never_text}
    named = set(scored[[f"{name}_input" for name in reasons]].to_numpy().ravel())
    assert not named & set(CREDIT_RISK.reasons.never_reasons)
    assert named - {BLANK} <= set(CREDIT_RISK.contract_columns)
    assert CREDIT_RISK.reasons.contract_columns_of(MONTHLY_AMOUNT) == "credit_amount,duration"  # engineered input
    manifest = json.loads((workspace.cwd / "credit.manifest.json").read_text())
    assert manifest["reasons"] == {
        "version": CREDIT_RISK.reasons.version,
        "explainer": "linear_exact",
        "max_reasons": 4,
        "rows_only_never_reasons": int((scored["reason_1"] == CREDIT_RISK.reasons.only_never_text).sum()),
    }


@pytest.mark.skipif(not REAL_EXTRACTS["credit_risk"].exists(), reason=f"{REAL_EXTRACTS['credit_risk']} is not present")
def test_moving_the_first_reason_of_declined_german_credit_rows_to_its_reference_lowers_each_score():
    use_case, artifact = CREDIT_RISK, built_model(CREDIT_RISK)
    accepted = validate_frame(use_case, read_csv_frame(REAL_EXTRACTS["credit_risk"], use_case)).accepted
    features = build_features(use_case.features, accepted).reset_index(drop=True)
    score = artifact.serving.linear.positive_scores(features)
    coder = reason_coder(use_case, artifact)
    [first, *_], _ = coder.code(features, (score >= artifact.threshold).astype("int8"))
    first = first.to_numpy(zero_copy_only=False)
    inputs_by_text = {text: name for name, text in use_case.reasons.texts.items()}
    declined = np.flatnonzero((score >= artifact.threshold) & np.isin(first, list(inputs_by_text)))[:DECLINED_SAMPLE]
    assert len(declined) == DECLINED_SAMPLE

    names = np.array([inputs_by_text[text] for text in first[declined]], dtype=object)
    moved = coder.explainer.at_reference(features.iloc[declined].reset_index(drop=True), names)

    assert (artifact.serving.linear.positive_scores(moved) < score[declined]).all()


@pytest.mark.skipif(not REAL_EXTRACTS["telco_churn"].exists(), reason=f"{REAL_EXTRACTS['telco_churn']} is not present")
def test_real_telco_is_scored_in_full_with_three_reasons(workspace):
    result = workspace.run("score", str(REAL_EXTRACTS["telco_churn"]), "--output", "telco.csv")

    assert result.returncode == EXIT_OK, result.stderr
    scored = pd.read_csv(workspace.cwd / "telco.csv", dtype=str, keep_default_na=False)
    assert list(scored.columns) == scored_columns(TELCO)
    assert scored_columns(TELCO)[-3:] == ["reason_1", "reason_2", "reason_3"]
    assert len(scored) == 7043
    assert (scored.loc[scored["predicted_label"] == "1", "reason_1"] != BLANK).all()
