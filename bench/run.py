"""Time the project against the plain-pandas script, the bare model floor and the I/O floor, interleaved.

    .venv/bin/python bench/run.py                          # 100 and 1M rows, both use cases, 2 rounds
    .venv/bin/python bench/run.py --sizes 100,1000000,10000000 --rounds 2
    .venv/bin/python bench/run.py --use-cases credit_risk --tools project,floor --sizes 1000000
    .venv/bin/python bench/run.py --also handsoff,many-files,many-files-postgres   # issue 10's whole bench

For each size and use case the input is generated once with that use case's own generator
(``scoring_assets.use_cases.<use case>.generate.write_extract``, unlabelled, seed 7; kept in
bench/data/, git-ignored), then the commands run alternately (A B C A B C ...: every tool on
every use case in each round), each as its own process, measured from outside: wall time, and
peak RSS from the kernel's rusage for that process (``os.wait4``), the figure `/usr/bin/time -v`
prints.

- project: ``scoring-assets score FILE --output OUT`` (routed by its header to the use case's
  Dagster job, every check on, against one persistent $DAGSTER_HOME as in real use);
- pandas:  the whole-file pandas script a data engineer would write instead
  (bench/pandas_baseline.py for telco_churn, bench/pandas_credit_baseline.py for credit_risk);
- model-floor: bench/model_floor.py, the least a scorer with the same model must do, streaming (pyarrow
  read, the use case's feature code, ``predict_proba``, the scored file's fixed columns written with
  pyarrow; no checks, rejects, drift, lineage or Dagster);
- floor:   bench/io_floor.py, pyarrow's CSV read of the file and CSV write of the same rows.

The table gives each tool's median wall time, rows/s, peak RSS (the highest of its rounds),
the pandas script's wall time divided by the tool's (above 1x: faster than pandas) and the
tool's wall time as a multiple of the floor's; then the issue's targets, met or missed.
``--also`` then runs bench/handsoff.py (hands-off latency against the real daemon) and
bench/concurrent_runs.py (many files at once; on Postgres with many-files-postgres) with their
defaults, after the table.
"""

from __future__ import annotations

import argparse
import importlib
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
from scoring_assets.use_cases import use_case  # noqa: E402

USE_CASES = ("telco_churn", "credit_risk")
TOOLS = ("project", "pandas", "model-floor", "floor")
PANDAS_SCRIPTS = {"telco_churn": "pandas_baseline.py", "credit_risk": "pandas_credit_baseline.py"}
# Issue 10's targets, per row count: (throughput as a multiple of the pandas script's, peak RSS MB); any
# size: a 100-row file within 3 s.
THROUGHPUT_TARGETS = {1_000_000: (1.5, 500), 10_000_000: (2.5, 1024)}
SMALL_FILE_ROWS, SMALL_FILE_SECONDS = 100, 3.0
# The other parts of issue 10's bench, each its own script (run with --also after the table).
ALSO = {
    "handsoff": [str(BENCH / "handsoff.py")],
    "many-files": [str(BENCH / "concurrent_runs.py")],
    "many-files-postgres": [str(BENCH / "concurrent_runs.py"), "--postgres"],
}


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


def input_file(use_case_name: str, rows: int) -> Path:
    """bench/data/<use case>_<rows>.csv, generated once with the use case's own generator."""
    path = BENCH / "data" / f"{use_case_name}_{rows}.csv"
    if not path.exists():
        print(f"generating {path.relative_to(REPO)} ...", flush=True)
        generator = importlib.import_module(f"scoring_assets.use_cases.{use_case_name}.generate")
        generator.write_extract(path, rows, seed=BENCH_SEED, labelled=False)
    return path


def command_for(tool: str, use_case_name: str, source: Path, out: Path) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if tool == "project":
        return [str(bin_dir / "scoring-assets"), "score", str(source), "--output", str(out)]
    if tool == "pandas":
        model = REPO_ROOT / use_case(use_case_name).model.model_path
        return [sys.executable, str(BENCH / PANDAS_SCRIPTS[use_case_name]), str(source), str(out), str(model)]
    if tool == "model-floor":
        return [sys.executable, str(BENCH / "model_floor.py"), use_case_name, str(source), str(out)]
    return [sys.executable, str(BENCH / "io_floor.py"), str(source), str(out)]


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


