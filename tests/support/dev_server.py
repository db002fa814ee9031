"""Start the real Dagster webserver and daemon (`dg dev`) on loopback, and stop them for sure.

Used by the daemon end-to-end test, the screenshot script and the concurrency benchmark: a free
port on 127.0.0.1, the instance (``DAGSTER_HOME``) and data folder (``SCORING_DATA_DIR``) the
caller chooses, a GraphQL client, and a stop that ends every process it started (the whole
process group, by PID) even when the caller failed.
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
from pathlib import Path

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.paths import INSTANCE_CONFIG_PATH, REPO_ROOT
from scoring_assets.settings import DATA_DIR_VARIABLE
from scoring_assets.use_cases import all_use_cases

FINISHED_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}


def score_file_jobs() -> dict[str, str]:
    """Each use case's job that scores one file (its name from ``UseCaseKeys``) -> the use case's name."""
    return {keys_of(use_case).score_file_job: name for name, use_case in all_use_cases().items()}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DagsterDevServer:
    """``dg dev`` for this repository's project (pyproject.toml ``[tool.dg]``), in its own process group."""

    def __init__(self, dagster_home: Path, data_dir: Path, log_path: Path, env: dict[str, str] | None = None):
        self.dagster_home = Path(dagster_home)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> DagsterDevServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self, timeout: float = 180) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(INSTANCE_CONFIG_PATH.read_text())
        env = {**os.environ, **self.extra_env}
        env.update({"DAGSTER_HOME": str(self.dagster_home), DATA_DIR_VARIABLE: str(self.data_dir)})
        env.setdefault("VIRTUAL_ENV", str(Path(sys.executable).parent.parent))
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child process for its lifetime
        self.process = subprocess.Popen(
            self.command(), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command()[0]} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                    if response.status == 200 and self._code_location_loaded():
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise TimeoutError(f"dg dev did not come up within {timeout:.0f} s:\n{self.log_tail()}")

    def command(self) -> list[str]:
        """What serves the UI on ``self.port``: `dg dev`, as `python3 dev.py ui` runs it."""
        dg = Path(sys.executable).with_name("dg")
        return [str(dg), "dev", "--host", "127.0.0.1", "--port", str(self.port)]

    def _code_location_loaded(self) -> bool:
        data = self.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")[
            "workspaceOrError"
        ]
        entries = data.get("locationEntries") or []
        return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def runs(self, job_name: str | None = None) -> list[dict]:
        """Every run of ``job_name`` (default: of every use case's ``<use case>__score_file`` job).

        Each run as runId, jobName, status, startTime, endTime and tags (as a dict).
        """
        query = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter, limit: 1000) {
            ... on Runs { results { runId jobName status startTime endTime tags { key value } } } } }"""
        run_filter = {"pipelineName": job_name} if job_name else {}
        runs = self.graphql(query, {"filter": run_filter})["runsOrError"]["results"]
        for run in runs:
            run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
        return [run for run in runs if job_name or run["jobName"] in score_file_jobs()]

    def wait_for_finished_runs(self, count: int, job_name: str | None = None, timeout: float = 300) -> list[dict]:
        """Block until at least ``count`` runs of ``job_name`` (default: any score_file job) exist, all finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs(job_name)
            if len(runs) >= count and all(run["status"] in FINISHED_STATUSES for run in runs):
                return runs
            time.sleep(1)
        what = job_name or "score_file"
        raise TimeoutError(f"{count} {what} run(s) did not finish within {timeout:.0f} s:\n{self.log_tail()}")

    def group_pids(self) -> list[int]:
        """Every live process in the server's process group (the server and all it spawned)."""
        if self.process is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.process.pid and fields[0] != "Z":
                    pids.append(int(entry.name))
        return pids

    def stop(self, grace_seconds: float = 20) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left; waits until none remain."""
        if self.process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline and self.group_pids():
                if self.process.poll() is None:
                    try:
                        self.process.wait(timeout=0.5)
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    time.sleep(0.2)
            if not self.group_pids():
                break
        if self.process.poll() is None:
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
