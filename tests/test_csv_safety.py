"""CSV files for people cannot run formulas in a spreadsheet: the rule, and the scored file and reject report."""

from __future__ import annotations

import csv
import json
import re

import pyarrow as pa
import pytest

from scoring_assets.core.csv_safety import SpreadsheetSafeCsvWriter, neutralise_formulas, neutralise_text_columns
from scoring_assets.core.files import file_sha256
from scoring_assets.core.manifest import lineage, manifest_path_for
from tests.support.batches import CREDIT_RISK, customer_rows, valid_rows, write_csv
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file


@pytest.mark.parametrize(
    "cell, written",
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-1+2", "'-1+2"),
        ("-2+3", "'-2+3"),
        ("+1)", "'+1)"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\t-3", "'\t-3"),
        ("  =1+1", "'  =1+1"),
        ("\n@x", "'\n@x"),
        ("-", "'-"),
        ("'quoted", "''quoted"),
        ("-3", "-3"),
        ("+1", "+1"),
        ("-1.5e3", "-1.5e3"),
        (" -0.25 ", " -0.25 "),
        ("7590-VHVEG", "7590-VHVEG"),
        ("a=b", "a=b"),
        ("", ""),
        ("é=1", "é=1"),
    ],
)
def test_cells_a_spreadsheet_would_run_get_a_quote_and_plain_numbers_do_not(cell, written):
    out, count = neutralise_formulas(pa.array([cell]))
    assert out.to_pylist() == [written]
    assert count == (cell != written)


def test_removing_one_leading_quote_gives_back_every_value_and_no_two_values_collide():
    values = ["=1", "'=1", "''=1", "'x", "x", "-3", "'-3", "@a", "'@a", "+1)", "\t=1"]
    written = neutralise_formulas(pa.array(values))[0].to_pylist()
    assert len(set(written)) == len(values)
    assert [cell[1:] if cell.startswith("'") else cell for cell in written] == values


def test_only_text_columns_change_and_nulls_stay_null():
    table = pa.table(
        {
            "id": pa.chunked_array([["=1", None], ["ok", "@x"]]),
            "score": pa.array([-1.0, 0.5, 2.0, -3.5]),
            "label": pa.array([-1, 0, 1, 2], pa.int8()),
        }
    )
    safe, count = neutralise_text_columns(table)
    assert count == 2
    assert safe.column("id").to_pylist() == ["'=1", None, "ok", "'@x"]
    assert safe.column("score").equals(table.column("score")) and safe.column("label").equals(table.column("label"))


def test_a_dictionary_column_is_neutralised_like_its_text_and_counted_by_cell():
    """Reason texts and other repeated texts arrive as dictionaries: the same cells change, each counted."""
    texts = pa.array(["=SUM(A1)", "fine", None, "=SUM(A1)", "@x", "fine"])
    plain, plain_count = neutralise_text_columns(pa.table({"reason": texts}))
    coded, coded_count = neutralise_text_columns(pa.table({"reason": texts.dictionary_encode()}))
    assert coded_count == plain_count == 3
    assert coded.column("reason").cast(pa.string()).equals(plain.column("reason"))


def test_safe_writer_writes_what_it_counts(tmp_path):
    schema = pa.schema([("customer_id", pa.string()), ("value", pa.string()), ("rows", pa.int64())])
    path = tmp_path / "out.csv"
    with SpreadsheetSafeCsvWriter(path, schema) as writer:
        writer.write(pa.record_batch([["=1", "a"], ["-2+3", "-2"], [1, 2]], schema=schema))
        writer.write(pa.table({"customer_id": ["@b"], "value": ["x"], "rows": [3]}, schema=schema))
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["customer_id", "value", "rows"], ["'=1", "'-2+3", "1"], ["a", "-2", "2"], ["'@b", "x", "3"]]
    assert writer.cells_neutralised == 3


