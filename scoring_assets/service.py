"""Run the product as a long-lived service: webserver, daemon and report server, stopped cleanly on SIGTERM.

``python3 dev.py serve [--port N] [--host H] [--reports-address HOST:PORT]`` runs this module
(``python -m scoring_assets.service``) in the project's environment. It starts
``dagster-webserver`` and ``dagster-daemon run`` on the repository's ``workspace.yaml`` (the
instance is ``DAGSTER_HOME``) and ``scoring-assets serve-reports``, each writing its log to
``<name>.log`` in ``--logs`` (``dev.py`` passes ``$DAGSTER_HOME/service_logs``; appended). Dagster's own
lines are kept at ``warning``: the daemon otherwise logs several INFO lines per sensor tick
(hundreds in five minutes), while every decision, run and refusal stays in the UI's event log.
On SIGTERM or Ctrl-C it sends SIGTERM to each child, waits up to ``STOP_SECONDS`` (then kills
what is left) and exits 0; when a child dies by itself it stops the others and exits 1, so a
supervisor (systemd, a container runtime) restarts the whole service.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from scoring_assets.core.paths import REPO_ROOT

STOP_SECONDS = 30
POLL_SECONDS = 1.0


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """What to start, by name (the log file's name)."""
    bin_dir = Path(sys.executable).parent
    workspace = str(REPO_ROOT / "workspace.yaml")
    reports = [str(bin_dir / "scoring-assets"), "serve-reports"]
    return {
        "webserver": [
            str(bin_dir / "dagster-webserver"),
            *("-h", args.host, "-p", str(args.port), "-w", workspace, "--dagster-log-level", "warning"),
        ],
        "daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", workspace, "--log-level", "warning"],
        "reports": [*reports, *(["--reports-address", args.reports_address] if args.reports_address else [])],
    }


def start(named: dict[str, list[str]], logs: Path) -> dict[str, subprocess.Popen]:
    logs.mkdir(parents=True, exist_ok=True)
    started = {}
    for name, command in named.items():
        with open(logs / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            started[name] = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        print(f"started {name} (pid {started[name].pid}), log: {logs / f'{name}.log'}", flush=True)
    return started


def stop(children: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to every child still running, then wait; kill what has not stopped after ``STOP_SECONDS``."""
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for name, child in children.items():
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop within {STOP_SECONDS} s: killed", flush=True)
            child.kill()
            child.wait()


class Stopping(Exception):
    """Raised in the main loop by SIGTERM, as Ctrl-C raises KeyboardInterrupt."""


def supervise(children: dict[str, subprocess.Popen]) -> int:
    """Wait until asked to stop (0) or until a child exits by itself (1); stop the others either way."""

    def asked_to_stop(signum, frame):
        raise Stopping

    signal.signal(signal.SIGTERM, asked_to_stop)
    try:
        while True:
            died = [name for name, child in children.items() if child.poll() is not None]
            if died:
                print(f"{', '.join(died)} exited by itself: stopping the service", flush=True)
                return 1
            time.sleep(POLL_SECONDS)
    except (Stopping, KeyboardInterrupt):
        print("stopping the service", flush=True)
        return 0
    finally:
        stop(children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev.py serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="the webserver's address (%(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="the webserver's port (%(default)s)")
    parser.add_argument("--reports-address", metavar="HOST:PORT", help="the report server's (its own default)")
    parser.add_argument("--logs", type=Path, required=True, help="the folder of the logs ($DAGSTER_HOME/service_logs)")
    args = parser.parse_args(argv)
    children = start(commands(args), args.logs)
    print(f"serving: UI on http://{args.host}:{args.port}; stop with SIGTERM or Ctrl-C", flush=True)
    return supervise(children)


if __name__ == "__main__":
    sys.exit(main())
