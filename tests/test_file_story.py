"""What a person sees about each file in Dagster: its own check status, figures, tags and outputs.

One bad file must not make good files look failed, nor a good file hide a bad one; every
check says what it found; runs can be found by file, model and trigger; the scored file and
its manifest never disagree, whatever is selected.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from scoring_assets.builders.model_assets import record_model_observation
from scoring_assets.builders.run_tags import MODEL_VERSION, SOURCE_FILE, SOURCE_SHA256, TRIGGER, Trigger
from scoring_assets.core.manifest import lineage, manifest_path_for
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.runs import execute_score_run, model_store, register_file
from tests.support.batches import TELCO, customer_rows, header_name, out_of_set, valid_rows, write_csv
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file

pytestmark = pytest.mark.usefixtures("model_artifact")


def latest_status_by_partition(
    instance, use_case, asset: str, check: str
) -> dict[str, AssetCheckExecutionRecordStatus]:
    key = AssetCheckKey(AssetKey([use_case.name, asset]), check)
    infos = instance.event_log_storage.get_asset_check_partition_info([key])
    return {info.partition_key: info.latest_execution_status for info in infos}


def rows_with_bad_ones(use_case, count: int, bad: int, seed: int):
    """``count`` valid rows of which the first ``bad`` hold a value outside the contract's value set."""
    rows = valid_rows(use_case, count, seed=seed)
    column, value = out_of_set(use_case)
    rows.loc[rows.index[:bad], header_name(rows, column)] = value
    return rows


def test_each_file_keeps_its_own_check_status_whatever_came_after_it(instance, folders, use_case, tmp_path):
    def scored(rows, name):
        return score_file(instance, folders, write_csv(rows, tmp_path / name), use_case=use_case)

    good_first, _ = scored(valid_rows(use_case, 40, seed=1), "good1.csv")
    bad, bad_run = scored(rows_with_bad_ones(use_case, 100, 20, seed=8), "bad.csv")
    good_last, _ = scored(valid_rows(use_case, 40, seed=2), "good2.csv")
    assert not bad_run.success

    fraction = latest_status_by_partition(instance, use_case, "validated_batch", "reject_fraction_within_limit")
    assert fraction == {
        good_first.partition_key: AssetCheckExecutionRecordStatus.SUCCEEDED,
        bad.partition_key: AssetCheckExecutionRecordStatus.FAILED,
        good_last.partition_key: AssetCheckExecutionRecordStatus.SUCCEEDED,
    }
    scores = latest_status_by_partition(instance, use_case, "scores", "score_is_probability")
    assert (
        scores[good_first.partition_key] == scores[good_last.partition_key] == AssetCheckExecutionRecordStatus.SUCCEEDED
    )
    assert scores.get(bad.partition_key) != AssetCheckExecutionRecordStatus.SUCCEEDED

    def materialized_partitions(asset: str) -> set[str]:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey([use_case.name, asset])), limit=100
        ).records
        return {record.partition_key for record in records}

    assert materialized_partitions("validated_batch") == {good_first.partition_key, good_last.partition_key}
    assert materialized_partitions("scores") == {good_first.partition_key, good_last.partition_key}


