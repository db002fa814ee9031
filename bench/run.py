"""Time the product against the plain-pandas script and the bare model floor, interleaved (issue 25's bench).

    .venv/bin/python bench/run.py                          # 100 and 1M rows, both use cases, 3 rounds
    .venv/bin/python bench/run.py --sizes 100,1000000,10000000 --rounds 2
    .venv/bin/python bench/run.py --use-cases credit_risk --tools product,model_floor,io_floor --sizes 1000000
    .venv/bin/python bench/run.py --json                   # one JSON document on stdout instead of Markdown
    .venv/bin/python bench/run.py --csv table.csv          # the table also as CSV
    .venv/bin/python bench/run.py --also handsoff,many-files,many-files-postgres   # issue 10's whole bench

For each size and use case the input is generated once with that use case's own generator
(``scoring_assets.use_cases.<use case>.generate.write_extract``, unlabelled, seed 7; kept in
bench/data/, git-ignored). One unrecorded warm-up round on the smallest files goes first, so the
Dagster instance exists (the 100-row goal is for a warm instance) and the imports are in the page
cache. Then the commands run alternately (A B C A B C ...: every tool on every use case in each
round, so tools are compared within the same minute of a shared machine), each as its own process,
measured from outside by the kernel's rusage for it (``os.wait4``): wall time, user + sys CPU
seconds of its whole process tree, and peak RSS (the figure `/usr/bin/time -v` prints).

- product: ``scoring-assets score FILE --output OUT`` (routed by its header to the use case's
  Dagster job, every check on, against one persistent $DAGSTER_HOME as in real use);
- pandas: the whole-file pandas script a data engineer would write instead
  (bench/pandas_baseline.py for telco_churn, bench/pandas_credit_baseline.py for credit_risk);
- model_floor: bench/model_floor.py, the least a scorer with the same model must do, streaming
  (pyarrow read, the use case's feature code, ``predict_proba``, the scored file's fixed columns
  written with pyarrow; no checks, rejects, drift, lineage or Dagster);
- io_floor (only with --tools): bench/io_floor.py, pyarrow's CSV read of the file and CSV write of it.

Every command runs with this checkout first on PYTHONPATH, so a git worktree measures its own code
even when the shared virtual environment's editable install points at another checkout. This
process imports no project code and generates inputs in child processes: on Linux a child's peak
RSS counts the memory of the process that started it (``measured``), so it must stay small.

stdout gets the report (bench/report.py: machine facts and load, the definitions, one table row
per use case, tool and rows, then issue 25's goals met or missed by how much); progress goes to
stderr. ``--also`` then runs bench/handsoff.py and bench/concurrent_runs.py with their defaults.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

# The standard library and bench/report.py only: this process's own peak RSS is a floor under every
# child's figure (see ``measured``), so the project and its generators run in child processes.
from bench.report import TOOLS, Measurement, csv_text, json_text, markdown, summarised, verdicts  # noqa: E402

USE_CASES = ("telco_churn", "credit_risk")
DEFAULT_TOOLS = ("product", "pandas", "model_floor")
PANDAS_SCRIPTS = {"telco_churn": "pandas_baseline.py", "credit_risk": "pandas_credit_baseline.py"}
# The other parts of issue 10's bench, each its own script (run with --also after the report).
ALSO = {
    "handsoff": [str(BENCH / "handsoff.py")],
    "many-files": [str(BENCH / "concurrent_runs.py")],
    "many-files-postgres": [str(BENCH / "concurrent_runs.py"), "--postgres"],
}


def measured(command: list[str], env: dict[str, str]) -> Measurement:
    """One process, measured from outside; fails loudly if it fails.

    ``os.wait4`` returns the child's rusage, which on Linux includes every descendant the child waited
    for (checked: a child whose waited-for grandchild burns 1 CPU-s reports 1.07 CPU-s, the same as
    RUSAGE_CHILDREN's delta), so user + sys is the CPU of the whole command however it forks.
    ``ru_maxrss`` is the largest single process of that tree, but Linux also counts in it the
    memory image the child started from, this process's own peak (checked: after this process
    touched and freed 500 MB, a child running ``python -c pass`` reported 512 MB). So this process
    stays small: it imports no project code and generates no input itself. Stderr goes to a file, not
    a pipe nobody reads while the command runs (a chatty command would block on a full pipe).
    """
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            problem = stderr.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {problem}")
    return Measurement(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_mb=usage.ru_maxrss / 1024)


def checkout_env() -> dict[str, str]:
    """This environment with this checkout first on PYTHONPATH, so a worktree's children run its own code."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def input_file(use_case_name: str, rows: int) -> Path:
    """bench/data/<use case>_<rows>.csv, generated once by bench/generate.py in a child process."""
    path = BENCH / "data" / f"{use_case_name}_{rows}.csv"
    if not path.exists():
        progress(f"generating {path.relative_to(REPO)} ...")
        command = [sys.executable, str(BENCH / "generate.py"), "--use-case", use_case_name, "--rows", str(rows)]
        subprocess.run([*command, "--output", str(path)], env=checkout_env(), check=True, stdout=subprocess.DEVNULL)
    return path


@cache
def model_path(use_case_name: str) -> Path:
    """The use case's model file, which the pandas script loads, asked of a child process (see ``measured``)."""
    code = f"from scoring_assets.use_cases import use_case; print(use_case({use_case_name!r}).model.model_path)"
    found = subprocess.run([sys.executable, "-c", code], env=checkout_env(), cwd=REPO, capture_output=True, text=True)
    if found.returncode != 0:
        raise SystemExit(f"cannot find {use_case_name}'s model: {found.stderr[-2000:]}")
    return REPO / found.stdout.strip()


