"""A scored file's evidence bundle, built by ``scoring-assets evidence`` as a user runs it, and what it stands on.

Each registered use case scores its real public extract when ``../shared/data`` has it (else rows
of its own generator) once per module; the bundle is then built from that file by path, by
partition key and from the UI's job, and refused for a tampered scored file or an existing folder.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pandera.pandas as pa
import pytest
from dagster import DagsterEventType, DagsterInstance
from hypothesis import given
from hypothesis import strategies as st

from scoring_assets.builders.evidence import build_evidence_job
from scoring_assets.builders.keys import keys_of
from scoring_assets.core.check_results import checks_behind
from scoring_assets.core.manifest_model import Manifest
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.provenance import contract_version, declaration_sha256
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.settings import DATA_DIR_VARIABLE
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import REAL_EXTRACTS, USE_CASE_NAMES, valid_rows, write_csv
from tests.support.cli_workspace import Workspace, new_workspace, reported_path, reported_run_id
from tests.support.model_roots import copy_dvc_project, install_new_model

pytestmark = pytest.mark.usefixtures("model_artifact")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


@dataclass
class ScoredFile:
    use_case: str
    workspace: Workspace
    scored: Path
    run_id: str

    @property
    def manifest(self) -> Manifest:
        return Manifest.from_json(self.scored.with_name(self.scored.stem + ".manifest.json").read_text())


@pytest.fixture(scope="module", params=USE_CASE_NAMES)
def scored_file(request, tmp_path_factory, model_artifact) -> ScoredFile:
    """The use case's real extract (or generated rows) scored through the CLI in a workspace of its own."""
    name = request.param
    workspace = new_workspace(tmp_path_factory.mktemp(f"evidence_{name}"))
    source = REAL_EXTRACTS.get(name)
    if source is None or not source.exists():
        source = write_csv(valid_rows(declared_use_case(name), 200), workspace.cwd / f"{name}_extract.csv")
    result = workspace.run("score", str(source), "--use-case", name)
    assert result.returncode == EXIT_OK, result.stderr
    return ScoredFile(name, workspace, reported_path(result.stdout, "scored"), reported_run_id(result.stdout))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_bundle_of_a_scored_file_verifies_every_recorded_hash_and_holds_its_copies(scored_file, tmp_path):
    out = tmp_path / "bundle"

    result = scored_file.workspace.run("evidence", str(scored_file.scored), "--out", str(out), "--json")

    assert result.returncode == EXIT_OK, result.stderr
    record = json.loads((out / "evidence.json").read_text())
    assert json.loads(result.stdout) == record and record["evidence_version"] == 1
    items = {item["name"]: item for item in record["items"]}
    assert not [item for item in record["items"] if item["verified"] is False] and record["verified"] is True
    verified = (
        "scored file",
        "input file",
        "drift report",
        "packages list",
        "model",
        "reference profile",
        "model card",
    )
    for name in verified:
        assert items[name]["verified"] is True, items[name]
    assert items["scored file"]["actual"] == sha256_of(scored_file.scored) == record["scored_file"]["sha256"]
    for item in record["items"]:
        if item["copy"] and item["algorithm"] == "sha256":
            assert sha256_of(out / item["copy"]) == item["actual"]
    assert record["model"]["still_the_champion"] is True
    assert record["run"]["run_id"] == scored_file.run_id and record["run"]["tags"]["scoring/trigger"] == "cli"
    assert record["contract_version"] == contract_version(declared_use_case(scored_file.use_case))


def test_the_index_page_is_offline_and_names_every_item(scored_file, tmp_path):
    out = tmp_path / "bundle"
    assert scored_file.workspace.run("evidence", str(scored_file.scored), "--out", str(out)).returncode == EXIT_OK

    page = (out / "index.html").read_text()

    assert "<script" not in page and 'src="http' not in page and 'href="http' not in page
    for item in json.loads((out / "evidence.json").read_text())["items"]:
        assert item["name"] in page


