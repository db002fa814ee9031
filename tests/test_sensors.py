"""Sensor ticks and the schedules, evaluated in process against a real instance.

Every use case has its own inbox sensor (``inbox/<use case>/``), model sensor, rescore sensor
and nightly schedule; the shared ``inbox/`` is watched by ``inbox_router``, which routes each
file by its header. The daemon end-to-end test (test_daemon_e2e.py) proves the same behaviour
with the real webserver and daemon; these tests pin down each rule quickly.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, SensorResult, build_schedule_context, build_sensor_context
from test_cli import write_use_case_module

from scoring_assets.builders import inbox_sensors, model_sensors, scored_models
from scoring_assets.builders.jobs import build_jobs
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import latest_observed_model_md5, record_model_observation
from scoring_assets.builders.resources import RescoreSettings
from scoring_assets.builders.retirement import retire_file
from scoring_assets.builders.run_tags import TRIGGER, Trigger, trigger_tags
from scoring_assets.builders.schedules import NIGHTLY_LATEST_PARTITIONS
from scoring_assets.builders.scored_models import ANOTHER_MODEL, StaleCount, scored_with_model
from scoring_assets.core.inbox import RECENT_DECISIONS, Decision
from scoring_assets.core.model_lifecycle import promote, rollback
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.runs import execute_score_run, model_store
from scoring_assets.use_cases import all_use_cases
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import CREDIT_RISK, TELCO, USE_CASE_NAMES, customer_rows, valid_rows, write_csv
from tests.support.model_roots import built_model, copy_dvc_project, dvc_model_root, install_new_model, new_challenger
from tests.support.scoring_runs import score_file, sensor_resources

SHARED_INBOX = AssetKey("inbox")
TELCO_INBOX = AssetKey(["telco_churn", "inbox"])

pytestmark = pytest.mark.usefixtures("model_artifact")


class SensorDaemon:
    """Ticks a sensor the way the daemon does: cursor carried over, partitions and asset events applied."""

    def __init__(self, instance: DagsterInstance, sensor, resources: dict | None = None):
        self.instance = instance
        self.sensor = sensor
        self.resources = resources or {
            name: sensor_resources(None)[name] for name in ("model_store", "rescore_settings")
        }
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


def sensor_named(name: str):
    return scoring_definitions().resolve_sensor_def(name)


def drop(inbox: Path, name: str, rows) -> Path:
    path = write_csv(rows, inbox / name)
    settle(path)
    return path


def settle(path) -> None:
    past = time.time() - 60
    os.utime(path, (past, past))


def requested(result: SensorResult) -> list[str]:
    """The partitions a tick asks to run: a request's own, or the files a batch re-score request lists."""
    return [key for request in result.run_requests or [] for key in partitions_of(request)]


def partitions_of(request) -> list[str]:
    if request.partition_key is not None:
        return [request.partition_key]
    [op_config] = request.run_config["ops"].values()
    return list(op_config["config"]["partitions"])


def inbox_key(use_case: UseCase) -> AssetKey:
    return AssetKey([use_case.name, "inbox"])


def inbox_table(instance: DagsterInstance, key: AssetKey = TELCO_INBOX) -> list[dict]:
    """The rows of an inbox asset's latest observation, newest first."""
    [record] = instance.fetch_observations(key, limit=1).records
    return [row.data for row in record.asset_observation.metadata["recent_files"].value.records]


def inbox_observation_count(instance: DagsterInstance, key: AssetKey = TELCO_INBOX) -> int:
    return len(instance.fetch_observations(key, limit=1000).records)


@pytest.fixture
def daemon(instance, folders):
    """The Telco inbox sensor: what every use case's own inbox sensor does, on inbox/telco_churn/."""
    return SensorDaemon(instance, sensor_named("telco_churn__inbox_sensor"), sensor_resources(folders))


@pytest.fixture
def telco_inbox(folders) -> Path:
    return folders.of(TELCO.name).inbox


@pytest.fixture
def router(instance, folders):
    return SensorDaemon(instance, sensor_named("inbox_router"), sensor_resources(folders))


def retrained_root(root: Path, use_case: UseCase) -> Path:
    """A DVC project with every model the deployment's project holds, where ``use_case`` alone has a new one."""
    copy_dvc_project(root, use_case)  # first: skips a use case whose model lives in its own project
    for name in USE_CASE_NAMES:
        if declared_use_case(name).model.root is None:
            copy_dvc_project(root, declared_use_case(name))
    install_new_model(root, use_case)
    return root


# --- each use case's own inbox -----------------------------------------------------------------


