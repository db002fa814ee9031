"""A model brought in with ``dvc add``: verified against its ``.dvc`` file before anything is unpickled.

A team that trains elsewhere hands over a model and its card; ``dvc add`` records each with a
``<file>.dvc`` beside it (``outs: [{md5, size, hash, path}]``). These tests declare a small use
case of their own (three columns, a pandera model, a FeatureSet, a ModelSource under a
temporary folder), train a tiny scikit-learn Pipeline, record it as ``dvc add`` does, and prove
that the model store loads and scores it, and refuses it, by name, whenever the bytes, the
card or the ``.dvc`` record cannot be trusted. One test runs the real ``dvc add`` (offline)
when the project's DVC environment is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow.parquet as pq
import pytest
import sklearn
import yaml
from pandera.typing import Series
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.features import CategoryCodes, build_features
from scoring_assets.core.files import file_md5, file_sha256
from scoring_assets.core.ingest import validate_raw_parquet, write_raw_parquet
from scoring_assets.core.model_store import CARD_FIELDS, ModelIntegrityError, load_model, serving_model, verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.scoring import score_feature_parquet, write_feature_parquet, write_scored_csv
from scoring_assets.core.serving import PIPELINE
from scoring_assets.core.use_case import FeatureSet, Label, ModelSource, UseCase
from tests.support.model_roots import dvc_add

KINDS = ("car", "home", "other")
MODEL_PATH = "models/loan.joblib"
CARD_PATH = "models/loan_card.json"
DVC = REPO_ROOT / ".venv-dvc" / "bin" / "dvc"


class LoanApplication(pa.DataFrameModel):
    """A loan request: how much, over how many months, for what."""

    amount: Series[pd.Int64Dtype] = pa.Field(ge=1, le=100_000, description="Amount asked for; at most 100,000.")
    months: Series[pd.Int64Dtype] = pa.Field(ge=1, le=120, description="Term in months; at most 120.")
    kind: Series[str] = pa.Field(isin=list(KINDS))

    class Config:
        strict = False
        ordered = False


def loan_features(accepted: pd.DataFrame) -> pd.DataFrame:
    amount = accepted["amount"].astype("float64")
    months = accepted["months"].astype("float64")
    return pd.DataFrame(
        {"amount": amount, "months": months, "monthly": amount / months, "kind": accepted["kind"]},
        index=accepted.index,
    )


FEATURES = FeatureSet(numeric=("amount", "months", "monthly"), categorical={"kind": KINDS}, build=loan_features)


def loan_use_case(root: Path) -> UseCase:
    return UseCase(
        name="loan_default",
        title="Loans brought in from elsewhere: default_score is the probability that the loan defaults.",
        contract=LoanApplication,
        features=FEATURES,
        model=ModelSource(model_path=MODEL_PATH, card_path=CARD_PATH, root=root),
        score_column="default_score",
        label=Label("defaulted", positive="yes", negative="no"),
    )


def loan_rows(n_rows: int, seed: int = 7) -> pd.DataFrame:
    """Applications as text, as a CSV carries them; the label follows the monthly burden."""
    generator = np.random.default_rng(seed)
    amount = generator.integers(500, 50_000, n_rows)
    months = generator.integers(6, 72, n_rows)
    risk = amount / months / 1_000 + generator.normal(0, 0.3, n_rows)
    return pd.DataFrame(
        {
            "amount": amount.astype(str),
            "months": months.astype(str),
            "kind": generator.choice(KINDS, n_rows),
            "defaulted": np.where(risk > np.median(risk), "yes", "no"),
        }
    )


def accepted(use_case: UseCase, rows: pd.DataFrame) -> pd.DataFrame:
    framed = rows.set_axis(pd.RangeIndex(1, len(rows) + 1, name="row_number"))
    result = validate_frame(use_case, framed)
    assert result.rejects.empty
    return result.accepted


def train_and_bring_in(root: Path, card_changes=None) -> UseCase:
    """Train the tiny model, write it with a complete card under ``root`` and ``dvc add`` both."""
    use_case = loan_use_case(root)
    rows = accepted(use_case, loan_rows(300))
    features = build_features(FEATURES, rows)
    labels = (rows["defaulted"] == "yes").astype(int).to_numpy()
    pipeline = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), list(FEATURES.numeric)),
                        (
                            "categorical",
                            Pipeline(
                                [
                                    ("codes", CategoryCodes({"kind": list(KINDS)})),
                                    ("one_hot", OneHotEncoder(categories=[list(range(len(KINDS)))])),
                                ]
                            ),
                            list(FEATURES.categorical),
                        ),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=1000)),
        ]
    ).fit(features, labels)
    (root / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, root / MODEL_PATH)
    card = {
        "threshold": 0.5,
        "positive_class": 1,
        "sklearn_version": sklearn.__version__,
        "feature_contract": {
            "numeric_features": list(FEATURES.numeric),
            "categorical_features": list(FEATURES.categorical),
        },
    }
    assert {name.split(".")[0] for name in CARD_FIELDS} <= set(card), "the card says everything scoring needs"
    if card_changes:
        card_changes(card)
    write_card(root, card)
    dvc_add(root / MODEL_PATH)
    return use_case


def write_card(root: Path, card: dict) -> None:
    (root / CARD_PATH).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    dvc_add(root / CARD_PATH)


def read_card(root: Path) -> dict:
    return json.loads((root / CARD_PATH).read_text())


@pytest.fixture
def brought_in(tmp_path) -> UseCase:
    return train_and_bring_in(tmp_path / "model_project")


@pytest.fixture
def unpickling_forbidden(monkeypatch):
    """Fail the test if anything reaches joblib.load."""

    def refuse(*args, **kwargs):
        pytest.fail("joblib.load was called on a model that failed its integrity check")

    monkeypatch.setattr("joblib.load", refuse)  # what the model store unpickles with


def root_of(use_case: UseCase) -> Path:
    return use_case.model.root


def test_a_model_brought_in_with_dvc_add_loads_and_scores(brought_in):
    root = root_of(brought_in)
    assert not (root / "dvc.lock").exists(), "only the .dvc files vouch for it"

    model = load_model(brought_in)
    features = build_features(FEATURES, accepted(brought_in, loan_rows(50, seed=8)))
    probabilities = model.pipeline.predict_proba(features)

    assert model.md5 == file_md5(root / MODEL_PATH)
    assert model.version == f"loan_default_model-{model.md5[:12]}"
    assert probabilities.shape == (50, 2) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert model.feature_columns == FEATURES.columns


def test_a_brought_in_model_scores_a_file_through_every_core_stage(brought_in, tmp_path):
    rows = loan_rows(40, seed=9)
    rows.loc[4, "months"] = "0"  # one row the contract refuses
    source = tmp_path / "loans.csv"
    rows.to_csv(source, index=False)
    lake = tmp_path / "lake"

    write_raw_parquet(brought_in, source, file_sha256(source), lake / "raw.parquet")
    validation = validate_raw_parquet(brought_in, lake / "raw.parquet", lake / "ok.parquet", tmp_path / "rejected.csv")
    write_feature_parquet(brought_in, lake / "ok.parquet", lake / "features.parquet")
    model = load_model(brought_in)
    summary = score_feature_parquet(
        brought_in, lake / "features.parquet", model, model.threshold, "2024-01-01T00:00:00Z", lake / "scores.parquet"
    )
    write_scored_csv(lake / "scores.parquet", tmp_path / "scored.csv")

    assert (validation.rows_accepted, validation.rows_rejected) == (39, 1)
    assert summary.backtest().rows_with_label == 39
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored.columns) == [
        "row_number",
        "default_score",
        "predicted_label",
        "model_version",
        "scoring_timestamp",
    ]
    assert 5 not in set(scored["row_number"]) and len(scored) == 39
    assert (scored["model_version"] == model.version).all()
    assert pq.read_schema(lake / "features.parquet").names[:4] == ["row_number", "amount", "months", "monthly"]


def test_a_model_brought_in_without_a_serving_form_is_scored_by_its_pipeline_and_says_so(brought_in):
    """No ``serving`` in its card: the verified pickle scores, as before serving forms, and is what manifests name."""
    model = serving_model(verify_artifact(brought_in))

    assert model.serving.kind == PIPELINE and model.pipeline is not None
    assert model.serving.as_record() == {"kind": PIPELINE, "md5": model.md5, "max_abs_diff": 0.0, "tolerance": 0.0}


def write_dvc_lock(root: Path, model_md5: str, card_md5: str) -> None:
    """A dvc.lock as a DVC stage would write it, recording the model and card with these md5s."""
    outs = [{"path": MODEL_PATH, "md5": model_md5}, {"path": CARD_PATH, "md5": card_md5}]
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"train": {"outs": outs}}}))


def test_a_dvc_file_beside_the_model_wins_over_dvc_lock(brought_in):
    root = root_of(brought_in)
    write_dvc_lock(root, "0" * 32, "1" * 32)

    assert verify_artifact(brought_in).md5 == file_md5(root / MODEL_PATH)


def test_a_stale_dvc_file_is_refused_even_when_dvc_lock_matches(brought_in, unpickling_forbidden):
    root = root_of(brought_in)
    write_dvc_lock(root, file_md5(root / MODEL_PATH), file_md5(root / CARD_PATH))
    record = root / f"{MODEL_PATH}.dvc"
    record.write_text(record.read_text().replace(file_md5(root / MODEL_PATH), "f" * 32))

    with pytest.raises(ModelIntegrityError, match=f"but DVC records {'f' * 32}"):
        load_model(brought_in)


def test_a_tampered_model_is_refused_naming_both_md5s_before_unpickling(brought_in, unpickling_forbidden):
    model_path = root_of(brought_in) / MODEL_PATH
    recorded = file_md5(model_path)
    payload = bytearray(model_path.read_bytes())
    payload[200] ^= 0x01
    model_path.write_bytes(bytes(payload))

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(brought_in)

    message = str(refused.value)
    assert f"{model_path} has md5 {file_md5(model_path)} but DVC records {recorded}" in message
    assert "refusing to load it" in message


def test_a_changed_card_is_refused(brought_in, unpickling_forbidden):
    card_path = root_of(brought_in) / CARD_PATH
    card_path.write_text(card_path.read_text().replace('"threshold": 0.5', '"threshold": 0.05'))

    with pytest.raises(ModelIntegrityError, match=r"loan_card.json has md5 \w+ but DVC records"):
        load_model(brought_in)


def test_a_missing_model_beside_its_dvc_file_is_refused_with_how_to_fetch_it(brought_in, unpickling_forbidden):
    (root_of(brought_in) / MODEL_PATH).unlink()

    with pytest.raises(ModelIntegrityError, match="loan.joblib is missing.*dvc pull"):
        load_model(brought_in)


def test_a_model_nobody_recorded_is_refused_with_how_to_bring_it_in(brought_in, unpickling_forbidden):
    (root_of(brought_in) / f"{MODEL_PATH}.dvc").unlink()

    with pytest.raises(ModelIntegrityError, match=f"DVC has no md5 for {MODEL_PATH}.*`dvc add {MODEL_PATH}`"):
        load_model(brought_in)


def without(card: dict, dotted: str) -> dict:
    *parents, last = dotted.split(".")
    holder = card
    for part in parents:
        holder = holder[part]
    del holder[last]
    return card


@pytest.mark.parametrize("missing", list(CARD_FIELDS))
def test_a_card_missing_a_field_scoring_needs_is_refused_naming_it(brought_in, unpickling_forbidden, missing):
    root = root_of(brought_in)
    write_card(root, without(read_card(root), missing))

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(brought_in)

    message = str(refused.value)
    assert f"lacks what scoring needs: {missing} ({CARD_FIELDS[missing]})" in message
    assert [name for name in CARD_FIELDS if f"{name} (" in message] == [missing]


def test_a_card_trained_on_other_features_is_refused_naming_both_lists(brought_in, unpickling_forbidden):
    root = root_of(brought_in)
    card = read_card(root)
    card["feature_contract"]["numeric_features"] = ["amount", "months"]
    write_card(root, card)

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(brought_in)

    message = str(refused.value)
    assert "the model was trained on ['amount', 'months', 'kind']" in message
    assert "use case loan_default builds ['amount', 'months', 'monthly', 'kind']" in message


def test_a_card_listing_the_features_in_another_order_is_refused(brought_in, unpickling_forbidden):
    root = root_of(brought_in)
    card = read_card(root)
    card["feature_contract"]["numeric_features"] = ["months", "amount", "monthly"]
    write_card(root, card)

    with pytest.raises(ModelIntegrityError, match="trained on \\['months', 'amount'"):
        load_model(brought_in)


@pytest.mark.parametrize(
    "threshold", [1.5, -0.1, "0.5", True, None], ids=["above_1", "below_0", "text", "bool", "null"]
)
def test_a_threshold_that_is_not_a_number_in_0_1_is_refused(brought_in, unpickling_forbidden, threshold):
    root = root_of(brought_in)
    write_card(root, {**read_card(root), "threshold": threshold})

    with pytest.raises(ModelIntegrityError, match="threshold"):
        load_model(brought_in)


@pytest.mark.parametrize("threshold", [0, 1, 0.0, 1.0])
def test_thresholds_at_the_ends_of_0_1_are_accepted(brought_in, threshold):
    root = root_of(brought_in)
    write_card(root, {**read_card(root), "threshold": threshold})
    assert load_model(brought_in).threshold == threshold


@pytest.mark.parametrize("thing", [{"weights": [1, 2]}, StandardScaler()], ids=["dict", "transformer"])
def test_an_object_without_predict_proba_is_refused(brought_in, thing):
    model_path = root_of(brought_in) / MODEL_PATH
    joblib.dump(thing, model_path)
    dvc_add(model_path)

    with pytest.raises(ModelIntegrityError, match=f"holds a {type(thing).__name__}, which has no predict_proba"):
        load_model(brought_in)


def replaced_outs(outs) -> str:
    return yaml.safe_dump({"outs": outs})


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "it has no single entry under `outs`"),
        ("- a list\n- not DVC's\n", "it has no single entry under `outs`"),
        ("outs: {md5: abc, path: loan.joblib}\n", "it has no single entry under `outs`"),
        ("outs: []\n", "it has no single entry under `outs`"),
        (replaced_outs([{"md5": "0" * 32, "path": "a"}, {"md5": "1" * 32, "path": "b"}]), "no single entry"),
        ("outs:\n- just text\n", "it has no single entry under `outs`"),
        (replaced_outs([{"size": 10, "path": "loan.joblib"}]), "its `outs` entry has no md5"),
        (replaced_outs([{"md5": 123, "path": "loan.joblib"}]), "its `outs` entry has no md5"),
        ("outs: [unclosed\n", "is not valid YAML (line "),
        ("<<<<<<< HEAD\nouts:\n- md5: abc\n=======\nouts: []\n>>>>>>> theirs\n", "has merge-conflict markers (line 1)"),
    ],
    ids=[
        "empty",
        "a_list",
        "outs_a_mapping",
        "outs_empty",
        "two_outs",
        "out_not_a_mapping",
        "no_md5",
        "md5_not_text",
        "not_yaml",
        "merge_conflict",
    ],
)
def test_a_dvc_file_that_is_not_dvcs_shape_is_refused_before_unpickling(
    brought_in, unpickling_forbidden, text, problem
):
    record = root_of(brought_in) / f"{MODEL_PATH}.dvc"
    record.write_text(text)

    with pytest.raises(ModelIntegrityError) as refused:
        load_model(brought_in)

    message = str(refused.value)
    assert message.startswith(f"{record} ") and problem in message


def test_binary_junk_in_place_of_a_dvc_file_is_refused(brought_in, unpickling_forbidden):
    record = root_of(brought_in) / f"{CARD_PATH}.dvc"
    record.write_bytes(bytes(range(256)))

    with pytest.raises(ModelIntegrityError, match=r"loan_card.json.dvc is not text \(byte 128 is not UTF-8\)"):
        load_model(brought_in)


@pytest.mark.e2e
@pytest.mark.skipif(not DVC.exists(), reason="the project's DVC environment (.venv-dvc) is not installed")
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_real_dvc_add_writes_what_the_model_store_verifies(tmp_path):
    root = tmp_path / "team_repo"
    root.mkdir()
    use_case = train_and_bring_in(root)
    for path in (root / MODEL_PATH, root / CARD_PATH):
        Path(f"{path}.dvc").unlink()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(tmp_path / "dvc_site_cache")}

    def run(*command: str) -> None:
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True, timeout=120)

    run("git", "init", "-q")
    run(str(DVC), "init", "-q")
    run(str(DVC), "add", "-q", MODEL_PATH, CARD_PATH)

    record = yaml.safe_load((root / f"{MODEL_PATH}.dvc").read_text())
    assert record["outs"][0]["md5"] == file_md5(root / MODEL_PATH)
    assert record["outs"][0]["path"] == "loan.joblib"
    model = load_model(use_case)
    assert model.md5 == file_md5(root / MODEL_PATH)

    joblib.dump(StandardScaler(), root / MODEL_PATH)  # replaced after `dvc add`, not re-added
    with pytest.raises(ModelIntegrityError, match="but DVC records"):
        verify_artifact(use_case)
