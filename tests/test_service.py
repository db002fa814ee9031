"""``python3 dev.py serve``: webserver, daemon and report server as one service that SIGTERM stops cleanly.

Started as a service manager would start it (its own DAGSTER_HOME and data folder, free loopback
ports), it is healthy by ``scoring-assets status``, serves the UI and the reports, keeps
Dagster's per-tick INFO lines out of its logs, and on SIGTERM stops every child and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from scoring_assets.core.paths import REPO_ROOT
from tests.support.dev_server import free_port

pytestmark = pytest.mark.e2e  # starts the whole service: a minute or two


def healthy(workspace) -> bool:
    result = workspace.run("status", "--json")
    return result.returncode == 0 and bool(json.loads(result.stdout)["sensors"])


def answers(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_service_runs_healthy_with_quiet_logs_and_stops_cleanly_on_sigterm(workspace):
    ui, reports = free_port(), free_port()
    service = subprocess.Popen(
        [sys.executable, "dev.py", "serve", "--port", str(ui), "--reports-address", f"127.0.0.1:{reports}"],
        cwd=REPO_ROOT,
        env=workspace.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not healthy(workspace):
            assert service.poll() is None, service.stdout.read()
            assert time.monotonic() < deadline, "the service never became healthy"
            time.sleep(3)
        assert answers(f"http://127.0.0.1:{ui}/server_info") == 200
        assert answers(f"http://127.0.0.1:{reports}/not-a-report") == 404  # up, and serving reports only
        time.sleep(20)  # a few sensor ticks' worth of logging
    finally:
        service.send_signal(signal.SIGTERM)
        code = service.wait(timeout=90)
    said = service.stdout.read()

    assert code == 0, said
    assert "stopping the service" in said
    assert not port_open(ui) and not port_open(reports), "every child stopped"
    daemon_log = (workspace.dagster_home / "service_logs" / "daemon.log").read_text()
    assert "Checking for new runs for sensor" not in daemon_log, "per-tick INFO lines are kept out of the log"
    assert "does not match the name" not in daemon_log, "workspace.yaml names the location as pyproject's dg does"
    assert len(daemon_log.splitlines()) < 50
    time.sleep(2)
    assert workspace.run("status", "--max-age", "1").returncode == 1
    assert os.path.isdir(workspace.dagster_home / "service_logs")
