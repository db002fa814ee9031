"""Model integrity: nothing is unpickled unless its bytes match DVC's record and its card fits the use case.

Every test runs for each shipped use case, on a copy of the DVC project (dvc.lock + that use
case's model, card and metrics) in a temporary folder, so the real artifacts are never altered.
Models brought in with ``dvc add`` are tested in test_brought_in_model.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
import yaml

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.features import build_features
from scoring_assets.core.files import file_md5
from scoring_assets.core.model_store import ModelIntegrityError, load_model, recorded_md5, verify_artifact
from scoring_assets.core.use_case import UseCase
from scoring_assets.runs import model_store
from tests.support.batches import CREDIT_RISK, TELCO, valid_rows
from tests.support.model_roots import built_model, copy_dvc_project, install_new_model, with_classes


@pytest.fixture
def model_root(tmp_path, use_case) -> Path:
    built_model(use_case)
    return copy_dvc_project(tmp_path / "dvc_project", use_case)


@pytest.fixture
def unpickling_forbidden(monkeypatch):
    """Fail the test if anything reaches joblib.load."""

    def refuse(*args, **kwargs):
        pytest.fail("joblib.load was called on a model that failed its integrity check")

    monkeypatch.setattr("joblib.load", refuse)  # what the model store unpickles with


def lock_md5(root: Path, relative: str) -> str:
    """The md5 dvc.lock records for ``relative``, read straight from the YAML."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    md5s = {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}
    return md5s[relative]


def flip_one_byte(path: Path, position: int = 100) -> None:
    payload = bytearray(path.read_bytes())
    payload[position] ^= 0x01
    path.write_bytes(bytes(payload))


def rewrite_card(root: Path, use_case: UseCase, change) -> None:
    """Change the card and re-record its md5 in dvc.lock, so only the card checks can object."""
    card_path = root / use_case.model.card_path
    old_md5 = file_md5(card_path)
    card = json.loads(card_path.read_text())
    change(card)
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    lock_path = root / "dvc.lock"
    lock_path.write_text(lock_path.read_text().replace(old_md5, file_md5(card_path)))


def installed_major_minor() -> tuple[int, int]:
    major, minor = sklearn.__version__.split(".")[:2]
    return int(major), int(minor)


def test_verified_model_loads_and_predicts_probabilities_of_the_positive_class(model_root, use_case):
    model = load_model(use_case, root=model_root)
    raw = valid_rows(use_case, 40).rename(columns=str.strip)
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row_number")
    features = build_features(use_case.features, validate_frame(use_case, raw).accepted)

    probabilities = model.pipeline.predict_proba(features)

    assert model.path == model_root / use_case.model.model_path
    assert probabilities.shape == (40, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert 0.0 < model.threshold < 1.0
    assert model.positive_class in list(model.pipeline.classes_)
    assert model.feature_columns == use_case.features.columns


def test_model_version_names_the_use_case_and_the_md5_recorded_in_dvc_lock(model_root, use_case):
    recorded = lock_md5(model_root, use_case.model.model_path)

    artifact = verify_artifact(use_case, root=model_root)

    assert artifact.md5 == recorded == recorded_md5(model_root, use_case.model.model_path)
    assert artifact.version == f"{use_case.name}_model-{recorded[:12]}"
    assert load_model(use_case, root=model_root).version == artifact.version


def test_the_model_store_takes_its_root_from_the_environment(model_root, use_case, monkeypatch):
    flip_one_byte(model_root / use_case.model.model_path)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(model_root))
    with pytest.raises(ModelIntegrityError, match=str(model_root / use_case.model.model_path)):
        model_store().verify(use_case)


def test_one_changed_byte_in_the_model_is_refused_before_unpickling(model_root, use_case, unpickling_forbidden):
    model_path = model_root / use_case.model.model_path
    flip_one_byte(model_path)

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(use_case, root=model_root)

    message = str(refused.value)
    assert "dvc repro" in message
    assert lock_md5(model_root, use_case.model.model_path) in message
    assert file_md5(model_path) in message


def test_changed_model_card_is_refused(model_root, use_case, unpickling_forbidden):
    card_path = model_root / use_case.model.card_path
    card_path.write_text(card_path.read_text().replace('"threshold": 0.', '"threshold": 0.0', 1))

    with pytest.raises(ModelIntegrityError, match="model_card.json has md5 .* but DVC records"):
        load_model(use_case, root=model_root)


def test_missing_model_is_refused_with_how_to_rebuild_or_fetch_it(model_root, use_case, unpickling_forbidden):
    (model_root / use_case.model.model_path).unlink()

    with pytest.raises(ModelIntegrityError, match="is missing") as refused:
        load_model(use_case, root=model_root)

    assert "dvc repro" in str(refused.value) and "dvc pull" in str(refused.value)


def test_missing_dvc_lock_is_refused_naming_both_ways_to_record_the_model(model_root, use_case, unpickling_forbidden):
    (model_root / "dvc.lock").unlink()

    with pytest.raises(ModelIntegrityError, match=f"DVC has no md5 for {use_case.model.model_path}") as refused:
        load_model(use_case, root=model_root)

    message = str(refused.value)
    assert "dvc.lock" in message and "model.joblib.dvc" in message
    assert "dvc repro" in message and f"dvc add {use_case.model.model_path}" in message


