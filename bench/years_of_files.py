"""Years of files: what every product path costs once the instance holds N scored files.

    .venv/bin/python bench/years_of_files.py --files 1000,10000            # SQLite, grown 1k -> 10k
    .venv/bin/python bench/years_of_files.py --files 1000,10000 --postgres # the same on PostgreSQL
    .venv/bin/python bench/years_of_files.py --files 50 --skip ui,rescore --json

A fresh ``$DAGSTER_HOME`` and data folder (``SCORING_DATA_DIR``) are filled with N scored files,
alternating between the registry's use cases (``bench/years_fill.py``: one real run per use case,
cloned through the instance's API), grown to each size of ``--files`` in turn and measured there:

- ``inbox_tick_100_new``: the use cases' own inbox sensors (``build_sensor_context`` on the
  instance, the cursor they would hold for every file already in their folder) deciding 100 new
  files, 50 per use case (the tick after the one that first saw them);
- ``stale_count``: the model sensor's count of stale partitions when a new model arrives, every
  use case; ``stale_count_rollback``: the same against the model every file was scored with (the
  count that must read every file);
- ``rescore_sensor_tick``: the rescore sensor's first tick (no cursor), every use case;
- ``cli_score_100_rows``: ``scoring-assets score`` of a fresh 100-row file, against the same
  command when the instance held only the two template files (goal: within 1.2x);
- ``cli_lineage_old`` / ``_new``: ``scoring-assets lineage`` of the first and the last file filled;
- ``cli_rescore_plan``: ``scoring-assets rescore`` when nothing is stale (all of it is planning);
- ``monitoring_refresh``: every use case's monitoring job, in process;
- ``ui_asset_page`` / ``ui_partitions_tab``: the GraphQL queries of a scores asset page and its
  partitions tab (``bench/years_ui.py``);
- ``disk_*``: bytes per file in the lake, the scored folder, the archive, and the instance.

``wall_s`` and ``cpu_s`` (user + sys: of the child process for a CLI command, of this process for
what runs in it, of the webserver for the UI). ``--postgres`` runs on deploy/dagster.postgres.yaml
against a PostgreSQL server started on 127.0.0.1 (``tests/support/postgres.py``), stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

MEASUREMENTS = ("inbox", "stale", "rescore_sensor", "score", "lineage", "rescore", "monitoring", "ui", "disk")
NEW_FILES_PER_USE_CASE = 50
SCORE_RATIO_GOAL = 1.2


@dataclass
class Row:
    """One measurement at one size on one storage."""

    storage: str
    files: int
    measurement: str
    wall_s: float | None
    cpu_s: float | None
    goal: str
    verdict: str
    note: str = ""


INBOX_TICK_GOAL_S = 2.0  # issue 27's goals at 100,000 files
MODEL_SENSOR_GOAL_S = 5.0
NEW_MODEL_MD5 = "0" * 32  # a model no observation names: what the model sensor counts against when one arrives


def judged(wall: float, limit: float) -> str:
    return "met" if wall <= limit else f"missed by {wall - limit:.2f} s ({wall / limit:.1f}x)"


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_call(function, *args):
    """(wall s, CPU s of this process, result) of ``function(*args)``."""
    cpu, started = cpu_self(), time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, cpu_self() - cpu, result


def timed_command(command: list[str], timeout: float) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, what it printed) of a CLI command; a timeout is reported, not raised."""
    cpu, started = cpu_children(), time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return timeout, cpu_children() - cpu, f"TIMED OUT after {timeout:.0f} s"
    output = (done.stdout + done.stderr).strip().splitlines()
    note = output[-1] if output else ""
    if done.returncode != 0:
        note = f"exit {done.returncode}: {note}"
    return time.perf_counter() - started, cpu_children() - cpu, note


