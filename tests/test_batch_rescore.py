"""Re-scoring many files in one run (``<use case>__rescore_batch``): each file still its own partition.

A batch run must record, per file, what a run of the rescore job records for it: the scores and
manifest materializations with the model's md5, every check result against that file's
partition (pointing at the materialization it judged), the lake's check log, the manifest and
the archive. One file's refusal must leave the others' results standing.
"""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from scoring_assets.builders.batch_rescore import batch_run_config, in_batches
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import record_model_observation
from scoring_assets.builders.prediction_assets import score_and_publish_check_specs
from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.builders.scored_models import scored_with_model
from scoring_assets.core.check_results import read_check_records
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.runs import execute_job, execute_score_run, model_store
from tests.support.batches import valid_rows, write_csv
from tests.support.cli_workspace import reported_path
from tests.support.model_roots import built_model, copy_dvc_project, install_new_model
from tests.support.scoring_runs import score_file

pytestmark = pytest.mark.usefixtures("model_artifact")


def scored_partitions(instance, folders, use_case, tmp_path, count: int) -> list[str]:
    keys = []
    for index in range(count):
        path = write_csv(valid_rows(use_case, 12, seed=index), tmp_path / f"{use_case.name}_{index}.csv")
        registration, result = score_file(instance, folders, path, use_case=use_case)
        assert result.success
        keys.append(registration.partition_key)
    return keys


def with_new_model(instance, use_case, tmp_path, monkeypatch) -> str:
    built_model(use_case)
    root = copy_dvc_project(tmp_path / "retrained", use_case)
    new_md5 = install_new_model(root, use_case)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(root))
    record_model_observation(instance, use_case, model_store())
    return new_md5


def latest(instance, asset_key: dg.AssetKey, partition: str):
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    return record


def lineage_tags(tags: dict[str, str]) -> dict[str, str]:
    """Code and data versions (what staleness is computed from), without pointers to particular events."""
    return {name: value for name, value in tags.items() if not name.startswith("dagster/input_event_pointer/")}


