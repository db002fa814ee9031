"""Re-scoring many small files: one run per file against batch runs of many files (issue 27's goal: >= 5x).

    .venv/bin/python bench/rescore_batches.py                        # 1,000 files of 100 rows, both use cases
    .venv/bin/python bench/rescore_batches.py --files 200 --per-run 100 --baseline-sample 50
    .venv/bin/python bench/rescore_batches.py --postgres             # the same on deploy/dagster.postgres.yaml

Fills a fresh instance ($DAGSTER_HOME, the shipped SQLite config) and data folder with ``--files``
scored files (alternating use cases; one file each scored by the real score_file job, the others
copies of it under their own names recorded as that run recorded it, see ``fill``; ``--fill runs``
scores every file, its own seed, by a run of its own), then times, as child processes of
``scoring-assets rescore --all``:

(a) one run per file: ``--max-partitions-per-run 1`` (the ``<use case>__rescore`` job per file);
    with ``--baseline-sample K`` only K files (``--partition``) and the total extrapolated as
    their mean x files (said so in the output);
(b) batches: ``--max-partitions-per-run --per-run`` (``<use case>__rescore_batch``).

CPU-seconds are user + sys of the whole command (``os.wait4``). After (b) it checks that every
file's latest ``scores`` materialization came from a batch run and how many runs there were.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_SPEED_UP = 5.0
USE_CASES = ("telco_churn", "credit_risk")


@dataclass(frozen=True)
class Timed:
    mode: str
    files: int
    runs: int
    wall_s: float
    cpu_s: float
    extrapolated_from: int | None = None


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU-seconds (user + sys of the command and everything it waited for); fails loudly."""
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            stderr.seek(0)
            raise SystemExit(f"{' '.join(command)} failed: {stderr.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def fill(scratch: Path, files: int, rows: int, use_cases: list[str], clone: bool) -> dict[str, list[str]]:
    """``files`` scored files in this process's instance: partitions per use case.

    The first file of each use case is scored by the real score_file job; with ``clone`` every other
    file is a copy of it under its own name (so its own partition): registered as the inbox does,
    its lake files and scored file copied, and its materializations recorded as the job recorded
    the first one's. A re-score reads exactly these. Without ``clone`` each file is generated with
    its own seed and scored by a run of its own (~2-7 s a file on this machine).
    """
    import dagster as dg

    from scoring_assets.runs import execute_score_run, folders, register_file
    from scoring_assets.use_cases import use_case

    inputs, partitions = scratch / "inputs", {name: [] for name in use_cases}
    inputs.mkdir()
    templates: dict[str, tuple[Path, str]] = {}
    with dg.DagsterInstance.get() as instance:
        for index in range(files):
            chosen = use_case(use_cases[index % len(use_cases)])
            own, path = folders().of(chosen.name), inputs / f"{chosen.name}_{index:05d}.csv"
            if clone and chosen.name in templates:
                template_path, template_key = templates[chosen.name]
                shutil.copyfile(template_path, path)
                registration = register_file(instance, chosen, own, path)
                copy_partition(instance, chosen, own, template_key, registration.partition_key)
            else:
                generator = importlib.import_module(f"scoring_assets.use_cases.{chosen.name}.generate")
                generator.write_extract(path, rows, seed=1000 + index, labelled=False)
                registration = register_file(instance, chosen, own, path)
                if not execute_score_run(instance, chosen, registration.partition_key).success:
                    raise SystemExit(f"scoring {path} failed while filling the instance")
                templates[chosen.name] = (path, registration.partition_key)
            partitions[chosen.name].append(registration.partition_key)
            if (index + 1) % 200 == 0:
                print(f"  filled {index + 1} of {files} files", flush=True)
    return partitions


def copy_partition(instance, chosen, own, template: str, key: str) -> None:
    """The template partition's lake files, scored file and materializations, as ``key``'s."""
    import dagster as dg

    from scoring_assets.builders.keys import keys_of

    lake = own.lake_file("scores", template).parent.parent
    for stage in lake.iterdir():
        if stage.is_dir() and stage.name != "inputs":
            for source in stage.glob(f"{template}.*"):
                shutil.copyfile(source, stage / f"{key}{source.name[len(template) :]}")
    for source in own.scored_folder.glob(f"{template}.*"):
        shutil.copyfile(source, own.scored_folder / f"{key}{source.name[len(template) :]}")
    for asset_key in keys_of(chosen).scoring_assets:
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[template]), limit=1
        ).records
        done = record.asset_materialization
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=done.metadata, tags=done.tags)
        )