def test_dvc_lock_without_an_entry_for_the_model_is_refused(model_root, use_case, unpickling_forbidden):
    lock_path = model_root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    for stage in lock["stages"].values():
        stage["outs"] = [out for out in stage.get("outs", []) if out["path"] != use_case.model.model_path]
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))

    with pytest.raises(ModelIntegrityError, match=f"DVC has no md5 for {use_case.model.model_path}"):
        load_model(use_case, root=model_root)


def test_card_from_another_scikit_learn_minor_version_is_refused_naming_both(
    model_root, use_case, unpickling_forbidden
):
    major, minor = installed_major_minor()
    trained_with = f"{major}.{minor + 1}.0"
    rewrite_card(model_root, use_case, lambda card: card.update(sklearn_version=trained_with))

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(use_case, root=model_root)

    message = str(refused.value)
    assert f"trained with scikit-learn {trained_with}" in message
    assert f"{sklearn.__version__} is installed" in message


def test_card_from_another_scikit_learn_patch_release_is_accepted(model_root, use_case):
    major, minor = installed_major_minor()
    trained_with = f"{major}.{minor}.99"
    rewrite_card(model_root, use_case, lambda card: card.update(sklearn_version=trained_with))

    model = load_model(use_case, root=model_root)

    assert model.sklearn_version == trained_with
    assert model.pipeline is not None


def test_card_trained_on_other_features_than_the_use_case_builds_is_refused(model_root, use_case, unpickling_forbidden):
    def drop_last_numeric(card):
        card["feature_contract"]["numeric_features"] = card["feature_contract"]["numeric_features"][:-1]

    rewrite_card(model_root, use_case, drop_last_numeric)

    with pytest.raises(ModelIntegrityError, match=f"use case {use_case.name} builds") as refused:
        load_model(use_case, root=model_root)

    assert str(use_case.features.numeric[-1]) in str(refused.value)


def test_a_card_naming_a_positive_class_the_model_lacks_is_refused_in_plain_words(model_root, use_case):
    rewrite_card(model_root, use_case, lambda card: card.update(positive_class="Yes"))

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(use_case, root=model_root)

    assert str(refused.value).startswith(
        f"{model_root / use_case.model.model_path}: its model card says positive_class 'Yes' but the model's "
        "classes are 0, 1;"
    )


def test_a_model_whose_classes_lack_the_cards_positive_class_is_refused_in_plain_words(model_root, use_case):
    install_new_model(model_root, use_case, alter=with_classes("No", "Maybe"))

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(use_case, root=model_root)

    message = str(refused.value)
    assert "its model card says positive_class 1 but the model's classes are 'No', 'Maybe';" in message
    assert "np." not in message and "dvc repro" in message


def test_a_model_recorded_for_one_use_case_is_refused_for_another(tmp_path, unpickling_forbidden):
    root = copy_dvc_project(tmp_path / "dvc_project", TELCO)
    copy_dvc_project(root, CREDIT_RISK)
    card_of_telco = root / TELCO.model.card_path
    (root / CREDIT_RISK.model.card_path).write_bytes(card_of_telco.read_bytes())
    lock_path = root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs") or []:
            if out["path"] == CREDIT_RISK.model.card_path:
                out["md5"] = file_md5(card_of_telco)
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))

    with pytest.raises(ModelIntegrityError, match="the model was trained on .* but use case credit_risk builds"):
        load_model(CREDIT_RISK, root=root)


def replace_outs_of_first_stage(lock_text: str, outs) -> str:
    lock = yaml.safe_load(lock_text)
    next(iter(lock["stages"].values()))["outs"] = outs
    return yaml.safe_dump(lock, sort_keys=False)


def with_merge_conflict(text: str) -> str:
    stage = next(iter(yaml.safe_load(text)["stages"]))
    return text.replace(f"  {stage}:\n", f"<<<<<<< HEAD\n  {stage}:\n=======\n  {stage}: {{}}\n>>>>>>> main\n", 1)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (with_merge_conflict, "has merge-conflict markers (line "),
        (lambda text: text + "stages: [unclosed\n", "is not valid YAML (line "),
        (lambda text: "- a list\n- not a mapping\n", "is not a DVC file as DVC writes it: it has no `stages` mapping"),
        (lambda text: "schema: '2.0'\nstages: [train]\n", "is not a DVC file as DVC writes it: it has no `stages`"),
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
def test_damaged_dvc_lock_is_refused_with_how_to_restore_it(
    model_root, use_case, unpickling_forbidden, damage, problem
):
    lock_path = model_root / "dvc.lock"
    lock_path.write_text(damage(lock_path.read_text()))

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(use_case, root=model_root)

    message = str(refused.value)
    assert message.startswith(f"{lock_path} ") and problem in message
    assert "`git checkout dvc.lock`" in message and "`dvc repro`" in message


def test_binary_junk_in_place_of_dvc_lock_is_refused_with_how_to_restore_it(model_root, use_case, unpickling_forbidden):
    (model_root / "dvc.lock").write_bytes(bytes(range(256)) * 4)

    with pytest.raises(ModelIntegrityError, match=r"dvc.lock is not text \(byte 128 is not UTF-8\).*git checkout"):
        load_model(use_case, root=model_root)


def test_control_characters_in_dvc_lock_are_refused_as_not_yaml(model_root, use_case, unpickling_forbidden):
    (model_root / "dvc.lock").write_text("schema: '2.0'\nstages:\x00\x07\n")

    with pytest.raises(ModelIntegrityError, match="is not valid YAML.*git checkout"):
        load_model(use_case, root=model_root)