def evaluations_of_run(instance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [record.event_log_entry.dagster_event.event_specific_data for record in records]


def test_a_batch_run_records_every_file_as_its_own_partition(instance, folders, use_case, tmp_path, monkeypatch):
    keys = keys_of(use_case)
    partitions = scored_partitions(instance, folders, use_case, tmp_path, 3)
    before = {key: latest(instance, keys.scores, key) for key in partitions}
    new_md5 = with_new_model(instance, use_case, tmp_path, monkeypatch)

    result = execute_job(instance, keys.rescore_batch_job, batch_run_config(use_case, partitions))

    assert result.success
    own = folders.of(use_case.name)
    checks = {(spec.asset_key, spec.name) for spec in score_and_publish_check_specs(use_case, None)}
    evaluations = evaluations_of_run(instance, result.run_id)
    batch_records = {
        asset_key: latest(instance, asset_key, partitions[0]) for asset_key in (keys.scores, keys.scoring_manifest)
    }
    for key in partitions:
        scores, manifest_record = latest(instance, keys.scores, key), latest(instance, keys.scoring_manifest, key)
        assert scores.run_id == manifest_record.run_id == result.run_id and scores.partition_key == key
        assert scored_with_model(instance, use_case, key) == new_md5
        metadata = scores.asset_materialization.metadata
        assert metadata["model_md5"].value == new_md5
        assert set(metadata) == set(before[key].asset_materialization.metadata), "the same figures as a run per file"
        of_file = [evaluation for evaluation in evaluations if evaluation.partition == key]
        assert {(evaluation.asset_key, evaluation.check_name) for evaluation in of_file} == checks
        assert all(evaluation.passed or evaluation.severity == dg.AssetCheckSeverity.WARN for evaluation in of_file)
        judged = {evaluation.asset_key: evaluation.target_materialization_data.storage_id for evaluation in of_file}
        assert judged[keys.scores] == scores.storage_id
        assert judged[keys.scoring_manifest] == manifest_record.storage_id
        scored_path = own.scored_file(key)
        manifest = json.loads(manifest_path_for(scored_path).read_text())
        assert manifest["model"]["md5"] == new_md5 and manifest["run_id"] == result.run_id
        assert manifest["previous_output_archived_to"], "what it replaced was archived first"
        assert read_check_records(own.check_results(key))[-1]["run_id"] == result.run_id

    one_run = execute_score_run(instance, use_case, partitions[0], job_name=keys.rescore_job)
    assert one_run.success
    for asset_key in (keys.scores, keys.scoring_manifest):
        batch_tags = lineage_tags(batch_records[asset_key].asset_materialization.tags)
        assert batch_tags == lineage_tags(latest(instance, asset_key, partitions[0]).asset_materialization.tags)


def test_a_refused_file_fails_only_itself_and_the_run_names_it(instance, folders, use_case, tmp_path, monkeypatch):
    keys = keys_of(use_case)
    first, refused, last = scored_partitions(instance, folders, use_case, tmp_path, 3)
    old_md5 = scored_with_model(instance, use_case, refused)
    own = folders.of(use_case.name)
    published = own.scored_file(refused).read_bytes()
    own.registration_file(refused).unlink()  # its input can no longer be traced: re-scoring it must refuse
    new_md5 = with_new_model(instance, use_case, tmp_path, monkeypatch)

    listed = [first, refused, "ghost-00000000", last]  # a key typed into the launchpad that is no partition
    result = execute_job(instance, keys.rescore_batch_job, batch_run_config(use_case, listed))

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    reasons = failure.step_failure_data.user_failure_data.metadata["refused"].value
    assert list(reasons) == [refused, "ghost-00000000"] and "no registered input file" in reasons[refused]
    assert "no such partition" in reasons["ghost-00000000"]
    assert scored_with_model(instance, use_case, first) == scored_with_model(instance, use_case, last) == new_md5
    assert scored_with_model(instance, use_case, refused) == old_md5
    assert own.scored_file(refused).read_bytes() == published, "the refused file keeps its earlier scored file"
    observations = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION).records
    refusals = [record.event_log_entry.asset_observation for record in observations]
    assert {(obs.asset_key, obs.partition) for obs in refusals} == {
        (keys.scores, refused),
        (keys.scoring_manifest, refused),
    }
    assert all(obs.description.startswith("refused: ") for obs in refusals)


def test_the_cli_rescores_in_batches_and_reports_each_file(workspace, use_case, tmp_path):
    scored = []
    for index in range(3):
        write_csv(valid_rows(use_case, 10, seed=index), workspace.cwd / f"extract_{index}.csv")
        run = workspace.run("score", f"extract_{index}.csv")
        assert run.returncode == 0, run.stderr
        scored.append(reported_path(run.stdout, "scored"))
    built_model(use_case)
    retrained = copy_dvc_project(tmp_path / "retrained", use_case)
    new_md5 = install_new_model(retrained, use_case)
    middle = scored[1].stem
    registration = ScoringFolders(data_dir=str(workspace.data_dir)).of(use_case.name).registration_file(middle)
    registration.unlink()

    rescored = workspace.run(
        "rescore", "--use-case", use_case.name, "--max-partitions-per-run", "2", model_root=retrained
    )

    assert rescored.returncode == 1, rescored.stderr
    assert f"{use_case.name}: 2 of 3 file(s) re-scored" in rescored.stdout
    assert f"re-scoring {middle} failed" in rescored.stderr and "no registered input file" in rescored.stderr
    runs = {line.rsplit("(run ", 1)[1] for line in rescored.stdout.splitlines() if line.startswith("re-scored")}
    assert len(runs) == 2, "3 files at 2 per run: two runs"
    for path in (scored[0], scored[2]):
        assert set(pd.read_csv(path)["model_version"]) == {use_case.model_version(new_md5)}


def test_partitions_are_cut_into_runs_in_order():
    keys = [f"f{index}" for index in range(7)]
    assert in_batches(keys, 3) == [["f0", "f1", "f2"], ["f3", "f4", "f5"], ["f6"]]
    assert in_batches(keys, 100) == [keys] and in_batches([], 5) == []
