"""Hands-off operation against the real thing: `dagster dev` (webserver + daemon) on loopback.

Files are dropped into the inbox the way people drop them: one written slowly in pieces, one
byte-for-byte duplicate under another name, one re-delivered under the same name with new
content, one invalid, an empty one, a note that is not a CSV, and a few at once. The test waits
(bounded) for the runs and asserts through the GraphQL API what happened, and that the inbox
asset's latest observation tells every file's fate. Then a new model is installed in the
(copied) DVC project: the model sensor must notice it and say how many partitions went stale;
`scoring-assets rescore` re-scores one of them against the running instance, and switching on
`rescore_on_model_change` afterwards must catch up on the others (and only those), archiving
the old results. Every process the test started is stopped, by PID, even when it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_dvc_project, customer_rows, install_new_model, write_csv

from tests.support.dev_server import FINISHED_STATUSES, DagsterDevServer

pytestmark = pytest.mark.usefixtures("model_artifact")

TIMEOUT_SECONDS = 420
SCORES_QUERY = """
{ assetOrError(assetKey: {path: ["scores"]}) {
    ... on Asset { assetMaterializations(limit: 200) { partition runId tags { key value } } } } }
"""
INBOX_QUERY = """
{ assetOrError(assetKey: {path: ["inbox"]}) {
    ... on Asset { assetObservations(limit: 1) { metadataEntries { label
        ... on TableMetadataEntry { table { records } } } } } } }
"""
MODEL_QUERY = """
{ assetOrError(assetKey: {path: ["churn_model"]}) {
    ... on Asset { assetObservations(limit: 1) { metadataEntries { label
        ... on IntMetadataEntry { intValue } } } } } }
"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
    __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
STALE_QUERY = """
query Stale($partitions: [String!]) { assetNodes(assetKeys: [{path: ["scores"]}]) {
    staleStatusByPartition(partitions: $partitions) } }
"""


def runs_by_partition(server: DagsterDevServer) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    for run in server.runs():
        runs.setdefault(run["tags"].get("dagster/partition", ""), []).append(run)
    return runs


def wait_for(predicate, server: DagsterDevServer, what: str, timeout: float = TIMEOUT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n--- dagster dev log ---\n{server.log_tail()}")


def finished_runs_for(server: DagsterDevServer, prefix: str, count: int):
    """Once ``count`` partitions starting with ``prefix`` each have a finished run, those runs."""

    def check():
        runs = {k: v for k, v in runs_by_partition(server).items() if k.startswith(prefix)}
        if len(runs) >= count and all(run["status"] in FINISHED_STATUSES for group in runs.values() for run in group):
            return runs
        return None

    return check


def write_slowly(path: Path, rows: pd.DataFrame, pieces: int, pause: float) -> None:
    """Append the CSV in ``pieces`` chunks, ``pause`` seconds apart, as a slow upload would."""
    text = rows.to_csv(index=False)
    lines = text.splitlines(keepends=True)
    size = len(lines) // pieces + 1
    with open(path, "w") as handle:
        for start in range(0, len(lines), size):
            handle.write("".join(lines[start : start + size]))
            handle.flush()
            time.sleep(pause)


def max_concurrent(runs: list[dict]) -> int:
    moments = []
    for run in runs:
        if run["startTime"] and run["endTime"]:
            moments += [(run["startTime"], 1), (run["endTime"], -1)]
    running = peak = 0
    for _, change in sorted(moments, key=lambda item: (item[0], item[1])):
        running += change
        peak = max(peak, running)
    return peak


def inbox_decisions(server: DagsterDevServer) -> dict[str, dict]:
    """file -> its row in the inbox asset's latest observation table (empty before the first one)."""
    [observation] = server.graphql(INBOX_QUERY)["assetOrError"]["assetObservations"] or [{"metadataEntries": []}]
    tables = [entry["table"] for entry in observation["metadataEntries"] if entry["label"] == "recent_files"]
    return {row["file"]: row for row in map(json.loads, tables[0]["records"])} if tables else {}


def observed_stale_partitions(server: DagsterDevServer) -> int | None:
    [observation] = server.graphql(MODEL_QUERY)["assetOrError"]["assetObservations"]
    return next((e["intValue"] for e in observation["metadataEntries"] if e["label"] == "stale_partitions"), None)


def start_sensor(server: DagsterDevServer, name: str) -> None:
    [location] = server.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")[
        "workspaceOrError"
    ]["locationEntries"]
    selector = {"repositoryLocationName": location["name"], "repositoryName": "__repository__", "sensorName": name}
    started = server.graphql(START_SENSOR, {"selector": selector})["startSensor"]
    assert started.get("sensorState", {}).get("status") == "RUNNING", started


