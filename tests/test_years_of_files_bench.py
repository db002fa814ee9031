"""bench/years_of_files.py at a tiny size: its fill is what the product records, and it measures every path.

The bench's figures are only worth quoting if the instance it fills holds what N scored files
leave behind: here 30 files (SQLite, the UI left out: it needs Chromium), kept, then looked at
from outside the bench. CI runs it at this size only; the large sizes are run by hand
(docs/performance.md, "Years of files").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.use_cases import all_use_cases

FILES = 30
CLI_SCORED = 2  # the bench's own `scoring-assets score` runs: the baseline and the one at FILES
MEASURED = {
    "fill",
    "inbox_tick_100_new",
    "stale_count",
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
