"""Adding a third use case touches only its own new files: a toy one, declared outside the product.

The toy (``tests/support/toy_use_case``: declaration, contract, features, params.yaml) is copied
into a temporary folder, put on ``PYTHONPATH`` and named in ``$SCORING_USE_CASE_MODULES``; its
model is trained here and brought in the way a team would, as files with a ``<file>.dvc`` beside
each, in the toy's own folder. Nothing under ``scoring_assets`` knows it, yet the CLI, the
Dagster job, the inbox sensors, lineage, re-scoring and the whole model lifecycle loop (outcomes,
a challenger trained on production rows with the toy's own ``params.yaml``, the gate, promotion,
rollback) all work for it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from dagster import AssetKey, SensorResult, build_sensor_context
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring_assets.core.dvc_cache import add_file
from scoring_assets.core.features import CategoryCodes, build_features
from scoring_assets.core.files import file_md5, file_sha256
from scoring_assets.core.manifest import read_manifest
from scoring_assets.core.model_lifecycle import register_challenger
from scoring_assets.core.promotion_gate import CHALLENGER_SPLIT, judge_challenger
from scoring_assets.core.serving import SERVING_FILE
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.training.serving_export import write_serving_form
from scoring_assets.use_cases import EXTRA_MODULES_VARIABLE, all_use_cases
from tests.support.batches import write_csv
from tests.support.cli_workspace import new_workspace, reported_path
from tests.support.model_roots import challenger_files, dvc_add, dvc_status
from tests.support.scoring_runs import score_file, sensor_resources

TEMPLATE = Path(__file__).parent / "support" / "toy_use_case"
MODULE = "toy_use_case"  # the copy's importable name
EXIT_MODEL = 4
SCORED_FIXED_COLUMNS = ["predicted_label", "model_version", "scoring_timestamp"]
CRITERION_FIELDS = {"name", "value", "threshold", "passed"}


def toy_rows(n_rows: int, seed: int, labelled: bool = True) -> pd.DataFrame:
    """Valid toy accounts as text; the default rate rises with the balance and is highest for retail."""
    rng = np.random.default_rng(seed)
    balance = rng.uniform(0, 50_000, n_rows).round(2)
    segment = rng.choice(["retail", "business", "private"], n_rows)
    odds = -3 + balance / 12_500 + (segment == "retail")
    rows = pd.DataFrame({"account": [f"A{seed:03d}-{i:05d}" for i in range(n_rows)], "balance": balance})
    rows["segment"] = segment
    if labelled:
        rows["defaulted"] = np.where(rng.uniform(size=n_rows) < 1 / (1 + np.exp(-odds)), "yes", "no")
    return rows.astype(str)


def train_pipeline(use_case, rows: pd.DataFrame) -> Pipeline:
    """A tiny Pipeline owning its preprocessing, as the shipped training builds it."""
    accepted = rows.astype({"balance": "float64"})
    features = build_features(use_case.features, accepted)
    labels = (rows[use_case.label.column] == use_case.label.positive).astype(int).to_numpy()
    categorical = use_case.features.categorical
    codes = CategoryCodes({name: list(levels) for name, levels in categorical.items()})
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(use_case.features.numeric)),
            (
                "categorical",
                Pipeline(
                    [
                        ("codes", codes),
                        ("one_hot", OneHotEncoder(categories=[list(range(len(v))) for v in categorical.values()])),
                    ]
                ),
                list(categorical),
            ),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("classifier", LogisticRegression())]).fit(features, labels)


def bring_in_model(package: Path, use_case, pipeline: Pipeline, compress: int = 0) -> str:
    """Write the model and its card into the toy's folder and `dvc add` both; returns the model's md5."""
    model_path, card_path = package / use_case.model.model_path, package / use_case.model.card_path
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_path, compress=compress)
    card = {
        "threshold": 0.5,
        "positive_class": 1,
        "classes": [0, 1],
        "sklearn_version": sklearn.__version__,
        "feature_contract": {
            "numeric_features": list(use_case.features.numeric),
            "categorical_features": list(use_case.features.categorical),
        },
        "model": {"kind": "LogisticRegression"},
    }
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    dvc_add(card_path)
    return dvc_add(model_path)


def copy_site(site: Path, destination: Path) -> Path:
    """Another PYTHONPATH folder holding the same toy and model: a model root a test may change."""
    shutil.copytree(site, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


class Toy:
    """A PYTHONPATH folder holding the toy package (and so its model): run the CLI knowing it, change its model."""

    def __init__(self, site: Path, module: str = MODULE):
        self.site = site
        self.module = module
        self.package = site / module

    def cli(self, workspace, *args: str) -> subprocess.CompletedProcess:
        """``python -m scoring_assets ARGS`` in ``workspace``, knowing the toy through the environment only."""
        env = {key: value for key, value in os.environ.items() if key != "SCORING_MODEL_ROOT"}
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(self.site), os.environ.get("PYTHONPATH", "")])),
            SCORING_DATA_DIR=str(workspace.data_dir),
            DAGSTER_HOME=str(workspace.dagster_home),
        )
        env[EXTRA_MODULES_VARIABLE] = self.module
        return subprocess.run(
            [sys.executable, "-m", "scoring_assets", *args],
            cwd=workspace.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def replace_model(self, use_case) -> str:
        """Another artifact for the same model (re-pickled with compression), `dvc add`-ed; returns its md5."""
        model_path = self.package / use_case.model.model_path
        pipeline = joblib.load(model_path)
        joblib.dump(pipeline, model_path, compress=3)
        return dvc_add(model_path)


def forget_toy_modules() -> None:
    for name in [name for name in sys.modules if name == MODULE or name.startswith(f"{MODULE}.")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory) -> Path:
    """A PYTHONPATH folder with the toy package and its brought-in model, built once for the module."""
    site = tmp_path_factory.mktemp("toy_site")
    shutil.copytree(TEMPLATE, site / MODULE, ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(site))
    try:
        use_case = importlib.import_module(MODULE).USE_CASE
        bring_in_model(site / MODULE, use_case, train_pipeline(use_case, toy_rows(400, seed=1)))
    finally:
        sys.path.remove(str(site))
        forget_toy_modules()
    return site


@pytest.fixture(scope="module")
def toy(toy_site):
    """The toy known in this process too (for the Dagster job and sensors); everything restored afterwards."""
    previous = os.environ.get(EXTRA_MODULES_VARIABLE)
    os.environ[EXTRA_MODULES_VARIABLE] = MODULE
    sys.path.insert(0, str(toy_site))
    all_use_cases.cache_clear()
    scoring_definitions.cache_clear()
    try:
        [use_case] = [each for each in all_use_cases().values() if each.contract.__module__.startswith(MODULE)]
        yield use_case
    finally:
        if previous is None:
            os.environ.pop(EXTRA_MODULES_VARIABLE, None)
        else:
            os.environ[EXTRA_MODULES_VARIABLE] = previous
        sys.path.remove(str(toy_site))
        forget_toy_modules()
        all_use_cases.cache_clear()
        scoring_definitions.cache_clear()


def scored_header(path: Path) -> list[str]:
    return list(pd.read_csv(path, nrows=0).columns)


def test_the_cli_routes_a_toy_file_by_its_header_scores_it_and_tells_its_lineage(toy_site, toy, tmp_path):
    site = Toy(toy_site)
    workspace = new_workspace(tmp_path / "workspace")
    rows = toy_rows(40, seed=2, labelled=False)
    rows.loc[7, "balance"] = "2000000"  # over the contract's upper bound
    source = write_csv(rows, workspace.cwd / "toy.csv")

    scored = site.cli(workspace, "score", "toy.csv")
    assert scored.returncode == 0, scored.stderr
    scored_path = reported_path(scored.stdout, "scored")
    assert scored_path.parent == workspace.data_dir / "scored" / toy.name
    assert scored_header(scored_path)[:5] == [toy.scored_id_column, toy.score_column, *SCORED_FIXED_COLUMNS]
    assert not [name for name in scored_header(scored_path) if name.startswith("reason_")]  # it declares none
    output = pd.read_csv(scored_path)
    assert len(output) == 39 and rows.loc[7, "account"] not in set(output[toy.scored_id_column])
    assert output[toy.score_column].between(0, 1).all()
    rejects = pd.read_csv(reported_path(scored.stdout, "rejected"))
    assert list(rejects[[toy.scored_id_column, "column"]].itertuples(index=False, name=None)) == [
        (rows.loc[7, "account"], "balance")
    ]

    listed = site.cli(workspace, "use-cases")
    assert listed.returncode == 0, listed.stderr
    model_md5 = file_md5(site.package / toy.model.model_path)
    assert f"{toy.name}: {toy.title}" in listed.stdout
    assert f"model:    {toy.model_version(model_md5)}" in listed.stdout

    lineage = site.cli(workspace, "lineage", str(scored_path))
    assert lineage.returncode == 0, lineage.stderr
    told = json.loads(lineage.stdout)
    assert told["input"]["sha256"] == file_sha256(source)
    assert told["model"]["md5"] == model_md5
    assert told["model"]["version"] == toy.model_version(model_md5) == output["model_version"].iloc[0]


def test_the_toy_dagster_job_materializes_its_own_assets(toy, instance, folders, tmp_path):
    source = write_csv(toy_rows(30, seed=3), tmp_path / "accounts.csv")
    registration, result = score_file(instance, folders, source, use_case=toy)
    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == {
        AssetKey([toy.name, name])
        for name in ("raw_batch", "validated_batch", "feature_matrix", "scores", "scoring_manifest")
    }
    assert {AssetKey([toy.name, "model"]), AssetKey([toy.name, "inbox"])} <= {
        spec.key for spec in scoring_definitions().resolve_all_asset_specs()
    }
    scored = folders.of(toy.name).scored_file(registration.partition_key)
    assert scored_header(scored)[:2] == [toy.scored_id_column, toy.score_column]


class Ticks:
    """Ticks one sensor as the daemon does: cursor carried over, requested partitions added."""

    def __init__(self, instance, sensor_name: str, folders):
        self.instance = instance
        self.sensor = scoring_definitions().resolve_sensor_def(sensor_name)
        self.resources = sensor_resources(folders)
        self.cursor = None

    def tick(self) -> SensorResult:
        result = self.sensor(build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources))
        if not isinstance(result, SensorResult):
            return SensorResult(skip_reason=result)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    def requested_after_settling(self, path: Path) -> list:
        settled = time.time() - 60
        os.utime(path, (settled, settled))
        self.tick()  # first seen
        return list(self.tick().run_requests or [])


@pytest.mark.parametrize("shared_inbox", [False, True], ids=["own_inbox", "shared_inbox_router"])
def test_a_toy_file_dropped_into_an_inbox_gets_a_toy_run(toy, instance, folders, shared_inbox):
    inbox = folders.inbox if shared_inbox else folders.of(toy.name).inbox
    sensor_name = "inbox_router" if shared_inbox else f"{toy.name}__inbox_sensor"
    ticks = Ticks(instance, sensor_name, folders)
    dropped = write_csv(toy_rows(10, seed=4, labelled=False), inbox / "accounts.csv")
    [request] = ticks.requested_after_settling(dropped)
    assert request.job_name == f"{toy.name}__score_file"
    assert instance.has_dynamic_partition(f"{toy.name}__files", request.partition_key)


def test_a_new_toy_model_is_rescored_and_a_tampered_one_refused(toy_site, toy, tmp_path):
    site = Toy(copy_site(toy_site, tmp_path / "site"))  # this test changes the model: its own copy
    workspace = new_workspace(tmp_path / "workspace")
    write_csv(toy_rows(20, seed=5, labelled=False), workspace.cwd / "toy.csv")
    first = site.cli(workspace, "score", "toy.csv")
    assert first.returncode == 0, first.stderr
    scored_path = reported_path(first.stdout, "scored")

    new_md5 = site.replace_model(toy)
    rescored = site.cli(workspace, "rescore", "--use-case", toy.name)
    assert rescored.returncode == 0, rescored.stderr
    assert f"1 of 1 file(s) re-scored with {toy.model_version(new_md5)}" in rescored.stdout
    assert read_manifest(scored_path).model.md5 == new_md5

    model_path = site.package / toy.model.model_path
    model_path.write_bytes(model_path.read_bytes() + b"\0")  # bytes changed, .dvc not updated
    assert hashlib.md5(model_path.read_bytes()).hexdigest() != new_md5
    refused = site.cli(workspace, "score", "toy.csv")
    assert refused.returncode == EXIT_MODEL, refused.stderr
    assert f"{toy.name} model" in refused.stderr and new_md5 in refused.stderr


def make_dvc_project(folder: Path, use_case) -> Path:
    """The toy's folder as the DVC project it would be (``dvc init --no-scm``), its brought-in files in the cache.

    ``dvc add`` leaves a file's bytes in the cache too (``dvc_add`` above only writes the ``.dvc`` file).
    """
    (folder / ".dvc").mkdir(exist_ok=True)
    (folder / ".dvc" / "config").write_text("[core]\n    analytics = false\n    no_scm = True\n")
    (folder / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    for relative in (use_case.model.model_path, use_case.model.card_path):
        add_file(folder, folder / relative)
    return folder


def served_md5_in_lineage(site: Toy, workspace, scored: Path) -> tuple[str, bool]:
    shown = site.cli(workspace, "lineage", str(scored))
    assert shown.returncode == 0, shown.stderr
    told = json.loads(shown.stdout)
    return told["model"]["md5"], told["still_the_champion"]


def scored_with(site: Toy, workspace, rows: pd.DataFrame, name: str, use_case) -> Path:
    write_csv(rows, workspace.cwd / name)
    scored = site.cli(workspace, "score", name, "--use-case", use_case.name)
    assert scored.returncode == 0, scored.stderr
    return reported_path(scored.stdout, "scored")


@pytest.mark.e2e
def test_the_toy_goes_round_the_model_lifecycle_loop_through_the_cli(toy_site, toy, tmp_path):
    """Score, outcomes, train on production, the gate, promote, a new file on the challenger, roll back."""
    site = Toy(copy_site(toy_site, tmp_path / "site"))  # promotion changes the toy's folder: its own copy
    make_dvc_project(site.package, toy)  # params.yaml (its training settings) came with the package
    workspace = new_workspace(tmp_path / "workspace")
    use_case_args = ["--use-case", toy.name]
    extract = toy_rows(2000, seed=6)
    first, second = extract.iloc[:1400], extract.iloc[1400:]
    label = toy.label.column
    champion = file_md5(site.package / toy.model.model_path)

    scored = scored_with(site, workspace, first.drop(columns=[label]), "first.csv", toy)
    assert served_md5_in_lineage(site, workspace, scored) == (champion, True)
    write_csv(first[[toy.id_column, label]], workspace.cwd / "outcomes.csv")
    registered = site.cli(workspace, "outcomes", "outcomes.csv", *use_case_args, "--json")
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["matched"] == len(first)

    trained = site.cli(workspace, "train", *use_case_args, "--training-set", "production", "--json")
    assert trained.returncode == 0, trained.stderr
    verdict = json.loads(trained.stdout)
    challenger = verdict["challenger_md5"]
    assert challenger != champion
    criteria = {each["name"]: each for each in verdict["gate"]["criteria"]}
    assert criteria and all(set(each) >= CRITERION_FIELDS for each in criteria.values())
    for name in ("roc_auc_loss_test", "brier_loss_test"):  # the brought-in champion has no test split
        assert criteria[name]["value"] is not None and CHALLENGER_SPLIT in criteria[name]["note"]

    promote = ["promote", *use_case_args, "--json"]
    reason = "toy loop test: serve the challenger the gate refused"
    if not verdict["gate"]["passed"]:
        refused = site.cli(workspace, *promote)
        assert refused.returncode == 5 and "failed the gate" in refused.stderr
        promote += ["--force", "--reason", reason]
    promoted = site.cli(workspace, *promote)
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["served_md5"] == challenger

    rescored = scored_with(site, workspace, second.drop(columns=[label]).iloc[:300], "second.csv", toy)
    assert served_md5_in_lineage(site, workspace, rescored) == (challenger, True)

    rolled_back = site.cli(workspace, "rollback", *use_case_args, "--json")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert json.loads(rolled_back.stdout)["served_md5"] == champion
    third = scored_with(site, workspace, second.drop(columns=[label]).iloc[300:], "third.csv", toy)
    assert served_md5_in_lineage(site, workspace, third) == (champion, True)

    models = site.cli(workspace, "models", *use_case_args, "--json")
    assert models.returncode == 0, models.stderr
    history = json.loads(models.stdout)["history"]
    assert [record["event"] for record in history][-3:] == ["challenged", "promoted", "rolled_back"]
    assert verdict["gate"]["passed"] or reason in history[-2]["why"]
    assert dvc_status(site.package) == "Data and pipelines are up to date."


def test_without_a_champion_test_split_the_gate_judges_on_the_challengers_or_says_it_skipped(
    toy_site, toy, folders, tmp_path
):
    root = make_dvc_project(copy_site(toy_site, tmp_path / "site") / MODULE, toy)
    challenger = challenger_files(root, toy)  # the champion re-pickled: other md5, same scores
    register_challenger(toy, root, challenger, training_set={"rows": 0}, metrics={})
    own = folders.of(toy.name)

    skipped = {each.name: each for each in judge_challenger(toy, root, own).criteria}
    for name in ("roc_auc_loss_test", "brier_loss_test"):
        assert skipped[name].value is None and skipped[name].passed
        assert skipped[name].note.startswith("skipped: the champion has no held-out test split")

    held_out = toy_rows(200, seed=8).astype({"balance": "float64"})
    judged = {each.name: each for each in judge_challenger(toy, root, own, held_out).criteria}
    for name in ("roc_auc_loss_test", "brier_loss_test"):
        assert judged[name].value == 0.0 and judged[name].passed and judged[name].note == f"on {CHALLENGER_SPLIT}"


REASONED_MODULE = "toy_with_reasons"  # the toy as a team adds reason codes to it: its own package name
TOY_REASONS = """from scoring_assets.core.use_case import Reasons