def test_a_partition_key_gives_the_same_bundle_as_its_scored_file(scored_file, tmp_path):
    key = scored_file.manifest.partition_key

    result = scored_file.workspace.run("evidence", key, "--out", str(tmp_path / "by_key"), "--json")

    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["scored_file"]["path"] == str(scored_file.scored)


def test_an_existing_out_folder_or_an_unknown_partition_is_a_usage_error_writing_nothing(scored_file, tmp_path):
    existing = tmp_path / "taken"
    existing.mkdir()

    taken = scored_file.workspace.run("evidence", str(scored_file.scored), "--out", str(existing))
    unknown = scored_file.workspace.run("evidence", "no_such_file-0000abcd", "--out", str(tmp_path / "new"))

    assert taken.returncode == EXIT_USAGE and "exists already" in taken.stderr
    assert list(existing.iterdir()) == []
    assert unknown.returncode == EXIT_USAGE and "no_such_file-0000abcd" in unknown.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]


def test_a_tampered_scored_file_exits_1_naming_it_and_no_bundle_is_written(scored_file, tmp_path):
    copies = tmp_path / "copies"
    copies.mkdir()
    for path in scored_file.scored.parent.glob(scored_file.scored.stem + ".*"):
        shutil.copy(path, copies)
    tampered = copies / scored_file.scored.name
    with tampered.open("ab") as handle:
        handle.write(b"1,0.99\n")

    result = scored_file.workspace.run("evidence", str(tampered), "--out", str(tmp_path / "bundle"))

    assert result.returncode == EXIT_ERROR
    assert f"scored file {tampered}" in result.stderr and "modified" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copies"]  # no bundle, no temporary left


def test_the_manifest_records_the_code_checkout_environment_and_contract_version(scored_file):
    provenance = scored_file.manifest.provenance
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)

    assert provenance is not None
    assert provenance.code_checkout is not None and provenance.code_checkout.git_commit == head.stdout.strip()
    packages = Path(provenance.environment.packages_file)
    assert packages.parent == scored_file.workspace.data_dir / "lake" / scored_file.use_case / "environments"
    assert sha256_of(packages) == provenance.environment.sha256 == packages.stem
    assert any(line.startswith("dagster==") for line in packages.read_text().splitlines())
    assert provenance.contract_version == contract_version(declared_use_case(scored_file.use_case))
    assert scored_file.manifest.published_sha256["drift report"] == sha256_of(
        scored_file.scored.with_name(scored_file.scored.stem + ".drift.html")
    )


