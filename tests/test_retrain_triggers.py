"""Retraining triggers: a weekly schedule and a sensor on consecutive drifted files, both train a challenger only.

Use cases come from the registry. Files are slices of each use case's own generated training
extract (the one ``dvc repro`` trains on), scored through the real ``score_file`` job; a drifted
file keeps only the rows of one level of a categorical model input, which puts that input at drift
level ``alert`` whatever the table. Production rows come from outcomes registered for a calm file, or
from a file scored with its label column (a labelled extract).
Policies are shortened with ``dataclasses.replace`` (two alerts in a row, a small holdout) so the
tests score few files; the triggers read their numbers from the policy, never from a constant.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.retrain_triggers import build_retrain_on_drift_sensor, build_retrain_schedule
from scoring_assets.builders.run_tags import TRIGGER, Trigger
from scoring_assets.core.monitoring import at_alert, scored_file_record
from scoring_assets.core.outcomes import register_outcomes
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.training import load_params, repo_path
from scoring_assets.use_cases import all_use_cases
from tests.support.scoring_runs import score_file

USE_CASES = list(all_use_cases().values())
WITH_OUTCOMES = [use_case for use_case in USE_CASES if use_case.takes_outcomes]
WITHOUT_OUTCOMES = [use_case for use_case in USE_CASES if not use_case.takes_outcomes]
FILE_ROWS = 400
MONDAY = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


@pytest.fixture
def instance(tmp_path):
    """A persistent instance: a schedule's evaluation context needs one it can refer to."""
    (tmp_path / "dagster_home").mkdir()
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as persistent:
        yield persistent


def shortened(use_case: UseCase, alerts: int = 2) -> UseCase:
    """The use case with a policy that retrains after ``alerts`` alerting files and holds out 50 rows."""
    return replace(use_case, promotion=replace(use_case.promotion, retrain_after_alerts=alerts, holdout_rows=50))


class Files:
    """Calm and drifted files of one use case, cut from its generated extract and scored by the real job."""

    def __init__(self, use_case: UseCase, instance, folders, tmp_path: Path):
        self.use_case, self.instance, self.folders, self.tmp_path = use_case, instance, folders, tmp_path
        extract = repo_path(load_params(use_case.name, "train")["extract"])
        self.rows = pd.read_csv(extract, dtype=str, keep_default_na=False)
        self.next_row = 0
        column = next(name for name in use_case.features.categorical if name in use_case.value_sets)
        self.drifted_rows = self.rows[self.rows[column] == self.rows[column].mode()[0]]

    def _score(self, rows: pd.DataFrame, name: str, labelled: bool = False) -> tuple[str, pd.DataFrame]:
        path = self.tmp_path / f"{name}.csv"
        (rows if labelled else rows.drop(columns=[self.use_case.label_column])).to_csv(path, index=False)
        registration, result = score_file(self.instance, self.folders, path, use_case=self.use_case)
        assert result.success
        return registration.partition_key, rows

    def _take(self, rows: pd.DataFrame) -> pd.DataFrame:
        taken = rows.iloc[self.next_row : self.next_row + FILE_ROWS]
        self.next_row += FILE_ROWS
        return taken

    def calm(self, name: str) -> tuple[str, pd.DataFrame]:
        partition, rows = self._score(self._take(self.rows), name)
        assert not at_alert(scored_file_record(self.folders.of(self.use_case.name), partition))
        return partition, rows

    def labelled(self, name: str) -> str:
        """A calm file scored with its label column: a labelled extract, production rows to train on."""
        return self._score(self._take(self.rows), name, labelled=True)[0]

    def drifted(self, name: str) -> str:
        partition, _ = self._score(self._take(self.drifted_rows), name)
        assert at_alert(scored_file_record(self.folders.of(self.use_case.name), partition))
        return partition

    def outcomes_of(self, rows: pd.DataFrame) -> None:
        """Register every row's label as its outcome: production rows to train on."""
        path = self.tmp_path / "outcomes.csv"
        rows[[self.use_case.id_column, self.use_case.label_column]].to_csv(path, index=False)
        register_outcomes(self.use_case, self.folders.of(self.use_case.name), path)


def sensor_tick(sensor: dg.SensorDefinition, instance, folders, cursor: str | None):
    return sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources={"folders": folders})
    )


def schedule_tick(schedule: dg.ScheduleDefinition, instance, folders):
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=MONDAY, resources={"folders": folders}
    )
    return schedule.evaluate_tick(context)