def listed(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise SystemExit(f"unknown {what} {unknown}: choose from {', '.join(allowed)}")
    return [name for name in allowed if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000000", help="comma-separated row counts (100,1000000,10000000)")
    parser.add_argument("--rounds", type=int, default=2, help="how many interleaved rounds per size")
    parser.add_argument("--use-cases", default=",".join(USE_CASES), help="which of telco_churn,credit_risk")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"which of {','.join(TOOLS)} to run")
    parser.add_argument(
        "--also",
        default="",
        help=f"after the table, run these with their defaults: {','.join(ALSO)} (each prints its own figures)",
    )
    args = parser.parse_args()
    also = listed(args.also, tuple(ALSO), "--also part(s)") if args.also else []
    sizes = [int(size) for size in args.sizes.split(",")]
    use_cases = listed(args.use_cases, USE_CASES, "use case(s)")
    tools = listed(args.tools, TOOLS, "tool(s)")

    load_before = os.getloadavg()[0]
    results: dict[tuple[int, str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        scratch = Path(scratch)
        env = {**os.environ, "DAGSTER_HOME": str(scratch / "dagster_home"), "SCORING_DATA_DIR": str(scratch / "data")}
        for size in sizes:
            sources = {name: input_file(name, size) for name in use_cases}
            for round_number in range(args.rounds):
                for name in use_cases:
                    for tool in tools:
                        out = scratch / "out" / f"{tool}.csv"
                        out.parent.mkdir(exist_ok=True)
                        wall, rss = measured(command_for(tool, name, sources[name], out), env)
                        results.setdefault((size, name, tool), []).append((wall, rss))
                        print(
                            f"{size:>10,} rows  {name:<12} {tool:<11} round {round_number + 1}: "
                            f"{wall:7.2f} s  {rss:7.0f} MB",
                            flush=True,
                        )
                        shutil.rmtree(scratch / "data" / "lake", ignore_errors=True)
                        shutil.rmtree(scratch / "out", ignore_errors=True)

    print(f"\nMachine: {machine()}")
    print(f"Load average (1 min): {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(
        f"Command: .venv/bin/python bench/run.py --sizes {args.sizes} --rounds {args.rounds} "
        f"--use-cases {','.join(use_cases)} --tools {','.join(tools)}\n"
    )
    print(
        "| rows | use case | tool | wall s (median) | rows/s | peak RSS MB (max) "
        "| pandas wall / tool wall | tool wall / floor wall |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    walls: dict[tuple[int, str, str], float] = {}
    peaks: dict[tuple[int, str, str], float] = {}
    for size in sizes:
        for name in use_cases:
            for tool in tools:
                key = (size, name, tool)
                walls[key] = statistics.median(wall for wall, _ in results[key])
                peaks[key] = max(rss for _, rss in results[key])
            for tool in tools:
                wall = walls[(size, name, tool)]
                pandas = walls.get((size, name, "pandas"))
                floor = walls.get((size, name, "floor"))
                ratio = f"{pandas / wall:.2f}x" if pandas and tool != "pandas" else ""
                over_floor = f"{wall / floor:.1f}x" if floor and tool != "floor" else ""
                print(
                    f"| {size:,} | {name} | {tool} | {wall:.2f} | {size / wall:,.0f} | "
                    f"{peaks[(size, name, tool)]:,.0f} | {ratio} | {over_floor} |"
                )
    print_targets(sizes, use_cases, tools, walls, peaks)
    for part in also:
        command = [sys.executable, *ALSO[part]]
        print(f"\n## {part}: {' '.join(command[1:]).replace(f'{REPO}/', '')}\n", flush=True)
        subprocess.run(command, check=True)


def print_targets(sizes, use_cases, tools, walls, peaks) -> None:
    """Issue 10's whole-process targets for the sizes measured, each met or missed by how much."""
    if "project" not in tools:
        return
    lines = []
    for size in sizes:
        for name in use_cases:
            wall, rss = walls[(size, name, "project")], peaks[(size, name, "project")]
            if size == SMALL_FILE_ROWS:
                verdict = "met" if wall <= SMALL_FILE_SECONDS else f"missed by {wall - SMALL_FILE_SECONDS:.2f} s"
                lines.append(f"- {size:,} rows, {name}: wall {wall:.2f} s <= {SMALL_FILE_SECONDS:.0f} s: {verdict}")
            if size in THROUGHPUT_TARGETS:
                speed_target, rss_target = THROUGHPUT_TARGETS[size]
                if "pandas" in tools:
                    speed = walls[(size, name, "pandas")] / wall
                    verdict = "met" if speed >= speed_target else f"missed ({speed / speed_target:.0%} of it)"
                    if "model-floor" in tools:
                        bare = walls[(size, name, "pandas")] / walls[(size, name, "model-floor")]
                        verdict += f"; the bare model floor reaches {bare:.2f}x"
                    lines.append(f"- {size:,} rows, {name}: {speed:.2f}x pandas >= {speed_target}x: {verdict}")
                verdict = "met" if rss <= rss_target else f"missed by {rss - rss_target:,.0f} MB"
                lines.append(f"- {size:,} rows, {name}: peak RSS {rss:,.0f} MB <= {rss_target:,} MB: {verdict}")
    if lines:
        print("\nTargets (issue 10):")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
