"""bench/years_of_files.py at a tiny size: its fill is what the product records, and it measures every path.

The bench's figures are only worth quoting if the instance it fills holds what N scored files
leave behind: here 30 files (SQLite, the UI left out: it needs Chromium), kept, then looked at
from outside the bench. CI runs it at this size only; the large sizes are run by hand
(docs/performance.md, "Years of files").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetRecordsFilter, DagsterEventType, DagsterInstance, RunsFilter

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.use_cases import all_use_cases

FILES = 30
CLI_SCORED = 2  # the bench's own `scoring-assets score` runs: the baseline and the one at FILES
MEASURED = {
    "fill",
    "inbox_tick_100_new",
    "stale_count",
    "stale_count_rollback",
    "rescore_sensor_tick",
    "cli_score_100_rows",
    "cli_lineage_old",
    "cli_lineage_new",
    "cli_rescore_plan",
    "monitoring_refresh",
    "disk_lake",
    "disk_scored",
    "disk_rejected",
    "disk_archive",
    "disk_instance",
}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """The bench at 30 files, its instance kept: (its JSON report, the instance's home, the data folder)."""
    scratch = tmp_path_factory.mktemp("years")
    command = [sys.executable, str(REPO_ROOT / "bench" / "years_of_files.py"), "--files", str(FILES)]
    command += ["--skip", "ui", "--scratch", str(scratch), "--keep", "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (kept,) = scratch.glob("years-sqlite-*")
    return json.loads(done.stdout), kept / "home", kept / "data"


def test_the_filled_instance_holds_a_partition_per_file(bench_run):
    _, home, _ = bench_run
    with DagsterInstance.from_config(str(home)) as instance:
        partitions = sum(
            len(instance.get_dynamic_partitions(keys_of(use_case).partitions)) for use_case in all_use_cases().values()
        )
        runs = instance.get_runs_count()
    assert partitions == FILES + CLI_SCORED
    assert runs >= FILES + CLI_SCORED


def test_a_filled_file_has_its_lineage_through_the_cli(bench_run):
    _, home, data = bench_run
    (scored,) = data.glob(f"scored/*/yof{FILES - 1:06d}_*.csv")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SCORING_DATA_DIR": str(data)}
    cli = str(Path(sys.executable).with_name("scoring-assets"))
    done = subprocess.run([cli, "lineage", str(scored)], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    lineage = json.loads(done.stdout)
    assert lineage["matches_manifest"] is True
    assert lineage["partition_key"] == scored.stem


def test_the_report_has_every_measurement(bench_run):
    report, _, _ = bench_run
    at_size = {row["measurement"] for row in report["rows"] if row["files"] == FILES}
    assert at_size == MEASURED
    baseline = [row for row in report["rows"] if row["measurement"] == "cli_score_100_rows" and row["files"] < FILES]
    assert len(baseline) == 1
    timed = [row for row in report["rows"] if not row["measurement"].startswith("disk_")]
    assert all(row["wall_s"] > 0 and row["cpu_s"] >= 0 for row in timed)


CLONES = 4  # per fill, after the two templates


def partition_summary(instance: DagsterInstance, partition_key: str) -> dict:
    """What the sensors, the CLI and the UI read of one scored file: its run, its events, its assets, its checks."""
    (run,) = instance.get_runs(RunsFilter(tags={"dagster/partition": partition_key}))
    records = instance.get_records_for_run(run.run_id, limit=10_000).records
    entries = [record.event_log_entry for record in records]
    materialized = sorted(
        {entry.dagster_event.asset_key for entry in entries if entry.is_dagster_event and entry.dagster_event.asset_key}
    )
    checks = sorted(
        {
            entry.dagster_event.asset_check_evaluation_data.asset_check_key
            for entry in entries
            if entry.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        }
    )
    assets = {}
    for asset_key in materialized:
        found = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition_key]), limit=10
        ).records
        indexed = instance.event_log_storage.get_latest_tags_by_partition(  # what the asset_event_tags table holds
            asset_key, DagsterEventType.ASSET_MATERIALIZATION, ["dagster/data_version"], [partition_key]
        )
        assets[asset_key.to_user_string()] = [
            (sorted(record.asset_materialization.metadata), sorted(record.asset_materialization.tags), indexed)
            for record in found
        ]
    infos = instance.event_log_storage.get_asset_check_partition_info(checks, partition_keys=[partition_key])
    return {
        "job": run.job_name,
        "status": run.status.value,
        "tags": sorted((key, value) for key, value in run.tags.items() if run.run_id not in value),
        "events": [str(entry.dagster_event_type) for entry in entries],
        "assets": assets,
        "checks": sorted((info.check_key.to_user_string(), info.latest_execution_status.value) for info in infos),
        "checks_target_latest": all(info.is_current for info in infos),
    }


@pytest.fixture(scope="module")
def both_fills(tmp_path_factory):
    """One instance with the two real templates, copied; each copy then grown by one fill: (sql, through the API)."""
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from years_fill import grow, read_template, score_template

    scratch = tmp_path_factory.mktemp("fills")
    first = scratch / "sql"
    env = {**os.environ, "DAGSTER_HOME": str(first / "home"), "SCORING_DATA_DIR": str(first / "data")}
    sources = [score_template(name, first / "data", env) for name in sorted(all_use_cases())]
    shutil.copytree(first, scratch / "api", symlinks=True)
    fills = {}
    for store in ("sql", "event"):
        folder = scratch / ("sql" if store == "sql" else "api")
        instance = DagsterInstance.from_config(str(folder / "home"))
        moved = [folder / "data" / source.relative_to(first / "data") for source in sources]
        templates = [
            read_template(instance, name, source, folder / "data")
            for name, source in zip(sorted(all_use_cases()), moved, strict=True)
        ]
        grow(instance, templates, folder / "data", len(templates), len(templates) + CLONES, store=store)
        fills[store] = (instance, templates)
    yield fills
    for instance, _ in fills.values():
        instance.dispose()


def test_the_sql_fill_records_what_the_api_fill_records(both_fills):
    """Straight into the tables or through Dagster's write path, each cloned file reads back the same."""
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from years_fill import substituted

    sql_instance, templates = both_fills["sql"]
    api_instance, _ = both_fills["event"]
    for index in range(len(templates), len(templates) + CLONES):
        template = templates[index % len(templates)]
        key = substituted(template.partition_key, template.substitutions(index))
        from_sql, from_api = partition_summary(sql_instance, key), partition_summary(api_instance, key)
        assert from_sql["events"] and from_sql["checks"] and from_sql["assets"]
        # the API fill stores a clone's checks against the template's materialization; the SQL fill
        # against the clone's own, as a real run does
        assert from_sql.pop("checks_target_latest") is True
        from_api.pop("checks_target_latest")
        assert from_sql == from_api
    for instance in (sql_instance, api_instance):
        for template in templates:
            partitions = instance.get_dynamic_partitions(keys_of(template.use_case).partitions)
            assert len(partitions) == 1 + CLONES // len(templates)
