"""Drift: PSI per model input and for the score against the reference profile frozen with the model.

The scenario tests score generated files with the real DVC-built models through the core
functions (contract, ``build_features``, ``predict_proba``), feed them to a ``DriftAccumulator``
in several batches as scoring does, and check the levels: a file drawn like the training data
(another seed) has no input and no score at ``alert``; a file whose mix is shifted is at
``alert`` on the shifted inputs and the score, and not on inputs the generator draws
independently of the shift.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.drift import (
    PSI_SMOOTHING,
    DriftAccumulator,
    DriftThresholds,
    FileDrift,
    build_reference_profile,
    level,
    psi,
)
from scoring_assets.core.features import build_features
from scoring_assets.core.files import file_md5
from scoring_assets.core.model_store import ModelIntegrityError, load_model, verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.reports.drift import write_drift_report
from scoring_assets.core.scoring import drift_figures, positive_class_index
from scoring_assets.core.serving import serving_path
from scoring_assets.core.use_case import FeatureSet, ModelSource, UseCase
from scoring_assets.use_cases.credit_risk.generate import generate_extract as generate_credit_applications
from scoring_assets.use_cases.telco_churn.generate import generate_extract as generate_customers
from tests.support.batches import CREDIT_RISK, TELCO, valid_rows

FILE_ROWS = 3_000
OTHER_SEED = 777  # neither training seed (params.yaml: 20240601, 20240602)
BATCH_ROWS = 1_000  # fed in batches, as scoring streams a file


def generated_rows(use_case: UseCase, n_rows: int, seed: int = OTHER_SEED) -> pd.DataFrame:
    """Unlabelled rows from a shipped use case's generator, typed as the generator makes them."""
    generate = {TELCO.name: generate_customers, CREDIT_RISK.name: generate_credit_applications}[use_case.name]
    return generate(n_rows, seed, labelled=False)


def column(rows: pd.DataFrame, name: str) -> pd.Series:
    """A column by its contract name (the credit generator spells two names with a leading space)."""
    return rows[[c for c in rows.columns if c.strip() == name][0]]


def file_drift(use_case: UseCase, rows: pd.DataFrame, tmp_path: Path, thresholds: DriftThresholds | None = None):
    """Write ``rows`` as a CSV, read, validate, build features and score them like scoring does; measure drift."""
    path = tmp_path / f"{use_case.name}.csv"
    rows.astype(str).to_csv(path, index=False)
    accepted = validate_frame(use_case, read_csv_frame(path, use_case)).accepted
    assert len(accepted) == len(rows)
    features = build_features(use_case.features, accepted)
    model = load_model(use_case)
    scores = model.pipeline.predict_proba(features)[:, positive_class_index(model)]
    if thresholds is not None:
        use_case = dataclasses.replace(use_case, drift_thresholds=thresholds)
    accumulator = DriftAccumulator(use_case, model.reference_profile)
    for start in range(0, len(features), BATCH_ROWS):
        accumulator.add(features.iloc[start : start + BATCH_ROWS], scores[start : start + BATCH_ROWS])
    return accumulator.result()


def shown(drift: FileDrift) -> str:
    """Every PSI, for assertion messages (and the figures quoted in docs/monitoring.md)."""
    return ", ".join(f"{name} {psi:.3f}" for name, psi, _ in drift.most_drifted(100)) + f"; score {drift.score.psi:.3f}"


@pytest.fixture(scope="module")
def telco_like_training(tmp_path_factory) -> FileDrift:
    return file_drift(TELCO, generated_rows(TELCO, FILE_ROWS), tmp_path_factory.mktemp("telco_ok"))


@pytest.fixture(scope="module")
def telco_fiber_month_to_month(tmp_path_factory) -> FileDrift:
    rows = generated_rows(TELCO, 20_000)
    shifted = rows[(rows["Contract"] == "Month-to-month") & (rows["InternetService"] == "Fiber optic")]
    assert len(shifted) >= FILE_ROWS
    return file_drift(TELCO, shifted.head(FILE_ROWS), tmp_path_factory.mktemp("telco_shifted"))


