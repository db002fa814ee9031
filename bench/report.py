"""What bench/run.py prints, computed from measurements already taken: the table and issue 25's goals.

Kept apart from the measuring, and free of the project's imports, so tests/test_bench_report.py can
hold the arithmetic and the format to fake measurements (medians, the ratio to pandas, the per-row
cost, the Dagster tax, each goal's verdict) without timing anything. Nothing here asserts on time:
a missed goal is a printed verdict, never a failure.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass

COLUMNS = ("use_case", "tool", "rows", "wall_s", "cpu_s", "peak_rss_mb", "ratio_to_pandas")
TOOLS = ("product", "pandas", "model_floor", "io_floor")

# Issue 25's goals. CPU figures are user + sys seconds of a command's whole process tree.
PER_ROW_CPU_GOAL = 5.0  # product CPU-s per million rows, largest size minus smallest, at most
# Below this many rows at the largest size the per-row figure is printed but not judged: 10,000 rows
# add ~0.1 CPU-s, less than the product's round-to-round noise (a few tenths of a CPU-s measured here).
PER_ROW_JUDGED_FROM_ROWS = 100_000
SMALL_FILE_ROWS = 100
DAGSTER_TAX_GOAL = 0.6  # product CPU-s minus model_floor CPU-s at SMALL_FILE_ROWS, at most
SMALL_FILE_WALL_GOAL = 2.0  # product wall seconds at SMALL_FILE_ROWS on a warm instance, at most
RATIO_GOALS = {1_000_000: 1.3, 10_000_000: 2.2}  # product ratio_to_pandas at that size, at least
PEAK_RSS_GOAL_MB, PEAK_RSS_GOAL_ROWS = 400.0, (1_000_000, 10_000_000)  # product peak RSS, at most

DEFINITIONS = (
    "wall_s, cpu_s: medians over the rounds; cpu_s = user + sys CPU seconds of the command's whole process "
    "tree (os.wait4: the process and every descendant it waited for)",
    "peak_rss_mb: the highest over the rounds of the largest resident set of any process in the tree",
    "ratio_to_pandas = pandas wall_s / tool wall_s at the same rows (above 1: faster than the pandas script)",
    "per_row_cpu_s_per_million = (product cpu_s at the largest rows - at the smallest) / (rows difference) * 1e6",
    f"dagster_tax_cpu_s = product cpu_s - model_floor cpu_s, both at {SMALL_FILE_ROWS} rows",
)


@dataclass(frozen=True)
class Measurement:
    """One run of one command: wall seconds, user + sys CPU seconds of its process tree, peak RSS in MB."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Row:
    """One line of the table: a tool on one use case's file of ``rows`` rows, over all rounds."""

    use_case: str
    tool: str
    rows: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    ratio_to_pandas: float | None  # None when the pandas script was not run at these rows


@dataclass(frozen=True)
class Verdict:
    """One goal judged on one use case: a figure, its bound, and whether it is met."""

    use_case: str
    figure: str
    value: float
    goal: float
    at_most: bool
    unit: str
    judged: bool = True  # False: the figure is printed, but the sizes run are too small to hold it to the goal

    @property
    def met(self) -> bool | None:
        if not self.judged:
            return None
        return self.value <= self.goal if self.at_most else self.value >= self.goal

    @property
    def bound(self) -> str:
        return f"{'<=' if self.at_most else '>='} {amount(self.goal, self.unit)}"

    @property
    def verdict(self) -> str:
        if not self.judged:
            return f"not judged: fewer than {PER_ROW_JUDGED_FROM_ROWS} rows at the largest size"
        return "met" if self.met else f"missed by {amount(abs(self.value - self.goal), self.unit)}"


def amount(value: float, unit: str) -> str:
    """A figure with its unit: megabytes whole, everything else to two decimals."""
    return f"{value:.0f} {unit}" if unit == "MB" else f"{value:.2f}{'' if unit == 'x' else ' '}{unit}"


def summarised(measurements: dict[tuple[str, str, int], list[Measurement]]) -> list[Row]:
    """One row per (use case, tool, rows): median wall and CPU, highest peak RSS, ratio to pandas.

    Medians, because the machine is shared and one round can be hit by a neighbour; the highest RSS,
    because a memory budget has to hold in every round. Use cases keep the order they were measured
    in; within one, rows ascend and tools follow ``TOOLS``.
    """
    use_cases = list(dict.fromkeys(use_case for use_case, _, _ in measurements))
    keys = sorted(measurements, key=lambda key: (use_cases.index(key[0]), key[2], TOOLS.index(key[1])))
    walls = {key: statistics.median(run.wall_s for run in measurements[key]) for key in keys}
    rows = []
    for use_case, tool, size in keys:
        pandas = walls.get((use_case, "pandas", size))
        wall = walls[(use_case, tool, size)]
        rows.append(
            Row(
                use_case=use_case,
                tool=tool,
                rows=size,
                wall_s=wall,
                cpu_s=statistics.median(run.cpu_s for run in measurements[(use_case, tool, size)]),
                peak_rss_mb=max(run.peak_rss_mb for run in measurements[(use_case, tool, size)]),
                ratio_to_pandas=pandas / wall if pandas is not None else None,
            )
        )
    return rows