def test_a_file_dropped_in_a_use_cases_inbox_gets_one_tagged_run_after_it_is_seen_stable_and_is_scored(
    use_case, instance, folders
):
    own = folders.of(use_case.name)
    daemon = SensorDaemon(instance, sensor_named(f"{use_case.name}__inbox_sensor"), sensor_resources(folders))
    drop(own.inbox, "monday.csv", valid_rows(use_case, 20))
    assert requested(daemon.tick()) == []
    result = daemon.tick()
    [key] = requested(result)
    [request] = result.run_requests
    assert key.startswith("monday-")
    assert (request.job_name, request.run_key) == (keys_of(use_case).score_file_job, f"{use_case.name}:{key}")
    assert request.tags[TRIGGER] == Trigger.SENSOR
    assert instance.has_dynamic_partition(keys_of(use_case).partitions, key)
    assert latest_observed_model_md5(instance, use_case) == built_model(use_case).md5
    assert requested(daemon.tick()) == []
    [row] = inbox_table(instance, inbox_key(use_case))
    assert (row["file"], row["decision"], row["use_case"], row["partition"]) == (
        "monday.csv",
        Decision.REQUESTED,
        use_case.name,
        key,
    )

    assert execute_score_run(instance, use_case, key).success
    assert own.scored_file(key).exists()


def test_another_use_cases_file_in_a_use_cases_folder_is_not_registered_there(instance, folders):
    for own, named in [(a, b) for a in USE_CASE_NAMES for b in USE_CASE_NAMES if a != b]:
        folder = folders.of(named).inbox
        daemon = SensorDaemon(instance, sensor_named(f"{named}__inbox_sensor"), sensor_resources(folders))
        drop(folder, f"{own}_file.csv", valid_rows(declared_use_case(own), 10))
        daemon.tick()
        assert requested(daemon.tick()) == []
        [row] = [
            row
            for row in inbox_table(instance, inbox_key(declared_use_case(named)))
            if row["file"] == f"{own}_file.csv"
        ]
        assert row["decision"] == Decision.OTHER_USE_CASE
        assert f"not a {named} file, missing required column(s): " in row["reason"]
        assert f"its header fits {own}" in row["reason"]
        assert instance.get_dynamic_partitions(keys_of(named).partitions) == []


@pytest.mark.parametrize("use_case_name", [*USE_CASE_NAMES, None], ids=[*USE_CASE_NAMES, "inbox_router"])
def test_the_sensor_creates_a_missing_inbox(instance, folders, use_case_name):
    sensor_name = f"{use_case_name}__inbox_sensor" if use_case_name else "inbox_router"
    watched = folders.of(use_case_name).inbox if use_case_name else folders.inbox
    assert not watched.exists()
    tick = SensorDaemon(instance, sensor_named(sensor_name), sensor_resources(folders)).tick()
    assert "no new complete files" in tick.skip_reason.skip_message
    assert watched.is_dir()


def test_every_decision_is_shown_in_the_inbox_table_and_the_skip_reason(daemon, telco_inbox, instance):
    rows = customer_rows(20)
    drop(telco_inbox, "batch.csv", rows)
    daemon.tick()
    [original] = requested(daemon.tick())

    drop(telco_inbox, "batch copy.csv", rows)
    (telco_inbox / "empty.csv").touch()
    (telco_inbox / "notes.txt").write_text("call back on Monday\n")
    with open(os.path.join(os.fsencode(telco_inbox), b"caf\xe9.csv"), "wb") as handle:
        handle.write(rows.to_csv(index=False).encode())
    (telco_inbox / "subfolder").mkdir()
    for entry in os.scandir(telco_inbox):
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
    assert table["batch copy.csv"]["bytes"] == (telco_inbox / "batch copy.csv").stat().st_size
    assert "waits until it has content" in table["empty.csv"]["reason"]
    assert all(row["reason"] and row["decided_at_utc"].endswith("+00:00") for row in table.values())
    assert skip.startswith("5 file(s): ")
    assert f"batch copy.csv duplicate (partition {original}): same bytes" in skip
    assert "empty.csv empty: 0 bytes, waits until it has content" in skip


def test_the_inbox_table_shows_each_requested_files_final_fate_once_its_run_has_finished(daemon, telco_inbox, instance):
    drop(telco_inbox, "good.csv", customer_rows(20))
    mostly_bad = customer_rows(20, seed=4).assign(gender="M")  # every row breaks the contract: refused
    drop(telco_inbox, "bad.csv", mostly_bad)
    daemon.tick()
    keys = requested(daemon.tick())
    assert len(keys) == 2
    assert daemon.tick().skip_reason, "nothing to settle while the runs have not run"
    assert {row["decision"] for row in inbox_table(instance)} == {Decision.REQUESTED}
    for key in keys:
        execute_score_run(instance, TELCO, key)  # what the daemon's run launcher does

    result = daemon.tick()

    rows = {row["file"]: row for row in inbox_table(instance)}
    assert rows["good.csv"]["decision"] == Decision.SCORED
    assert rows["good.csv"]["reason"].startswith("20 rows scored, 0 rejected: ")
    assert rows["bad.csv"]["decision"] == Decision.REFUSED
    assert "rejected" in rows["bad.csv"]["reason"] and "(run " in rows["bad.csv"]["reason"]
    assert "good.csv scored" in result.skip_reason.skip_message
    count = inbox_observation_count(instance)
    daemon.tick()
    assert inbox_observation_count(instance) == count, "a fate is told once"


