"""Sensor ticks and the schedule, evaluated in process against a real instance.

The daemon end-to-end test (test_daemon_e2e.py) proves the same behaviour with the real
webserver and daemon; these tests pin down each rule quickly.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

import pytest
from conftest import customer_rows, score_file, write_csv
from dagster import AssetKey, DagsterInstance, SensorResult, build_schedule_context, build_sensor_context

from scoring_assets.defs import sensors
from scoring_assets.core.inbox import RECENT_DECISIONS, Decision
from scoring_assets.defs.jobs import RESCORE_JOB
from scoring_assets.defs.model_assets import latest_observed_model_md5, record_model_observation
from scoring_assets.core.partition_keys import input_files_partitions
from scoring_assets.defs.resources import ScoringFolders
from scoring_assets.defs.run_tags import TRIGGER, Trigger
from scoring_assets.defs.runs import execute_score_run, scored_with_model
from scoring_assets.defs.schedules import NIGHTLY_LATEST_PARTITIONS, nightly_rescore

pytestmark = pytest.mark.usefixtures("model_artifact")


class SensorDaemon:
    """Ticks a sensor the way the daemon does: cursor carried over, partitions and asset events applied."""

    def __init__(self, instance: DagsterInstance, sensor, resources: dict | None = None):
        self.instance = instance
        self.sensor = sensor
        self.resources = resources or {}
        self.cursor: str | None = None

    def tick(self) -> SensorResult:
        context = build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = self.sensor(context)
        if not isinstance(result, SensorResult):
            return SensorResult(skip_reason=result)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        for event in result.asset_events or []:
            self.instance.report_runless_asset_event(event)
        return result


def drop(folders: ScoringFolders, name: str, rows) -> None:
    path = write_csv(rows, folders.inbox / name)
    settle(path)


def settle(path) -> None:
    past = time.time() - 60
    os.utime(path, (past, past))


def requested(result: SensorResult) -> list[str]:
    return [request.partition_key for request in result.run_requests or []]


def inbox_table(instance: DagsterInstance) -> list[dict]:
    """The rows of the inbox asset's latest observation, newest first."""
    [record] = instance.fetch_observations(AssetKey("inbox"), limit=1).records
    return [row.data for row in record.asset_observation.metadata["recent_files"].value.records]


def inbox_observation_count(instance: DagsterInstance) -> int:
    return len(instance.fetch_observations(AssetKey("inbox"), limit=1000).records)


@pytest.fixture
def daemon(instance, folders):
    return SensorDaemon(instance, sensors.inbox_sensor, {"folders": ScoringFolders()})


def test_new_file_gets_one_tagged_run_after_it_is_seen_stable(daemon, folders, instance, model_artifact):
    drop(folders, "monday.csv", customer_rows(20))
    assert requested(daemon.tick()) == []
    result = daemon.tick()
    [key] = requested(result)
    assert key.startswith("monday-")
    assert result.run_requests[0].run_key == key
    assert result.run_requests[0].tags[TRIGGER] == Trigger.SENSOR
    assert instance.has_dynamic_partition(input_files_partitions.name, key)
    assert latest_observed_model_md5(instance) == model_artifact.md5
    assert requested(daemon.tick()) == []
    [row] = inbox_table(instance)
    assert (row["file"], row["decision"], row["partition"]) == ("monday.csv", Decision.REQUESTED, key)


def test_the_sensor_creates_a_missing_inbox(daemon, folders):
    assert not folders.inbox.exists()
    assert "no new complete files" in daemon.tick().skip_reason.skip_message
    assert folders.inbox.is_dir()