def test_the_check_results_kept_in_the_lake_are_those_dagster_recorded(scored_file):
    manifest = scored_file.manifest
    log = scored_file.workspace.data_dir / "lake" / scored_file.use_case / "checks" / f"{manifest.partition_key}.jsonl"
    kept = {
        (record["asset"], check["name"]): (check["passed"], check["description"], check["metadata"])
        for record in map(json.loads, log.read_text().splitlines())
        for check in record["checks"]
    }
    with DagsterInstance.from_config(str(scored_file.workspace.dagster_home)) as instance:
        events = instance.get_records_for_run(
            scored_file.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        evaluations = [record.event_log_entry.dagster_event.event_specific_data for record in events]
    recorded = {
        (evaluation.asset_key.path[-1], evaluation.check_name): (
            evaluation.passed,
            evaluation.description,
            {name: value.value for name, value in evaluation.metadata.items()},
        )
        for evaluation in evaluations
    }
    assert kept == recorded and len(kept) >= 10


def test_the_ui_job_writes_the_same_bundle(scored_file, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(scored_file.workspace.data_dir))
    use_case = declared_use_case(scored_file.use_case)
    out = tmp_path / "from_the_ui"
    config = {"partition_key": scored_file.manifest.partition_key, "out": str(out)}

    result = build_evidence_job(use_case).execute_in_process(
        run_config={"ops": {keys_of(use_case).evidence_op: {"config": config}}}, resources=scoring_resources()
    )

    assert result.success
    assert json.loads((out / "evidence.json").read_text())["scored_file"]["path"] == str(scored_file.scored)


def test_a_file_whose_model_is_no_longer_served_gets_a_bundle_saying_so(scored_file, tmp_path):
    use_case = declared_use_case(scored_file.use_case)
    model_root = copy_dvc_project(tmp_path / "retrained", use_case)
    install_new_model(model_root, use_case)
    out = tmp_path / "bundle"

    result = scored_file.workspace.run("evidence", str(scored_file.scored), "--out", str(out), model_root=model_root)

    assert result.returncode == EXIT_OK, result.stderr
    record = json.loads((out / "evidence.json").read_text())
    items = {item["name"]: item for item in record["items"]}
    assert record["model"]["still_the_champion"] is False
    assert items["model"]["verified"] is True  # its bytes are still where they were
    assert items["model card"]["copy"] is None and "not the one served now" in items["model card"]["note"]


def test_a_file_scored_by_an_earlier_version_gets_a_bundle_saying_what_it_cannot_prove(workspace, tmp_path):
    earlier = REPO_ROOT / "tests" / "data" / "manifest_0.1.0"
    for name in ("scored.csv", "scored.manifest.json"):
        shutil.copy(earlier / name, tmp_path / name)
    out = tmp_path / "bundle"

    result = workspace.run("evidence", str(tmp_path / "scored.csv"), "--use-case", "telco_churn", "--out", str(out))

    assert result.returncode == EXIT_OK, result.stderr
    record = json.loads((out / "evidence.json").read_text())
    items = {item["name"]: item for item in record["items"]}
    assert items["scored file"]["verified"] is True and record["contract_version"] is None
    assert items["check results"]["verified"] is None and record["checks"] == []
    assert "packages list" not in items and record["code_checkout"] is None


def check_line(run_id: str, asset: str) -> dict:
    return {"run_id": run_id, "asset": asset, "checks": [], "run_tags": {}}


def test_a_rescored_file_stands_on_its_own_run_and_the_upstream_steps_that_ran_before_it():
    upstream = ("raw_batch", "validated_batch", "feature_matrix")
    publishing = ("scores", "scoring_manifest")
    records = [
        *(check_line("first", asset) for asset in upstream + publishing),
        *(check_line("rescore", asset) for asset in publishing),
        check_line("refused_later", "raw_batch"),
    ]

    behind = checks_behind(records, "rescore")

    assert [(record["run_id"], record["asset"]) for record in behind] == [
        *(("first", asset) for asset in upstream),
        *(("rescore", asset) for asset in publishing),
    ]
    assert checks_behind(records, "never_published") == []


declarations = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def reordered(value, seed: int):
    """``value`` with every mapping's keys in another order (lists keep theirs: a check's order is declared)."""
    if isinstance(value, dict):
        keys = list(value)
        random.Random(seed).shuffle(keys)
        return {key: reordered(value[key], seed + 1) for key in keys}
    if isinstance(value, list):
        return [reordered(item, seed + 1) for item in value]
    return value


@given(declaration=st.dictionaries(st.text(max_size=6), declarations, min_size=1, max_size=5), seed=st.integers())
def test_the_contract_version_ignores_key_order_and_changes_with_any_value(declaration, seed):
    assert declaration_sha256(reordered(declaration, seed)) == declaration_sha256(declaration)
    changed = {**declaration, next(iter(declaration)): ["changed", declaration[next(iter(declaration))]]}
    assert declaration_sha256(changed) != declaration_sha256(declaration)


def test_the_contract_version_changes_when_a_check_changes(use_case):
    first = next(iter(use_case.schema.columns))
    changed = replace(use_case)
    changed.__dict__["schema"] = use_case.schema.update_column(first, checks=[pa.Check.str_length(min_value=99)])

    assert contract_version(changed) != contract_version(use_case)
    assert contract_version(use_case) == contract_version(declared_use_case(use_case.name))
