"""The serving form scores as the Pipeline does, is verified like the model, and keeps scikit-learn out of scoring.

Training exports a logistic regression's linear form as data (``serving.json``, ``core.serving``)
and proves it against ``predict_proba`` on the held-out split; scoring executes it and never
unpickles the Pipeline. These tests check the proof again from the outside, for every registered
use case, on its held-out split, on its whole training extract and on the real public extracts
when they are beside the checkout; that the model store refuses a serving form it cannot trust;
and that scoring a file through the real command imports neither scikit-learn nor scipy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.features import build_features
from scoring_assets.core.files import file_md5
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.core.model_store import ModelArtifact, ModelIntegrityError, loaded, serving_model, verify_artifact
from scoring_assets.core.paths import held_out_path
from scoring_assets.core.serving import LINEAR_LOGISTIC, PIPELINE, serving_path
from scoring_assets.core.use_case import UseCase
from scoring_assets.training import load_params
from scoring_assets.training.metrics import binary_labels
from scoring_assets.training.serving_export import ServingFormMismatch, prove_equal, write_serving_form
from scoring_assets.training.train import candidate_pipelines
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import REAL_EXTRACTS, USE_CASE_NAMES, training_extract, valid_rows, write_csv
from tests.support.cli_workspace import new_workspace, reported_path
from tests.support.model_roots import built_model, copy_dvc_project

HEAVY = ("sklearn", "scipy", "joblib")
SCORE_AND_LIST_IMPORTS = """
import json, sys
from scoring_assets.cli import main
code = main(["score", sys.argv[1]])
print(json.dumps({"exit": code, "imported": sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[2:]))}))
"""


@pytest.fixture(params=USE_CASE_NAMES)
def linear_model(request) -> tuple[UseCase, ModelArtifact]:
    """A registered use case whose model is served by its linear form (the others have nothing to compare)."""
    use_case = declared_use_case(request.param)
    artifact = built_model(use_case)
    if artifact.serving.kind != LINEAR_LOGISTIC:
        pytest.skip(f"{use_case.name}'s model is served as {artifact.serving.kind}: no serving form to compare")
    return use_case, artifact


def assert_serves_as_predict_proba(use_case: UseCase, artifact: ModelArtifact, accepted: pd.DataFrame) -> None:
    """The linear form's scores within the card's tolerance of predict_proba; labels equal away from the threshold."""
    features = build_features(use_case.features, accepted)
    pipeline = loaded(artifact).pipeline
    expected = pipeline.predict_proba(features)[:, list(pipeline.classes_).index(artifact.positive_class)]
    served = artifact.serving.linear.positive_scores(features)
    assert np.max(np.abs(served - expected)) <= artifact.serving.tolerance
    away = np.abs(expected - artifact.threshold) > artifact.serving.tolerance
    np.testing.assert_array_equal((served >= artifact.threshold)[away], (expected >= artifact.threshold)[away])


def accepted_rows(use_case: UseCase, extract: Path) -> pd.DataFrame:
    return validate_frame(use_case, read_csv_frame(extract, use_case)).accepted


def test_the_card_names_the_serving_artifact_with_its_md5_and_proven_difference(linear_model):
    use_case, artifact = linear_model
    serving = artifact.card["serving"]

    assert serving["kind"] == LINEAR_LOGISTIC and serving["md5"] == artifact.serving.md5
    assert artifact.serving.path.name == Path(serving_path(use_case.model.model_path)).name
    assert 0 <= serving["max_abs_diff"] <= serving["tolerance"] <= 1e-9


def test_the_serving_form_scores_the_held_out_split_as_predict_proba_does(linear_model):
    use_case, artifact = linear_model
    held_out = pd.read_parquet(held_out_path(use_case))

    assert_serves_as_predict_proba(use_case, artifact, held_out)


def test_the_serving_form_scores_the_whole_training_extract_as_predict_proba_does(linear_model):
    use_case, artifact = linear_model

    assert_serves_as_predict_proba(use_case, artifact, accepted_rows(use_case, training_extract(use_case)))


def test_the_serving_form_scores_the_real_public_extract_as_predict_proba_does(linear_model):
    use_case, artifact = linear_model
    extract = REAL_EXTRACTS.get(use_case.name)
    if extract is None or not extract.exists():
        pytest.skip(f"no real extract of {use_case.name} beside the checkout")

    assert_serves_as_predict_proba(use_case, artifact, accepted_rows(use_case, extract))


def test_a_serving_form_further_than_the_tolerance_from_predict_proba_is_not_written():
    expected = np.array([0.2, 0.49999999, 0.8])

    assert prove_equal(expected + 1.234e-12, expected, 1e-9) == 1.2e-12
    with pytest.raises(ServingFormMismatch, match="differs from predict_proba by up to 0.01"):
        prove_equal(expected + np.array([0.0, 0.0, 0.01]), expected, 1e-9)
    with pytest.raises(ServingFormMismatch):
        prove_equal(expected + np.nan, expected, 1e-9)


def test_scoring_with_the_serving_form_unpickles_nothing(linear_model, monkeypatch):
    use_case, artifact = linear_model
    monkeypatch.setattr("joblib.load", lambda *args, **kwargs: pytest.fail("the Pipeline was unpickled to score"))

    model = serving_model(artifact)

    assert model.pipeline is None and model.serving.linear is not None


def test_a_tampered_serving_form_is_refused_naming_both_md5s(linear_model, tmp_path):
    use_case, _ = linear_model
    root = copy_dvc_project(tmp_path, use_case)
    served = root / serving_path(use_case.model.model_path)
    served.write_text(
        served.read_text(encoding="utf-8").replace('"intercept": ', '"intercept": 1', 1), encoding="utf-8"
    )

    with pytest.raises(ModelIntegrityError) as refused:
        verify_artifact(use_case, root)

    assert f"{served} has md5 " in str(refused.value) and "the serving form was altered" in str(refused.value)


def test_a_card_naming_a_linear_form_whose_file_is_missing_is_refused_with_how_to_rebuild_it(linear_model, tmp_path):
    use_case, _ = linear_model
    root = copy_dvc_project(tmp_path, use_case)
    (root / serving_path(use_case.model.model_path)).unlink()

    with pytest.raises(ModelIntegrityError) as refused:
        verify_artifact(use_case, root)

    assert "(the model's serving form) is missing" in str(refused.value) and "dvc repro" in str(refused.value)


def rewritten_as_dvc_records(root: Path, path: Path, content: bytes) -> None:
    """``path`` (under the DVC project ``root``) given ``content``, and dvc.lock recording its new md5."""
    before = file_md5(path)
    path.write_bytes(content)
    lock = root / "dvc.lock"
    lock.write_text(lock.read_text(encoding="utf-8").replace(before, file_md5(path)), encoding="utf-8")


def test_a_serving_form_proved_against_another_pickle_is_refused(linear_model, tmp_path):
    use_case, _ = linear_model
    root = copy_dvc_project(tmp_path, use_case)
    model = root / use_case.model.model_path
    rewritten_as_dvc_records(root, model, model.read_bytes() + b"\0")  # another pickle, the serving form unchanged

    with pytest.raises(ModelIntegrityError, match="does not belong to this model"):
        verify_artifact(use_case, root)


def test_a_model_whose_card_names_no_serving_form_is_served_by_its_pipeline(linear_model, tmp_path):
    """A card written before serving forms, or one brought in without one: the verified pickle scores, as before."""
    use_case, _ = linear_model
    root = copy_dvc_project(tmp_path, use_case)
    card = root / use_case.model.card_path
    document = json.loads(card.read_text(encoding="utf-8"))
    del document["serving"]
    rewritten_as_dvc_records(root, card, json.dumps(document).encode("utf-8"))

    model = serving_model(verify_artifact(use_case, root))

    assert model.serving.kind == PIPELINE and model.serving.md5 == model.md5 and model.pipeline is not None


@pytest.mark.parametrize("name", USE_CASE_NAMES)
def test_scoring_a_file_through_the_command_imports_neither_scikit_learn_nor_scipy(name, tmp_path):
    """The default path: a file without labels, scored by ``scoring-assets score`` in a fresh process."""
    use_case = declared_use_case(name)
    if built_model(use_case).serving.kind != LINEAR_LOGISTIC:
        pytest.skip(f"{name}'s model is served by its Pipeline, which needs scikit-learn")
    workspace = new_workspace(tmp_path)
    batch = write_csv(valid_rows(use_case, 50), workspace.cwd / "batch.csv")

    result = subprocess.run(
        [sys.executable, "-c", SCORE_AND_LIST_IMPORTS, str(batch), *HEAVY],
        cwd=workspace.cwd,
        env=workspace.environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"exit": 0, "imported": []}, result.stderr
    manifest = json.loads(manifest_path_for(reported_path(result.stdout, "scored")).read_text(encoding="utf-8"))
    assert manifest["model"]["serving"]["kind"] == LINEAR_LOGISTIC
    assert manifest["model"]["serving"]["md5"] == built_model(use_case).serving.md5


@pytest.mark.parametrize("name", USE_CASE_NAMES)
def test_training_exports_the_linear_form_and_serves_a_tree_model_as_its_pipeline(name, tmp_path):
    """Both candidates, fitted afresh: the logistic regression gets its proved linear form, the trees the pickle."""
    use_case = declared_use_case(name)
    rows = accepted_rows(use_case, write_csv(valid_rows(use_case, 400, seed=3, labelled=True), tmp_path / "rows.csv"))
    features, labels = build_features(use_case.features, rows), binary_labels(use_case.label, rows)
    candidates = candidate_pipelines(use_case.features, load_params(name, "train"))
    sections = {}
    for candidate, pipeline in candidates.items():
        pipeline.fit(features, labels)
        model_file, serving_file = tmp_path / f"{candidate}.joblib", tmp_path / f"{candidate}.serving.json"
        joblib.dump(pipeline, model_file)
        sections[candidate] = write_serving_form(
            pipeline, use_case.features, 1, (features, features), (serving_file, model_file)
        )
        assert json.loads(serving_file.read_text(encoding="utf-8"))["model_md5"] == file_md5(model_file)

    linear, trees = sections["logistic_regression"], sections["hist_gradient_boosting"]
    assert linear["kind"] == LINEAR_LOGISTIC and linear["max_abs_diff"] <= linear["tolerance"] == 1e-9
    assert trees["kind"] == PIPELINE and trees["md5"] == file_md5(tmp_path / "hist_gradient_boosting.joblib")
    assert "onnxruntime" in trees["why"]