def test_every_decision_is_shown_in_the_inbox_table_and_the_skip_reason(daemon, folders, instance):
    rows = customer_rows(20)
    drop(folders, "batch.csv", rows)
    daemon.tick()
    [original] = requested(daemon.tick())

    drop(folders, "batch copy.csv", rows)
    (folders.inbox / "empty.csv").touch()
    (folders.inbox / "notes.txt").write_text("call back on Monday\n")
    with open(os.path.join(os.fsencode(folders.inbox), b"caf\xe9.csv"), "wb") as handle:
        handle.write(rows.to_csv(index=False).encode())
    (folders.inbox / "subfolder").mkdir()
    for entry in os.scandir(folders.inbox):
        if entry.name != "batch.csv":
            settle(entry.path)
    daemon.tick()
    skip = daemon.tick().skip_reason.skip_message

    table = {row["file"]: row for row in inbox_table(instance)}
    assert {name: row["decision"] for name, row in table.items()} == {
        "batch.csv": Decision.REQUESTED,
        "batch copy.csv": Decision.DUPLICATE,
        "empty.csv": Decision.EMPTY,
        "notes.txt": Decision.NOT_CSV,
        "caf\\xe9.csv": Decision.UNREADABLE_NAME,
        "subfolder": Decision.NOT_A_FILE,
    }
    assert table["batch copy.csv"]["partition"] == original
    assert table["batch copy.csv"]["sha256"] == table["batch.csv"]["sha256"] != ""
    assert table["batch copy.csv"]["bytes"] == (folders.inbox / "batch copy.csv").stat().st_size
    assert "waits until it has content" in table["empty.csv"]["reason"]
    assert all(row["reason"] and row["decided_at_utc"].endswith("+00:00") for row in table.values())
    assert skip.startswith("5 file(s): ")
    assert f"batch copy.csv duplicate (partition {original}): same bytes" in skip
    assert "empty.csv empty: 0 bytes, waits until it has content" in skip


def test_an_empty_file_is_reported_once_and_scored_when_its_content_arrives(daemon, folders, instance):
    empty = folders.inbox / "late.csv"
    empty.parent.mkdir(parents=True)
    empty.touch()
    settle(empty)
    daemon.tick()
    assert "late.csv empty" in daemon.tick().skip_reason.skip_message
    reported = inbox_observation_count(instance)
    assert "no new complete files" in daemon.tick().skip_reason.skip_message
    assert inbox_observation_count(instance) == reported, "the same empty file was reported again"

    drop(folders, "late.csv", customer_rows(10))
    daemon.tick()
    assert len(requested(daemon.tick())) == 1
    assert [row["decision"] for row in inbox_table(instance)] == [Decision.REQUESTED, Decision.EMPTY]


def test_the_inbox_table_keeps_a_bounded_history(daemon, folders, instance):
    folders.inbox.mkdir(parents=True)
    for index in range(RECENT_DECISIONS + 10):
        (folders.inbox / f"note_{index:03d}.txt").write_text("x")
        settle(folders.inbox / f"note_{index:03d}.txt")
    daemon.tick()
    daemon.tick()
    table = inbox_table(instance)
    assert len(table) == RECENT_DECISIONS
    assert len(daemon.cursor) < 20_000


def test_copies_dropped_together_are_scored_once(daemon, folders):
    rows = customer_rows(15)
    for name in ("original.csv", "copy 1.csv", "copy 2.csv"):
        drop(folders, name, rows)
    daemon.tick()
    result = daemon.tick()
    [key] = requested(result)
    assert sorted(row["decision"] for row in inbox_table(daemon.instance)) == [
        Decision.DUPLICATE,
        Decision.DUPLICATE,
        Decision.REQUESTED,
    ]
    assert {row["partition"] for row in inbox_table(daemon.instance)} == {key}


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
    restarted = SensorDaemon(instance, sensors.inbox_sensor, daemon.resources)
    restarted.cursor = daemon.cursor
    assert requested(restarted.tick()) == []
    forgetful = SensorDaemon(instance, sensors.inbox_sensor, daemon.resources)  # cursor lost: still skipped
    forgetful.tick()
    result = forgetful.tick()
    assert requested(result) == [] and "before_restart.csv duplicate" in result.skip_reason.skip_message


