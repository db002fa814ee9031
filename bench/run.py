"""Time the project against the plain-pandas alternative on the same files, interleaved.

    .venv/bin/python bench/run.py                         # 100 rows and 1M rows, 2 rounds
    .venv/bin/python bench/run.py --sizes 100,1000000,10000000 --rounds 2

For each size the input is generated once (bench/generate.py; kept in bench/data/, git-ignored),
then the two commands a user would type run alternately (A B A B ...), each as its own
process, measured from outside: wall time, and peak RSS from the kernel's rusage for that
process (``os.wait4``), the same figure `/usr/bin/time -v` prints.

- project: ``scoring-assets score FILE --output OUT`` (the Dagster job with every check on,
  against a persistent $DAGSTER_HOME as in real use);
- pandas:  ``python bench/pandas_baseline.py FILE OUT MODEL`` (whole-file pandas script).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.generate import BENCH_SEED  # noqa: E402
from scoring_assets.core.paths import REPO_ROOT  # noqa: E402
from scoring_assets.use_cases.telco_churn import USE_CASE as TELCO  # noqa: E402
from scoring_assets.use_cases.telco_churn.generate import write_extract  # noqa: E402


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one process; fails loudly if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        problem = process.stderr.read().decode()[-2000:]
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {problem}")
    return wall, usage.ru_maxrss / 1024


def input_file(rows: int) -> Path:
    path = BENCH / "data" / f"customers_{rows}.csv"
    if not path.exists():
        print(f"generating {path.relative_to(REPO)} ...", flush=True)
        write_extract(path, rows, seed=BENCH_SEED, labelled=False)
    return path


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    )
    return f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024**2:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000000", help="comma-separated row counts")
    parser.add_argument("--rounds", type=int, default=2, help="how many A B rounds per size")
    parser.add_argument("--tools", default="project,pandas", help="which of project,pandas to run")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    bin_dir = Path(sys.executable).parent
    commands = {
        "project": lambda source, out: [str(bin_dir / "scoring-assets"), "score", str(source), "--output", str(out)],
        "pandas": lambda source, out: [
            sys.executable,
            str(BENCH / "pandas_baseline.py"),
            str(source),
            str(out),
            str(REPO_ROOT / TELCO.model.model_path),
        ],
    }
    commands = {tool: command for tool, command in commands.items() if tool in args.tools.split(",")}
    results: dict[tuple[int, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        scratch = Path(scratch)
        env = {**os.environ, "DAGSTER_HOME": str(scratch / "dagster_home"), "SCORING_DATA_DIR": str(scratch / "data")}
        for size in sizes:
            source = input_file(size)
            for round_number in range(args.rounds):
                for tool, command in commands.items():
                    out = scratch / "out" / f"{tool}.csv"
                    out.parent.mkdir(exist_ok=True)
                    wall, rss = measured(command(source, out), env)
                    results.setdefault((size, tool), []).append((wall, rss))
                    print(
                        f"{size:>10,} rows  {tool:<8} round {round_number + 1}: {wall:7.2f} s  {rss:7.0f} MB",
                        flush=True,
                    )
                    shutil.rmtree(scratch / "data" / "lake", ignore_errors=True)
                    shutil.rmtree(scratch / "out", ignore_errors=True)

    print(f"\nMachine: {machine()}")
    print(f"Command: .venv/bin/python bench/run.py --sizes {args.sizes} --rounds {args.rounds} --tools {args.tools}\n")
    print("| rows | tool | wall s (median) | rows/s | peak RSS MB (max) | pandas wall / project wall |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for size in sizes:
        walls = {tool: statistics.median(w for w, _ in results[(size, tool)]) for tool in commands}
        for tool in commands:
            rss = max(r for _, r in results[(size, tool)])
            ratio = f"{walls['pandas'] / walls['project']:.2f}x" if tool == "project" and len(walls) == 2 else ""
            rate = size / walls[tool]
            print(f"| {size:,} | {tool} | {walls[tool]:.2f} | {rate:,.0f} | {rss:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
