"""Sensor ticks, automation and the schedule, evaluated in process against a real instance.

The daemon end-to-end test (test_daemon_e2e.py) proves the same behaviour with the real
webserver and daemon; these tests pin down each rule quickly.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

import pytest
from conftest import customer_rows, score_file, write_csv
from dagster import (
    AssetKey,
    DagsterInstance,
    SensorResult,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
)

from scoring_assets import sensors
from scoring_assets.definitions import defs
from scoring_assets.model_assets import latest_observed_model_md5, record_model_observation
from scoring_assets.partitions import input_files_partitions
from scoring_assets.resources import ScoringFolders
from scoring_assets.schedules import NIGHTLY_LATEST_PARTITIONS, nightly_rescore

pytestmark = pytest.mark.usefixtures("model_artifact")


class InboxDaemon:
    """Ticks the inbox sensor the way the daemon does: cursor carried over, partitions applied."""

    def __init__(self, instance: DagsterInstance):
        self.instance = instance
        self.cursor: str | None = None

    def tick(self) -> SensorResult:
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"folders": ScoringFolders()}
        )
        result = sensors.inbox_sensor(context)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        for event in result.asset_events or []:
            self.instance.report_runless_asset_event(event)
        return result


def drop(folders: ScoringFolders, name: str, rows) -> None:
    path = write_csv(rows, folders.inbox / name)
    past = time.time() - 60
    os.utime(path, (past, past))


def requested(result: SensorResult) -> list[str]:
    return [request.partition_key for request in result.run_requests or []]


@pytest.fixture
def daemon(instance, folders):
    return InboxDaemon(instance)


def test_new_file_gets_one_run_after_it_is_seen_stable(daemon, folders, instance, model_artifact):
    drop(folders, "monday.csv", customer_rows(20))
    assert requested(daemon.tick()) == []
    result = daemon.tick()
    [key] = requested(result)
    assert key.startswith("monday-")
    assert result.run_requests[0].run_key == key
    assert instance.has_dynamic_partition(input_files_partitions.name, key)
    assert latest_observed_model_md5(instance) == model_artifact.md5
    assert requested(daemon.tick()) == []


def test_same_bytes_under_another_name_are_skipped_and_new_content_gets_a_new_partition(daemon, folders):
    rows = customer_rows(20)
    drop(folders, "batch.csv", rows)
    daemon.tick()
    [first] = requested(daemon.tick())

    drop(folders, "batch copy.csv", rows)
    daemon.tick()
    assert requested(daemon.tick()) == []

    drop(folders, "batch.csv", customer_rows(21))
    daemon.tick()
    [second] = requested(daemon.tick())
    assert second != first and second.startswith("batch-")


def test_copies_dropped_together_are_scored_once(daemon, folders):
    rows = customer_rows(15)
    for name in ("original.csv", "copy 1.csv", "copy 2.csv"):
        drop(folders, name, rows)
    daemon.tick()
    assert len(requested(daemon.tick())) == 1


def test_many_files_at_once_each_get_exactly_one_run(daemon, folders, instance):
    for index in range(200):
        drop(folders, f"drop_{index:03d}.csv", customer_rows(3, seed=index))
    daemon.tick()
    keys = requested(daemon.tick())
    assert len(keys) == 200 and len(set(keys)) == 200
    assert len(instance.get_dynamic_partitions(input_files_partitions.name)) == 200
    assert requested(daemon.tick()) == []


def test_a_restarted_daemon_resumes_from_cursor_and_instance(daemon, folders, instance):
    drop(folders, "before_restart.csv", customer_rows(10))
    daemon.tick()
    daemon.tick()
    restarted = InboxDaemon(instance)
    restarted.cursor = daemon.cursor
    assert requested(restarted.tick()) == []
    forgetful = InboxDaemon(instance)  # even with the cursor lost, content already scored is skipped
    forgetful.tick()
    assert requested(forgetful.tick()) == []


def test_files_wait_while_the_model_cannot_be_verified(daemon, folders, monkeypatch, tmp_path):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(tmp_path / "no_model_here"))
    drop(folders, "patient.csv", customer_rows(10))
    daemon.tick()
    result = daemon.tick()
    assert requested(result) == [] and "dvc repro" in result.skip_reason.skip_message
    monkeypatch.delenv("SCORING_MODEL_ROOT")
    assert len(requested(daemon.tick())) == 1


def test_model_sensor_observes_a_new_model_once(instance, monkeypatch, retrained_model_root, model_artifact):
    record_model_observation(instance)
    context = build_sensor_context(instance=instance)
    assert sensors.churn_model_sensor(context).skip_message
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    result = sensors.churn_model_sensor(context)
    [observation] = result.asset_events
    assert observation.data_version != model_artifact.md5
    instance.report_runless_asset_event(observation)
    assert latest_observed_model_md5(instance) == observation.data_version
    assert sensors.churn_model_sensor(context).skip_message


def test_automation_rescores_scored_partitions_only_when_the_model_changes(
    instance, folders, tmp_path, monkeypatch, retrained_model_root
):
    registration, result = score_file(instance, folders, write_csv(customer_rows(30), tmp_path / "a.csv"))
    assert result.success
    evaluation = evaluate_automation_conditions(defs=defs, instance=instance)
    evaluation = evaluate_automation_conditions(defs=defs, instance=instance, cursor=evaluation.cursor)
    assert evaluation.total_requested == 0

    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    record_model_observation(instance)
    evaluation = evaluate_automation_conditions(defs=defs, instance=instance, cursor=evaluation.cursor)
    for asset in ("scores", "scoring_manifest"):
        assert evaluation.get_requested_partitions(AssetKey(asset)) == {registration.partition_key}
    evaluation = evaluate_automation_conditions(defs=defs, instance=instance, cursor=evaluation.cursor)
    assert evaluation.total_requested == 0


def test_nightly_schedule_rescores_the_latest_partitions(tmp_path):
    keys = [f"file_{index}-{index:08x}" for index in range(NIGHTLY_LATEST_PARTITIONS + 5)]
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.add_dynamic_partitions(input_files_partitions.name, keys)
        context = build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 11, 23, 2))
        requests = list(nightly_rescore(context))
    assert [request.partition_key for request in requests] == keys[-NIGHTLY_LATEST_PARTITIONS:]
    assert len({request.run_key for request in requests}) == NIGHTLY_LATEST_PARTITIONS