def test_files_wait_while_the_model_cannot_be_verified_and_say_so_once(
    daemon, folders, instance, monkeypatch, tmp_path
):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(tmp_path / "no_model_here"))
    drop(folders, "patient.csv", customer_rows(10))
    daemon.tick()
    for _ in range(3):
        result = daemon.tick()
        assert requested(result) == [] and "patient.csv waiting for model" in result.skip_reason.skip_message
        assert "dvc repro" in result.skip_reason.skip_message
    [row] = inbox_table(instance)
    assert row["decision"] == Decision.WAITING_FOR_MODEL and "dvc repro" in row["reason"]
    assert inbox_observation_count(instance) == 1, "reported once, not once per tick"
    monkeypatch.delenv("SCORING_MODEL_ROOT")
    assert len(requested(daemon.tick())) == 1


def test_files_wait_while_dvc_lock_is_damaged(daemon, folders, monkeypatch, tmp_path, retrained_model_root):
    lock = retrained_model_root / "dvc.lock"
    lock.write_text("<<<<<<< HEAD\n" + lock.read_text() + "=======\n>>>>>>> other\n")
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    drop(folders, "patient.csv", customer_rows(10))
    daemon.tick()
    result = daemon.tick()
    assert requested(result) == [] and "merge-conflict" in result.skip_reason.skip_message


def test_a_file_that_cannot_be_read_is_reported_and_retried(daemon, folders, instance, monkeypatch):
    # The sensor runs as root here, and root reads any file: the read error is simulated.
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    drop(folders, "locked.csv", customer_rows(10))
    daemon.tick()
    with monkeypatch.context() as patch:
        patch.setattr(sensors, "file_sha256", denied)
        assert "locked.csv cannot read: Permission denied" in daemon.tick().skip_reason.skip_message
        assert "locked.csv cannot read" in daemon.tick().skip_reason.skip_message
    assert [row["decision"] for row in inbox_table(instance)] == [Decision.CANNOT_READ]
    assert len(requested(daemon.tick())) == 1, "retried once readable, without being touched"


def observed_model(instance: DagsterInstance) -> dict:
    [record] = instance.fetch_observations(AssetKey("churn_model"), limit=1).records
    return {key: value.value for key, value in record.asset_observation.metadata.items()}


def test_model_sensor_observes_a_new_model_once_and_says_how_many_partitions_it_made_stale(
    instance, folders, monkeypatch, tmp_path, retrained_model_root, model_artifact
):
    for index in range(2):
        _, result = score_file(instance, folders, write_csv(customer_rows(20, seed=index), tmp_path / f"{index}.csv"))
        assert result.success
    model_sensor = SensorDaemon(instance, sensors.churn_model_sensor)
    assert model_sensor.tick().skip_reason
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    observing_tick = model_sensor.tick()
    [observation] = observing_tick.asset_events
    assert "2 of 2 scored partition(s) were scored with another model" in observing_tick.skip_reason.skip_message
    assert observation.data_version != model_artifact.md5
    assert latest_observed_model_md5(instance) == observation.data_version
    metadata = observed_model(instance)
    assert (metadata["stale_partitions"], metadata["scored_partitions"]) == (2, 2)
    assert metadata["how_to_rescore"].startswith("2 of 2 scored partition(s) were scored with another model")
    assert "scoring-assets rescore" in metadata["how_to_rescore"]
    assert "rescore_on_model_change" in metadata["how_to_rescore"]
    assert model_sensor.tick().skip_reason


def test_counting_stale_partitions_stops_at_its_time_budget_and_says_it_is_a_lower_bound(
    instance, folders, monkeypatch, tmp_path, retrained_model_root
):
    for index in range(2):
        score_file(instance, folders, write_csv(customer_rows(20, seed=index), tmp_path / f"{index}.csv"))
    monkeypatch.setattr(sensors, "FETCH_PAGE", 1)
    monkeypatch.setattr(sensors, "STALE_COUNT_BUDGET_SECONDS", 0)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    SensorDaemon(instance, sensors.churn_model_sensor).tick()
    metadata = observed_model(instance)
    assert (metadata["stale_partitions"], metadata["scored_partitions"]) == (1, 2)
    assert metadata["how_to_rescore"].startswith("at least 1 (counted 1 within the tick's time budget) of 2")


