"""bench/report.py turns measurements into the bench's table and goal verdicts: hold its arithmetic and format.

Fake measurements only, so nothing here times anything (no test asserts on time). What would break
silently otherwise: medians taken over the wrong runs, the ratio inverted, the per-row cost or the
Dagster tax taken from the wrong tool or size, a goal's direction flipped, the table's columns moved.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

REPORT_PATH = Path(__file__).resolve().parents[1] / "bench" / "report.py"


def load_report():
    """bench/ is not a package on the test path; load its report module by file (dataclasses need it registered)."""
    spec = importlib.util.spec_from_file_location("bench_report_under_test", REPORT_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


report = load_report()
M = report.Measurement

FACTS = {
    "started_utc": "2026-12-06 08:00:00 UTC",
    "ended_utc": "2026-12-06 08:30:00 UTC",
    "machine": "2 CPUs (test), 24 GiB RAM, Python 3.11.7",
    "load_average_1_5_15_min_start": [0.5, 1.0, 1.5],
    "load_average_1_5_15_min_end": [2.0, 1.5, 1.25],
    "command": "bench/run.py --sizes 100,1000000 --rounds 3",
}


def fake_measurements() -> dict:
    """Up to three rounds per (use case, tool, rows), with outliers, inserted out of the report's order."""
    return {
        ("telco_churn", "model_floor", 100): [M(1.4, 1.3, 230), M(1.3, 1.2, 231), M(9.0, 9.0, 229)],
        ("telco_churn", "product", 100): [M(2.5, 2.4, 320), M(2.2, 2.1, 325), M(2.4, 2.3, 318)],
        ("telco_churn", "pandas", 100): [M(1.2, 1.1, 213), M(1.2, 1.1, 213), M(1.2, 1.1, 213)],
        ("telco_churn", "product", 1_000_000): [M(8.0, 12.1, 390), M(7.0, 11.9, 410), M(30.0, 12.0, 380)],
        ("telco_churn", "pandas", 1_000_000): [M(10.0, 8.0, 1300), M(10.5, 8.1, 1290), M(9.5, 7.9, 1310)],
        ("telco_churn", "model_floor", 1_000_000): [M(4.0, 6.0, 590), M(4.0, 6.0, 590), M(4.0, 6.0, 590)],
        ("credit_risk", "product", 100): [M(1.9, 1.7, 300)],
        ("credit_risk", "model_floor", 100): [M(1.3, 1.2, 230)],
    }


def test_rows_are_medians_of_wall_and_cpu_and_the_highest_rss_in_a_fixed_order():
    rows = report.summarised(fake_measurements())
    assert [(row.use_case, row.tool, row.rows) for row in rows] == [
        ("telco_churn", "product", 100),
        ("telco_churn", "pandas", 100),
        ("telco_churn", "model_floor", 100),
        ("telco_churn", "product", 1_000_000),
        ("telco_churn", "pandas", 1_000_000),
        ("telco_churn", "model_floor", 1_000_000),
        ("credit_risk", "product", 100),
        ("credit_risk", "model_floor", 100),
    ]
    product_1m = rows[3]
    assert (product_1m.wall_s, product_1m.cpu_s, product_1m.peak_rss_mb) == (8.0, 12.0, 410)
    floor_100 = rows[2]
    assert (floor_100.wall_s, floor_100.cpu_s, floor_100.peak_rss_mb) == (1.4, 1.3, 231)


def test_ratio_to_pandas_is_pandas_wall_over_tool_wall_at_the_same_rows():
    rows = {(row.use_case, row.tool, row.rows): row for row in report.summarised(fake_measurements())}
    assert rows[("telco_churn", "product", 1_000_000)].ratio_to_pandas == pytest.approx(10.0 / 8.0)
    assert rows[("telco_churn", "pandas", 1_000_000)].ratio_to_pandas == 1.0
    assert rows[("telco_churn", "product", 100)].ratio_to_pandas == pytest.approx(1.2 / 2.4)
    assert rows[("credit_risk", "product", 100)].ratio_to_pandas is None  # pandas not run for credit here


def verdicts_by_figure() -> dict:
    judged = report.verdicts(report.summarised(fake_measurements()))
    return {(verdict.use_case, verdict.figure.split(" (")[0], verdict.figure): verdict for verdict in judged}


