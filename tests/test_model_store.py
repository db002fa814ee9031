"""Model integrity: nothing is unpickled unless its bytes match dvc.lock and its scikit-learn fits.

Every test works on a copy of the DVC project (dvc.lock + data/model/) in a temporary
folder, so the real artifacts are never altered.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sklearn
import yaml
from conftest import copy_dvc_project, customer_rows

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.features import build_features
from scoring_assets.core.files import file_md5
from scoring_assets.core.model_store import (
    CARD_RELATIVE_PATH,
    MODEL_RELATIVE_PATH,
    ModelIntegrityError,
    load_model,
    verify_artifact,
)

pytestmark = pytest.mark.usefixtures("model_artifact")


@pytest.fixture
def model_root(tmp_path) -> Path:
    return copy_dvc_project(tmp_path / "dvc_project")


@pytest.fixture
def unpickling_forbidden(monkeypatch):
    """Fail the test if anything reaches joblib.load."""

    def refuse(*args, **kwargs):
        pytest.fail("joblib.load was called on a model that failed its integrity check")

    monkeypatch.setattr("scoring_assets.core.model_store.joblib.load", refuse)


def recorded_md5(root: Path, relative: str) -> str:
    """The md5 dvc.lock records for ``relative``, read straight from the YAML."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    md5s = {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}
    return md5s[relative]


def flip_one_byte(path: Path, position: int = 100) -> None:
    payload = bytearray(path.read_bytes())
    payload[position] ^= 0x01
    path.write_bytes(bytes(payload))


def rewrite_card_sklearn_version(root: Path, version: str) -> None:
    """Change the card's scikit-learn version and re-record its md5, so only the version check can object."""
    card_path = root / CARD_RELATIVE_PATH
    old_md5 = file_md5(card_path)
    card = json.loads(card_path.read_text())
    card["sklearn_version"] = version
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    lock_path = root / "dvc.lock"
    lock_path.write_text(lock_path.read_text().replace(old_md5, file_md5(card_path)))


def installed_major_minor() -> tuple[int, int]:
    major, minor = sklearn.__version__.split(".")[:2]
    return int(major), int(minor)


def test_verified_model_loads_and_predicts_churn_probabilities(model_root):
    model = load_model(root=model_root)
    raw = customer_rows(40)
    raw.index = range(1, len(raw) + 1)
    features = build_features(validate_frame(raw).accepted)

    probabilities = model.pipeline.predict_proba(features)

    assert model.path == model_root / MODEL_RELATIVE_PATH
    assert probabilities.shape == (40, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert 0.0 < model.threshold < 1.0


def test_model_version_names_the_md5_recorded_in_dvc_lock(model_root):
    lock_md5 = recorded_md5(model_root, MODEL_RELATIVE_PATH)

    artifact = verify_artifact(root=model_root)

    assert artifact.md5 == lock_md5
    assert lock_md5[:12] in artifact.version
    assert load_model(root=model_root).version == artifact.version


def test_model_root_comes_from_the_environment_when_not_passed(model_root, monkeypatch):
    flip_one_byte(model_root / MODEL_RELATIVE_PATH)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(model_root))
    with pytest.raises(ModelIntegrityError, match=str(model_root / MODEL_RELATIVE_PATH)):
        verify_artifact()


def test_one_changed_byte_in_the_model_is_refused_before_unpickling(model_root, unpickling_forbidden):
    model_path = model_root / MODEL_RELATIVE_PATH
    flip_one_byte(model_path)

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(root=model_root)

    message = str(refused.value)
    assert "dvc repro" in message
    assert recorded_md5(model_root, MODEL_RELATIVE_PATH) in message
    assert file_md5(model_path) in message


def test_changed_model_card_is_refused(model_root, unpickling_forbidden):
    card_path = model_root / CARD_RELATIVE_PATH
    card_path.write_text(card_path.read_text().replace('"threshold": 0.', '"threshold": 0.0', 1))

    with pytest.raises(ModelIntegrityError, match="model_card.json has md5 .* but dvc.lock records"):
        load_model(root=model_root)


def test_missing_model_is_refused_with_how_to_rebuild_or_fetch_it(model_root, unpickling_forbidden):
    (model_root / MODEL_RELATIVE_PATH).unlink()

    with pytest.raises(ModelIntegrityError, match="is missing") as refused:
        load_model(root=model_root)

    assert "dvc repro" in str(refused.value) and "dvc pull" in str(refused.value)


