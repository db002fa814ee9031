"""Years of files: pruning old files from Dagster keeps what proves them, and their copies stay duplicates.

The command runs as a subprocess on a real SQLite instance (files aged by rewriting the scoring
timestamp their manifest records, which is what pruning reads); the job, the schedule, the inbox
sensor and the trend run in process on a temporary SQLite instance, with pruning's clock moved instead.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.retention import prune_files
from scoring_assets.builders.schedules import build_prune_schedule
from scoring_assets.core.inbox import Decision
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.core.monitoring import recent_file_records
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.runs import execute_job
from tests.support.batches import TELCO, customer_rows, write_csv
from tests.support.scoring_runs import score_file, sensor_resources
from tests.test_sensors import SensorDaemon, inbox_table, sensor_named, settle

pytestmark = pytest.mark.usefixtures("model_artifact")
KEYS = keys_of(TELCO)


def scored_days_ago(scored_csv: Path, days: int) -> None:
    """Make a scored file look scored ``days`` ago: the scoring timestamp its manifest records, which pruning reads."""
    manifest_path = manifest_path_for(scored_csv)
    manifest = json.loads(manifest_path.read_text())
    when = datetime.now(UTC) - timedelta(days=days)
    manifest["scoring_timestamp"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    manifest_path.write_text(json.dumps(manifest, indent=2))


def runs_of(instance: dg.DagsterInstance, partition_key: str) -> list[str]:
    return [run.run_id for run in instance.get_runs(dg.RunsFilter(tags={"dagster/partition": partition_key}))]


def check_runs(instance: dg.DagsterInstance, check: dg.AssetCheckKey) -> list[str]:
    """The runs Dagster's index of check results names for ``check`` (pruning deletes a pruned run's rows)."""
    return [execution.run_id for execution in instance.event_log_storage.get_asset_check_execution_history(check, 100)]


@pytest.fixture
def sqlite_instance(tmp_path):
    """A temporary instance on SQLite files (runs, event index, one event database per run), as deployed."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.mark.e2e