REASONS = Reasons(
    texts={"balance": "Balance owed", "segment": "Customer segment"},
    max_reasons=2,
    only_never_text="No reason can be given",
)
"""


@pytest.fixture(scope="module")
def reasoned_toy_site(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The toy declaring reason codes (a ``reasons.py`` and one line), its model brought in without a serving form."""
    site = tmp_path_factory.mktemp("reasoned_toy_site")
    package = site / REASONED_MODULE
    shutil.copytree(TEMPLATE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "reasons.py").write_text(TOY_REASONS)
    declaration = (package / "__init__.py").read_text()
    declaration = declaration.replace(
        "from .features import FEATURES\n", "from .features import FEATURES\nfrom .reasons import REASONS\n"
    )
    (package / "__init__.py").write_text(
        declaration.replace("    label=Label(", "    reasons=REASONS,\n    label=Label(")
    )
    training_rows = toy_rows(400, seed=1)
    sys.path.insert(0, str(site))
    try:
        use_case = importlib.import_module(REASONED_MODULE).USE_CASE
        assert use_case.reasons is not None
        bring_in_model(package, use_case, train_pipeline(use_case, training_rows))
    finally:
        sys.path.remove(str(site))
        for name in [name for name in sys.modules if name.startswith(REASONED_MODULE)]:
            del sys.modules[name]
    return site, training_rows