def test_an_empty_file_is_reported_once_and_scored_when_its_content_arrives(daemon, telco_inbox, instance):
    empty = telco_inbox / "late.csv"
    empty.parent.mkdir(parents=True)
    empty.touch()
    settle(empty)
    daemon.tick()
    assert "late.csv empty" in daemon.tick().skip_reason.skip_message
    reported = inbox_observation_count(instance)
    assert "no new complete files" in daemon.tick().skip_reason.skip_message
    assert inbox_observation_count(instance) == reported, "the same empty file was reported again"

    drop(telco_inbox, "late.csv", customer_rows(10))
    daemon.tick()
    assert len(requested(daemon.tick())) == 1
    assert [row["decision"] for row in inbox_table(instance)] == [Decision.REQUESTED, Decision.EMPTY]


SHORT_SETTLE_SECONDS = 0.4


@pytest.fixture
def short_settle_daemon(instance, folders):
    """The Telco inbox sensor with a settle short enough to be waited for inside one tick."""
    resources = sensor_resources(folders, settle_seconds=SHORT_SETTLE_SECONDS)
    return SensorDaemon(instance, sensor_named("telco_churn__inbox_sensor"), resources)


def test_with_a_short_settle_a_complete_file_is_seen_twice_and_requested_within_one_tick(
    short_settle_daemon, telco_inbox
):
    telco_inbox.mkdir(parents=True)
    write_csv(customer_rows(10), telco_inbox / "renamed_in.csv")  # just written: as fresh as a rename
    started = time.monotonic()
    [key] = requested(short_settle_daemon.tick())
    assert time.monotonic() - started >= SHORT_SETTLE_SECONDS, "the second look waits the whole settle time"
    assert key.startswith("renamed_in-")
    started = time.monotonic()
    assert requested(short_settle_daemon.tick()) == []
    assert time.monotonic() - started < SHORT_SETTLE_SECONDS, "nothing new: the tick does not wait"