def rescore_with_cli(server: DagsterDevServer, model_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(server.dagster_home),
        "SCORING_DATA_DIR": str(server.data_dir),
        "SCORING_MODEL_ROOT": str(model_root),
    }
    command = [sys.executable, "-m", "scoring_assets", "rescore", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_files_dropped_in_the_inbox_are_scored_by_the_running_daemon(tmp_path, model_artifact):
    data_dir = tmp_path / "data"
    inbox = data_dir / "inbox"
    inbox.mkdir(parents=True)
    model_root = copy_dvc_project(tmp_path / "model_root")
    server = DagsterDevServer(
        dagster_home=tmp_path / "dagster_home",
        data_dir=data_dir,
        log_path=tmp_path / "dagster_dev.log",
        env={
            "SCORING_INBOX_INTERVAL_SECONDS": "2",
            "SCORING_INBOX_SETTLE_SECONDS": "3",
            "SCORING_MODEL_ROOT": str(model_root),
        },
    )
    try:
        server.start()

        slow_rows = customer_rows(600, seed=31)
        write_slowly(inbox / "slow upload.csv", slow_rows, pieces=6, pause=1.5)
        clean = customer_rows(80, seed=32)
        write_csv(clean, inbox / "clean.csv")
        write_csv(clean, inbox / "clean copy.csv")
        bad = customer_rows(60, seed=33)
        bad.loc[bad.index[:10], "Contract"] = "Lifetime"
        write_csv(bad, inbox / "invalid.csv")
        (inbox / "empty.csv").touch()
        (inbox / "notes.txt").write_text("scored files go to the CRM on Mondays\n")
        write_csv(customer_rows(40, seed=34), inbox / "redelivered.csv")
        for index in range(3):
            write_csv(customer_rows(30, seed=40 + index), inbox / f"burst_{index}.csv")

        wait_for(finished_runs_for(server, "redelivered-", 1), server, "the first delivery")
        write_csv(customer_rows(45, seed=35), inbox / "redelivered.csv.part")
        (inbox / "redelivered.csv.part").rename(inbox / "redelivered.csv")

        expected = {"slow_upload-": 1, "clean-": 1, "invalid-": 1, "redelivered-": 2, "burst_": 3}
        for prefix, count in expected.items():
            wait_for(finished_runs_for(server, prefix, count), server, f"{count} run(s) for {prefix}*")
        runs = runs_by_partition(server)

        def only(prefix: str) -> list[dict]:
            return [run for key, group in runs.items() if key.startswith(prefix) for run in group]

        assert [run["status"] for run in only("slow_upload-")] == ["SUCCESS"]
        [slow_key] = [key for key in runs if key.startswith("slow_upload-")]
        scored_slow = pd.read_csv(data_dir / "scored" / f"{slow_key}.csv")
        assert len(scored_slow) == 600, "the slow upload was scored whole, not half-way"

        assert [run["status"] for run in only("clean-")] == ["SUCCESS"]
        assert not [key for key in runs if key.startswith("clean_copy-")], "the duplicate was scored"
        assert [run["status"] for run in only("invalid-")] == ["FAILURE"]
        assert not (data_dir / "scored" / f"{next(k for k in runs if k.startswith('invalid-'))}.csv").exists()
        assert sorted(run["status"] for run in only("redelivered-")) == ["SUCCESS", "SUCCESS"]
        assert len([key for key in runs if key.startswith("redelivered-")]) == 2
        assert sorted(run["status"] for run in only("burst_")) == ["SUCCESS"] * 3
        assert all(len(group) == 1 for group in runs.values()), "a file was scored more than once"

        all_runs = [run for group in runs.values() for run in group]
        assert {run["tags"].get("scoring/trigger") for run in all_runs} == {"sensor"}
        assert max_concurrent(all_runs) <= 2, "the run queue let more than max_concurrent_runs run at once"

        materializations = server.graphql(SCORES_QUERY)["assetOrError"]["assetMaterializations"]
        successful = {run["runId"] for run in all_runs if run["status"] == "SUCCESS"}
        scored_runs = {event["runId"] for event in materializations}
        assert scored_runs == successful
        for event in materializations:
            tags = {tag["key"]: tag["value"] for tag in event["tags"]}
            assert tags["dagster/input_data_version/churn_model"] == model_artifact.md5, event["partition"]

        # Every file's fate, where an operator looks: the inbox asset's latest observation.
        [clean_key] = [key for key in runs if key.startswith("clean-")]
        decisions = inbox_decisions(server)  # decided long before the runs above finished
        assert (decisions["clean copy.csv"]["decision"], decisions["clean copy.csv"]["partition"]) == (
            "duplicate",
            clean_key,
        )
        assert decisions["empty.csv"]["decision"] == "empty"
        assert "waits until it has content" in decisions["empty.csv"]["reason"]
        assert decisions["notes.txt"]["decision"] == "not a csv"
        assert decisions["clean.csv"]["decision"] == "requested"

        # A new model lands in dvc.lock: the model sensor notices, scored partitions go stale,
        # and the model observation says how many.
        scored_keys = sorted(event["partition"] for event in materializations)

        def stale_statuses() -> list[str]:
            nodes = server.graphql(STALE_QUERY, {"partitions": scored_keys})["assetNodes"]
            return nodes[0]["staleStatusByPartition"]

        assert set(stale_statuses()) == {"FRESH"}
        new_md5 = install_new_model(model_root)
        wait_for(lambda: set(stale_statuses()) == {"STALE"}, server, "scores to go stale after the model change")
        assert observed_stale_partitions(server) == len(scored_keys)

        # Most partitions re-scored from the CLI against the running instance; switching on the
        # rescore sensor afterwards catches up on the two left stale, each by one tagged run (two
        # keep the daemon's run start-up cost, ~10 s a run, small).
        by_sensor, by_cli = scored_keys[:2], scored_keys[2:]
        rescored = rescore_with_cli(server, model_root, *(arg for key in by_cli for arg in ("--partition", key)))
        assert rescored.returncode == 0, rescored.stderr
        assert f"{len(by_cli)} of {len(by_cli)} file(s) re-scored" in rescored.stdout
        start_sensor(server, "rescore_on_model_change")

        def sensor_rescores():
            done = [run for run in server.runs("rescore") if run["tags"].get("scoring/trigger") == "rescore"]
            finished = len(done) >= len(by_sensor) and all(run["status"] in FINISHED_STATUSES for run in done)
            return done if finished else None

        rescore_runs = wait_for(sensor_rescores, server, "the rescore sensor to catch up on stale partitions")
        assert sorted(run["tags"]["dagster/partition"] for run in rescore_runs) == sorted(by_sensor)
        assert {run["status"] for run in rescore_runs} == {"SUCCESS"}
        assert set(stale_statuses()) == {"FRESH"}
        for key in scored_keys:
            manifest = json.loads((data_dir / "scored" / f"{key}.manifest.json").read_text())
            assert manifest["model"]["md5"] == new_md5
            archived = Path(manifest["previous_output_archived_to"]) / f"{key}.manifest.json"
            assert json.loads(archived.read_text())["model"]["md5"] == model_artifact.md5
        # What a newcomer sees in the dev server's output: none of the start-up warnings of old.
        log = server.log_path.read_text(errors="replace")
        for warning in ("SupersessionWarning", "BetaWarning", "Found a dagster instance configuration"):
            assert warning not in log, f"{warning} in the dg dev log"
    finally:
        server.stop()
        assert server.group_pids() == [], "processes of dagster dev were left running"