def bring_in_serving_form(package: Path, use_case, training_rows: pd.DataFrame) -> None:
    """Export the brought-in Pipeline's linear serving form as training does, name it in the card, `dvc add` both."""
    model_path, card_path = package / use_case.model.model_path, package / use_case.model.card_path
    features = build_features(use_case.features, training_rows.astype({"balance": "float64"}))
    serving_file = model_path.parent / SERVING_FILE
    section = write_serving_form(
        joblib.load(model_path),
        use_case.features,
        1,
        (features, features),
        (serving_file, model_path),
        use_case.reasons,
    )
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "serving": section}, indent=2, sort_keys=True) + "\n")
    dvc_add(card_path)
    dvc_add(serving_file)


def test_a_toy_declaring_reasons_but_served_as_its_pipeline_is_refused_with_exit_4(reasoned_toy_site, tmp_path):
    site = Toy(reasoned_toy_site[0], REASONED_MODULE)
    workspace = new_workspace(tmp_path / "workspace")
    write_csv(toy_rows(20, seed=9, labelled=False), workspace.cwd / "toy.csv")

    refused = site.cli(workspace, "score", "toy.csv")

    assert refused.returncode == EXIT_MODEL, refused.stderr
    assert "declares reason codes" in refused.stderr and "served as 'pipeline'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not list((workspace.data_dir / "scored").rglob("*.csv"))