def test_every_check_result_says_what_it_found_in_figures(instance, folders, use_case, tmp_path):
    rows = rows_with_bad_ones(use_case, 200, 3, seed=3)
    _, result = score_file(instance, folders, write_csv(rows, tmp_path / "three_bad.csv"), use_case=use_case)

    descriptions = {
        f"{event.event_specific_data.asset_key.path[-1]}:{event.event_specific_data.check_name}": (
            event.event_specific_data.description
        )
        for event in result.all_events
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    with_reasons = use_case.reasons is not None  # reasons_consistent, for a use case that gives reason codes
    assert len(descriptions) == 11 + with_reasons and all(descriptions.values())
    assert "most drifted" in descriptions["scores:input_drift_below_alert"]
    assert descriptions["scores:score_drift_below_alert"].startswith("score PSI ")
    assert (
        descriptions["validated_batch:reject_fraction_within_limit"] == "3 of 200 rows rejected (1.5%) <= 5.0% allowed"
    )
    assert descriptions["raw_batch:has_rows"] == "200 data row(s)"
    assert descriptions["scores:scores_match_accepted_rows"] == "197 scores for 197 accepted rows, same ids and order"
    assert descriptions["scores:score_is_probability"] == "all 197 scores in [0, 1]"


def test_runs_carry_the_file_its_sha256_the_model_and_the_trigger(workspace, use_case):
    model_artifact = built_model(use_case)
    source = write_csv(valid_rows(use_case, 20), workspace.cwd / "tagged.csv")
    assert workspace.run("score", "tagged.csv").returncode == 0
    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        [run] = instance.get_runs()
    assert run.tags[SOURCE_FILE] == "tagged.csv"
    assert run.tags[SOURCE_SHA256] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert run.tags[MODEL_VERSION] == model_artifact.version
    assert run.tags[TRIGGER] == Trigger.CLI


def test_a_run_started_without_a_trigger_is_tagged_as_launched_from_the_ui(instance, folders, tmp_path):
    source = write_csv(customer_rows(10), tmp_path / "from_ui.csv")
    registration = register_file(instance, TELCO, folders.of(TELCO.name), source)
    result = execute_score_run(instance, TELCO, registration.partition_key)
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[TRIGGER] == Trigger.UI and run.tags[SOURCE_FILE] == "from_ui.csv"


def test_score_figures_are_separate_numbers_dagster_can_plot(instance, folders, use_case, tmp_path):
    model_artifact = built_model(use_case)
    source = write_csv(valid_rows(use_case, 300, seed=4), tmp_path / "plot.csv")
    registration, _ = score_file(instance, folders, source, use_case=use_case)
    records = instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=AssetKey([use_case.name, "scores"]), asset_partitions=[registration.partition_key]
        ),
        limit=1,
    ).records
    metadata = records[0].asset_materialization.metadata
    for name in ("score_mean", "score_p05", "score_median", "score_p95", "share_at_or_above_threshold"):
        assert isinstance(metadata[name].value, float), name
    assert metadata["rows_scored"].value == 300
    assert metadata["threshold"].value == round(model_artifact.threshold, 4)
    validated = instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=AssetKey([use_case.name, "validated_batch"]), asset_partitions=[registration.partition_key]
        ),
        limit=1,
    ).records[0]
    assert isinstance(validated.asset_materialization.metadata["reject_fraction"].value, float)


def dagster_command(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [str(Path(sys.executable).with_name(args[0])), *args[1:]],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_scored_file_and_manifest_are_published_together_whatever_is_selected(tmp_path, folders):
    home = tmp_path / "home"
    home.mkdir()
    with DagsterInstance.from_config(str(home)) as instance:
        registration, first = score_file(instance, folders, write_csv(customer_rows(30), tmp_path / "pair.csv"))
        record_model_observation(instance, TELCO, model_store())
    assert first.success
    scored = folders.of(TELCO.name).scored_file(registration.partition_key)
    before = scored.read_bytes()

    alone = dagster_command(
        home, "dg", "launch", "--assets", "key:telco_churn/scores", "--partition", registration.partition_key
    )
    assert alone.returncode != 0
    assert "does not support subsetting" in alone.stdout + alone.stderr
    assert scored.read_bytes() == before and lineage(scored)["matches_manifest"]

    both = dagster_command(
        home,
        "dg",
        "launch",
        "--assets",
        "key:telco_churn/scores or key:telco_churn/scoring_manifest",
        "--partition",
        registration.partition_key,
    )
    assert both.returncode == 0, both.stdout[-2000:] + both.stderr[-2000:]
    assert lineage(scored)["matches_manifest"]
    manifest = json.loads(manifest_path_for(scored).read_text())
    archived = Path(manifest["previous_output_archived_to"])
    assert (archived / scored.name).read_bytes() == before, "the replaced scored file is archived, not overwritten"
    assert lineage(archived / scored.name)["matches_manifest"]