def test_with_a_short_settle_a_file_growing_during_the_ticks_wait_is_not_taken(
    short_settle_daemon, telco_inbox, monkeypatch
):
    """The upload runs on a share whose clock lags: every write stamps a modification time long past,
    so only the second look's size, not a fresh time, shows the file is still growing."""
    telco_inbox.mkdir(parents=True)
    target = write_csv(customer_rows(10), telco_inbox / "slow_upload.csv")
    full = target.read_bytes()
    target.write_bytes(full[: len(full) // 2])
    lagging_clock = time.time() - 3600
    os.utime(target, (lagging_clock, lagging_clock))
    appends = []

    def writer_keeps_writing(seconds):
        """The writer adds the rest while the tick waits, as a slow upload would."""
        time.sleep(seconds)
        if not appends:
            target.write_bytes(full)
            os.utime(target, (lagging_clock, lagging_clock))
            appends.append(seconds)

    monkeypatch.setattr(inbox_sensors, "sleep", writer_keeps_writing)
    assert requested(short_settle_daemon.tick()) == []
    assert appends == [SHORT_SETTLE_SECONDS]
    [key] = requested(short_settle_daemon.tick())  # unchanged since the last look, and settled now
    assert short_settle_daemon.instance.has_dynamic_partition(keys_of(TELCO).partitions, key)
    [row] = [row for row in inbox_table(short_settle_daemon.instance) if row["decision"] == Decision.REQUESTED]
    assert row["bytes"] == len(full), "scored as completed, never half-way"


def test_an_inbox_removed_during_the_ticks_wait_ends_the_tick_quietly(short_settle_daemon, telco_inbox, monkeypatch):
    """Someone clears the inbox folder away while the tick waits for its second look: nothing to
    decide, and the tick says so rather than failing."""
    telco_inbox.mkdir(parents=True)
    write_csv(customer_rows(10), telco_inbox / "gone_soon.csv")

    waits = []

    def folder_removed(seconds):
        waits.append(seconds)
        shutil.rmtree(telco_inbox)

    monkeypatch.setattr(inbox_sensors, "sleep", folder_removed)
    result = short_settle_daemon.tick()
    assert waits == [SHORT_SETTLE_SECONDS], "the tick never waited for a second look"
    assert requested(result) == []
    assert result.skip_reason.skip_message == "no new complete files in the inbox", "the file was not forgotten"
    assert requested(short_settle_daemon.tick()) == []
    assert telco_inbox.is_dir()


def test_a_settle_longer_than_the_in_tick_wait_is_left_to_the_next_tick(daemon, telco_inbox):
    """The default settle (5 s) is not waited for inside a tick: the daemon's next tick is the second look."""
    drop(telco_inbox, "monday.csv", customer_rows(10))
    started = time.monotonic()
    assert requested(daemon.tick()) == []
    assert time.monotonic() - started < 2, "the tick did not sleep"
    assert len(requested(daemon.tick())) == 1


def test_the_inbox_table_keeps_a_bounded_history(daemon, telco_inbox, instance):
    telco_inbox.mkdir(parents=True)
    for index in range(RECENT_DECISIONS + 10):
        (telco_inbox / f"note_{index:03d}.txt").write_text("x")
        settle(telco_inbox / f"note_{index:03d}.txt")
    daemon.tick()
    daemon.tick()
    table = inbox_table(instance)
    assert len(table) == RECENT_DECISIONS
    assert len(daemon.cursor) < 20_000


def test_copies_dropped_together_are_scored_once(daemon, telco_inbox):
    rows = customer_rows(15)
    for name in ("original.csv", "copy 1.csv", "copy 2.csv"):
        drop(telco_inbox, name, rows)
    daemon.tick()
    result = daemon.tick()
    [key] = requested(result)
    assert sorted(row["decision"] for row in inbox_table(daemon.instance)) == [
        Decision.DUPLICATE,
        Decision.DUPLICATE,
        Decision.REQUESTED,
    ]
    assert {row["partition"] for row in inbox_table(daemon.instance)} == {key}


def test_many_files_at_once_each_get_exactly_one_run(daemon, telco_inbox, instance):
    for index in range(200):
        drop(telco_inbox, f"drop_{index:03d}.csv", customer_rows(3, seed=index))
    daemon.tick()
    keys = requested(daemon.tick())
    assert len(keys) == 200 and len(set(keys)) == 200
    assert len(instance.get_dynamic_partitions(keys_of(TELCO).partitions)) == 200
    assert requested(daemon.tick()) == []


def test_a_restarted_daemon_resumes_from_cursor_and_instance(daemon, telco_inbox, instance):
    drop(telco_inbox, "before_restart.csv", customer_rows(10))
    daemon.tick()
    daemon.tick()
    restarted = SensorDaemon(instance, daemon.sensor, daemon.resources)
    restarted.cursor = daemon.cursor
    assert requested(restarted.tick()) == []
    forgetful = SensorDaemon(instance, daemon.sensor, daemon.resources)  # cursor lost: still skipped
    forgetful.tick()
    result = forgetful.tick()
    assert requested(result) == [] and "before_restart.csv duplicate" in result.skip_reason.skip_message


def test_files_wait_while_the_model_cannot_be_verified_and_say_so_once(
    daemon, telco_inbox, instance, monkeypatch, tmp_path
):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(tmp_path / "no_model_here"))
    drop(telco_inbox, "patient.csv", customer_rows(10))
    daemon.tick()
    for _ in range(3):
        result = daemon.tick()
        assert requested(result) == [] and "patient.csv waiting for model" in result.skip_reason.skip_message
        assert "dvc repro" in result.skip_reason.skip_message
    [row] = inbox_table(instance)
    assert row["decision"] == Decision.WAITING_FOR_MODEL and "dvc repro" in row["reason"]
    assert inbox_observation_count(instance) == 1, "reported once, not once per tick"
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(REPO_ROOT))
    assert len(requested(daemon.tick())) == 1


def test_files_wait_while_dvc_lock_is_damaged(daemon, telco_inbox, monkeypatch, retrained_model_root):
    lock = retrained_model_root / "dvc.lock"
    lock.write_text("<<<<<<< HEAD\n" + lock.read_text() + "=======\n>>>>>>> other\n")
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    drop(telco_inbox, "patient.csv", customer_rows(10))
    daemon.tick()
    result = daemon.tick()
    assert requested(result) == [] and "merge-conflict" in result.skip_reason.skip_message


def test_a_file_that_cannot_be_read_is_reported_and_retried(daemon, telco_inbox, instance, monkeypatch):
    # The sensor runs as root here, and root reads any file: the read error is simulated.
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    drop(telco_inbox, "locked.csv", customer_rows(10))
    daemon.tick()
    with monkeypatch.context() as patch:
        patch.setattr(inbox_sensors, "file_sha256", denied)
        assert "locked.csv cannot read: Permission denied" in daemon.tick().skip_reason.skip_message
        assert "locked.csv cannot read" in daemon.tick().skip_reason.skip_message
    assert [row["decision"] for row in inbox_table(instance)] == [Decision.CANNOT_READ]
    assert len(requested(daemon.tick())) == 1, "retried once readable, without being touched"


# --- the shared inbox and its router ---------------------------------------------------------------