def command_for(tool: str, use_case_name: str, source: Path, out: Path) -> list[str]:
    """The command line of one tool on one file (every tool writes its scored file to ``out``)."""
    bin_dir = Path(sys.executable).parent
    if tool == "product":
        return [str(bin_dir / "scoring-assets"), "score", str(source), "--output", str(out)]
    if tool == "pandas":
        model = model_path(use_case_name)
        return [sys.executable, str(BENCH / PANDAS_SCRIPTS[use_case_name]), str(source), str(out), str(model)]
    if tool == "model_floor":
        return [sys.executable, str(BENCH / "model_floor.py"), use_case_name, str(source), str(out)]
    return [sys.executable, str(BENCH / "io_floor.py"), str(source), str(out)]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_once(tool: str, name: str, source: Path, scratch: Path, env: dict[str, str]) -> Measurement:
    """One tool on one file, then its outputs removed so the next run starts from the same disk state."""
    out = scratch / "out" / f"{tool}.csv"
    out.parent.mkdir(exist_ok=True)
    try:
        return measured(command_for(tool, name, source, out), env)
    finally:
        shutil.rmtree(scratch / "data" / "lake", ignore_errors=True)
        shutil.rmtree(scratch / "out", ignore_errors=True)


def measure_all(sizes: list[int], rounds: int, use_cases: list[str], tools: list[str], scratch: Path):
    """Every (use case, tool, rows) ``rounds`` times, interleaved, after one unrecorded warm-up round."""
    env = {**checkout_env(), "DAGSTER_HOME": str(scratch / "dagster_home"), "SCORING_DATA_DIR": str(scratch / "data")}
    for name in use_cases:
        for tool in tools:
            warm = run_once(tool, name, input_file(name, min(sizes)), scratch, env)
            progress(f"{min(sizes):>10,} rows  {name:<12} {tool:<12} warm-up: {warm.wall_s:7.2f} s (not counted)")
    results: dict[tuple[str, str, int], list[Measurement]] = {}
    for size in sizes:
        sources = {name: input_file(name, size) for name in use_cases}
        for round_number in range(1, rounds + 1):
            for name in use_cases:
                for tool in tools:
                    run = run_once(tool, name, sources[name], scratch, env)
                    results.setdefault((name, tool, size), []).append(run)
                    progress(
                        f"{size:>10,} rows  {name:<12} {tool:<12} round {round_number}: {run.wall_s:7.2f} s "
                        f"{run.cpu_s:7.2f} CPU-s {run.peak_rss_mb:7.0f} MB"
                    )
    return results


def cpu_model() -> str:
    models = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
    return models[0].split(":", 1)[1].strip() if models else platform.processor()


def memory_gib() -> float:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    return int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal"))) / 1024**2


def machine_facts(started: str, load_start: tuple[float, float, float], command: str) -> dict:
    """When, where and under what load the figures were taken, so the table is quoted with them."""
    return {
        "started_utc": started,
        "ended_utc": utc_now(),
        "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), {memory_gib():.0f} GiB RAM, "
        f"Python {platform.python_version()}",
        "load_average_1_5_15_min_start": list(load_start),
        "load_average_1_5_15_min_end": list(os.getloadavg()),
        # Every peak_rss_mb is at least this (see ``measured``); a few tens of MB when all is well.
        "bench_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "command": command,
    }


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def listed(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """The comma-separated names of ``text``, in ``allowed``'s order; exits on an unknown one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise SystemExit(f"unknown {what} {unknown}: choose from {', '.join(allowed)}")
    return [name for name in allowed if name in names]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000000", help="comma-separated row counts (100,1000000,10000000)")
    parser.add_argument("--rounds", type=int, default=3, help="how many interleaved rounds per size (medians)")
    parser.add_argument("--use-cases", default=",".join(USE_CASES), help=f"which of {','.join(USE_CASES)}")
    parser.add_argument("--tools", default=",".join(DEFAULT_TOOLS), help=f"which of {','.join(TOOLS)}")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the Markdown report")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table to FILE as CSV")
    parser.add_argument(
        "--also",
        default="",
        help=f"after the report, run these with their defaults: {','.join(ALSO)} (each prints its own figures)",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    also = listed(args.also, tuple(ALSO), "--also part(s)") if args.also else []
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    use_cases = listed(args.use_cases, USE_CASES, "use case(s)")
    tools = listed(args.tools, TOOLS, "tool(s)")
    started, load_start = utc_now(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        results = measure_all(sizes, args.rounds, use_cases, tools, Path(scratch))
    command = (
        f"bench/run.py --sizes {','.join(map(str, sizes))} --rounds {args.rounds} "
        f"--use-cases {','.join(use_cases)} --tools {','.join(tools)}"
    )
    facts = machine_facts(started, load_start, command)
    rows = summarised(results)
    judged = verdicts(rows)
    print(json_text(facts, rows, judged) if args.json else markdown(facts, rows, judged), end="", flush=True)
    if args.csv:
        args.csv.write_text(csv_text(rows))
    for part in also:
        command = [sys.executable, *ALSO[part]]
        print(f"\n## {part}: {' '.join(command[1:]).replace(f'{REPO}/', '')}\n", flush=True)
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