def rescore_command(per_run: int, partitions: list[str] | None = None) -> list[str]:
    chosen = [arg for key in partitions or [] for arg in ("--partition", key)]
    return [
        sys.executable,
        "-m",
        "scoring_assets",
        "rescore",
        "--all",
        "--max-partitions-per-run",
        str(per_run),
        *chosen,
    ]


def batch_runs_behind(partitions: dict[str, list[str]]) -> set[str]:
    """The runs behind each file's latest scores; every one must be a batch run."""
    import dagster as dg

    from scoring_assets.builders.keys import keys_of
    from scoring_assets.use_cases import use_case

    runs = set()
    with dg.DagsterInstance.get() as instance:
        for name, keys in partitions.items():
            for key in keys:
                [record] = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=keys_of(use_case(name)).scores, asset_partitions=[key]), limit=1
                ).records
                run = instance.get_run_by_id(record.run_id)
                if run is None or not run.job_name.endswith("__rescore_batch"):
                    raise SystemExit(f"{name} {key}: latest scores came from {run.job_name if run else 'no run'}")
                runs.add(record.run_id)
    return runs


def measure(args: argparse.Namespace, partitions: dict[str, list[str]], env: dict[str, str]) -> list[Timed]:
    files = sum(len(keys) for keys in partitions.values())
    interleaved = [key for keys in itertools.zip_longest(*partitions.values()) for key in keys if key]
    sample = interleaved[: args.baseline_sample] if 0 < args.baseline_sample < files else None
    wall, cpu = timed(rescore_command(1, sample), env)
    scale = files / len(sample) if sample else 1.0
    one_per_file = Timed(
        "one run per file", files, files, wall * scale, cpu * scale, len(sample) if scale > 1 else None
    )
    wall, cpu = timed(rescore_command(args.per_run), env)
    runs = sum(math.ceil(len(keys) / args.per_run) for keys in partitions.values())
    found = len(batch_runs_behind(partitions))
    if found != runs:
        raise SystemExit(f"expected {runs} batch runs behind the files' latest scores, found {found}")
    return [one_per_file, Timed(f"batches of {args.per_run}", files, runs, wall, cpu)]


def report(results: list[Timed], rows: int) -> None:
    print(f"\n| mode | files ({rows} rows) | runs | wall_s | cpu_s | wall ms/file | CPU ms/file |")
    print("|---|---|---|---|---|---|---|")
    for result in results:
        note = f" (extrapolated from {result.extrapolated_from})" if result.extrapolated_from else ""
        print(
            f"| {result.mode}{note} | {result.files} | {result.runs} | {result.wall_s:.1f} | {result.cpu_s:.1f} | "
            f"{1000 * result.wall_s / result.files:.0f} | {1000 * result.cpu_s / result.files:.0f} |"
        )
    baseline, batched = results
    wall_speed_up, cpu_speed_up = baseline.wall_s / batched.wall_s, baseline.cpu_s / batched.cpu_s
    verdict = "met" if wall_speed_up >= GOAL_SPEED_UP else "missed"
    print(f"\nspeed-up: {wall_speed_up:.1f}x wall, {cpu_speed_up:.1f}x CPU (goal >= {GOAL_SPEED_UP}x wall: {verdict})")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--per-run", type=int, default=100, help="files per batch run")
    parser.add_argument("--baseline-sample", type=int, default=0, help="time one run per file on this many only")
    parser.add_argument("--use-cases", default=",".join(USE_CASES))
    parser.add_argument("--postgres", action="store_true", help="on deploy/dagster.postgres.yaml (a server of its own)")
    parser.add_argument(
        "--fill", choices=("clone", "runs"), default="clone", help="copies of one scored file each, or a run per file"
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rescore_batches_")))
        home = scratch / "dagster_home"
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "SCORING_DATA_DIR": str(scratch / "data"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        if args.postgres:  # deploy/dagster.postgres.yaml against a server of its own on 127.0.0.1, stopped by PID
            from tests.support.postgres import temporary_postgres

            postgres = stack.enter_context(temporary_postgres())
            env.update(postgres.dagster_env())
            home.mkdir()
            shutil.copyfile(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        os.environ.update(env)
        from scoring_assets.cli import ensure_dagster_home

        ensure_dagster_home()
        started = time.perf_counter()
        partitions = fill(scratch, args.files, args.rows, args.use_cases.split(","), args.fill == "clone")
        print(f"filled {args.files} scored files in {time.perf_counter() - started:.0f} s; measuring", flush=True)
        print(f"storage: {'PostgreSQL' if args.postgres else 'SQLite'}; load average {os.getloadavg()}")
        report(measure(args, partitions, env), args.rows)


if __name__ == "__main__":
    main()