def test_the_router_sends_each_file_in_the_shared_inbox_to_the_use_case_its_header_satisfies(router, folders, instance):
    credit_rows = valid_rows(CREDIT_RISK, 20)
    assert any(name != name.strip() for name in credit_rows.columns), "the German header's leading spaces"
    drop(folders.inbox, "customers.csv", customer_rows(20))
    drop(folders.inbox, "applications.csv", credit_rows)
    assert requested(router.tick()) == []
    result = router.tick()

    routed = {request.job_name: request.partition_key for request in result.run_requests}
    assert set(routed) == {keys_of(TELCO).score_file_job, keys_of(CREDIT_RISK).score_file_job}
    assert routed[keys_of(TELCO).score_file_job].startswith("customers-")
    assert routed[keys_of(CREDIT_RISK).score_file_job].startswith("applications-")
    assert {request.tags[TRIGGER] for request in result.run_requests} == {Trigger.SENSOR}
    table = {row["file"]: row for row in inbox_table(instance, SHARED_INBOX)}
    assert {name: (row["decision"], row["use_case"]) for name, row in table.items()} == {
        "customers.csv": (Decision.REQUESTED, "telco_churn"),
        "applications.csv": (Decision.REQUESTED, "credit_risk"),
    }
    assert requested(router.tick()) == []

    for use_case in (TELCO, CREDIT_RISK):
        key = routed[keys_of(use_case).score_file_job]
        assert instance.has_dynamic_partition(keys_of(use_case).partitions, key)
        assert execute_score_run(instance, use_case, key).success
        assert folders.of(use_case.name).scored_file(key).exists()


def test_a_file_matching_no_use_case_is_refused_visibly_and_not_retried_until_it_changes(router, folders, instance):
    stray = drop(folders.inbox, "stray.csv", customer_rows(10).drop(columns=["tenure"]))
    router.tick()
    skip = router.tick().skip_reason.skip_message
    [row] = inbox_table(instance, SHARED_INBOX)
    assert (row["file"], row["decision"], row["use_case"]) == ("stray.csv", Decision.NO_USE_CASE, "")
    assert "satisfies no use case's contract (telco_churn lacks tenure;" in row["reason"]
    for name in USE_CASE_NAMES:
        assert f"inbox/{name}/" in row["reason"]
    assert "credit_risk lacks" in row["reason"]
    assert "stray.csv no use case" in skip

    reported = inbox_observation_count(instance, SHARED_INBOX)
    for _ in range(2):
        assert "no new complete files" in router.tick().skip_reason.skip_message
    assert inbox_observation_count(instance, SHARED_INBOX) == reported, "decided again without a change"

    write_csv(customer_rows(10), stray)  # the sender fixes the columns
    settle(stray)
    router.tick()
    [key] = requested(router.tick())
    assert instance.has_dynamic_partition(keys_of(TELCO).partitions, key)
    assert [row["decision"] for row in inbox_table(instance, SHARED_INBOX)] == [
        Decision.REQUESTED,
        Decision.NO_USE_CASE,
    ]


def test_a_file_whose_header_cannot_be_read_is_refused_as_no_use_case(router, folders, instance):
    (folders.inbox).mkdir(parents=True)
    (folders.inbox / "binary.csv").write_bytes(b"\x00\x01\x02 not text \xff\xfe\n")
    settle(folders.inbox / "binary.csv")
    router.tick()
    assert requested(router.tick()) == []
    [row] = inbox_table(instance, SHARED_INBOX)
    assert row["decision"] == Decision.NO_USE_CASE and "no use case can be chosen for it" in row["reason"]


@pytest.fixture
def tenure_only(tmp_path, monkeypatch) -> UseCase:
    """A use case declared outside the repository whose contract columns are a subset of Telco's."""
    module = write_use_case_module(tmp_path / "extra_use_cases", "tenure_only")
    monkeypatch.syspath_prepend(str(module.parent))
    return importlib.import_module(module.stem).USE_CASE


def test_a_file_matching_several_use_cases_is_refused_naming_them(instance, folders, tenure_only):
    definitions = scoring_definitions()
    jobs = [definitions.resolve_job_def(keys_of(each).score_file_job) for each in (TELCO, CREDIT_RISK)]
    router = SensorDaemon(
        instance,
        inbox_sensors.build_inbox_router([CREDIT_RISK, TELCO, tenure_only], jobs, 5),
        sensor_resources(folders),
    )
    drop(folders.inbox, "ambiguous.csv", customer_rows(10))
    router.tick()
    result = router.tick()
    assert requested(result) == []
    [row] = inbox_table(instance, SHARED_INBOX)
    assert (row["decision"], row["use_case"]) == (Decision.SEVERAL_USE_CASES, "")
    assert "satisfies several use cases (telco_churn, tenure_only)" in row["reason"]
    assert "inbox/telco_churn/" in row["reason"] and "inbox/tenure_only/" in row["reason"]
    assert "ambiguous.csv several use cases" in result.skip_reason.skip_message
    reported = inbox_observation_count(instance, SHARED_INBOX)
    assert "no new complete files" in router.tick().skip_reason.skip_message
    assert inbox_observation_count(instance, SHARED_INBOX) == reported, "decided again without a change"


