"""The asset graph as reviewers should see it change: keys, deps, partitions, checks, schemas.

The snapshot in tests/snapshots/asset_graph.json is the reviewed shape of the graph, as ``dg``
loads it (``scoring_assets/definitions.py`` -> the defs folder): the reviewed use cases' assets
keyed ``[use case, asset]``, their jobs, sensors and schedules, plus the shared inbox. A change to
that part of the graph fails here until the snapshot is regenerated on purpose with
`UPDATE_SNAPSHOTS=1 python3 dev.py test tests/test_asset_graph.py`. A use case the snapshot does
not name yet (one just added) is left out of the comparison: every registered use case, reviewed
or not, must have the same shape (the tests below), so adding one keeps this file green.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from scoring_assets.builders.model_assets import record_model_observation
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.definitions import defs as load_code_location
from scoring_assets.runs import model_store, register_file
from scoring_assets.use_cases import all_use_cases
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import TELCO, USE_CASE_NAMES, valid_rows, write_csv
from tests.support.model_roots import built_model

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
PER_USE_CASE_ASSETS = (
    "feature_matrix",
    "inbox",
    "model",
    "model_history",
    "monitoring",
    "raw_batch",
    "scores",
    "scoring_manifest",
    "shadow_scores",
    "validated_batch",
)
OUTCOME_ASSETS = ("outcomes_inbox", "realized_performance")  # use cases whose rows have ids (UseCase.takes_outcomes)


@pytest.fixture(scope="module")
def code_location():
    return load_code_location()


def graph_shape(definitions) -> dict:
    graph = definitions.resolve_asset_graph()
    shape = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        checks = [graph.get_check_spec(check_key) for check_key in node.check_keys]
        schema = _column_schema(node)
        shape[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "group": node.group_name,
            "partitions": node.partitions_def.name if node.partitions_def else None,
            "materializable": node.is_materializable,
            "observable": node.is_observable,
            "checks": sorted(f"{spec.name}{' (blocking)' if spec.blocking else ''}" for spec in checks),
            "columns": [column.name for column in schema.columns] if schema else None,
            "automation_condition": type(node.automation_condition).__name__ if node.automation_condition else None,
        }
    jobs = {
        job.name: sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys)
        for job in definitions.resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    sensors = {sensor.name: sensor.default_status.value for sensor in definitions.sensors}
    schedules = {
        schedule.name: {"cron": schedule.cron_schedule, "default_status": schedule.default_status.value}
        for schedule in definitions.schedules
    }
    return {"assets": shape, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def _column_schema(node):
    value = node.metadata.get("dagster/column_schema")
    return getattr(value, "schema", value)


def owner(entry: str, use_case_names) -> str | None:
    """The use case an asset key (``<use case>/...``) or a job, sensor or schedule (``<use case>__...``) belongs to."""
    return next((name for name in use_case_names if entry.startswith((f"{name}/", f"{name}__"))), None)


def reviewed_part(shape: dict, reviewed: set[str]) -> dict:
    """``shape`` without the entries of use cases outside ``reviewed`` (shared entries stay)."""
    registered = set(all_use_cases()) | reviewed
    return {
        section: {name: entry for name, entry in entries.items() if owner(name, registered) in (None, *reviewed)}
        for section, entries in shape.items()
    }


def test_asset_graph_matches_the_reviewed_snapshot(code_location):
    shape = graph_shape(code_location)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(shape, indent=2, sort_keys=True) + "\n")
    snapshot = json.loads(SNAPSHOT.read_text())
    reviewed = {key.split("/")[0] for key in snapshot["assets"] if "/" in key}
    assert reviewed_part(shape, reviewed) == snapshot


def test_a_use_case_outside_the_snapshot_is_left_out_and_a_reviewed_one_is_compared(code_location):
    shape = graph_shape(code_location)
    [first, *others] = sorted(all_use_cases())
    part = reviewed_part(shape, {first})
    assert "inbox" in part["assets"] and "inbox_router" in part["sensors"]
    assert {owner(key, all_use_cases()) for key in part["assets"]} == {None, first}
    assert {owner(name, all_use_cases()) for name in part["jobs"]} == {first}
    assert not any(owner(name, others) for section in part.values() for name in section)


CHALLENGER_ASSETS = ("training_set", "challenger")


def test_every_registered_use_case_has_the_same_graph_beside_the_shared_inbox(code_location):
    assets = graph_shape(code_location)["assets"]
    expected = {"inbox", *(f"{name}/{asset}" for name in USE_CASE_NAMES for asset in PER_USE_CASE_ASSETS)}
    expected |= {f"{name}/{asset}" for name in USE_CASE_NAMES for asset in CHALLENGER_ASSETS}
    expected |= {
        f"{name}/{asset}"
        for name in USE_CASE_NAMES
        if declared_use_case(name).takes_outcomes
        for asset in OUTCOME_ASSETS
    }
    assert set(assets) == expected
    for name in USE_CASE_NAMES:
        assert {assets[f"{name}/{asset}"]["group"] for asset in PER_USE_CASE_ASSETS} == {name}
        assert assets[f"{name}/scores"]["deps"] == [f"{name}/feature_matrix", f"{name}/model"]
        assert assets[f"{name}/shadow_scores"]["deps"] == [f"{name}/feature_matrix", f"{name}/scores"]
        # apart, so materializing the use case's group (scoring a file) never trains a challenger
        assert {assets[f"{name}/{asset}"]["group"] for asset in CHALLENGER_ASSETS} == {f"{name}_challenger"}
        assert assets[f"{name}/challenger"]["deps"] == [f"{name}/training_set"]
    assert assets["inbox"]["group"] == "inbox"


@pytest.mark.parametrize("name", USE_CASE_NAMES)
def test_input_assets_show_the_contract_columns_in_the_ui(code_location, name):
    use_case = declared_use_case(name)
    graph = code_location.resolve_asset_graph()
    for asset in ("raw_batch", "validated_batch"):
        schema = _column_schema(graph.get(AssetKey([name, asset])))
        assert [column.name for column in schema.columns] == ["row_number", *use_case.contract_columns]


@pytest.mark.parametrize("name", USE_CASE_NAMES)
def test_the_contract_bounds_show_as_column_constraints(code_location, name):
    column, bound = next(
        (column, check.statistics["max_value"])
        for column, declared in declared_use_case(name).schema.columns.items()
        for check in declared.checks
        if check.name == "less_than_or_equal_to"
    )
    schema = _column_schema(code_location.resolve_asset_graph().get(AssetKey([name, "validated_batch"])))
    described = next(each for each in schema.columns if each.name == column)
    assert f"<= {bound}" in described.constraints.other


def test_code_location_loads_with_dg_check_defs_and_no_warnings_for_a_newcomer(tmp_path):
    """What a newcomer runs in the repository: it loads, with no Supersession, Beta or Preview warning."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    dg = Path(sys.executable).with_name("dg")
    result = subprocess.run(
        [str(dg), "check", "defs"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All definitions loaded successfully" in output
    for warning in ("SupersessionWarning", "BetaWarning", "PreviewWarning"):
        assert warning not in output, output


def test_string_asset_selection_materializes_from_the_command_line(tmp_path, folders):
    """`dg launch --assets <string> --partition` works: the antlr4 conflict with dvc is avoided."""
    built_model(TELCO)
    home = tmp_path / "home"
    home.mkdir()
    own = folders.of(TELCO.name)
    with DagsterInstance.from_config(str(home)) as instance:
        source = write_csv(valid_rows(TELCO, 50), tmp_path / "cli.csv")
        key = register_file(instance, TELCO, own, source).partition_key
        record_model_observation(instance, TELCO, model_store())
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "launch", "--assets", "group:telco_churn", "--partition", key],
        cwd=REPO_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert own.scored_file(key).exists()
    assert manifest_path_for(own.scored_file(key)).exists()