class Bench:
    """One storage's fresh instance and data folder, grown size by size and measured at each."""

    def __init__(self, storage: str, scratch: Path, skip: set[str], store: str):
        self.storage, self.scratch, self.skip, self.store = storage, scratch, skip, store
        self.home, self.data_dir = scratch / "home", scratch / "data"
        self.files, self.rows, self.baseline_score = 0, [], None
        os.environ.update({"DAGSTER_HOME": str(self.home), "SCORING_DATA_DIR": str(self.data_dir)})
        os.environ["SCORING_INBOX_SETTLE_SECONDS"] = "0"  # files below are written complete, before the ticks
        from scoring_assets.use_cases import all_use_cases

        self.use_cases = sorted(all_use_cases())

    def cli(self, *arguments: str) -> list[str]:
        from years_fill import cli_path

        return [cli_path(), *arguments]

    def start(self) -> None:
        """Score one real template file per use case, then read back what each run wrote."""
        from dagster import DagsterInstance
        from years_fill import read_template, score_template

        sources = [score_template(name, self.data_dir, dict(os.environ)) for name in self.use_cases]
        self.instance = DagsterInstance.get()
        self.templates = [
            read_template(self.instance, name, source, self.data_dir)
            for name, source in zip(self.use_cases, sources, strict=True)
        ]
        self.files = len(self.templates)
        wall, cpu, note = self.score_new_file("baseline")
        self.baseline_score = wall
        self.add(self.files, "cli_score_100_rows", wall, cpu, "baseline", "", note)

    def add(self, files: int, measurement: str, wall, cpu, goal: str, verdict: str, note: str = "") -> None:
        row = Row(self.storage, files, measurement, wall, cpu, goal, verdict, note)
        self.rows.append(row)
        shown = "" if wall is None else f"{wall:.2f} s wall, {cpu:.2f} CPU-s"
        print(f"  {self.storage} {files:>7} {measurement:<22} {shown} {verdict} {note}", file=sys.stderr, flush=True)

    def grow_to(self, files: int) -> None:
        from years_fill import grow

        wall, cpu, stats = timed_call(
            lambda: grow(self.instance, self.templates, self.data_dir, self.files, files, store=self.store)
        )
        parts = ", ".join(f"{part} {seconds:.0f} s" for part, seconds in stats.seconds.items())
        self.add(files, "fill", wall, cpu, "<= 1800 s at 100k", f"{(files - self.files) / wall:.0f} files/s", parts)
        self.files = files

    def score_new_file(self, label: str) -> tuple[float, float, str]:
        """``scoring-assets score`` of a fresh 100-row file of the first use case, outside the inbox."""
        from years_fill import write_extract

        name = self.use_cases[0]
        source = write_extract(name, self.scratch / "cli" / f"cli_{label}_{name}.csv", 100, 500 + len(self.rows))
        return timed_command(self.cli("score", str(source), "--use-case", name), timeout=600)

    def sensor(self, name: str):
        from scoring_assets.defs.use_cases import scoring_definitions

        return scoring_definitions().get_sensor_def(name)

    def evaluate(self, sensor_name: str, cursor: str | None):
        from dagster import build_sensor_context

        from scoring_assets.defs.resources import scoring_resources

        context = build_sensor_context(instance=self.instance, cursor=cursor, resources=scoring_resources())
        return self.sensor(sensor_name)(context)

    def inbox_tick(self, name: str, files: int) -> tuple[float, float, int]:
        """(wall, CPU, run requests) of the tick of ``name``'s inbox sensor that decides 50 new files."""
        from years_fill import inbox_cursor, write_extract

        from scoring_assets.builders.keys import keys_of

        inbox, sensor = self.data_dir / "inbox" / name, keys_of(name).inbox_sensor
        cursor = inbox_cursor(inbox)
        for number in range(NEW_FILES_PER_USE_CASE):
            write_extract(name, inbox / f"new{files}_{number:03d}_{name}.csv", 100, 10_000 * files + number)
        first = self.evaluate(sensor, cursor)  # sees them: they settle by the next tick
        wall, cpu, result = timed_call(self.evaluate, sensor, first.cursor)
        return wall, cpu, len(result.run_requests or [])

    def measure_inbox(self, files: int) -> None:
        ticks = [self.inbox_tick(name, files) for name in self.use_cases]
        requested = sum(tick[2] for tick in ticks)
        expected = NEW_FILES_PER_USE_CASE * len(self.use_cases)
        if requested != expected:
            raise SystemExit(f"inbox ticks requested {requested} runs for {expected} new files")
        wall, cpu = sum(tick[0] for tick in ticks), sum(tick[1] for tick in ticks)
        self.add(
            files,
            "inbox_tick_100_new",
            wall,
            cpu,
            f"<= {INBOX_TICK_GOAL_S:g} s",
            judged(wall, INBOX_TICK_GOAL_S),
            f"{requested} runs requested, {len(self.use_cases)} ticks",
        )

    def measure_stale(self, files: int) -> None:
        """The model sensor's count when a new model arrives (its md5 never observed), and after a rollback.

        A rollback (an md5 observed before every file was scored) is the case that reads every file.
        """
        from scoring_assets.builders.model_assets import latest_observed_model_md5
        from scoring_assets.builders.scored_models import count_stale_partitions
        from scoring_assets.use_cases import use_case

        def count_all(md5_of):
            return [count_stale_partitions(self.instance, use_case(name), md5_of(name)) for name in self.use_cases]

        for measurement, md5_of in (
            ("stale_count", lambda name: NEW_MODEL_MD5),
            ("stale_count_rollback", lambda name: latest_observed_model_md5(self.instance, use_case(name))),
        ):
            wall, cpu, counts = timed_call(count_all, md5_of)
            note = "; ".join(f"{c.stale} stale, {c.counted} of {c.scored} counted" for c in counts)
            goal = f"<= {MODEL_SENSOR_GOAL_S:g} s"
            self.add(files, measurement, wall, cpu, goal, judged(wall, MODEL_SENSOR_GOAL_S), note)

    def measure_rescore_sensor(self, files: int) -> None:
        from scoring_assets.builders.keys import keys_of

        def ticks():
            return [self.evaluate(keys_of(name).rescore_sensor, None) for name in self.use_cases]

        wall, cpu, results = timed_call(ticks)
        note = f"{sum(len(result.run_requests or []) for result in results)} runs requested"
        self.add(files, "rescore_sensor_tick", wall, cpu, "< 60 s (tick limit)", judged(wall, 60), note)

    def measure_score(self, files: int) -> None:
        wall, cpu, note = self.score_new_file(str(files))
        ratio = wall / self.baseline_score
        verdict = "met" if ratio <= SCORE_RATIO_GOAL else f"missed: {ratio:.2f}x"
        self.add(
            files,
            "cli_score_100_rows",
            wall,
            cpu,
            f"<= {SCORE_RATIO_GOAL}x baseline",
            verdict,
            f"{ratio:.2f}x the {self.baseline_score:.2f} s baseline",
        )

    def scored_file(self, index: int) -> Path:
        from years_fill import substituted

        template = self.templates[index % len(self.templates)]
        key = substituted(template.partition_key, template.substitutions(index)[1:2])
        return self.data_dir / "scored" / template.use_case / f"{key}.csv"

    def measure_lineage(self, files: int) -> None:
        for age, index in (("old", len(self.templates)), ("new", files - 1)):
            wall, cpu, note = timed_command(self.cli("lineage", str(self.scored_file(index))), timeout=120)
            if note.startswith("exit"):
                raise SystemExit(f"lineage of file {index} failed: {note}")
            self.add(files, f"cli_lineage_{age}", wall, cpu, "<= 1 s", judged(wall, 1.0), f"file {index}")

    def measure_rescore(self, files: int) -> None:
        wall, cpu, note = timed_command(self.cli("rescore"), timeout=900)
        self.add(files, "cli_rescore_plan", wall, cpu, "none set", "", note)

    def measure_monitoring(self, files: int) -> None:
        from scoring_assets.builders.keys import keys_of
        from scoring_assets.runs import execute_job

        def refresh():
            return [execute_job(self.instance, keys_of(name).monitoring_job).success for name in self.use_cases]

        wall, cpu, successes = timed_call(refresh)
        self.add(files, "monitoring_refresh", wall, cpu, "<= 30 s", judged(wall, 30), f"succeeded: {successes}")

    def measure_ui(self, files: int) -> None:
        from years_ui import Webserver, page_cost

        from scoring_assets.builders.keys import keys_of

        path = "/assets/" + "/".join(keys_of(self.use_cases[0]).scores.path)
        with Webserver(self.home, self.data_dir, self.scratch / "webserver.log") as server:
            for measurement, page in (("ui_asset_page", path), ("ui_partitions_tab", f"{path}?view=partitions")):
                wall, cpu, note = page_cost(server, page)
                self.add(files, measurement, wall, cpu, "<= 5 s", judged(wall, 5.0), note)

    def measure_disk(self, files: int) -> None:
        for part in ("lake", "scored", "rejected", "archive"):
            self.add_disk(files, f"disk_{part}", folder_bytes(self.data_dir / part))
        self.add_disk(files, "disk_instance", folder_bytes(self.home) + self.database_bytes())

    def add_disk(self, files: int, measurement: str, size: int) -> None:
        self.add(
            files, measurement, None, None, "", "", f"{size / files / 1024:.1f} KiB per file, {size / 2**20:.0f} MiB"
        )

    def database_bytes(self) -> int:
        return 0

    def measure(self, files: int) -> None:
        """Every measurement not skipped; one that fails is a row saying why, and the others still run."""
        for name in MEASUREMENTS:
            if name not in self.skip:
                try:
                    getattr(self, f"measure_{name}")(files)
                except Exception as error:  # noqa: BLE001 - e.g. a UI query past its timeout at 100,000 files
                    self.add(files, name, None, None, "", "failed", f"{type(error).__name__}: {error}"[:300])


