"""The Postgres deployment for real: a PostgreSQL server, the daemon and webserver on it, many files at once.

A PostgreSQL server is started on 127.0.0.1 with a temporary data folder (installed from the
system's packages first if it is missing: tests/support/postgres.py), and `dg dev` (webserver +
daemon, runs launched as processes) runs on the project's deploy/dagster.postgres.yaml. Twelve
files of both use cases are renamed into the inboxes at once (some into the shared inbox, routed
by header, some into each use case's own folder), with byte-for-byte copies of two of them under
other names: one beside its original, one in the other inbox. Every distinct file must be scored
exactly once, by runs that overlapped, with the runs recorded in Postgres (read there with psql),
and neither the Dagster processes nor the server may outlive the test.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack

import pandas as pd
import pytest
import yaml

import tests.support.dev_server as dev_server
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from tests.support.batches import CREDIT_RISK, TELCO, valid_rows, write_csv
from tests.support.dev_server import FINISHED_STATUSES, DagsterDevServer
from tests.support.model_roots import built_model
from tests.support.postgres import PostgresUnavailable, temporary_postgres
from tests.test_daemon_e2e import inbox_decisions, max_concurrent

pytestmark = pytest.mark.e2e  # a real daemon, PostgreSQL or DVC: `pytest -m 'not e2e'` leaves it out

POSTGRES_INSTANCE_CONFIG = REPO_ROOT / "deploy" / "dagster.postgres.yaml"
FILES_PER_USE_CASE = 6
ROWS_PER_FILE = 300
TIMEOUT_SECONDS = 240
# Byte-for-byte copies dropped with the originals: twin -> (original, inbox folder under inbox/).
TWINS = {"telco copy.csv": ("telco_churn_batch_0.csv", TELCO.name), "credit copy.csv": ("credit_risk_batch_0.csv", "")}


def start_postgres(stack: ExitStack):
    """The server, or a skip saying why there cannot be one (a failure under CI, where it must run)."""
    try:
        return stack.enter_context(temporary_postgres())
    except PostgresUnavailable as why:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI: {why}")
        pytest.skip(f"no PostgreSQL server can be started here: {why}")


def drop_files(data_dir, staging) -> dict[str, tuple[str, int]]:
    """Rename every file into its inbox at once; returns file name -> (use case, rows).

    Half of each use case's files go into the shared inbox (routed by header), half into its own
    folder. Twins (same bytes, another name): Telco's first file again beside it in its own
    folder, credit_risk's first file again in the shared inbox.
    """
    shared = data_dir / "inbox"
    dropped: dict[str, tuple[str, int]] = {}
    moves = []
    for offset, use_case in enumerate((TELCO, CREDIT_RISK)):
        for index in range(FILES_PER_USE_CASE):
            inbox = shared if index % 2 else shared / use_case.name
            name = f"{use_case.name}_batch_{index}.csv"
            rows = ROWS_PER_FILE + index  # distinct sizes: distinct contents
            source = write_csv(valid_rows(use_case, rows, seed=500 + 10 * offset + index), staging / name)
            moves.append((source, inbox / name))
            dropped[name] = (use_case.name, rows)
    for twin, (original, inbox) in TWINS.items():
        moves.append((shutil.copyfile(staging / original, staging / twin), shared / inbox / twin))
        dropped[twin] = dropped[original]
    for folder in {destination.parent for _, destination in moves}:
        folder.mkdir(parents=True, exist_ok=True)
    for source, destination in moves:
        os.rename(source, destination)
    return dropped


def decisions_by_file(server: DagsterDevServer) -> dict[str, dict]:
    """file -> its decision row, from the shared inbox's and each use case's inbox observations."""
    decisions = {}
    for path in (["inbox"], [TELCO.name, "inbox"], [CREDIT_RISK.name, "inbox"]):
        for name, row in inbox_decisions(server, path).items():
            decisions[name] = {**row, "use_case": row.get("use_case") or path[0]}
    return decisions


def partitions_by_use_case(server: DagsterDevServer) -> dict[str, dict[str, list[dict]]]:
    """use case -> partition -> its score_file runs."""
    runs: dict[str, dict[str, list[dict]]] = {TELCO.name: {}, CREDIT_RISK.name: {}}
    for run in server.runs():
        use_case = dev_server.score_file_jobs()[run["jobName"]]
        runs.setdefault(use_case, {}).setdefault(run["tags"].get("dagster/partition", ""), []).append(run)
    return runs


def wait_for_all_files(server: DagsterDevServer) -> dict[str, dict[str, list[dict]]]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = partitions_by_use_case(server)
        finished = all(
            len(runs[use_case.name]) >= FILES_PER_USE_CASE
            and all(run["status"] in FINISHED_STATUSES for group in runs[use_case.name].values() for run in group)
            for use_case in (TELCO, CREDIT_RISK)
        )
        if finished:
            return runs
        time.sleep(2)
    counts = {name: len(group) for name, group in partitions_by_use_case(server).items()}
    pytest.fail(f"not every file was scored within {TIMEOUT_SECONDS} s ({counts})\n{server.log_tail()}")


def scored_files(data_dir, use_case: UseCase) -> dict[str, int]:
    """partition key -> rows, for each scored CSV of the use case."""
    folder = data_dir / "scored" / use_case.name
    return {path.stem: len(pd.read_csv(path)) for path in sorted(folder.glob("*.csv"))}


def test_many_files_are_scored_exactly_once_by_concurrent_runs_on_postgres(tmp_path, monkeypatch):
    for use_case in (TELCO, CREDIT_RISK):
        built_model(use_case)
    max_concurrent_runs = yaml.safe_load(POSTGRES_INSTANCE_CONFIG.read_text())["run_coordinator"]["config"][
        "max_concurrent_runs"
    ]
    data_dir, staging = tmp_path / "data", tmp_path / "staging"
    with ExitStack() as stack:
        postgres = start_postgres(stack)
        # The dev server writes this file into its DAGSTER_HOME: the deploy config, not the SQLite one.
        monkeypatch.setattr(dev_server, "INSTANCE_CONFIG_PATH", POSTGRES_INSTANCE_CONFIG)
        server = DagsterDevServer(
            dagster_home=tmp_path / "dagster_home",
            data_dir=data_dir,
            log_path=tmp_path / "dagster_dev.log",
            env={**postgres.dagster_env(), "SCORING_INBOX_INTERVAL_SECONDS": "2", "SCORING_INBOX_SETTLE_SECONDS": "2"},
        )
        try:
            started = time.monotonic()
            server.start()
            print(f"dg dev up in {time.monotonic() - started:.1f} s")
            dropped = time.monotonic()
            dropped_files = drop_files(data_dir, staging)
            runs = wait_for_all_files(server)
            print(f"every file scored {time.monotonic() - dropped:.1f} s after the drop")
            time.sleep(6)  # a few more sensor ticks: a twin scored late would show up now
            runs = partitions_by_use_case(server)
            decisions = decisions_by_file(server)

            # Every file decided: one run requested per distinct content, the twin of each pair a
            # duplicate of the other's partition (which of the two comes first is up to the sensors).
            assert set(decisions) == set(dropped_files), sorted(decisions)
            # Sent to a run: "requested" until a tick after the run, then its final fate, "scored".
            requested = {name: row for name, row in decisions.items() if row["decision"] in ("requested", "scored")}
            assert len(requested) == 2 * FILES_PER_USE_CASE, {name: row["decision"] for name, row in decisions.items()}
            for twin, (original, _) in TWINS.items():
                pair = sorted((decisions[name]["decision"], decisions[name]["partition"]) for name in (twin, original))
                assert pair[0][0] == "duplicate" and pair[1][0] in ("requested", "scored"), pair
                assert pair[0][1] == pair[1][1], f"{twin} is not recognised as {original}'s twin: {pair}"

            all_runs = [run for by_partition in runs.values() for group in by_partition.values() for run in group]
            for use_case in (TELCO, CREDIT_RISK):
                by_partition = runs[use_case.name]
                expected_rows = {
                    row["partition"]: dropped_files[name][1]
                    for name, row in requested.items()
                    if row["use_case"] == use_case.name
                }
                assert set(by_partition) == set(expected_rows), f"{use_case.name}: {sorted(by_partition)}"
                assert all(len(group) == 1 for group in by_partition.values()), f"{use_case.name}: a file ran twice"
                assert {group[0]["status"] for group in by_partition.values()} == {"SUCCESS"}
                # One scored file per partition, each with every row of its input.
                assert scored_files(data_dir, use_case) == expected_rows
            assert {run["tags"].get("scoring/trigger") for run in all_runs} == {"sensor"}

            # Runs overlapped, within the queue's bound.
            peak = max_concurrent(all_runs)
            assert 1 < peak <= max_concurrent_runs, f"at most {peak} run(s) at once"
            first_start = min(run["startTime"] for run in all_runs)
            last_end = max(run["endTime"] for run in all_runs)
            span = last_end - first_start
            print(f"{len(all_runs)} runs on Postgres, up to {peak} at once, {span:.1f} s from first start to last end")

            # The instance really is Postgres: the runs are rows there, and no SQLite storage was made.
            stored = postgres.psql(
                "select run_id, pipeline_name, status from runs where pipeline_name like '%\\_\\_score\\_file'"
            ).splitlines()
            assert sorted(stored) == sorted(f"{run['runId']}|{run['jobName']}|{run['status']}" for run in all_runs)
            run_ids = ", ".join(f"'{run['runId']}'" for run in all_runs)
            events = postgres.psql(f"select count(distinct run_id) from event_logs where run_id in ({run_ids})")
            assert int(events) == len(all_runs), "every run's events are in Postgres"
            home_files = {path.name for path in (tmp_path / "dagster_home").rglob("*.db")}
            assert not home_files, f"SQLite storage in DAGSTER_HOME: {home_files}"
        finally:
            server.stop()
            assert server.group_pids() == [], "processes of dagster dev were left running"
    assert postgres.process_ids() == [], "PostgreSQL processes were left running"