def test_a_file_that_fitted_no_use_case_is_decided_again_once_one_it_fits_is_loaded(instance, folders, tenure_only):
    known = list(all_use_cases().values())
    jobs = [build_jobs(keys_of(each))[0] for each in [*known, tenure_only]]
    daemon = SensorDaemon(instance, inbox_sensors.build_inbox_router(known, jobs[:-1], 5), sensor_resources(folders))
    drop(folders.inbox, "tenure.csv", customer_rows(10)[["customerID", "tenure"]])
    daemon.tick()
    assert requested(daemon.tick()) == []
    assert inbox_table(instance, SHARED_INBOX)[0]["decision"] == Decision.NO_USE_CASE

    # The code location reloaded with one more use case: the same cursor, no touch to the file.
    daemon.sensor = inbox_sensors.build_inbox_router([*known, tenure_only], jobs, 5)
    daemon.tick()
    daemon.tick()
    latest = inbox_table(instance, SHARED_INBOX)[0]
    # Routed to the new use case (which, declared for this test only, has no model to score with yet).
    assert (latest["file"], latest["use_case"], latest["decision"]) == (
        "tenure.csv",
        tenure_only.name,
        Decision.WAITING_FOR_MODEL,
    )


def test_the_use_cases_own_folders_in_the_shared_inbox_are_not_taken_for_files(router, daemon, folders, instance):
    telco_inbox = folders.of(TELCO.name).inbox
    drop(telco_inbox, "own.csv", customer_rows(10))
    folders.of(CREDIT_RISK.name).inbox.mkdir(parents=True)
    (folders.inbox / "archive").mkdir()
    for _ in range(3):
        assert requested(router.tick()) == []
    [row] = inbox_table(instance, SHARED_INBOX)
    assert (row["file"], row["decision"]) == ("archive", Decision.NOT_A_FILE), "only the foreign folder is decided"

    daemon.tick()
    [key] = requested(daemon.tick())
    assert key.startswith("own-"), "the file in inbox/telco_churn/ is its own sensor's"


def test_a_copy_routed_from_the_shared_inbox_is_a_duplicate_of_the_file_in_the_use_cases_own_inbox(
    router, daemon, folders, instance
):
    rows = customer_rows(12)
    drop(folders.of(TELCO.name).inbox, "first.csv", rows)
    daemon.tick()
    [key] = requested(daemon.tick())
    drop(folders.inbox, "again.csv", rows)
    router.tick()
    assert requested(router.tick()) == []
    [row] = inbox_table(instance, SHARED_INBOX)
    assert (row["decision"], row["use_case"], row["partition"]) == (Decision.DUPLICATE, "telco_churn", key)


# --- models and re-scoring ---------------------------------------------------------------------------


def observed_model(instance: DagsterInstance, use_case: UseCase = TELCO) -> dict:
    [record] = instance.fetch_observations(keys_of(use_case).model, limit=1).records
    return {key: value.value for key, value in record.asset_observation.metadata.items()}


def model_events(tick, use_case) -> list:
    """The tick's observations of the model (it may also observe the model history)."""
    return [event for event in tick.asset_events if event.asset_key == keys_of(use_case).model]


def test_model_sensor_observes_a_new_model_once_and_says_how_many_partitions_it_made_stale(
    use_case, instance, folders, monkeypatch, tmp_path
):
    built = built_model(use_case)
    for index in range(2):
        source = write_csv(valid_rows(use_case, 20, seed=index), tmp_path / f"{index}.csv")
        _, result = score_file(instance, folders, source, use_case=use_case)
        assert result.success
    model_sensor = SensorDaemon(instance, sensor_named(f"{use_case.name}__model_sensor"))
    assert model_sensor.tick().skip_reason
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_root(tmp_path / "retrained", use_case)))
    observing_tick = model_sensor.tick()
    [observation] = model_events(observing_tick, use_case)
    assert observation.asset_key == keys_of(use_case).model
    assert "2 of 2 scored partition(s) were scored with another model" in observing_tick.skip_reason.skip_message
    assert observation.data_version != built.md5
    assert latest_observed_model_md5(instance, use_case) == observation.data_version
    metadata = observed_model(instance, use_case)
    assert (metadata["stale_partitions"], metadata["scored_partitions"]) == (2, 2)
    assert metadata["how_to_rescore"].startswith("2 of 2 scored partition(s) were scored with another model")
    assert f"scoring-assets rescore --use-case {use_case.name}" in metadata["how_to_rescore"]
    assert f"{use_case.name}__rescore_on_model_change" in metadata["how_to_rescore"]
    assert model_sensor.tick().skip_reason