def folder_bytes(folder: Path) -> int:
    """Bytes the folder's files take on disk (allocated blocks, as ``du`` counts them)."""
    if not folder.exists():
        return 0
    done = subprocess.run(["du", "-s", "-l", "-B1", str(folder)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


class PostgresBench(Bench):
    """The same on deploy/dagster.postgres.yaml, against a server this bench started."""

    def __init__(self, storage: str, scratch: Path, skip: set[str], store: str, server):
        super().__init__(storage, scratch, skip, store)
        import tests.support.dev_server as dev_server
        from scoring_assets.core.paths import REPO_ROOT

        self.server, config = server, REPO_ROOT / "deploy" / "dagster.postgres.yaml"
        os.environ.update(server.dagster_env())
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config, self.home / "dagster.yaml")
        dev_server.INSTANCE_CONFIG_PATH = config  # the webserver writes this into the home (as concurrent_runs.py)

    def database_bytes(self) -> int:
        return int(self.server.psql(f"SELECT pg_database_size('{self.server.database}')"))


def run_storage(storage: str, sizes: list[int], args, stack: ExitStack) -> list[Row]:
    """Fill one fresh instance size by size, measuring at each; its scratch folder is removed after."""
    scratch = Path(tempfile.mkdtemp(prefix=f"years-{storage}-", dir=args.scratch))
    if args.keep:
        print(f"{storage}: instance and data folder kept in {scratch}", file=sys.stderr, flush=True)
    else:
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
    skip = set(args.skip)
    if storage == "postgres":
        from tests.support.postgres import temporary_postgres

        server = stack.enter_context(temporary_postgres())
        print(f"PostgreSQL on 127.0.0.1:{server.port} (pid {server.pid})", file=sys.stderr, flush=True)
        bench = PostgresBench(storage, scratch, skip, args.store, server)
    else:
        bench = Bench(storage, scratch, skip, args.store)
    bench.start()
    for size in sizes:
        bench.grow_to(size)
        bench.measure(size)
    if args.hold:
        hold(scratch)
    return bench.rows


def hold(scratch: Path) -> None:
    """Keep the instance (and its server) up for measuring by hand until ``scratch/release`` exists."""
    names = ("DAGSTER_HOME", "SCORING_DATA_DIR", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME")
    names += ("DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")
    exports = [f"export {name}={os.environ[name]}" for name in names if name in os.environ]
    (scratch / "env.sh").write_text("\n".join(exports) + "\n", encoding="utf-8")
    print(f"holding: source {scratch / 'env.sh'}; touch {scratch / 'release'} to finish", file=sys.stderr, flush=True)
    while not (scratch / "release").exists():
        time.sleep(5)


def table(rows: list[Row]) -> str:
    lines = [
        "| storage | files | measurement | wall_s | cpu_s | goal | verdict | note |",
        "| --- | ---: | --- | ---: | ---: | --- | --- | --- |",
    ]
    for row in rows:
        wall = "" if row.wall_s is None else f"{row.wall_s:.2f}"
        cpu = "" if row.cpu_s is None else f"{row.cpu_s:.2f}"
        cells = [row.storage, f"{row.files:,}", row.measurement, wall, cpu, row.goal, row.verdict, row.note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="1000,10000,100000", help="sizes to grow to and measure at, in order")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (after SQLite)")
    parser.add_argument("--postgres-only", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--skip", default="", help=f"measurements to leave out, comma-separated: {','.join(MEASUREMENTS)}"
    )
    parser.add_argument(
        "--store",
        choices=("sql", "batch", "event"),
        default="sql",
        help="runs and events written straight into the tables (years_sql), or through the instance's API: "
        "materializations with store_event_batch per asset, or every event with store_event",
    )
    parser.add_argument("--scratch", default=None, help="where the instances are made (default: the temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite instance and data folder (not the server)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the Markdown table")
    parser.add_argument(
        "--hold",
        action="store_true",
        help="after measuring, keep each instance (and server) up until SCRATCH/release exists",
    )
    args = parser.parse_args()
    args.skip = [name for name in args.skip.split(",") if name]
    unknown = set(args.skip) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s) to skip: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_arguments()
    sizes = [int(size) for size in args.files.split(",")]
    storages = ["postgres"] if args.postgres_only else ["sqlite", *(["postgres"] if args.postgres else [])]
    started, load = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.getloadavg()
    rows: list[Row] = []
    for storage in storages:
        with ExitStack() as stack:
            rows += run_storage(storage, sizes, args, stack)
    header = {
        "started": started,
        "load_average_start": load,
        "load_average_end": os.getloadavg(),
        "cores": os.cpu_count(),
    }
    if args.json:
        print(json.dumps({**header, "rows": [asdict(row) for row in rows]}, indent=2))
    else:
        end = header["load_average_end"][0]
        print(f"\nYears of files, {started}, {header['cores']} cores, load average {load[0]:.1f} -> {end:.1f}")
        print(table(rows))


if __name__ == "__main__":
    main()
