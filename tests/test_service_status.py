"""``scoring-assets status``: a monitoring system's view of the service, against a real daemon.

Before the daemon starts every daemon is ``never`` seen (exit 1); while ``dg dev`` runs, the
daemons' heartbeats and the default-running sensors' ticks are fresh (exit 0); once it is
stopped they age past ``--max-age`` (exit 1). Sensor names come from the registry.
"""

from __future__ import annotations

import json
import time

import pytest

from scoring_assets.builders.keys import keys_of
from scoring_assets.use_cases import all_use_cases
from tests.support.dev_server import DagsterDevServer

pytestmark = pytest.mark.e2e  # starts dg dev: a minute


def status(workspace, *args: str) -> tuple[int, dict]:
    result = workspace.run("status", "--json", *args)
    return result.returncode, json.loads(result.stdout)


def test_status_is_stale_without_a_daemon_healthy_while_it_runs_and_stale_after_it_stops(tmp_path, workspace):
    code, before = status(workspace)
    assert code == 1 and not before["healthy"]
    assert before["daemons"] and all(each["last"] is None and each["stale"] for each in before["daemons"])

    with DagsterDevServer(workspace.dagster_home, workspace.data_dir, tmp_path / "dev.log"):
        expected = {keys_of(use_case).inbox_sensor for use_case in all_use_cases().values()}
        deadline = time.monotonic() + 180
        while True:
            code, running = status(workspace)
            ticked = {each["name"] for each in running["sensors"] if each["last"] is not None}
            if code == 0 and expected <= ticked:
                break
            assert time.monotonic() < deadline, f"never healthy: {running}"
            time.sleep(3)
        assert all(not each["stale"] and each["age_seconds"] < 180 for each in running["daemons"])

    time.sleep(2)
    code, after = status(workspace, "--max-age", "1")
    assert code == 1 and not after["healthy"]
    assert all(each["stale"] for each in after["daemons"])
    plain = workspace.run("status", "--max-age", "1")
    assert plain.returncode == 1 and plain.stdout.startswith("service: STALE") and "STALE daemon SENSOR" in plain.stdout