@pytest.fixture(scope="module")
def credit_overdrawn_long_terms(tmp_path_factory) -> FileDrift:
    """Only applicants with an overdrawn checking account asking for three years or more."""
    rows = generated_rows(CREDIT_RISK, 100_000)
    shifted = rows[(column(rows, "checking_status") == "<0") & (column(rows, "duration") >= 36)]
    assert len(shifted) >= FILE_ROWS
    return file_drift(CREDIT_RISK, shifted.head(FILE_ROWS), tmp_path_factory.mktemp("credit_shifted"))


# PSI and levels
def test_psi_is_zero_for_identical_distributions_and_grows_with_the_shift():
    reference = [0.25, 0.25, 0.25, 0.25]
    assert psi(reference, [250, 250, 250, 250]) == pytest.approx(0.0, abs=1e-12)
    assert psi(reference, [1, 1, 1, 1]) == pytest.approx(0.0, abs=1e-12)  # counts, any scale
    shifted = [psi(reference, [250 - s, 250 - s, 250 + s, 250 + s]) for s in (0, 25, 50, 100, 200, 250)]
    assert shifted == sorted(shifted) and len(set(shifted)) == len(shifted)


def test_an_emptied_bin_gives_a_large_finite_psi_thanks_to_the_smoothing():
    value = psi([0.5, 0.5], [0, 100])
    assert np.isfinite(value) and value > 1.0
    # Both sides floored at 1e-4 and renormalised: the documented formula, by hand.
    floor = np.array([PSI_SMOOTHING, 1.0]) / (1.0 + PSI_SMOOTHING)
    assert value == pytest.approx(float(np.sum((floor - 0.5) * np.log(floor / 0.5))))


def test_a_file_with_no_rows_has_no_drift():
    assert psi([0.5, 0.5], [0, 0]) == 0.0


def test_levels_start_at_the_thresholds():
    assert level(0.0, 0.1, 0.25) == "ok"
    assert level(0.0999, 0.1, 0.25) == "ok"
    assert level(0.1, 0.1, 0.25) == "warn"
    assert level(0.2499, 0.1, 0.25) == "warn"
    assert level(0.25, 0.1, 0.25) == "alert"
    assert level(7.0, 0.1, 0.25) == "alert"


def test_thresholds_default_to_the_rules_of_thumb_and_are_overridden_per_feature_and_for_the_score():
    assert TELCO.drift_thresholds.for_feature("tenure") == (0.1, 0.25)
    thresholds = DriftThresholds(warn=0.2, alert=0.5, per_feature={"tenure": (0.05, 0.1), "score": (0.01, 0.02)})
    assert thresholds.for_feature("tenure") == (0.05, 0.1)
    assert thresholds.for_feature("score") == (0.01, 0.02)
    assert thresholds.for_feature("Contract") == (0.2, 0.5)
    with pytest.raises(ValueError, match="warn <= alert"):
        DriftThresholds(warn=0.3, alert=0.2)
    with pytest.raises(ValueError, match="'tenure'"):
        DriftThresholds(per_feature={"tenure": (0.3, 0.2)})


def test_per_feature_and_score_thresholds_change_the_levels_of_a_file(tmp_path):
    thresholds = DriftThresholds(per_feature={"gender": (0.0, 0.0), "score": (0.0, 0.0)})
    drift = file_drift(TELCO, generated_rows(TELCO, 500), tmp_path, thresholds)
    assert drift.features["gender"].level == "alert"
    assert drift.score.level == "alert"
    assert all(feature.level != "alert" for name, feature in drift.features.items() if name != "gender"), shown(drift)
    assert drift_figures(drift, "md5", None).as_dict()["thresholds"]["per_feature"] == {
        "gender": [0.0, 0.0],
        "score": [0.0, 0.0],
    }


# Binning
def toy_use_case() -> UseCase:
    """One numeric and one categorical input, to see the bins by hand."""
    features = FeatureSet(numeric=("x",), categorical={"colour": ("red", "blue")}, build=lambda frame: frame)
    return dataclasses.replace(TELCO, name="toy", features=features, reasons=None)  # its reasons name Telco's inputs


def toy_frame(x, colour) -> pd.DataFrame:
    return pd.DataFrame({"x": np.asarray(x, dtype="float64"), "colour": pd.Categorical(colour, ["red", "blue"])})