def assert_trains_a_challenger_on_production(use_case: UseCase, request: dg.RunRequest, trigger: Trigger) -> None:
    """The request is a valid run of the use case's real train_challenger job, on production rows, tagged."""
    job = scoring_definitions().resolve_job_def(keys_of(use_case).train_challenger_job)
    validated = dg.validate_run_config(job, request.run_config)
    assert validated["ops"][keys_of(use_case).challenger_op]["config"] == {"training_set": "production"}
    assert request.tags[TRIGGER] == trigger.value


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda use_case: use_case.name)
def test_both_triggers_are_declared_stopped_and_request_the_train_challenger_job(use_case):
    keys = keys_of(use_case)
    repository = scoring_definitions().get_repository_def()
    schedule = repository.get_schedule_def(keys.retrain_schedule)
    sensor = repository.get_sensor_def(keys.retrain_on_drift_sensor)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert schedule.job_name == keys.train_challenger_job
    assert [target.job_name for target in sensor.targets] == [keys.train_challenger_job]
    assert use_case.promotion.retrain_after_alerts >= 1


@pytest.mark.parametrize("use_case", WITH_OUTCOMES, ids=lambda use_case: use_case.name)
def test_the_schedule_trains_on_production_once_there_are_rows_and_no_training_is_under_way(
    use_case, instance, folders, tmp_path
):
    policy = shortened(use_case)
    schedule = build_retrain_schedule(policy)
    files = Files(use_case, instance, folders, tmp_path)
    _, rows = files.calm("monday")
    assert "no labelled production rows" in schedule_tick(schedule, instance, folders).skip_message

    files.outcomes_of(rows)
    [request] = schedule_tick(schedule, instance, folders).run_requests
    assert_trains_a_challenger_on_production(use_case, request, Trigger.RETRAIN_SCHEDULE)

    training = dg.DagsterRun(
        job_name=keys_of(use_case).train_challenger_job, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED
    )
    instance.add_run(training)
    busy = schedule_tick(schedule, instance, folders)
    assert busy.run_requests == [] and "already being trained" in busy.skip_message


@pytest.mark.parametrize("use_case", WITH_OUTCOMES, ids=lambda use_case: use_case.name)
def test_the_drift_sensor_asks_once_per_run_of_alerting_files_and_a_calm_file_starts_the_count_again(
    use_case, instance, folders, tmp_path
):
    policy = shortened(use_case, alerts=2)
    sensor = build_retrain_on_drift_sensor(policy)
    files = Files(use_case, instance, folders, tmp_path)
    _, rows = files.calm("calm_1")
    files.outcomes_of(rows)
    assert "0 of the last 2" in sensor_tick(sensor, instance, folders, None).skip_message

    files.drifted("drifted_1")
    one = sensor_tick(sensor, instance, folders, None)
    assert one.run_requests == [] and "1 of the last 2" in one.skip_message
    last = files.drifted("drifted_2")
    asked = sensor_tick(sensor, instance, folders, None)
    [request] = asked.run_requests
    assert_trains_a_challenger_on_production(use_case, request, Trigger.DRIFT_ALERTS)
    assert json.loads(asked.cursor)["partition"] == last

    again = sensor_tick(sensor, instance, folders, asked.cursor)
    assert again.run_requests == [] and "0 of the last 2" in again.skip_message, "not twice for the same alerts"

    files.drifted("drifted_3")
    files.calm("calm_2")
    files.drifted("drifted_4")
    reset = sensor_tick(sensor, instance, folders, asked.cursor)
    assert reset.run_requests == [] and "1 of the last 2" in reset.skip_message, "the calm file broke the run"
    files.drifted("drifted_5")
    second = sensor_tick(sensor, instance, folders, asked.cursor)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != request.run_key

    training = dg.DagsterRun(
        job_name=keys_of(use_case).train_challenger_job, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED
    )
    instance.add_run(training)
    files.drifted("drifted_6")
    last = files.drifted("drifted_7")
    busy = sensor_tick(sensor, instance, folders, second.cursor)
    assert busy.run_requests == [] and "already being trained" in busy.skip_message
    assert json.loads(busy.cursor)["partition"] == last, "the challenger being trained answers these alerts"


@pytest.mark.parametrize("use_case", WITHOUT_OUTCOMES, ids=lambda use_case: use_case.name)
def test_a_use_case_without_outcomes_is_retrained_on_its_labelled_extracts_only(use_case, instance, folders, tmp_path):
    policy = shortened(use_case, alerts=1)
    files = Files(use_case, instance, folders, tmp_path)
    files.drifted("drifted")
    tick = sensor_tick(build_retrain_on_drift_sensor(policy), instance, folders, None)
    assert tick.run_requests == [] and "no labelled production rows to train on" in tick.skip_message
    schedule = build_retrain_schedule(policy)
    assert "no labelled production rows" in schedule_tick(schedule, instance, folders).skip_message

    files.labelled("labelled_extract")
    [request] = schedule_tick(schedule, instance, folders).run_requests
    assert_trains_a_challenger_on_production(use_case, request, Trigger.RETRAIN_SCHEDULE)
