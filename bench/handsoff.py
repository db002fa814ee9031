"""Hands-off latency: from a complete file renamed into an inbox to its scored file, against the real daemon.

    .venv/bin/python bench/handsoff.py                       # 5 files of 7,000 rows per use case
    .venv/bin/python bench/handsoff.py --files 5 --rows 7000 --inbox own

Starts the real webserver and daemon (``dg dev``: tests/support/dev_server.DagsterDevServer, the
shipped SQLite instance config) with the inbox sensors ticking every second and a 1 s settle time
(``SCORING_INBOX_INTERVAL_SECONDS=1``, ``SCORING_INBOX_SETTLE_SECONDS=1``: files arrive by atomic
rename, so they are complete when they appear; docs/operations.md, "What counts as a complete file"). Then,
one file at a time and alternating between the use cases, it renames a complete, freshly
generated file (each use case's own generator, a distinct seed per file) into the inbox and
measures, on the wall clock, from the rename until the scored file exists in
``scored/<use case>/`` (it is published by an atomic rename, so existing means complete); it then
waits for the run to finish and checks it succeeded before the next file. One warm-up file per
use case goes first and is not counted (the first run after the daemon starts also pays for
loading the code location).

``--inbox shared`` (default) drops into ``inbox/`` itself, routed by header by ``inbox_router``
(what a user does without knowing the use case); ``--inbox own`` into ``inbox/<use case>/``.
Prints each file's latency, split by the run record's times into: rename to run requested (the
sensor's ticks: settle check, hashing, routing), requested to started (the run queue, launching
the run process, loading the code location in it) and started to ended (the run's steps; the
scored file appears just before the end), then per use case the median and max against the
target (median <= 10 s).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from scoring_assets.use_cases import use_case  # noqa: E402
from tests.support.dev_server import FINISHED_STATUSES, DagsterDevServer  # noqa: E402

USE_CASES = ("telco_churn", "credit_risk")
TARGET_MEDIAN_SECONDS = 10.0
POLL_SECONDS = 0.05


def generate(use_case_name: str, path: Path, rows: int, seed: int) -> Path:
    generator = importlib.import_module(f"scoring_assets.use_cases.{use_case_name}.generate")
    return generator.write_extract(path, rows, seed=seed, labelled=False)


RUNS_QUERY = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter, limit: 1000) {
    ... on Runs { results { runId status creationTime startTime endTime tags { key value } } } } }"""


def run_of(server: DagsterDevServer, use_case_name: str, stem: str) -> dict | None:
    """The score_file run whose partition is this file's (``<name>-<sha256 prefix>``), if any.

    With creationTime (when the sensor's request made the run), which DagsterDevServer.runs omits.
    """
    runs = server.graphql(RUNS_QUERY, {"filter": {"pipelineName": f"{use_case_name}__score_file"}})
    for run in runs["runsOrError"]["results"]:
        if any(tag["key"] == "dagster/partition" and tag["value"].startswith(f"{stem}-") for tag in run["tags"]):
            return run
    return None


def drop_and_time(server: DagsterDevServer, data_dir: Path, inbox: Path, use_case_name: str, source: Path, timeout):
    """Rename ``source`` into ``inbox``; (seconds to its scored file, the finished run)."""
    scored = data_dir / "scored" / use_case_name
    stem = source.stem
    dropped_at = time.time()
    started = time.perf_counter()
    os.rename(source, inbox / source.name)
    while not (scored.is_dir() and any(scored.glob(f"{stem}-*.csv"))):
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{source.name} was not scored within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(POLL_SECONDS)
    latency = time.perf_counter() - started
    while (run := run_of(server, use_case_name, stem)) is None or run["status"] not in FINISHED_STATUSES:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"the run for {source.name} did not finish within {timeout:.0f} s")
        time.sleep(0.5)
    if run["status"] != "SUCCESS":
        raise SystemExit(f"the run for {source.name} ended {run['status']}:\n{server.log_tail()}")
    run["requested"] = run["creationTime"] - dropped_at
    run["launch"] = run["startTime"] - run["creationTime"]
    run["duration"] = run["endTime"] - run["startTime"]
    return latency, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5, help="measured files per use case (after one warm-up)")
    parser.add_argument("--rows", type=int, default=7000)
    parser.add_argument("--use-cases", default=",".join(USE_CASES))
    parser.add_argument("--inbox", choices=("shared", "own"), default="shared")
    parser.add_argument("--interval", type=int, default=1, help="SCORING_INBOX_INTERVAL_SECONDS")
    parser.add_argument("--settle", type=int, default=1, help="SCORING_INBOX_SETTLE_SECONDS")
    parser.add_argument("--timeout", type=float, default=300, help="per file, seconds")
    args = parser.parse_args()
    names = [use_case(name.strip()).name for name in args.use_cases.split(",")]

    latencies: dict[str, list[tuple[float, dict]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="handsoff-") as scratch:
        scratch = Path(scratch)
        data_dir = scratch / "data"
        staging = scratch / "staging"
        plan = []  # (use case, file, measured?) alternating between the use cases
        for index in range(args.files + 1):
            for offset, name in enumerate(names):
                source = staging / f"{name}_handsoff_{index}.csv"
                plan.append((name, generate(name, source, args.rows, seed=9000 + 100 * offset + index), index > 0))
        env = {"SCORING_INBOX_INTERVAL_SECONDS": str(args.interval), "SCORING_INBOX_SETTLE_SECONDS": str(args.settle)}
        server = DagsterDevServer(scratch / "dagster_home", data_dir, scratch / "dagster_dev.log", env=env)
        up = time.perf_counter()
        with server:
            print(f"dg dev up in {time.perf_counter() - up:.1f} s (not counted)", flush=True)
            for name, source, counted in plan:
                inbox = data_dir / "inbox" if args.inbox == "shared" else data_dir / "inbox" / name
                inbox.mkdir(parents=True, exist_ok=True)
                latency, run = drop_and_time(server, data_dir, inbox, name, source, args.timeout)
                label = "" if counted else "  (warm-up, not counted)"
                print(
                    f"{name:<12} {source.name:<28} {latency:6.2f} s to the scored file "
                    f"(sensor {run['requested']:5.2f} s, queue+launch {run['launch']:5.2f} s, "
                    f"run {run['duration']:5.2f} s){label}",
                    flush=True,
                )
                if counted:
                    latencies[name].append((latency, run))

    print(
        f"\nCommand: .venv/bin/python bench/handsoff.py --files {args.files} --rows {args.rows} "
        f"--use-cases {','.join(names)} --inbox {args.inbox} --interval {args.interval} --settle {args.settle}"
    )
    print(f"Inbox: {args.inbox}; sensor interval {args.interval} s, settle {args.settle} s; SQLite instance\n")
    print(
        "| use case | rows | files | median s | max s | median: rename to run requested s "
        "| requested to started s | started to ended s | median <= 10 s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in names:
        values = [latency for latency, _ in latencies[name]]
        median = statistics.median(values)
        requested = statistics.median(run["requested"] for _, run in latencies[name])
        launch = statistics.median(run["launch"] for _, run in latencies[name])
        duration = statistics.median(run["duration"] for _, run in latencies[name])
        verdict = "met" if median <= TARGET_MEDIAN_SECONDS else f"missed by {median - TARGET_MEDIAN_SECONDS:.2f} s"
        print(
            f"| {name} | {args.rows:,} | {len(values)} | {median:.2f} | {max(values):.2f} | {requested:.2f} | "
            f"{launch:.2f} | {duration:.2f} | {verdict} |"
        )


if __name__ == "__main__":
    main()