def test_per_row_cost_and_dagster_tax_follow_the_issue_definitions():
    found = {key[:2]: verdict for key, verdict in verdicts_by_figure().items()}
    per_row = found[("telco_churn", "per_row_cpu_s_per_million")]
    assert per_row.value == pytest.approx((12.0 - 2.3) / (1_000_000 - 100) * 1e6)
    assert per_row.figure == "per_row_cpu_s_per_million (100 to 1000000 rows)"
    assert (per_row.met, per_row.verdict) == (False, "missed by 4.70 CPU-s")
    tax = found[("telco_churn", "dagster_tax_cpu_s")]
    assert tax.value == pytest.approx(2.3 - 1.3)
    assert (tax.met, tax.verdict) == (False, "missed by 0.40 CPU-s")
    credit_tax = found[("credit_risk", "dagster_tax_cpu_s")]
    assert (credit_tax.value, credit_tax.met, credit_tax.verdict) == (pytest.approx(0.5), True, "met")
    assert ("credit_risk", "per_row_cpu_s_per_million") not in found  # one size only: no per-row cost


def test_the_other_goals_are_judged_in_the_right_direction_only_where_measured():
    found = {key[:2]: verdict for key, verdict in verdicts_by_figure().items()}
    assert found[("telco_churn", "wall_s")].verdict == "missed by 0.40 s"
    assert found[("credit_risk", "wall_s")].verdict == "met"
    ratio = found[("telco_churn", "ratio_to_pandas")]
    assert (ratio.figure, ratio.bound) == ("ratio_to_pandas (1000000 rows)", ">= 1.30x")
    assert (ratio.value, ratio.verdict) == (1.25, "missed by 0.05x")  # an at-least goal: below it is a miss
    assert report.Verdict("telco_churn", "ratio_to_pandas", 1.5, 1.3, False, "x").verdict == "met"
    rss = found[("telco_churn", "peak_rss_mb")]
    assert (rss.bound, rss.verdict) == ("<= 400 MB", "missed by 10 MB")
    assert ("credit_risk", "ratio_to_pandas") not in found and ("credit_risk", "peak_rss_mb") not in found
    figures = [key[2] for key in verdicts_by_figure()]
    assert not any("10000000" in figure for figure in figures)  # 10M not run: its goals not judged


def test_a_per_row_cost_from_small_sizes_is_printed_but_not_judged():
    runs = {
        ("telco_churn", "product", 100): [M(2.0, 4.0, 300)],
        ("telco_churn", "product", 10_000): [M(2.0, 3.5, 300)],
    }
    (per_row, *_) = report.verdicts(report.summarised(runs))
    assert per_row.value < 0 and per_row.met is None and per_row.verdict.startswith("not judged")


def test_markdown_report_has_the_facts_the_definitions_the_exact_columns_and_the_goals():
    rows = report.summarised(fake_measurements())
    text = report.markdown(FACTS, rows, report.verdicts(rows))
    lines = text.splitlines()
    assert lines[0] == "# bench/run.py, 2026-12-06 08:00:00 UTC to 2026-12-06 08:30:00 UTC"
    assert "- load_average_1_5_15_min_start: 0.50 / 1.00 / 1.50" in lines
    assert any("ratio_to_pandas = pandas wall_s / tool wall_s" in line for line in lines)
    assert "| use_case | tool | rows | wall_s | cpu_s | peak_rss_mb | ratio_to_pandas |" in lines
    assert "| telco_churn | product | 1000000 | 8.00 | 12.00 | 410 | 1.25 |" in lines
    assert "| credit_risk | product | 100 | 1.90 | 1.70 | 300 |  |" in lines
    assert "| telco_churn | dagster_tax_cpu_s (100 rows) | 1.00 CPU-s | <= 0.60 CPU-s | missed by 0.40 CPU-s |" in lines


def test_csv_and_json_carry_the_same_table():
    rows = report.summarised(fake_measurements())
    table = list(csv.DictReader(io.StringIO(report.csv_text(rows))))
    assert tuple(table[0]) == report.COLUMNS
    assert table[3] == {
        "use_case": "telco_churn",
        "tool": "product",
        "rows": "1000000",
        "wall_s": "8.00",
        "cpu_s": "12.00",
        "peak_rss_mb": "410",
        "ratio_to_pandas": "1.25",
    }
    document = json.loads(report.json_text(FACTS, rows, report.verdicts(rows)))
    assert document["machine"] == FACTS
    assert [tuple(row) for row in document["rows"]] == [report.COLUMNS] * len(rows)
    assert document["rows"][3]["ratio_to_pandas"] == 1.25
    tax = next(goal for goal in document["goals"] if goal["figure"].startswith("dagster_tax_cpu_s"))
    assert (tax["met"], tax["bound"], tax["verdict"]) == (False, "<= 0.60 CPU-s", "missed by 0.40 CPU-s")