def test_numeric_bins_are_the_training_deciles_closed_on_the_right_with_open_outer_bins():
    use_case = toy_use_case()
    training = toy_frame(np.arange(1, 101), ["red"] * 75 + ["blue"] * 25)
    profile = build_reference_profile(use_case, training, np.linspace(0, 1, 101), 0.5, 0.3)
    x = profile["features"]["x"]
    # whole numbers: the deciles (10.9, 20.8, ...) floored, so each bin holds whole values (<= 10, (10, 20], ...)
    assert x["edges"] == pytest.approx(list(np.floor(np.quantile(np.arange(1, 101), [q / 10 for q in range(1, 10)]))))
    assert x["fractions"] == pytest.approx([0.1] * 10)
    assert profile["features"]["colour"]["fractions"] == [0.75, 0.25]
    accumulator = DriftAccumulator(use_case, profile)
    edge = x["edges"][0]
    accumulator.add(toy_frame([edge, edge + 1e-9, -1e9, 1e9, np.nan], ["red", "blue", None, "red", "red"]), np.zeros(5))
    result = accumulator.result().features["x"]
    assert result.labels[0] == f"<= {edge:.6g}" and result.labels[-1].startswith("> ")
    assert result.batch_fractions[0] == pytest.approx(0.4)  # the edge itself and far below
    assert result.batch_fractions[1] == pytest.approx(0.2)  # just above the edge
    assert result.batch_fractions[-1] == pytest.approx(0.2)  # far above
    assert result.missing_share == pytest.approx(0.2)
    assert accumulator.result().features["colour"].missing_share == pytest.approx(0.2)


def test_integer_codes_get_whole_number_bins_and_the_last_bin_holds_the_largest_value():
    use_case = toy_use_case()
    codes = np.repeat(np.arange(1, 11), [5, 5, 5, 5, 20, 20, 10, 10, 10, 10])  # codes 1..10, 10 the largest
    profile = build_reference_profile(use_case, toy_frame(codes, ["red"] * len(codes)), np.zeros(3), 0.5, 0.3)
    x = profile["features"]["x"]
    assert all(edge == int(edge) for edge in x["edges"]) and max(x["edges"]) < 10
    assert x["fractions"][-1] > 0, "the bin above the last edge holds the 10s: never empty in the reference"
    labels = DriftAccumulator(use_case, profile).result().features["x"].labels
    assert not any("." in label for label in labels), labels


def test_a_discrete_input_gets_one_bin_per_distinct_decile():
    use_case = toy_use_case()
    training = toy_frame([0.0] * 84 + [1.0] * 16, ["red"] * 100)
    profile = build_reference_profile(use_case, training, np.linspace(0, 1, 11), 0.5, 0.3)
    assert profile["features"]["x"]["edges"] == [0.0]  # "<= 0" and "> 0": no always-empty "> 1" bin
    assert profile["features"]["x"]["fractions"] == [0.84, 0.16]


def test_the_result_does_not_depend_on_how_the_file_is_split_into_batches():
    use_case = toy_use_case()
    generator = np.random.default_rng(3)
    training = toy_frame(generator.normal(size=1_000), generator.choice(["red", "blue"], 1_000))
    profile = build_reference_profile(use_case, training, generator.random(500), 0.5, 0.3)
    batch = toy_frame(generator.normal(0.3, size=997), generator.choice(["red", "blue"], 997))
    scores = generator.random(997)
    whole, pieces = DriftAccumulator(use_case, profile), DriftAccumulator(use_case, profile)
    whole.add(batch, scores)
    for start in range(0, 997, 100):
        pieces.add(batch.iloc[start : start + 100], scores[start : start + 100])
    one, many = whole.result(), pieces.result()
    assert drift_figures(one, "md5", None) == drift_figures(many, "md5", None)
    for name in ("x", "colour"):
        assert one.features[name].batch_fractions == many.features[name].batch_fractions  # counts: exact
        assert one.features[name].psi == pytest.approx(many.features[name].psi, rel=1e-12)
    assert one.features["x"].batch_mean == pytest.approx(many.features["x"].batch_mean, rel=1e-12)  # sums: order
    assert one.score.batch_fractions == many.score.batch_fractions


def test_the_profile_is_deterministic_and_plain_json():
    use_case = toy_use_case()
    generator = np.random.default_rng(5)
    training = toy_frame(generator.normal(size=500), generator.choice(["red", "blue"], 500))
    scores = generator.random(200)
    first = json.dumps(build_reference_profile(use_case, training, scores, 0.4, 0.2), sort_keys=True)
    assert first == json.dumps(
        build_reference_profile(use_case, training.copy(), scores.copy(), 0.4, 0.2), sort_keys=True
    )