def test_a_toy_declaring_reasons_with_a_linear_serving_form_writes_its_reason_columns(reasoned_toy_site, tmp_path):
    site = Toy(copy_site(reasoned_toy_site[0], tmp_path / "site"), REASONED_MODULE)
    sys.path.insert(0, str(site.site))
    try:
        use_case = importlib.import_module(REASONED_MODULE).USE_CASE
        bring_in_serving_form(site.package, use_case, reasoned_toy_site[1])
    finally:
        sys.path.remove(str(site.site))
        for name in [name for name in sys.modules if name.startswith(REASONED_MODULE)]:
            del sys.modules[name]
    workspace = new_workspace(tmp_path / "workspace")
    write_csv(toy_rows(300, seed=10, labelled=False), workspace.cwd / "toy.csv")

    scored = site.cli(workspace, "score", "toy.csv", "--reason-inputs")

    assert scored.returncode == 0, scored.stderr
    scored_path = reported_path(scored.stdout, "scored")
    fixed = [use_case.scored_id_column, use_case.score_column, *SCORED_FIXED_COLUMNS, "row_number"]
    reasons = ["reason_1", "reason_2", "reason_1_input", "reason_2_input"]
    assert scored_header(scored_path) == [*fixed, *reasons]
    output = pd.read_csv(scored_path, dtype=str, keep_default_na=False)
    declined = output[output["predicted_label"] == "1"]
    assert len(declined) and (declined["reason_1"] != "").all()
    assert set(output["reason_1"]) <= {"", "Balance owed", "Customer segment"}
    assert set(output["reason_1_input"]) <= {"", "balance", "segment"}
    assert read_manifest(scored_path).reasons.version == use_case.reasons.version