def verdicts(rows: list[Row]) -> list[Verdict]:
    """Every goal of issue 25 that the measured sizes and tools can judge, per use case."""
    found: list[Verdict] = []
    by_key = {(row.use_case, row.tool, row.rows): row for row in rows}
    for use_case in dict.fromkeys(row.use_case for row in rows):
        product = sorted((row for row in rows if (row.use_case, row.tool) == (use_case, "product")), key=_rows)
        if len(product) > 1:
            smallest, largest = product[0], product[-1]
            cost = (largest.cpu_s - smallest.cpu_s) / (largest.rows - smallest.rows) * 1e6
            figure = f"per_row_cpu_s_per_million ({smallest.rows} to {largest.rows} rows)"
            judged = largest.rows >= PER_ROW_JUDGED_FROM_ROWS
            found.append(Verdict(use_case, figure, cost, PER_ROW_CPU_GOAL, True, "CPU-s", judged))
        small = by_key.get((use_case, "product", SMALL_FILE_ROWS))
        floor = by_key.get((use_case, "model_floor", SMALL_FILE_ROWS))
        if small and floor:
            figure, tax = f"dagster_tax_cpu_s ({SMALL_FILE_ROWS} rows)", small.cpu_s - floor.cpu_s
            found.append(Verdict(use_case, figure, tax, DAGSTER_TAX_GOAL, True, "CPU-s"))
        if small:
            figure = f"wall_s ({SMALL_FILE_ROWS} rows, warm instance)"
            found.append(Verdict(use_case, figure, small.wall_s, SMALL_FILE_WALL_GOAL, True, "s"))
        for size, goal in RATIO_GOALS.items():
            row = by_key.get((use_case, "product", size))
            if row and row.ratio_to_pandas is not None:
                found.append(Verdict(use_case, f"ratio_to_pandas ({size} rows)", row.ratio_to_pandas, goal, False, "x"))
        for size in PEAK_RSS_GOAL_ROWS:
            if row := by_key.get((use_case, "product", size)):
                figure = f"peak_rss_mb ({size} rows)"
                found.append(Verdict(use_case, figure, row.peak_rss_mb, PEAK_RSS_GOAL_MB, True, "MB"))
    return found


def _rows(row: Row) -> int:
    return row.rows


def cells(row: Row) -> list[str]:
    """The table's values as text, the same for Markdown and CSV (an empty ratio: pandas not run)."""
    ratio = "" if row.ratio_to_pandas is None else f"{row.ratio_to_pandas:.2f}"
    figures = [f"{row.wall_s:.2f}", f"{row.cpu_s:.2f}", f"{row.peak_rss_mb:.0f}", ratio]
    return [row.use_case, row.tool, str(row.rows), *figures]


def markdown(facts: dict, rows: list[Row], judged: list[Verdict]) -> str:
    """The whole report: machine facts and definitions, the table, then the goals, as Markdown."""
    lines = [f"# bench/run.py, {facts['started_utc']} to {facts['ended_utc']}", ""]
    lines += [f"- {key}: {_fact(value)}" for key, value in facts.items() if not key.endswith("_utc")]
    lines += [f"- {definition}" for definition in DEFINITIONS]
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "| --- | --- | " + " | ".join(["---:"] * 5) + " |"]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    if judged:
        lines += ["", "| use_case | figure | value | goal | verdict |", "| --- | --- | ---: | ---: | --- |"]
        lines += [
            f"| {v.use_case} | {v.figure} | {amount(v.value, v.unit)} | {v.bound} | {v.verdict} |" for v in judged
        ]
    return "\n".join(lines) + "\n"


def _fact(value: object) -> str:
    return " / ".join(f"{number:.2f}" for number in value) if isinstance(value, list | tuple) else str(value)


def csv_text(rows: list[Row]) -> str:
    """The table alone as CSV with a header line, for spreadsheets and scripts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(cells(row) for row in rows)
    return buffer.getvalue()


def json_text(facts: dict, rows: list[Row], judged: list[Verdict]) -> str:
    """Everything as one JSON document: facts, definitions, rows (unrounded) and goals."""
    goals = [{**asdict(each), "bound": each.bound, "met": each.met, "verdict": each.verdict} for each in judged]
    document = {"machine": facts, "definitions": DEFINITIONS, "rows": [asdict(row) for row in rows], "goals": goals}
    return json.dumps(document, indent=2) + "\n"