# The trained models' profiles
def test_each_trained_model_has_a_verified_profile_recorded_in_its_card_covering_every_input(use_case):
    if use_case.model.profile_path is None:
        pytest.skip(f"{use_case.name}'s model was brought in without a reference profile")
    root = use_case.model.root or REPO_ROOT
    artifact = verify_artifact(use_case, root)
    profile_path = root / use_case.model.profile_path
    assert artifact.reference_md5 == file_md5(profile_path)
    assert artifact.card["reference_profile"] == {"path": use_case.model.profile_path, "md5": artifact.reference_md5}
    profile = artifact.reference_profile
    assert list(profile["features"]) == sorted(use_case.features.columns)  # JSON keys sorted
    for name in use_case.features.numeric:
        feature = profile["features"][name]
        assert np.all(np.diff(feature["edges"]) > 0) and len(feature["edges"]) <= 9
        assert sum(feature["fractions"]) + feature["missing_share"] == pytest.approx(1.0, abs=1e-5)
    for name, levels in use_case.features.categorical.items():
        assert profile["features"][name]["levels"] == list(levels)
    assert sum(profile["score"]["fractions"]) == pytest.approx(1.0, abs=1e-5)
    assert profile["threshold"] == pytest.approx(artifact.threshold, abs=1e-6)
    assert 0.0 < profile["score"]["share_at_or_above_threshold"] < 1.0


# Scenarios with the real models
def test_a_telco_file_drawn_like_the_training_data_has_no_alert(telco_like_training):
    drift = telco_like_training
    assert drift.rows == FILE_ROWS
    assert drift.input_level != "alert", shown(drift)
    assert drift.score.level != "alert", shown(drift)
    assert max(feature.psi for feature in drift.features.values()) < 0.1, shown(drift)


def test_a_credit_file_drawn_like_the_training_data_has_no_alert(tmp_path):
    drift = file_drift(CREDIT_RISK, generated_rows(CREDIT_RISK, FILE_ROWS), tmp_path)
    assert drift.input_level != "alert", shown(drift)
    assert drift.score.level != "alert", shown(drift)
    assert max(feature.psi for feature in drift.features.values()) < 0.1, shown(drift)


def test_only_month_to_month_fiber_customers_alert_on_contract_internet_and_score_not_on_the_unrelated(
    telco_fiber_month_to_month,
):
    drift = telco_fiber_month_to_month
    for name in ("Contract", "InternetService"):
        assert drift.features[name].level == "alert", shown(drift)
    assert drift.score.level == "alert", shown(drift)
    assert drift.score.share_at_or_above_threshold > drift.score.reference_share_at_or_above_threshold
    assert drift.input_level == "alert"
    # Drawn independently of contract and internet service by the generator.
    for name in ("gender", "Partner", "Dependents"):
        assert drift.features[name].level != "alert", shown(drift)
        assert drift.features[name].psi < 0.1, shown(drift)
    assert {name for name, _, _ in drift.most_drifted(2)} <= {
        "Contract",
        "InternetService",
        *[name for name, feature in drift.features.items() if feature.level == "alert"],
    }


# Drawn independently of checking_status and duration by the credit generator (duration drives the
# amount, the monthly amount and through it the instalment rate; checking_status drives nothing).
CREDIT_UNRELATED = (
    "credit_history",
    "purpose",
    "savings_status",
    "employment",
    "personal_status",
    "other_parties",
    "property_magnitude",
    "other_payment_plans",
    "housing",
    "job",
    "own_telephone",
    "foreign_worker",
    "age",
    "residence_since",
    "existing_credits",
    "num_dependents",
)


def test_overdrawn_long_term_credit_applications_alert_on_the_shifted_inputs_and_score_not_on_the_unrelated(
    credit_overdrawn_long_terms,
):
    drift = credit_overdrawn_long_terms
    for name in ("checking_status", "duration", "credit_amount"):
        assert drift.features[name].level == "alert", shown(drift)
    assert drift.score.level == "alert", shown(drift)
    assert drift.score.share_at_or_above_threshold > drift.score.reference_share_at_or_above_threshold
    for name in CREDIT_UNRELATED:
        assert drift.features[name].level != "alert", shown(drift)
        assert drift.features[name].psi < 0.1, shown(drift)