def test_safe_writer_writes_the_header_by_the_same_rule_and_counts_its_cells(tmp_path):
    schema = pa.schema([("=1+1", pa.string()), ("@SUM(A1)", pa.int64()), ("-3", pa.string()), ("'id", pa.string())])
    path = tmp_path / "out.csv"
    with SpreadsheetSafeCsvWriter(path, schema) as writer:
        writer.write(pa.record_batch([["a"], [1], ["b"], ["c"]], schema=schema))
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["'=1+1", "'@SUM(A1)", "-3", "''id"], ["a", "1", "b", "c"]]
    assert writer.cells_neutralised == 3


def read_csv_cells(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_no_cell_can_run(rows: list[dict[str, str]]) -> None:
    """No cell, header cells included, starts like a formula (spaces or line breaks aside), unless a plain number."""
    for row in rows:
        for cell in [*row, *row.values()]:
            starts_like_formula = cell.startswith(("\t", "\r")) or cell.lstrip(" \n").startswith(("=", "+", "-", "@"))
            assert not starts_like_formula or re.fullmatch(r" *[+-]?\d+(\.\d*)? *", cell), cell


FORMULA_IDS = ['=HYPERLINK("http://x","y")', "+1", "-1+2", "@SUM(A1)", "-cmd|' /C calc'!A0", "'=quoted"]


@pytest.mark.usefixtures("model_artifact")
def test_formula_like_ids_are_scored_and_written_neutralised_with_exact_lineage(instance, folders, tmp_path):
    rows = customer_rows(120)
    rows.loc[: len(FORMULA_IDS) - 1, "customerID"] = FORMULA_IDS
    source = write_csv(rows, tmp_path / "formula ids.csv")

    registration, result = score_file(instance, folders, source)

    assert result.success
    scored_path = folders.of("telco_churn").scored_file(registration.partition_key)
    scored = read_csv_cells(scored_path)
    assert len(scored) == 120
    assert [row["customer_id"] for row in scored[: len(FORMULA_IDS)]] == [
        '\'=HYPERLINK("http://x","y")',
        "+1",
        "'-1+2",
        "'@SUM(A1)",
        "'-cmd|' /C calc'!A0",
        "''=quoted",
    ]
    assert [row["customer_id"] for row in scored[len(FORMULA_IDS) :]] == rows["customerID"][len(FORMULA_IDS) :].tolist()
    assert_no_cell_can_run(scored)
    manifest = json.loads(manifest_path_for(scored_path).read_text())
    assert manifest["output"]["sha256"] == file_sha256(scored_path)


@pytest.mark.usefixtures("model_artifact")
def test_reject_report_neutralises_ids_and_values_of_rejected_rows(instance, folders, tmp_path):
    rows = customer_rows(200)
    rows.loc[3, ["customerID", "gender"]] = ["@evil", "=cmd|' /C calc'!A0"]
    rows.loc[7, "MonthlyCharges"] = "-2+3"
    rows.loc[9, "PaymentMethod"] = "+Electronic check"
    rows.loc[11, ["customerID", "tenure"]] = ["-1+2", "-4"]
    source = write_csv(rows, tmp_path / "formula values.csv")
    text = source.read_text().splitlines()
    text.insert(20, '=1+2,"=SUM(A1:A9)",extra')  # a ragged row: id and raw line
    source.write_text("\n".join(text) + "\n")

    registration, result = score_file(instance, folders, source)

    assert result.success
    report = read_csv_cells(folders.of("telco_churn").reject_report(registration.partition_key))
    cells = {(row["row_number"], row["column"]): (row["customer_id"], row["value"]) for row in report}
    assert cells[("4", "gender")] == ("'@evil", "'=cmd|' /C calc'!A0")
    assert cells[("8", "MonthlyCharges")][1] == "'-2+3"
    assert cells[("10", "PaymentMethod")][1] == "'+Electronic check"
    assert cells[("12", "tenure")] == ("'-1+2", "-4")
    assert cells[("20", "(whole row)")] == (
        "'=1+2",
        'line 21: 3 fields where the header has 20: =1+2,"=SUM(A1:A9)",extra',
    )
    assert_no_cell_can_run(report)


def test_reject_report_of_a_use_case_without_ids_neutralises_values_and_ragged_rows(instance, folders, tmp_path):
    built_model(CREDIT_RISK)
    rows = valid_rows(CREDIT_RISK, 200)
    rows.loc[3, "purpose"] = "=cmd|' /C calc'!A0"
    rows.loc[7, "credit_amount"] = "-2+3"
    rows.loc[9, " foreign_worker"] = "@yes"
    source = write_csv(rows, tmp_path / "formula applications.csv")
    text = source.read_text().splitlines()
    text.insert(20, '=1+2,"=SUM(A1:A9)",extra')
    source.write_text("\n".join(text) + "\n")

    registration, result = score_file(instance, folders, source, use_case=CREDIT_RISK)

    assert result.success
    report = read_csv_cells(folders.of("credit_risk").reject_report(registration.partition_key))
    assert list(report[0]) == ["row_number", "column", "rule", "value"]
    cells = {(row["row_number"], row["column"]): row["value"] for row in report}
    assert cells[("4", "purpose")] == "'=cmd|' /C calc'!A0"
    assert cells[("8", "credit_amount")] == "'-2+3"
    assert cells[("10", "foreign_worker")] == "'@yes"
    assert cells[("20", "(whole row)")] == 'line 21: 3 fields where the header has 20: =1+2,"=SUM(A1:A9)",extra'
    assert_no_cell_can_run(report)


def test_carried_columns_of_a_use_case_without_ids_are_written_neutralised(instance, folders, tmp_path):
    built_model(CREDIT_RISK)
    rows = valid_rows(CREDIT_RISK, 50)
    rows["reference"] = ["=1+1", "@SUM(A1)", "-3", *(f"app-{i}" for i in range(3, 50))]
    source = write_csv(rows, tmp_path / "carried.csv")

    registration, result = score_file(
        instance, folders, source, use_case=CREDIT_RISK, raw={"carry_columns": ["reference"]}
    )

    assert result.success
    scored_path = folders.of("credit_risk").scored_file(registration.partition_key)
    scored = read_csv_cells(scored_path)
    assert list(scored[0])[0] == "row_number" and list(scored[0])[-1] == "reference"
    assert [row["reference"] for row in scored[:4]] == ["'=1+1", "'@SUM(A1)", "-3", "app-3"]
    assert [row["row_number"] for row in scored] == [str(n) for n in range(1, 51)]
    assert_no_cell_can_run(scored)
    manifest = json.loads(manifest_path_for(scored_path).read_text())
    assert manifest["output"]["sha256"] == file_sha256(scored_path)


@pytest.mark.usefixtures("model_artifact")
def test_a_carried_column_named_like_a_formula_gets_a_neutralised_header_and_exact_lineage(
    instance, folders, use_case, tmp_path
):
    built_model(use_case)
    rows = valid_rows(use_case, 30)
    rows["=1+1"] = ["@SUM(A1)", *(f"ref-{i}" for i in range(1, 30))]
    source = write_csv(rows, tmp_path / "formula header.csv")

    registration, result = score_file(instance, folders, source, use_case=use_case, raw={"carry_columns": ["=1+1"]})

    assert result.success
    scored_path = folders.of(use_case.name).scored_file(registration.partition_key)
    scored = read_csv_cells(scored_path)
    assert list(scored[0])[-1] == "'=1+1"
    assert [row["'=1+1"] for row in scored[:2]] == ["'@SUM(A1)", "ref-1"]
    assert_no_cell_can_run(scored)
    summary = lineage(scored_path)
    assert summary["matches_manifest"] and summary["counts"]["scored_rows"] == 30
    manifest = json.loads(manifest_path_for(scored_path).read_text())
    assert manifest["output"]["cells_neutralised"] == 2  # the header cell and one value