def test_model_sensor_observes_a_promotion_and_a_rollback_and_marks_scored_files_stale(
    instance, folders, monkeypatch, tmp_path
):
    root = dvc_model_root(tmp_path / "models")
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(root))
    _, result = score_file(instance, folders, write_csv(customer_rows(20), tmp_path / "scored.csv"))
    assert result.success
    model_sensor = SensorDaemon(instance, sensor_named("telco_churn__model_sensor"))
    model_sensor.tick()
    challenger = new_challenger(root)
    promote(TELCO, root)
    [observation] = model_events(model_sensor.tick(), TELCO)
    assert observation.data_version == challenger
    assert observed_model(instance)["stale_partitions"] == 1
    rollback(TELCO, root)
    [observation] = model_events(model_sensor.tick(), TELCO)
    assert observation.data_version == built_model(TELCO).md5


def test_a_new_model_for_one_use_case_leaves_the_other_use_cases_scores_alone(instance, folders, monkeypatch, tmp_path):
    keys = {}
    for use_case in (TELCO, CREDIT_RISK):
        source = write_csv(valid_rows(use_case, 20), tmp_path / f"{use_case.name}.csv")
        registration, result = score_file(instance, folders, source, use_case=use_case)
        assert result.success
        keys[use_case.name] = registration.partition_key
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_root(tmp_path / "retrained", TELCO)))
    credit_rescore = SensorDaemon(instance, sensor_named("credit_risk__rescore_on_model_change")).tick()
    telco_rescore = SensorDaemon(instance, sensor_named("telco_churn__rescore_on_model_change")).tick()
    assert requested(credit_rescore) == [] and not credit_rescore.asset_events
    assert requested(telco_rescore) == [keys["telco_churn"]]
    assert latest_observed_model_md5(instance, CREDIT_RISK) == built_model(CREDIT_RISK).md5


def test_counting_stale_partitions_stops_at_its_time_budget_and_says_it_is_a_lower_bound(
    instance, folders, monkeypatch, tmp_path, retrained_model_root
):
    for index in range(2):
        score_file(instance, folders, write_csv(customer_rows(20, seed=index), tmp_path / f"{index}.csv"))
    model_sensor = SensorDaemon(instance, sensor_named("telco_churn__model_sensor"))
    served = os.environ["SCORING_MODEL_ROOT"]
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    model_sensor.tick()
    assert observed_model(instance)["stale_partitions"] == 2, "a model never observed: counted without a read"
    monkeypatch.setattr(scored_models, "FETCH_PAGE", 1)
    monkeypatch.setattr(scored_models, "STALE_COUNT_BUDGET_SECONDS", 0)
    monkeypatch.setenv("SCORING_MODEL_ROOT", served)  # back to the model both files were scored with: each is read
    model_sensor.tick()
    metadata = observed_model(instance)
    assert (metadata["stale_partitions"], metadata["scored_partitions"]) == (0, 2)
    assert metadata["how_to_rescore"].startswith("at least 0 (counted 1 within the tick's time budget) of 2")


def models_read_one_by_one(instance: DagsterInstance) -> dict[str, str]:
    """Each existing partition's model md5, read from its latest scores materialization alone."""
    keys = instance.get_dynamic_partitions(keys_of(TELCO).partitions)
    return {key: md5 for key in keys if (md5 := scored_with_model(instance, TELCO, key)) is not None}


def test_the_grouped_stale_count_agrees_with_reading_each_partition(
    instance, folders, monkeypatch, tmp_path, retrained_model_root
):
    grouped_count_agrees_with_reading_each_partition(instance, folders, monkeypatch, tmp_path, retrained_model_root)


def grouped_count_agrees_with_reading_each_partition(instance, folders, monkeypatch, tmp_path, retrained_model_root):
    """Re-scored partitions, a partition scored by two models and back, a retired one: every answer as read alone."""
    sources = [write_csv(customer_rows(20, seed=index), tmp_path / f"{index}.csv") for index in range(4)]
    keys = [score_file(instance, folders, source)[0].partition_key for source in sources[:3]]
    first_model, served = latest_observed_model_md5(instance, TELCO), os.environ["SCORING_MODEL_ROOT"]
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    for source in (sources[0], sources[3], sources[1]):
        score_file(instance, folders, source)  # re-scored with the new model, and one more file
    second_model = latest_observed_model_md5(instance, TELCO)
    retire_file(instance, TELCO, folders, keys[1], "a mistake")
    monkeypatch.setenv("SCORING_MODEL_ROOT", served)
    score_file(instance, folders, sources[0])  # back to the first model: scored by two models over time

    read = models_read_one_by_one(instance)
    assert sorted(read.values()) == sorted([first_model, first_model, second_model]) and keys[1] not in read
    assert scored_models.models_by_partition(instance, TELCO) == read
    for model in (first_model, second_model, "0" * 32):
        stale = sum(md5 != model for md5 in read.values())
        assert scored_models.count_stale_partitions(instance, TELCO, model) == StaleCount(stale, 3, 3)
        planned = scored_models.models_by_partition(instance, TELCO, model)
        assert planned.keys() == read.keys()
        for key, md5 in read.items():  # left unread only when it cannot be this model
            assert planned[key] == md5 or (planned[key] == ANOTHER_MODEL and md5 != model)
    assert scored_models.models_by_partition(instance, TELCO, second_model)[keys[2]] == ANOTHER_MODEL
    assert set(scored_models.models_by_partition(instance, TELCO, "0" * 32).values()) == {ANOTHER_MODEL}