def test_a_new_model_with_nothing_scored_yet_is_observed_with_nothing_to_rescore(
    instance, monkeypatch, retrained_model_root
):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    result = SensorDaemon(instance, sensors.rescore_on_model_change).tick()
    assert requested(result) == [] and result.skip_reason
    metadata = observed_model(instance)
    assert metadata["stale_partitions"] == 0 and "nothing to re-score" in metadata["how_to_rescore"]


def test_switching_rescore_on_after_a_model_change_catches_up_once_per_partition_and_model(
    instance, folders, monkeypatch, tmp_path, retrained_model_root
):
    keys = []
    for index in range(3):
        registration, result = score_file(
            instance, folders, write_csv(customer_rows(20, seed=index), tmp_path / f"{index}.csv")
        )
        assert result.success
        keys.append(registration.partition_key)
    rescore = SensorDaemon(instance, sensors.rescore_on_model_change)
    assert requested(rescore.tick()) == [], "nothing is stale before the model changes"

    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    record_model_observation(instance)  # the model sensor saw the change before this sensor was switched on
    new_md5 = latest_observed_model_md5(instance)
    monkeypatch.setattr(sensors, "RESCORE_CHECKS_PER_TICK", 2)
    first, second = rescore.tick(), rescore.tick()
    assert requested(first) + requested(second) == keys, "every stale partition, a bounded number per tick"
    for request in [*first.run_requests, *second.run_requests]:
        assert request.run_key == f"{request.partition_key}@{new_md5}"
        assert request.tags[TRIGGER] == Trigger.RESCORE
    assert requested(rescore.tick()) == []

    forgetful = SensorDaemon(instance, sensors.rescore_on_model_change)  # same run keys: Dagster skips them
    assert {request.run_key for request in forgetful.tick().run_requests} == {
        f"{keys[0]}@{new_md5}",
        f"{keys[1]}@{new_md5}",
    }

    result = execute_score_run(instance, keys[0], job_name=RESCORE_JOB, tags={TRIGGER: Trigger.RESCORE})
    assert result.success and scored_with_model(instance, keys[0]) == new_md5
    assert requested(rescore.tick()) == [], "a partition re-scored with the current model is not requested"


def test_the_rescore_sensor_observes_a_new_model_itself_and_skips_deleted_partitions(
    instance, folders, monkeypatch, tmp_path, retrained_model_root
):
    kept, deleted = (
        score_file(instance, folders, write_csv(customer_rows(20, seed=index), tmp_path / f"{index}.csv"))[0]
        for index in range(2)
    )
    instance.delete_dynamic_partition(input_files_partitions.name, deleted.partition_key)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    result = SensorDaemon(instance, sensors.rescore_on_model_change).tick()
    assert requested(result) == [kept.partition_key]
    assert observed_model(instance)["stale_partitions"] == 1


def test_the_rescore_sensor_waits_while_the_model_cannot_be_verified(instance, monkeypatch, tmp_path):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(tmp_path / "no_model_here"))
    result = SensorDaemon(instance, sensors.rescore_on_model_change).tick()
    assert "re-scoring waits until the model can be verified" in result.skip_reason.skip_message


def test_nightly_schedule_rescores_the_latest_partitions(tmp_path):
    keys = [f"file_{index}-{index:08x}" for index in range(NIGHTLY_LATEST_PARTITIONS + 5)]
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.add_dynamic_partitions(input_files_partitions.name, keys)
        context = build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 11, 23, 2))
        requests = list(nightly_rescore(context))
    assert [request.partition_key for request in requests] == keys[-NIGHTLY_LATEST_PARTITIONS:]
    assert len({request.run_key for request in requests}) == NIGHTLY_LATEST_PARTITIONS
    assert {request.tags[TRIGGER] for request in requests} == {Trigger.SCHEDULE}