def test_prune_removes_old_files_from_dagster_and_lineage_still_proves_them(workspace):
    sources = [write_csv(customer_rows(100, seed=seed), workspace.cwd / f"batch_{seed}.csv") for seed in (1, 2, 3)]
    untouched = [(path.read_bytes(), os.stat(path).st_mtime_ns) for path in sources]
    for source in sources:
        assert workspace.run("score", source.name).returncode == 0
    scored = {path.stem.rsplit("-", 1)[0]: path for path in workspace.scored_files() if path.suffix == ".csv"}
    old, new = [scored["batch_1"], scored["batch_2"]], scored["batch_3"]
    for path in old:
        scored_days_ago(path, 400)
    old_keys = sorted(path.stem for path in old)
    lake = workspace.data_dir / "lake" / TELCO.name
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        old_runs = {key: runs_of(instance, key) for key in old_keys}

    dry = workspace.run("prune", "--use-case", TELCO.name, "--older-than", "365", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert sorted(each["partition"] for each in planned["removed"]) == old_keys and planned["kept"] == 1
    assert not (lake / "pruned.jsonl").exists() and (lake / "raw_batch" / f"{old_keys[0]}.parquet").exists()

    done = workspace.run("prune", "--use-case", TELCO.name, "--older-than", "365", "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert sorted(each["partition"] for each in outcome["removed"]) == old_keys and outcome["kept"] == 1
    assert outcome["bytes_freed"] > 0 and outcome["refused"] == []
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        assert instance.get_dynamic_partitions(KEYS.partitions) == [new.stem]
        assert all(runs_of(instance, key) == [] for key in old_keys) and runs_of(instance, new.stem)
        shards = workspace.dagster_home / "history" / "runs"
        assert not [run for runs in old_runs.values() for run in runs if (shards / f"{run}.db").exists()]
    assert [(path.read_bytes(), os.stat(path).st_mtime_ns) for path in sources] == untouched

    for path in old:  # the deliverables stay; lineage still proves input, model and run
        lineage = workspace.run("lineage", str(path))
        assert lineage.returncode == 0, lineage.stderr
        summary = json.loads(lineage.stdout)
        registration = json.loads((lake / "inputs" / f"{path.stem}.json").read_text())
        assert summary["matches_manifest"] and summary["input"]["sha256"] == registration["sha256"]
        assert len(summary["model"]["md5"]) == 32 and summary["run_id"] in old_runs[path.stem]
        assert [run["run_id"] for run in summary["pruned"]["runs"]] == old_runs[path.stem]
        assert not (lake / "raw_batch" / f"{path.stem}.parquet").exists()
        assert all((lake / kept / f"{path.stem}.parquet").exists() for kept in ("validated_batch", "scores"))
    assert json.loads(workspace.run("lineage", str(new)).stdout)["pruned"] is None


def test_prune_refuses_bad_usage_with_exit_2(workspace):
    unknown = workspace.run("prune", "--use-case", "nope", "--older-than", "30")
    assert unknown.returncode == 2 and "no use case named 'nope'" in unknown.stderr
    negative = workspace.run("prune", "--use-case", TELCO.name, "--older-than", "-1")
    assert negative.returncode == 2 and "give 0 or more" in negative.stderr
    assert workspace.run("prune", "--use-case", TELCO.name).returncode == 2
    nothing = workspace.run("prune", "--use-case", TELCO.name, "--older-than", "30", "--json")
    assert nothing.returncode == 0 and json.loads(nothing.stdout)["removed"] == []


def test_a_pruned_files_copy_is_a_duplicate_and_the_trend_still_shows_it(sqlite_instance, folders, tmp_path):
    first, _ = score_file(sqlite_instance, folders, write_csv(customer_rows(60, seed=4), tmp_path / "first.csv"))
    second, _ = score_file(sqlite_instance, folders, write_csv(customer_rows(60, seed=5), tmp_path / "second.csv"))
    now = datetime.now(UTC)
    check = dg.AssetCheckKey(KEYS.scores, "score_is_probability")
    assert len(check_runs(sqlite_instance, check)) == 2
    kept = prune_files(sqlite_instance, TELCO, folders, 30, now=now + timedelta(days=29))
    assert (kept.removed, kept.kept) == ([], 2)

    pruned = prune_files(sqlite_instance, TELCO, folders, 30, now=now + timedelta(days=31))

    assert sorted(each["partition"] for each in pruned.removed) == sorted([first.partition_key, second.partition_key])
    assert sqlite_instance.get_dynamic_partitions(KEYS.partitions) == []
    assert not runs_of(sqlite_instance, first.partition_key) and check_runs(sqlite_instance, check) == []
    own = folders.of(TELCO.name)
    inbox = own.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    settle(shutil.copy(tmp_path / "first.csv", inbox / "first again.csv"))
    daemon = SensorDaemon(sqlite_instance, sensor_named(KEYS.inbox_sensor), sensor_resources(folders))
    assert not [request for _ in range(2) for request in daemon.tick().run_requests or []]  # seen, then settled
    [row] = inbox_table(sqlite_instance)
    assert (row["decision"], row["partition"]) == (Decision.DUPLICATE, first.partition_key)

    assert {record["partition"] for record in recent_file_records(own)} == {first.partition_key, second.partition_key}
    refreshed = execute_job(sqlite_instance, KEYS.monitoring_job)
    assert refreshed.success and own.monitoring_report.exists()
    [materialization] = refreshed.asset_materializations_for_node(KEYS.refresh_monitoring_op)
    assert materialization.metadata["files"].value == 2

    again, run = score_file(sqlite_instance, folders, tmp_path / "first.csv")  # asked for by hand: scored again
    assert run.success and again.partition_key == first.partition_key
    assert sqlite_instance.get_dynamic_partitions(KEYS.partitions) == [first.partition_key]
    assert own.pruned_partition_for_content(first.sha256) is None
    assert len(own.pruned_ledger.read_text().splitlines()) == 2  # the pruning stays on record


def test_retention_is_at_least_a_day_or_none():
    assert TELCO.retain_days is None
    with pytest.raises(ValueError, match="retain_days must be at least 1"):
        replace(TELCO, retain_days=0)


def test_the_prune_job_uses_the_declared_retention_and_its_schedule_is_stopped(sqlite_instance, folders, tmp_path):
    definitions = scoring_definitions()
    schedule = definitions.resolve_schedule_def(KEYS.prune_schedule)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    context = dg.build_schedule_context(instance=sqlite_instance, scheduled_execution_time=datetime(2027, 1, 5))
    assert "declares no retain_days" in schedule.evaluate_tick(context).skip_message
    job = definitions.resolve_job_def(KEYS.prune_job)
    kept_everything = execute_job(sqlite_instance, KEYS.prune_job)
    assert not kept_everything.success

    retained = replace(TELCO, retain_days=30)
    [request] = build_prune_schedule(retained, job).evaluate_tick(context).run_requests
    assert request.run_key == "prune@2027-01-05"
    scored, _ = score_file(sqlite_instance, folders, write_csv(customer_rows(40, seed=6), tmp_path / "recent.csv"))
    config = {"ops": {KEYS.prune_op: {"config": {"older_than_days": 0}}}}
    result = execute_job(sqlite_instance, KEYS.prune_job, config)
    assert result.success and sqlite_instance.get_dynamic_partitions(KEYS.partitions) == []
    [record] = [json.loads(line) for line in folders.of(TELCO.name).pruned_ledger.read_text().splitlines()]
    assert record["partition"] == scored.partition_key and record["run_id"] in [run["run_id"] for run in record["runs"]]
