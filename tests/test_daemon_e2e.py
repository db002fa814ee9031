"""Hands-off operation against the real thing: `dg dev` (webserver + daemon) on loopback.

Files are dropped into Telco's own inbox (inbox/telco_churn/) the way people drop them: one
written slowly in pieces, one byte-for-byte duplicate under another name, one re-delivered under
the same name with new content, one invalid, an empty one, a note that is not a CSV, and a few
at once. Into the shared inbox go a German credit file and a Telco file, which the inbox router
sends to their use cases by header, and a file no use case's contract fits, which it refuses.
The test waits (bounded) for the runs and asserts through the GraphQL API what happened, and
that the inbox assets' latest observations tell every file's fate. Then a new Telco model is
installed in the (copied) DVC project: the Telco model sensor must notice it and say how many
partitions went stale, while credit_risk's scores stay fresh; `scoring-assets rescore` re-scores
some of them against the running instance, and switching on `telco_churn__rescore_on_model_change`
afterwards must catch up on the others (and only those), archiving the old results. Every process
the test started is stopped, by PID, even when it fails.
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
import yaml

from scoring_assets.core.paths import INSTANCE_CONFIG_PATH
from scoring_assets.core.use_case import UseCase
from tests.support.batches import CREDIT_RISK, TELCO, customer_rows, valid_rows, write_csv
from tests.support.dev_server import FINISHED_STATUSES, DagsterDevServer
from tests.support.model_roots import built_model, copy_dvc_project, install_new_model

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("model_artifact")]

TIMEOUT_SECONDS = 420
SCORES_QUERY = """
query Scores($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(limit: 200) { partition runId tags { key value } } } } }
"""
INBOX_QUERY = """
query Inbox($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetObservations(limit: 1) { metadataEntries { label
        ... on TableMetadataEntry { table { records } } } } } } }
"""
MODEL_QUERY = """
query Model($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetObservations(limit: 1) { metadataEntries { label
        ... on IntMetadataEntry { intValue } } } } } }
"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
    __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
STALE_QUERY = """
query Stale($path: [String!]!, $partitions: [String!]) { assetNodes(assetKeys: [{path: $path}]) {
    staleStatusByPartition(partitions: $partitions) } }
"""

SENT_TO_A_RUN = ("requested", "scored")  # the inbox table shows the final fate once the run finished


def runs_by_partition(server: DagsterDevServer, use_case: UseCase = TELCO) -> dict[str, list[dict]]:
    """The use case's score_file runs, by partition."""
    runs: dict[str, list[dict]] = {}
    for run in server.runs(f"{use_case.name}__score_file"):
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


def finished_runs_for(server: DagsterDevServer, prefix: str, count: int, use_case: UseCase = TELCO):
    """Once ``count`` of the use case's partitions starting with ``prefix`` each have a finished run, those runs."""

    def check():
        runs = {k: v for k, v in runs_by_partition(server, use_case).items() if k.startswith(prefix)}
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


def inbox_decisions(server: DagsterDevServer, path: list[str]) -> dict[str, dict]:
    """file -> its row in the inbox asset's latest observation table (empty before the first one)."""
    observations = server.graphql(INBOX_QUERY, {"path": path})["assetOrError"]["assetObservations"]
    [observation] = observations or [{"metadataEntries": []}]
    tables = [entry["table"] for entry in observation["metadataEntries"] if entry["label"] == "recent_files"]
    return {row["file"]: row for row in map(json.loads, tables[0]["records"])} if tables else {}