# Manifest and report
def test_the_manifest_entry_has_a_key_for_every_model_input_and_the_score(use_case, tmp_path):
    drift = file_drift(use_case, valid_rows(use_case, 300, seed=OTHER_SEED), tmp_path)
    manifest = drift_figures(drift, "0123abcd", str(tmp_path / "report.html")).as_dict()
    assert manifest["reference_md5"] == "0123abcd"
    assert list(manifest["features"]) == use_case.features.columns
    for entry in manifest["features"].values():
        assert set(entry) >= {"psi", "level", "missing_share"}
        assert entry["level"] in ("ok", "warn", "alert") and entry["psi"] >= 0.0
    assert set(manifest["score"]) >= {
        "psi",
        "level",
        "share_at_or_above_threshold",
        "reference_share_at_or_above_threshold",
    }
    assert manifest["input_level"] == drift.input_level
    assert manifest["report_path"] == str(tmp_path / "report.html")
    assert json.loads(json.dumps(manifest)) == manifest


def test_the_html_report_is_self_contained_has_charts_and_names_the_most_drifted_inputs(
    telco_fiber_month_to_month, tmp_path
):
    path = write_drift_report(
        tmp_path / "scored.drift.html", TELCO, telco_fiber_month_to_month, ["telco_churn file x.csv", "model m"]
    )
    html = path.read_text(encoding="utf-8")
    assert "http" not in html.lower() and "//" not in html
    assert "<svg" in html and "<script" not in html.lower()
    for name, _, _ in telco_fiber_month_to_month.most_drifted(3):
        assert f"<h2>{name}: PSI" in html
    assert "telco_churn file x.csv" in html
    assert [p.name for p in tmp_path.iterdir()] == ["scored.drift.html"]  # written atomically, nothing left over


# Integrity
def copy_model_with_profile(root: Path, use_case: UseCase) -> Path:
    source = use_case.model
    for relative in (
        "dvc.lock",
        source.model_path,
        source.card_path,
        source.profile_path,
        serving_path(source.model_path),
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, root / relative)
    return root


def test_a_tampered_profile_is_refused_like_a_tampered_model(tmp_path):
    root = copy_model_with_profile(tmp_path, TELCO)
    assert verify_artifact(TELCO, root).reference_profile is not None
    profile_path = root / TELCO.model.profile_path
    profile = json.loads(profile_path.read_text())
    profile["features"]["tenure"]["edges"][0] += 1
    profile_path.write_text(json.dumps(profile, indent=2, sort_keys=True) + "\n")
    with pytest.raises(ModelIntegrityError, match="reference profile was altered"):
        verify_artifact(TELCO, root)
    with pytest.raises(ModelIntegrityError, match="reference profile was altered"):
        load_model(TELCO, root)
    profile_path.unlink()
    with pytest.raises(ModelIntegrityError, match="reference profile.*missing"):
        verify_artifact(TELCO, root)


def test_a_profile_not_recorded_in_the_card_is_refused(tmp_path):
    """A profile of another training run, recorded in dvc.lock but not the one this card names."""
    root = copy_model_with_profile(tmp_path, TELCO)
    profile_path = root / TELCO.model.profile_path
    profile_path.write_text(profile_path.read_text() + " ")
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == TELCO.model.profile_path:
                out["md5"] = file_md5(profile_path)
    (root / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    with pytest.raises(ModelIntegrityError, match="model card records"):
        verify_artifact(TELCO, root)


def test_a_brought_in_model_without_a_profile_loads_with_no_drift_reference(tmp_path):
    """Added with `dvc add` (a .dvc file beside the model, its card and serving form), no profile_path declared."""
    source = TELCO.model
    for relative in (source.model_path, source.card_path, serving_path(source.model_path)):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, tmp_path / relative)
        outs = [{"md5": file_md5(tmp_path / relative), "path": Path(relative).name}]
        (tmp_path / f"{relative}.dvc").write_text(yaml.safe_dump({"outs": outs}))
    brought_in = dataclasses.replace(
        TELCO, model=ModelSource(model_path=source.model_path, card_path=source.card_path, root=tmp_path)
    )
    model = load_model(brought_in)
    assert model.reference_profile is None and model.reference_md5 is None
    assert model.pipeline is not None