def test_a_new_model_with_nothing_scored_yet_is_observed_with_nothing_to_rescore(
    instance, monkeypatch, retrained_model_root
):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    result = SensorDaemon(instance, sensor_named("telco_churn__rescore_on_model_change")).tick()
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
    rescore_sensor = sensor_named("telco_churn__rescore_on_model_change")
    rescore = SensorDaemon(instance, rescore_sensor)
    assert requested(rescore.tick()) == [], "nothing is stale before the model changes"

    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    record_model_observation(
        instance, TELCO, model_store()
    )  # the model sensor saw the change before this sensor was switched on
    new_md5 = latest_observed_model_md5(instance, TELCO)
    monkeypatch.setattr(model_sensors, "RESCORE_CHECKS_PER_TICK", 2)
    first, second = rescore.tick(), rescore.tick()
    assert requested(first) + requested(second) == keys, "every stale partition, a bounded number per tick"
    for request in [*first.run_requests, *second.run_requests]:
        assert request.job_name in (None, keys_of(TELCO).rescore_batch_job) and request.run_key.endswith(f"@{new_md5}")
        assert request.tags[TRIGGER] == Trigger.RESCORE
    assert requested(rescore.tick()) == []

    forgetful = SensorDaemon(instance, rescore_sensor)  # same files, same model, same run keys: Dagster skips them
    assert [request.run_key for request in forgetful.tick().run_requests] == [
        request.run_key for request in first.run_requests
    ]

    result = execute_score_run(
        instance, TELCO, keys[0], job_name=keys_of(TELCO).rescore_job, tags=trigger_tags(Trigger.RESCORE)
    )
    assert result.success and scored_with_model(instance, TELCO, keys[0]) == new_md5
    assert requested(rescore.tick()) == [], "a partition re-scored with the current model is not requested"


def test_the_rescore_sensor_observes_a_new_model_itself_and_skips_deleted_partitions(
    instance, folders, monkeypatch, tmp_path, retrained_model_root
):
    kept, deleted = (
        score_file(instance, folders, write_csv(customer_rows(20, seed=index), tmp_path / f"{index}.csv"))[0]
        for index in range(2)
    )
    instance.delete_dynamic_partition(keys_of(TELCO).partitions, deleted.partition_key)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(retrained_model_root))
    result = SensorDaemon(instance, sensor_named("telco_churn__rescore_on_model_change")).tick()
    assert requested(result) == [kept.partition_key]
    assert observed_model(instance)["stale_partitions"] == 1


def test_the_rescore_sensor_waits_while_the_model_cannot_be_verified(instance, monkeypatch, tmp_path):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(tmp_path / "no_model_here"))
    result = SensorDaemon(instance, sensor_named("telco_churn__rescore_on_model_change")).tick()
    assert "re-scoring waits until the model can be verified" in result.skip_reason.skip_message


def test_nightly_schedule_rescores_the_use_cases_latest_partitions(use_case, tmp_path):
    keys = [f"file_{index}-{index:08x}" for index in range(NIGHTLY_LATEST_PARTITIONS + 5)]
    nightly = scoring_definitions().resolve_schedule_def(f"{use_case.name}__nightly_rescore")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.add_dynamic_partitions(keys_of(use_case).partitions, keys)
        other = next(name for name in USE_CASE_NAMES if name != use_case.name)
        instance.add_dynamic_partitions(keys_of(declared_use_case(other)).partitions, ["other_file-00000000"])
        context = build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 23, 2),
            resources={"rescore_settings": RescoreSettings(max_partitions_per_run=20)},
        )
        requests = list(nightly(context))
    assert nightly.job_name == keys_of(use_case).rescore_batch_job
    assert [key for request in requests for key in partitions_of(request)] == keys[-NIGHTLY_LATEST_PARTITIONS:]
    assert [len(partitions_of(request)) for request in requests] == [20, 20, 10], "20 files per run at most"
    assert len({request.run_key for request in requests}) == len(requests)
    assert {request.tags[TRIGGER] for request in requests} == {Trigger.SCHEDULE}