def observed_stale_partitions(server: DagsterDevServer, use_case: UseCase) -> int | None:
    [observation] = server.graphql(MODEL_QUERY, {"path": [use_case.name, "model"]})["assetOrError"]["assetObservations"]
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
    command = [sys.executable, "-m", "scoring_assets", "rescore", "--use-case", "telco_churn", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_files_dropped_in_the_inboxes_are_scored_by_the_running_daemon(tmp_path, model_artifact):
    data_dir = tmp_path / "data"
    shared_inbox, inbox = data_dir / "inbox", data_dir / "inbox" / "telco_churn"
    inbox.mkdir(parents=True)
    model_root = tmp_path / "model_root"
    for use_case in (TELCO, CREDIT_RISK):
        copy_dvc_project(model_root, use_case)
    credit_model = built_model(CREDIT_RISK)
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
        # The shared inbox: each file goes where its header says, or is refused there.
        write_csv(valid_rows(CREDIT_RISK, 50, seed=36), shared_inbox / "applications.csv")
        write_csv(customer_rows(25, seed=37), shared_inbox / "routed customers.csv")
        write_csv(customer_rows(25, seed=38).drop(columns=["tenure"]), shared_inbox / "stray.csv")

        wait_for(finished_runs_for(server, "redelivered-", 1), server, "the first delivery")
        write_csv(customer_rows(45, seed=35), inbox / "redelivered.csv.part")
        (inbox / "redelivered.csv.part").rename(inbox / "redelivered.csv")

        expected = {
            "slow_upload-": 1,
            "clean-": 1,
            "invalid-": 1,
            "redelivered-": 2,
            "burst_": 3,
            "routed_customers-": 1,
        }
        for prefix, count in expected.items():
            wait_for(finished_runs_for(server, prefix, count), server, f"{count} run(s) for {prefix}*")
        credit_runs = wait_for(
            finished_runs_for(server, "applications-", 1, CREDIT_RISK), server, "the credit file routed by header"
        )
        runs = runs_by_partition(server)

        def only(prefix: str) -> list[dict]:
            return [run for key, group in runs.items() if key.startswith(prefix) for run in group]

        assert [run["status"] for run in only("slow_upload-")] == ["SUCCESS"]
        [slow_key] = [key for key in runs if key.startswith("slow_upload-")]
        scored_slow = pd.read_csv(data_dir / "scored" / "telco_churn" / f"{slow_key}.csv")
        assert len(scored_slow) == 600, "the slow upload was scored whole, not half-way"

        assert [run["status"] for run in only("clean-")] == ["SUCCESS"]
        assert not [key for key in runs if key.startswith("clean_copy-")], "the duplicate was scored"
        assert [run["status"] for run in only("invalid-")] == ["FAILURE"]
        invalid_key = next(key for key in runs if key.startswith("invalid-"))
        assert not (data_dir / "scored" / "telco_churn" / f"{invalid_key}.csv").exists()
        assert sorted(run["status"] for run in only("redelivered-")) == ["SUCCESS", "SUCCESS"]
        assert len([key for key in runs if key.startswith("redelivered-")]) == 2
        assert sorted(run["status"] for run in only("burst_")) == ["SUCCESS"] * 3
        assert [run["status"] for run in only("routed_customers-")] == ["SUCCESS"]
        assert all(len(group) == 1 for group in runs.values()), "a file was scored more than once"
        [credit_key] = credit_runs
        assert [run["status"] for run in credit_runs[credit_key]] == ["SUCCESS"]
        scored_credit = pd.read_csv(data_dir / "scored" / "credit_risk" / f"{credit_key}.csv")
        assert len(scored_credit) == 50 and set(scored_credit["model_version"]) == {credit_model.version}

        all_runs = [run for group in runs.values() for run in group] + credit_runs[credit_key]
        assert {run["tags"].get("scoring/trigger") for run in all_runs} == {"sensor"}
        queue = yaml.safe_load(INSTANCE_CONFIG_PATH.read_text())["run_coordinator"]["config"]
        assert max_concurrent(all_runs) <= queue["max_concurrent_runs"], "the queue let more runs than its limit run"

        telco_scores = server.graphql(SCORES_QUERY, {"path": ["telco_churn", "scores"]})
        materializations = telco_scores["assetOrError"]["assetMaterializations"]
        successful = {run["runId"] for group in runs.values() for run in group if run["status"] == "SUCCESS"}
        scored_runs = {event["runId"] for event in materializations}
        assert scored_runs == successful
        for event in materializations:
            tags = {tag["key"]: tag["value"] for tag in event["tags"]}
            assert tags["dagster/input_data_version/telco_churn/model"] == model_artifact.md5, event["partition"]

        # Every file's fate, where an operator looks: the inbox assets' latest observations.
        [clean_key] = [key for key in runs if key.startswith("clean-")]
        decisions = inbox_decisions(server, ["telco_churn", "inbox"])  # decided long before the runs above finished
        assert (decisions["clean copy.csv"]["decision"], decisions["clean copy.csv"]["partition"]) == (
            "duplicate",
            clean_key,
        )
        assert decisions["empty.csv"]["decision"] == "empty"
        assert "waits until it has content" in decisions["empty.csv"]["reason"]
        assert decisions["notes.txt"]["decision"] == "not a csv"
        # A file sent to a run reads "requested" until a tick after its run, then its final fate.
        assert decisions["clean.csv"]["decision"] in SENT_TO_A_RUN
        routed = inbox_decisions(server, ["inbox"])
        sent = {
            name: ("sent" if row["decision"] in SENT_TO_A_RUN else row["decision"], row["use_case"])
            for name, row in routed.items()
        }
        assert sent == {
            "applications.csv": ("sent", "credit_risk"),
            "routed customers.csv": ("sent", "telco_churn"),
            "stray.csv": ("no use case", ""),
        }, "the use cases' own folders in the shared inbox are not files to decide"

        # A new Telco model lands in dvc.lock: the model sensor notices, Telco's scored partitions
        # go stale (credit_risk's do not), and the model observation says how many.
        scored_keys = sorted(event["partition"] for event in materializations)

        def stale_statuses(use_case: UseCase, keys: list[str]) -> list[str]:
            variables = {"path": [use_case.name, "scores"], "partitions": keys}
            return server.graphql(STALE_QUERY, variables)["assetNodes"][0]["staleStatusByPartition"]

        assert set(stale_statuses(TELCO, scored_keys)) == {"FRESH"}
        new_md5 = install_new_model(model_root, TELCO)
        wait_for(
            lambda: set(stale_statuses(TELCO, scored_keys)) == {"STALE"},
            server,
            "scores to go stale after the model change",
        )
        assert observed_stale_partitions(server, TELCO) == len(scored_keys)
        assert stale_statuses(CREDIT_RISK, [credit_key]) == ["FRESH"]

        # Most partitions re-scored from the CLI against the running instance; switching on the
        # rescore sensor afterwards catches up on the two left stale in one tagged batch run.
        by_sensor, by_cli = scored_keys[:2], scored_keys[2:]
        rescored = rescore_with_cli(server, model_root, *(arg for key in by_cli for arg in ("--partition", key)))
        assert rescored.returncode == 0, rescored.stderr
        assert f"{len(by_cli)} of {len(by_cli)} file(s) re-scored" in rescored.stdout
        start_sensor(server, "telco_churn__rescore_on_model_change")

        def sensor_rescores():
            done = [
                run
                for run in server.runs("telco_churn__rescore_batch")
                if run["tags"].get("scoring/trigger") == "rescore"
            ]
            return done if done and all(run["status"] in FINISHED_STATUSES for run in done) else None

        rescore_runs = wait_for(sensor_rescores, server, "the rescore sensor to catch up on stale partitions")
        assert len(rescore_runs) == 1, "both stale files in one batch run"
        assert rescore_runs[0]["tags"]["scoring/batch_files"] == str(len(by_sensor))
        assert {run["status"] for run in rescore_runs} == {"SUCCESS"}
        assert set(stale_statuses(TELCO, scored_keys)) == {"FRESH"}
        for key in scored_keys:
            manifest = json.loads((data_dir / "scored" / "telco_churn" / f"{key}.manifest.json").read_text())
            assert manifest["model"]["md5"] == new_md5
            archived = Path(manifest["previous_output_archived_to"]) / f"{key}.manifest.json"
            assert json.loads(archived.read_text())["model"]["md5"] == model_artifact.md5
        assert server.runs("credit_risk__rescore_batch") == [], "credit_risk's model did not change"
        # What a newcomer sees in the dev server's output: none of the start-up warnings of old.
        log = server.log_path.read_text(errors="replace")
        for warning in ("SupersessionWarning", "BetaWarning", "Found a dagster instance configuration"):
            assert warning not in log, f"{warning} in the dg dev log"
    finally:
        server.stop()
        assert server.group_pids() == [], "processes of dagster dev were left running"
