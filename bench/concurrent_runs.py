"""N files dropped together are scored by concurrent runs, faster than one after another.

    .venv/bin/python bench/concurrent_runs.py --files 6 --rows 200000

(a) one after another: `scoring-assets score` for each file in turn;
(b) together: the files are dropped into the inbox of a running `dagster dev` (webserver +
    daemon, the shipped deploy/dagster.yaml: a queue with max_concurrent_runs 2), and the clock runs
    from the drop until the last run has finished (sensor pick-up included).
Prints both wall times and the highest number of runs seen executing at once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from scoring_assets.use_cases.telco_churn.generate import write_extract  # noqa: E402
from tests.support.dev_server import DagsterDevServer  # noqa: E402


def peak_concurrency(runs: list[dict]) -> int:
    moments = sorted([(run["startTime"], 1) for run in runs] + [(run["endTime"], -1) for run in runs])
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="concurrent-") as scratch:
        scratch = Path(scratch)
        sources = [
            write_extract(scratch / "in" / f"batch_{i}.csv", args.rows, seed=100 + i, labelled=False)
            for i in range(args.files)
        ]

        env = {**os.environ, "DAGSTER_HOME": str(scratch / "home_seq"), "SCORING_DATA_DIR": str(scratch / "data_seq")}
        cli = str(Path(sys.executable).with_name("scoring-assets"))
        started = time.perf_counter()
        for source in sources:
            subprocess.run([cli, "score", str(source)], env=env, check=True, stdout=subprocess.DEVNULL)
        sequential = time.perf_counter() - started
        print(f"one after another: {sequential:.1f} s for {args.files} files of {args.rows:,} rows", flush=True)

        inbox = scratch / "data_together" / "inbox"
        inbox.mkdir(parents=True)
        # Files arrive by atomic rename, so the sensor need not wait for them to settle.
        fast_inbox = {"SCORING_INBOX_INTERVAL_SECONDS": "1", "SCORING_INBOX_SETTLE_SECONDS": "1"}
        server = DagsterDevServer(
            scratch / "home_together", scratch / "data_together", scratch / "dagster_dev.log", env=fast_inbox
        )
        with server:
            started = time.perf_counter()
            for source in sources:
                os.replace(source, inbox / source.name)  # a rename: each file appears complete
            runs = server.wait_for_finished_runs(args.files, timeout=1200)
            together = time.perf_counter() - started
        assert all(run["status"] == "SUCCESS" for run in runs), runs
        print(
            f"dropped together:  {together:.1f} s (inbox sensor + queue, at most {peak_concurrency(runs)} runs at once)"
        )
        print(f"speed-up: {sequential / together:.2f}x")


if __name__ == "__main__":
    main()
