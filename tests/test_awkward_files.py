"""Awkward but plausible input files: each one is scored correctly or refused with one helpful line.

The catalogue (Telco files, and German credit files: no id column, a header spelled with
leading spaces) runs through the raw and validation stages directly (fast); a few files go
through the real ``scoring-assets`` process to prove the exit code and that no traceback
reaches the user, and one file bigger than a read block goes through the real job.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pyarrow.parquet as pq
import pytest

from scoring_assets.core.contract import NUL_BYTE_RULE, reject_columns
from scoring_assets.core.csv_header import InputFileError
from scoring_assets.core.csv_records import iter_record_batches
from scoring_assets.core.files import file_sha256
from scoring_assets.core.ingest import FIELD_COUNT_RULE, validate_raw_parquet, write_raw_parquet
from scoring_assets.core.use_case import UseCase
from tests.support.batches import CREDIT_RISK, REAL_EXTRACTS, TELCO, customer_rows, valid_rows, write_csv
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file

ROWS = customer_rows(30, seed=3)
IDS = ROWS["customerID"].tolist()
HEADER, *LINES = ROWS.to_csv(index=False).splitlines()


def joined(lines: list[str], line_break: str = "\n", last: str = "\n") -> bytes:
    return (line_break.join(lines) + last).encode()


def plain(line_break: str = "\n") -> bytes:
    return joined([HEADER, *LINES], line_break, line_break)


def with_column(name: str, values: Callable[[int], str]) -> list[str]:
    return [f"{HEADER},{name}", *(f"{line},{values(index)}" for index, line in enumerate(LINES))]


def replaced_in_row(row: int, old: str, new: bytes) -> bytes:
    """The plain file with the first ``old`` in data row ``row`` (1-based) replaced by raw bytes."""
    lines = [line.encode() for line in [HEADER, *LINES]]
    lines[row] = lines[row].replace(old.encode(), new, 1)
    return b"\n".join(lines) + b"\n"


def zipped(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sheet.csv", content)
    return buffer.getvalue()


def other_delimiter(delimiter: str) -> bytes:
    return joined([line.replace(",", delimiter) for line in [HEADER, *LINES]])


@dataclass(frozen=True)
class Awkward:
    """A file and its fate: ``refused`` is the message expected (a fragment); otherwise it is scored."""

    content: bytes
    refused: str = ""
    ids: tuple = tuple(IDS)  # accepted, in order, when scored: ids (row numbers for a use case without ids)
    ragged_rows: tuple[int, ...] = ()  # row numbers rejected as ragged
    use_case: UseCase = TELCO


WHITESPACE_LINES = [HEADER, "   ", *LINES[:10], "\t", *LINES[10:], " "]
# Twelve extra columns whose names take 1.2 MB: wide extracts with long column names exist.
LONG_NAMES = [f"note {index} " + "n" * 100_000 for index in range(12)]
CATALOGUE: dict[str, Awkward] = {
    # Line endings and the start of the file
    "lf": Awkward(plain()),
    "crlf": Awkward(plain("\r\n")),
    "old_mac_cr_only": Awkward(plain("\r")),
    "mixed_line_endings": Awkward(
        (HEADER + "\r\n" + "\r".join(LINES[:10]) + "\n" + "\r\n".join(LINES[10:]) + "\r").encode()
    ),
    "doubled_carriage_returns": Awkward(plain("\r\r\n")),
    "no_trailing_line_break": Awkward(joined([HEADER, *LINES], last="")),
    "no_trailing_line_break_cr": Awkward(joined([HEADER, *LINES], "\r", last="")),
    "utf8_bom": Awkward(b"\xef\xbb\xbf" + plain()),
    "utf8_bom_crlf_padded_quoted_header": Awkward(
        b"\xef\xbb\xbf" + joined([",".join(f'" {n} "' for n in HEADER.split(",")), *LINES], "\r\n", "\r\n")
    ),
    "excel_sep_line": Awkward(b"\xef\xbb\xbfsep=,\r\n" + plain("\r\n")),
    "blank_lines_leading_middle_trailing": Awkward(
        joined(["", "", HEADER, "", *LINES[:5], "", "", *LINES[5:], "", ""])
    ),
    "whitespace_only_lines": Awkward(joined(WHITESPACE_LINES)),
    "delimiter_only_lines_from_a_spreadsheet": Awkward(joined([HEADER, *LINES, ",,,,", "," * 19, ",,", '"",""'])),
    # Values
    "every_value_quoted": Awkward(joined([",".join(f'"{v}"' for v in line.split(",")) for line in [HEADER, *LINES]])),
    "escaped_quotes_in_free_text": Awkward(joined(with_column("notes", lambda i: f'"said ""call me"", twice {i}"'))),
    "line_breaks_in_quoted_free_text": Awkward(
        joined(with_column("notes", lambda i: '"first line\nsecond, line\r\nthird\rfourth"'), "\r\n")
    ),
    "very_long_free_text": Awkward(joined(with_column("notes", lambda i: "x" * (200_000 if i == 3 else 5)))),
    "non_utf8_bytes_in_an_ignored_column": Awkward(
        joined(with_column("notes", lambda i: "ok")).replace(b",ok\n", b",M\xfcller\n", 1)
    ),
    "formula_like_id": Awkward(plain().replace(IDS[0].encode(), b"=1+1", 1), ids=("=1+1", *IDS[1:])),
    "trailing_delimiter_on_every_line": Awkward(joined([line + "," for line in [HEADER, *LINES]])),
    "trailing_delimiter_on_data_lines_only": Awkward(joined([HEADER, *(line + "," for line in LINES)])),
    "extra_columns_with_empty_and_repeated_names": Awkward(
        joined([f"{HEADER},,notes,notes", *(f"{line},a,b,c" for line in LINES)])
    ),
    "quotes_and_delimiters_in_extra_header_names": Awkward(
        joined([f'{HEADER},"notes, free text",size 12"', *(f"{line},a,b" for line in LINES)])
    ),
    "label_column_kept": Awkward(joined(with_column("Churn", lambda i: "Yes" if i % 2 else "No"))),
    # Rows that do not fit the header: rejected one by one
    "ragged_rows": Awkward(
        joined([HEADER, *LINES[:4], LINES[4] + ",extra", *LINES[5:9], LINES[9].rsplit(",", 3)[0], *LINES[10:]]),
        ids=tuple(IDS[:4] + IDS[5:9] + IDS[10:]),
        ragged_rows=(5, 10),
    ),
    "ragged_row_with_a_huge_value": Awkward(
        joined([HEADER, *LINES[:3], LINES[3] + "," + "y" * 200_000, *LINES[4:]]),
        ids=tuple(IDS[:3] + IDS[4:]),
        ragged_rows=(4,),
    ),
    "truncated_last_line": Awkward(
        joined([HEADER, *LINES[:-1], LINES[-1][:25]], last=""), ids=tuple(IDS[:-1]), ragged_rows=(30,)
    ),
    # Nothing to score, but a valid batch of 0 rows: the has_rows check refuses it in the job
    "header_only": Awkward(joined([HEADER]), ids=()),
    "header_only_without_line_break": Awkward(HEADER.encode(), ids=()),
    "header_only_then_blank_lines": Awkward(b"\xef\xbb\xbf" + joined([HEADER, "", "  ", ""], "\r\n"), ids=()),
    # Not a file we can read: refused as a whole, with what to do
    "empty": Awkward(b"", refused="file is empty"),
    "only_a_byte_order_mark": Awkward(b"\xef\xbb\xbf", refused="file is empty"),
    "only_line_breaks": Awkward(b"\n\r\n\r\n", refused="file is empty"),
    "only_whitespace": Awkward(b"  \t \n   \n", refused="file is empty"),
    "utf16_with_bom": Awkward(plain().decode().encode("utf-16"), refused="is UTF-16 text, not UTF-8; save it as UTF-8"),
    "utf16_big_endian_with_bom": Awkward(b"\xfe\xff" + plain().decode().encode("utf-16-be"), refused="is UTF-16 text"),
    "utf16_without_bom": Awkward(plain().decode().encode("utf-16-le"), refused="looks like UTF-16 text"),
    "utf32": Awkward(plain().decode().encode("utf-32"), refused="is UTF-32 text, not UTF-8"),
    "windows_1252_in_a_value": Awkward(
        replaced_in_row(4, "Electronic check", b"Electronic ch\xe9que"),
        refused="is not UTF-8 text (line 5 has byte 0xE9, which Windows-1252 / Latin-1 reads as 'é'); save it as UTF-8",
    ),
    "windows_1252_in_a_ragged_row": Awkward(
        replaced_in_row(7, "Yes", b"Yes,d\xe9j\xe0"), refused="is not UTF-8 text (line 8 has byte 0xE9"
    ),
    "windows_1252_in_the_header": Awkward(
        joined([HEADER + ",Kündigung", *LINES]).replace("ü".encode(), b"\xfc"),
        refused="is not UTF-8 text (line 1 has byte 0xFC",
    ),
    "nul_byte_in_the_header": Awkward(
        plain().replace(b"gender", b"gen\x00der", 1), refused="has a NUL byte in its header (at byte 14): the file is"
    ),
    "nul_bytes_in_a_tenth_of_the_start": Awkward(
        joined([HEADER, *LINES[:5]]) + b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09" * 2_000 + joined(LINES[5:]),
        refused="is binary, not CSV text: 2,000 of its first 24,",
    ),
    "semicolon_separated": Awkward(
        other_delimiter(";"), refused="looks like ';'-separated; save it as comma-separated CSV"
    ),
    "tab_separated": Awkward(other_delimiter("\t"), refused="looks like tab-separated; save it as comma-separated"),
    "pipe_separated": Awkward(other_delimiter("|"), refused="looks like '|'-separated"),
    "excel_sep_line_semicolon": Awkward(b"sep=;\r\n" + other_delimiter(";"), refused="its first line says sep=;"),
    "unterminated_quote_at_end": Awkward(
        plain()[:-1] + b',"never closed\n', refused='a quote (") in the record that starts on line 31 is never closed'
    ),
    "unterminated_quote_in_the_middle": Awkward(
        joined(with_column("notes", lambda i: '"oops' if i == 11 else "fine")),
        refused="the record that starts on line 13 is never closed",
    ),
    "gzip_named_csv": Awkward(gzip.compress(plain()), refused="is gzip-compressed; decompress it"),
    "xlsx_named_csv": Awkward(zipped(plain()), refused="is a ZIP archive (an Excel .xlsx workbook is one)"),
    "xls_named_csv": Awkward(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), refused="Excel 97-2003 workbook"),
    "parquet_named_csv": Awkward(b"PAR1" + bytes(100) + b"PAR1", refused="is a Parquet file, not CSV"),
    "html_page_named_csv": Awkward(
        b"<!DOCTYPE html>\n<html><body>Not found</body></html>\n", refused="has no header row"
    ),
    "no_header_row": Awkward(joined(LINES), refused="has no header row: its first line must name the columns"),
    "missing_columns": Awkward(
        joined([HEADER.replace(",tenure", ""), *LINES]), refused="missing required column(s): tenure"
    ),
    "column_names_in_other_case": Awkward(
        joined([HEADER.replace("customerID", "CustomerId"), *LINES]),
        refused="missing required column(s): customerID (column names are case-sensitive: found 'CustomerId'",
    ),
    "duplicate_contract_column": Awkward(
        joined([f"{HEADER},tenure", *(f"{line},1" for line in LINES)]),
        refused="column(s) appear more than once in the header: tenure",
    ),
    "header_with_an_unclosed_quote": Awkward(b'"customerID,gender' + plain()[18:], refused="the header has a quote"),
    "header_value_over_the_csv_module_limit": Awkward(
        b"x" * 200_000 + b"\n" + plain(), refused="its first line holds a value over 131,072 characters long"
    ),
    "header_over_a_mebibyte_of_long_column_names": Awkward(
        joined([",".join([HEADER, *LONG_NAMES]), *(line + "," * len(LONG_NAMES) for line in LINES)])
    ),
    "first_line_over_16_mebibytes": Awkward(
        (b"x" * 1_000 + b",") * 17_000 + b"\n" + plain(), refused="its first line is over 16 MiB long"
    ),
}


# German credit applications: no id column, and the header spells two names with a leading space,
# as the real extract does (" other_payment_plans", " foreign_worker").
APPLICATIONS = valid_rows(CREDIT_RISK, 30, seed=3)
CREDIT_HEADER, *CREDIT_LINES = APPLICATIONS.to_csv(index=False).splitlines()
assert " foreign_worker" in CREDIT_HEADER.split(",")
ALL_ROWS = tuple(range(1, 31))


def credit(lines: list[str], line_break: str = "\n", last: str = "\n", **fate) -> Awkward:
    return Awkward(joined(lines, line_break, last), use_case=CREDIT_RISK, **{"ids": ALL_ROWS, **fate})


CREDIT_CATALOGUE: dict[str, Awkward] = {
    "credit_lf": credit([CREDIT_HEADER, *CREDIT_LINES]),
    "credit_crlf_with_bom": Awkward(
        b"\xef\xbb\xbf" + joined([CREDIT_HEADER, *CREDIT_LINES], "\r\n", "\r\n"), use_case=CREDIT_RISK, ids=ALL_ROWS
    ),
    "credit_old_mac_cr_only": credit([CREDIT_HEADER, *CREDIT_LINES], "\r", "\r"),
    "credit_every_header_name_padded_and_quoted": credit(
        [",".join(f'"  {n.strip()} "' for n in CREDIT_HEADER.split(",")), *CREDIT_LINES]
    ),
    "credit_header_trimmed": credit([CREDIT_HEADER.replace(", ", ","), *CREDIT_LINES]),
    "credit_blank_and_delimiter_only_lines": credit(
        [CREDIT_HEADER, "", *CREDIT_LINES[:7], "   ", "," * 19, *CREDIT_LINES[7:], ""]
    ),
    "credit_label_column_kept": credit([f"{CREDIT_HEADER},class", *(f"{line},good" for line in CREDIT_LINES)]),
    "credit_ragged_rows": credit(
        [CREDIT_HEADER, *CREDIT_LINES[:4], CREDIT_LINES[4] + ",extra", *CREDIT_LINES[5:9]]
        + [CREDIT_LINES[9].rsplit(",", 3)[0], *CREDIT_LINES[10:]],
        ids=tuple(n for n in ALL_ROWS if n not in (5, 10)),
        ragged_rows=(5, 10),
    ),
    "credit_truncated_last_line": credit(
        [CREDIT_HEADER, *CREDIT_LINES[:-1], CREDIT_LINES[-1][:15]], last="", ids=ALL_ROWS[:-1], ragged_rows=(30,)
    ),
    "credit_only_ragged_rows": credit([CREDIT_HEADER, "a,b", "c"], ids=(), ragged_rows=(1, 2)),
    "credit_header_only": credit([CREDIT_HEADER], ids=()),
    "credit_missing_column": credit(
        [CREDIT_HEADER.replace(", foreign_worker", ""), *CREDIT_LINES],
        refused="missing required column(s): foreign_worker",
    ),
    "credit_column_name_in_other_case": credit(
        [CREDIT_HEADER.replace(" foreign_worker", " Foreign_Worker"), *CREDIT_LINES],
        refused="missing required column(s): foreign_worker (column names are case-sensitive: found 'Foreign_Worker'",
    ),
    "credit_column_twice_once_padded": credit(
        [f"{CREDIT_HEADER},foreign_worker", *(f"{line},yes" for line in CREDIT_LINES)],
        refused="column(s) appear more than once in the header: foreign_worker",
    ),
    "credit_semicolon_separated": credit(
        [line.replace(",", ";") for line in [CREDIT_HEADER, *CREDIT_LINES]],
        refused="looks like ';'-separated; save it as comma-separated CSV",
    ),
    "credit_no_header_row": credit(CREDIT_LINES, refused="has no header row: its first line must name the columns"),
}


def raw_and_validated(use_case: UseCase, path, tmp_path):
    raw = tmp_path / "lake" / "raw.parquet"
    raw_summary = write_raw_parquet(use_case, path, file_sha256(path), raw)
    validation = validate_raw_parquet(use_case, raw, tmp_path / "lake" / "accepted.parquet", tmp_path / "rejected.csv")
    return raw_summary, validation


@pytest.mark.parametrize("name", [*CATALOGUE, *CREDIT_CATALOGUE])
def test_awkward_file_is_scored_or_refused_with_one_helpful_line(tmp_path, name):
    case = CATALOGUE.get(name) or CREDIT_CATALOGUE[name]
    use_case = case.use_case
    path = tmp_path / f"{name}.csv"
    path.write_bytes(case.content)

    if case.refused:
        with pytest.raises(InputFileError) as raised:
            raw_and_validated(use_case, path, tmp_path)
        message = str(raised.value)
        assert message.startswith(f"{path}: ") and case.refused in message
        assert "\n" not in message and "cannot be parsed as CSV" not in message
        assert not (tmp_path / "lake" / "raw.parquet").exists()
        return

    raw_summary, validation = raw_and_validated(use_case, path, tmp_path)
    key = use_case.id_column or "row_number"
    accepted = pq.read_table(tmp_path / "lake" / "accepted.parquet", columns=list(dict.fromkeys(["row_number", key])))
    assert tuple(accepted.column(key).to_pylist()) == case.ids
    assert raw_summary.ragged_rows == len(case.ragged_rows)
    assert validation.rows_in == len(case.ids) + len(case.ragged_rows)
    assert validation.rows_rejected == len(case.ragged_rows)
    assert validation.reject_counts == ({FIELD_COUNT_RULE: len(case.ragged_rows)} if case.ragged_rows else {})
    numbers = sorted([*accepted.column("row_number").to_pylist(), *case.ragged_rows])
    assert numbers == list(range(1, validation.rows_in + 1)), "data records are numbered 1..n, ragged ones too"
    if case.ragged_rows:
        report = pd.read_csv(tmp_path / "rejected.csv", dtype=str, keep_default_na=False)
        assert list(report.columns) == reject_columns(use_case)
        assert report["row_number"].astype(int).tolist() == list(case.ragged_rows)
        header_fields = len(use_case.contract_columns) + raw_summary.has_label
        assert report["value"].str.fullmatch(rf"line \d+: \d+ fields where the header has {header_fields}: .+").all()


def with_a_nul_byte(column: str, row: int) -> tuple[bytes, str]:
    """The plain file plus a ``notes`` column, with a NUL byte inside ``column`` of data row ``row``; that value."""
    header = [*HEADER.split(","), "notes"]
    lines = [header, *([*line.split(","), "ok"] for line in LINES)]
    value = lines[row][header.index(column)]
    lines[row][header.index(column)] = value = value[:1] + "\x00" + value[1:]
    return joined([",".join(fields) for fields in lines]), value


@pytest.mark.parametrize(
    "column, row, carried",
    [("Partner", 2, ()), ("customerID", 5, ()), ("tenure", 7, ()), ("notes", 9, ("notes",)), ("notes", 9, ())],
    ids=["value_set_column", "id", "number_column", "carried_column", "ignored_column"],
)
def test_a_nul_byte_in_a_value_rejects_its_row_alone_naming_the_column_and_the_rule(tmp_path, column, row, carried):
    path = tmp_path / "one_nul.csv"
    content, value = with_a_nul_byte(column, row)
    path.write_bytes(content)
    used = column in TELCO.contract_columns or column in carried

    raw = tmp_path / "lake" / "raw.parquet"
    write_raw_parquet(TELCO, path, file_sha256(path), raw, carried=carried)
    validation = validate_raw_parquet(TELCO, raw, tmp_path / "lake" / "accepted.parquet", tmp_path / "rejected.csv")

    accepted = pq.read_table(tmp_path / "lake" / "accepted.parquet").column("customerID").to_pylist()
    assert accepted == [identifier for number, identifier in enumerate(IDS, 1) if number != row or not used]
    if not used:  # a column the run does not read cannot hold the row back
        assert validation.rows_rejected == 0 and not (tmp_path / "rejected.csv").exists()
        return
    assert (validation.rows_in, validation.rows_rejected, validation.reject_counts) == (30, 1, {NUL_BYTE_RULE: 1})
    shown = value.replace("\x00", "\\x00")  # the report stays text: a NUL is written as \x00
    with open(tmp_path / "rejected.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == [
            {
                "row_number": str(row),
                "customer_id": shown if column == "customerID" else IDS[row - 1],
                "column": f"carried:{column}" if carried else column,
                "rule": NUL_BYTE_RULE,
                "value": shown,
            }
        ]
    assert b"\x00" not in (tmp_path / "rejected.csv").read_bytes()


def test_a_folder_or_a_missing_file_is_refused_by_name(tmp_path):
    for path, problem in [(tmp_path, "is a directory, not a CSV file"), (tmp_path / "gone.csv", "file not found")]:
        with pytest.raises(InputFileError) as raised:
            list(iter_record_batches(path, TELCO))
        assert str(raised.value) == f"{path}: {problem}"


def test_a_record_longer_than_a_read_block_is_refused_with_the_likely_cause(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(joined(with_column("notes", lambda i: '"never closed' if i == 20 else "short")))
    with pytest.raises(InputFileError) as raised:
        list(iter_record_batches(path, TELCO, block_bytes=1024))
    assert 'is longer than 1,024 bytes: usually a quote (") that is never closed' in str(raised.value)


def test_a_header_longer_than_a_read_block_is_read_but_a_data_record_longer_than_one_is_still_refused(tmp_path):
    wide = CATALOGUE["header_over_a_mebibyte_of_long_column_names"].content
    header, body = wide.split(b"\n", 1)
    path = tmp_path / "wide.csv"
    path.write_bytes(wide)
    assert len(header) > 64 << 10
    assert sum(batch.num_rows for batch in iter_record_batches(path, TELCO, block_bytes=64 << 10)) == len(LINES)
    path.write_bytes(header + b"\n" + body.replace(b",,", b',"' + b"y" * 200_000 + b'",', 1))
    with pytest.raises(InputFileError, match="is longer than 65,536 bytes"):
        list(iter_record_batches(path, TELCO, block_bytes=64 << 10))


@pytest.mark.usefixtures("model_artifact")
def test_free_text_with_line_breaks_spanning_read_blocks_is_scored_in_full(instance, folders, tmp_path):
    rows = customer_rows(50_000, seed=8)
    rows["notes"] = [f'called {i}, said "maybe"\nthen:\r\n- wrote back\r- closed' for i in range(len(rows))]
    source = write_csv(rows, tmp_path / "with notes.csv")
    assert source.stat().st_size > 8 << 20, "bigger than one read block of the real job"

    registration, result = score_file(instance, folders, source)

    assert result.success
    telco_folders = folders.of(TELCO.name)
    scored = pd.read_csv(telco_folders.scored_file(registration.partition_key), dtype={"customer_id": str})
    assert scored["row_number"].tolist() == list(range(1, 50_001))
    assert scored["customer_id"].tolist() == rows["customerID"].tolist()
    assert not telco_folders.reject_report(registration.partition_key).exists()


def assert_refused_briefly(result, source, problem: str) -> None:
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{source.resolve()}: {problem}" in result.stderr


@pytest.mark.usefixtures("model_artifact")
@pytest.mark.parametrize(
    "name, options",
    [
        ("semicolon_separated", ("--use-case", "telco_churn")),  # without it: no use case's header (exit 2)
        ("gzip_named_csv", ("--use-case", "telco_churn")),
        ("gzip_named_csv", ()),
        ("unterminated_quote_at_end", ()),
        ("windows_1252_in_a_ragged_row", ()),
    ],
)
def test_cli_refuses_an_unreadable_file_with_exit_3_and_one_line(workspace, name, options):
    source = workspace.cwd / f"{name}.csv"
    source.write_bytes(CATALOGUE[name].content)
    result = workspace.run("score", source.name, *options)
    assert_refused_briefly(result, source, CATALOGUE[name].refused)
    assert workspace.scored_files(TELCO) == [] and workspace.scored_files(CREDIT_RISK) == []


@pytest.mark.usefixtures("model_artifact")
def test_cli_scores_a_file_whose_header_is_over_a_mebibyte(workspace):
    source = workspace.cwd / "wide.csv"
    source.write_bytes(CATALOGUE["header_over_a_mebibyte_of_long_column_names"].content)
    assert len(source.read_bytes().split(b"\n", 1)[0]) > 1 << 20
    result = workspace.run("score", source.name, "--output", "scored.csv")
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(workspace.cwd / "scored.csv", dtype={"customer_id": str})
    assert scored["customer_id"].tolist() == IDS


@pytest.mark.usefixtures("model_artifact")
def test_cli_scores_an_old_mac_file(workspace):
    source = workspace.cwd / "old_mac.csv"
    source.write_bytes(CATALOGUE["old_mac_cr_only"].content)
    result = workspace.run("score", source.name, "--output", "scored.csv")
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(workspace.cwd / "scored.csv", dtype={"customer_id": str})
    assert scored["customer_id"].tolist() == IDS


@pytest.mark.usefixtures("model_artifact")
@pytest.mark.skipif(not REAL_EXTRACTS["telco_churn"].exists(), reason="the shared IBM Telco extract is not present")
def test_cli_scores_the_real_extract_around_one_ragged_row_and_reports_its_line(workspace):
    lines = REAL_EXTRACTS["telco_churn"].read_text().splitlines()
    ragged_line = lines[100] + ",an extra field"
    lines[100] = ragged_line
    source = workspace.cwd / "telco_one_ragged.csv"
    source.write_text("\n".join(lines) + "\n")

    result = workspace.run("score", source.name, "--output", "scored.csv")

    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(workspace.cwd / "scored.csv")
    assert len(scored) == 7042 and 100 not in set(scored["row_number"])
    assert scored["row_number"].max() == 7043
    with open(workspace.cwd / "scored.rejected.csv", newline="", encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert report == [
        {
            "row_number": "100",
            "customer_id": ragged_line.split(",")[0],
            "column": "(whole row)",
            "rule": FIELD_COUNT_RULE,
            "value": f"line 101: 22 fields where the header has 21: {ragged_line}",
        }
    ]


@pytest.mark.usefixtures("model_artifact")
@pytest.mark.skipif(not REAL_EXTRACTS["telco_churn"].exists(), reason="the shared IBM Telco extract is not present")
def test_cli_scores_the_real_extract_around_a_nul_byte_in_one_cell_and_reports_its_row(workspace):
    lines = REAL_EXTRACTS["telco_churn"].read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[2500].split(",")
    column = header.index("PaymentMethod")
    fields[column] = fields[column][:4] + "\x00" + fields[column][4:]
    lines[2500] = ",".join(fields)
    source = workspace.cwd / "telco_one_nul.csv"
    source.write_text("\n".join(lines) + "\n")

    result = workspace.run("score", source.name, "--output", "scored.csv")

    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(workspace.cwd / "scored.csv")
    assert len(scored) == 7042 and 2500 not in set(scored["row_number"])
    with open(workspace.cwd / "scored.rejected.csv", newline="", encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert report == [
        {
            "row_number": "2500",
            "customer_id": fields[0],
            "column": "PaymentMethod",
            "rule": NUL_BYTE_RULE,
            "value": fields[column].replace("\x00", "\\x00"),
        }
    ]


@pytest.mark.skipif(not REAL_EXTRACTS["credit_risk"].exists(), reason="the shared German credit extract is not present")
def test_cli_routes_the_real_german_extract_by_its_padded_header_and_reports_a_ragged_row_without_an_id(workspace):
    built_model(CREDIT_RISK)
    lines = REAL_EXTRACTS["credit_risk"].read_text().splitlines()
    ragged_line = lines[100] + ",an extra field"
    lines[100] = ragged_line
    source = workspace.cwd / "german_one_ragged.csv"
    source.write_text("\n".join(lines) + "\n")

    result = workspace.run("score", source.name, "--output", "scored.csv")

    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(workspace.cwd / "scored.csv")
    assert list(scored.columns[:2]) == ["row_number", "risk_score"]
    assert len(scored) == 999 and 100 not in set(scored["row_number"])
    assert scored["row_number"].max() == 1000
    assert scored["model_version"].str.startswith("credit_risk_model-").all()
    with open(workspace.cwd / "scored.rejected.csv", newline="", encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert report == [
        {
            "row_number": "100",
            "column": "(whole row)",
            "rule": FIELD_COUNT_RULE,
            "value": f"line 101: 22 fields where the header has 21: {ragged_line}",
        }
    ]