def test_missing_dvc_lock_is_refused(model_root, unpickling_forbidden):
    (model_root / "dvc.lock").unlink()

    with pytest.raises(ModelIntegrityError, match="dvc.lock does not exist") as refused:
        load_model(root=model_root)

    assert "dvc repro" in str(refused.value)


def test_dvc_lock_without_an_entry_for_the_model_is_refused(model_root, unpickling_forbidden):
    lock_path = model_root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    for stage in lock["stages"].values():
        stage["outs"] = [out for out in stage.get("outs", []) if out["path"] != MODEL_RELATIVE_PATH]
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))

    with pytest.raises(ModelIntegrityError, match=f"dvc.lock has no md5 for {MODEL_RELATIVE_PATH}"):
        load_model(root=model_root)


def test_card_from_another_scikit_learn_minor_version_is_refused_naming_both(model_root, unpickling_forbidden):
    major, minor = installed_major_minor()
    trained_with = f"{major}.{minor + 1}.0"
    rewrite_card_sklearn_version(model_root, trained_with)

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(root=model_root)

    message = str(refused.value)
    assert f"trained with scikit-learn {trained_with}" in message
    assert f"{sklearn.__version__} is installed" in message


def test_card_from_another_scikit_learn_patch_release_is_accepted(model_root):
    major, minor = installed_major_minor()
    trained_with = f"{major}.{minor}.99"
    rewrite_card_sklearn_version(model_root, trained_with)

    model = load_model(root=model_root)

    assert model.sklearn_version == trained_with
    assert model.pipeline is not None


def replace_outs_of_first_stage(lock_text: str, outs) -> str:
    lock = yaml.safe_load(lock_text)
    next(iter(lock["stages"].values()))["outs"] = outs
    return yaml.safe_dump(lock, sort_keys=False)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (
            lambda text: text.replace("  train:\n", "<<<<<<< HEAD\n  train:\n=======\n  train: {}\n>>>>>>> main\n", 1),
            "has merge-conflict markers (line ",
        ),
        (lambda text: text + "stages: [unclosed\n", "is not valid YAML (line "),
        (lambda text: "- a list\n- not a mapping\n", "is not a DVC lock file: it has no `stages` mapping"),
        (lambda text: "schema: '2.0'\nstages: [train]\n", "is not a DVC lock file: it has no `stages` mapping"),
        (lambda text: "schema: '2.0'\nstages:\n  train: just text\n", "stage 'train' is not a mapping"),
        (lambda text: replace_outs_of_first_stage(text, {"path": "x"}), "is not a list"),
        (lambda text: replace_outs_of_first_stage(text, [{"md5": "0" * 32}]), "has no `path`"),
        (lambda text: replace_outs_of_first_stage(text, [{"path": "x", "md5": 123}]), "the md5 of x is not a string"),
        (lambda text: "", "it has no `stages` mapping"),
    ],
    ids=[
        "merge_conflict",
        "not_yaml",
        "not_a_mapping",
        "stages_not_a_mapping",
        "stage_not_a_mapping",
        "outs_not_a_list",
        "out_without_path",
        "md5_not_text",
        "empty",
    ],
)
def test_damaged_dvc_lock_is_refused_with_how_to_restore_it(model_root, unpickling_forbidden, damage, problem):
    lock_path = model_root / "dvc.lock"
    lock_path.write_text(damage(lock_path.read_text()))

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(root=model_root)

    message = str(refused.value)
    assert message.startswith(f"{lock_path} ") and problem in message
    assert "`git checkout dvc.lock`" in message and "`dvc repro`" in message


def test_binary_junk_in_place_of_dvc_lock_is_refused_with_how_to_restore_it(model_root, unpickling_forbidden):
    (model_root / "dvc.lock").write_bytes(bytes(range(256)) * 4)

    with pytest.raises(ModelIntegrityError, match=r"dvc.lock is not text \(byte 128 is not UTF-8\).*git checkout"):
        load_model(root=model_root)


def test_control_characters_in_dvc_lock_are_refused_as_not_yaml(model_root, unpickling_forbidden):
    (model_root / "dvc.lock").write_text("schema: '2.0'\nstages:\x00\x07\n")

    with pytest.raises(ModelIntegrityError, match="is not valid YAML.*git checkout"):
        load_model(root=model_root)
