"""Reading input files: text kept as written, rows numbered exactly, unusable files named."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import pyarrow as pa
import pytest
from conftest import customer_rows, write_csv

from scoring_assets.core.contract import CONTRACT_COLUMNS, validate_frame
from scoring_assets.core.files import file_sha256
from scoring_assets.core.ingest import validate_raw_parquet, write_raw_parquet
from scoring_assets.core.input_csv import ROW_NUMBER, InputFileError, iter_record_batches, lake_reader, read_csv_frame
from scoring_assets.core.partition_keys import PartitionKeyError, checked_partition_key, partition_key_for, safe_stem


def csv_text(rows) -> str:
    return rows.to_csv(index=False)


def test_values_are_read_as_written_text(tmp_path):
    rows = customer_rows(5)
    rows.loc[0, "customerID"] = "0001"
    rows.loc[1, "TotalCharges"] = " "
    path = write_csv(rows, tmp_path / "batch.csv")
    frame = read_csv_frame(path)
    assert frame.loc[1, "customerID"] == "0001"
    assert frame.loc[2, "TotalCharges"] == " "
    assert list(frame.index) == [1, 2, 3, 4, 5]


def test_bom_crlf_padded_headers_reordered_and_extra_columns_are_accepted(tmp_path):
    rows = customer_rows(20)
    rows = rows[list(reversed(rows.columns))]
    rows.insert(3, "notes", "free text, ignored")
    text = csv_text(rows).replace("\n", "\r\n")
    header, body = text.split("\r\n", 1)
    header = ",".join(f"  {name} " for name in header.split(","))
    path = tmp_path / "excel export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (header + "\r\n" + body).encode("utf-8"))
    frame = read_csv_frame(path)
    assert list(frame.columns) == CONTRACT_COLUMNS
    assert len(frame) == 20
    assert validate_frame(frame).rejects.empty


LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class MessyFile:
    """A file built record by record, with what the reader must report for each one."""

    header: str
    line_breaks: list[str]  # each record ends with one of these, at random
    generator: random.Random
    parts: list[str] = field(default_factory=list)
    lines: int = 1  # physical lines written so far (the header is line 1)
    data_records: int = 0
    good: list[tuple[int, str]] = field(default_factory=list)  # (row_number, customerID)
    ragged: list[tuple[int, int, int, str]] = field(default_factory=list)  # (row_number, line, fields, text)

    def __post_init__(self):
        self.parts.append(self.header + self.line_breaks[0])

    def add(self, text: str, kind: str, fields: int = 0, customer_id: str = "") -> None:
        if kind != "blank":
            self.data_records += 1
        if kind == "good":
            self.good.append((self.data_records, customer_id))
        elif kind == "ragged":
            self.ragged.append((self.data_records, self.lines + 1, fields, text))
        line_break = self.generator.choice(self.line_breaks)
        if text == "" and self.parts[-1].endswith("\r"):
            line_break = "\r"  # "\r" then "\n" would be one CRLF line break, not an empty line
        self.parts.append(text + line_break)
        self.lines += 1 + len(LINE_BREAK.findall(text))

    def text(self) -> str:
        return "".join(self.parts)


def messy_file(line_breaks: list[str], seed: int, rows: int = 400) -> MessyFile:
    """Good rows with multi-line notes, ragged rows, blank and delimiter-only lines, in random order."""
    generator = random.Random(seed)
    customers = customer_rows(rows, seed=seed)
    header = [*customers.columns, "notes"]
    messy = MessyFile(header=",".join(header), line_breaks=line_breaks, generator=generator)
    notes = ["plain", '"with, comma"', '"two\nlines"', '"three\r\nlines\rhere"', '"say ""hi"""', ""]
    for values in customers.itertuples(index=False):
        roll = generator.random()
        fields = [*values, generator.choice(notes)]
        if roll < 0.04:
            messy.add(generator.choice(["", "   ", ",,,", ",".join([""] * len(header))]), "blank")
        if roll < 0.08:
            ragged = [*fields, "extra"] if generator.random() < 0.5 else fields[: generator.randrange(1, len(header))]
            messy.add(",".join(ragged), "ragged", fields=len(ragged))
        else:
            messy.add(",".join(fields), "good", customer_id=values[0])
    return messy


def read_everything(path, block_bytes: int):
    good, ragged = [], []
    for batch in iter_record_batches(path, block_bytes=block_bytes, on_ragged=lambda b: ragged.extend(b.to_pylist())):
        good += list(zip(batch.column(ROW_NUMBER).to_pylist(), batch.column("customerID").to_pylist(), strict=True))
    return good, [(r[ROW_NUMBER], r["line_number"], r["fields"], r["text"]) for r in ragged]


@pytest.mark.parametrize("block_bytes", [1024, 4096])
@pytest.mark.parametrize(
    "line_breaks", [["\n"], ["\r\n"], ["\r"], ["\n", "\r\n", "\r"]], ids=["LF", "CRLF", "CR", "mixed"]
)
def test_row_and_line_numbers_stay_exact_around_ragged_blank_and_multiline_records(tmp_path, line_breaks, block_bytes):
    messy = messy_file(line_breaks, seed=len(line_breaks[0]) * 7 + len(line_breaks) + block_bytes)
    path = tmp_path / "messy.csv"
    path.write_bytes(messy.text().encode())
    assert path.stat().st_size > 10 * block_bytes, "the file spans many read blocks"
    assert messy.ragged and len(messy.good) > 300

    good, ragged = read_everything(path, block_bytes)

    assert good == messy.good
    assert ragged == messy.ragged
    assert len(good) + len(ragged) == messy.data_records


def test_quoted_line_breaks_are_read_at_any_file_size(tmp_path):
    rows = customer_rows(3000)
    rows["notes"] = [f'call {i}:\nasked about, the bill\r\nsaid "later"' for i in range(len(rows))]
    path = write_csv(rows, tmp_path / "notes.csv")
    assert path.stat().st_size > 100 * 4096

    batches = list(iter_record_batches(path, block_bytes=4096))

    assert len(batches) > 100
    table = pa.Table.from_batches(batches)
    assert table.column(ROW_NUMBER).to_pylist() == list(range(1, 3001))
    assert table.column("customerID").to_pylist() == rows["customerID"].tolist()
    assert table.column("TotalCharges").to_pylist() == rows["TotalCharges"].tolist()


def test_a_file_of_only_ragged_rows_is_handed_over_in_pieces_not_held_to_the_end(tmp_path):
    path = tmp_path / "all_ragged.csv"
    path.write_text(",".join(CONTRACT_COLUMNS) + "\n" + "".join(f"id{i},x\n" for i in range(50_000)))
    handed_over = []

    batches = list(iter_record_batches(path, block_bytes=4096, on_ragged=handed_over.append))

    assert [batch.num_rows for batch in batches] == [0]
    assert max(batch.num_rows for batch in handed_over) <= 50_000 // 5
    ragged = pa.Table.from_batches(handed_over)
    assert ragged.column(ROW_NUMBER).to_pylist() == list(range(1, 50_001))
    assert ragged.column("line_number").to_pylist() == list(range(2, 50_002))
    assert ragged.column("customer_id").to_pylist() == [f"id{i}" for i in range(50_000)]


def test_header_only_file_is_a_raw_batch_of_zero_rows(tmp_path):
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(CONTRACT_COLUMNS) + "\r\n\r\n")

    batches = list(iter_record_batches(path))
    summary = write_raw_parquet(path, file_sha256(path), tmp_path / "raw.parquet")
    validation = validate_raw_parquet(tmp_path / "raw.parquet", tmp_path / "ok.parquet", tmp_path / "rejects.csv")

    assert [batch.num_rows for batch in batches] == [0]
    assert batches[0].schema.names == [ROW_NUMBER, *CONTRACT_COLUMNS]
    assert summary.rows == 0 and summary.ragged_rows == 0 and summary.columns == CONTRACT_COLUMNS
    assert lake_reader(tmp_path / "raw.parquet").schema_arrow.names == [ROW_NUMBER, *CONTRACT_COLUMNS]
    assert (validation.rows_in, validation.rows_rejected) == (0, 0)
    assert read_csv_frame(path).empty


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "file is empty"),
        (b"   \n", "file is empty"),
        (b"customerID,gender\nA,Male\n", "missing required column(s): SeniorCitizen"),
        ("latin-1", "is not UTF-8 text (line 3 has byte 0xFC, which Windows-1252 / Latin-1 reads as 'ü')"),
    ],
)
def test_unusable_files_fail_with_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "input.csv"
    rows = customer_rows(3)
    if content == "latin-1":
        rows.loc[1, "customerID"] = "Müller"
        path.write_bytes(csv_text(rows).encode("latin-1"))
    else:
        path.write_bytes(content)
    with pytest.raises(InputFileError) as raised:
        read_csv_frame(path)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


@pytest.mark.parametrize("ragged_rows", [1, 30_000], ids=["one", "a long run"])
def test_training_reader_refuses_a_ragged_row_naming_its_line(tmp_path, ragged_rows):
    path = tmp_path / "ragged.csv"
    path.write_text(csv_text(customer_rows(3)) + "\n" + "x,y\n" * ragged_rows)
    with pytest.raises(InputFileError, match=r"line 6 has 2 fields where the header has 20$"):
        read_csv_frame(path)


def test_repeated_contract_column_in_header_is_refused(tmp_path):
    rows = customer_rows(2)
    text = csv_text(rows)
    header, body = text.split("\n", 1)
    path = tmp_path / "twice.csv"
    path.write_text(header + ",tenure\n" + "\n".join(line + ",1" for line in body.strip().split("\n")) + "\n")
    with pytest.raises(InputFileError, match="more than once"):
        read_csv_frame(path)


def test_partition_key_is_sanitised_name_plus_content_hash():
    key = partition_key_for("../../etc/My Customers (v2).CSV", "ab" * 32)
    assert key == "My_Customers_v2-abababab"
    assert checked_partition_key(key) == key
    assert safe_stem("....csv") == "file"


@pytest.mark.parametrize("key", ["../escape-abababab", "x/y-abababab", "name", "name-ABABABAB", ""])
def test_keys_not_made_by_registration_never_become_paths(key):
    with pytest.raises(PartitionKeyError):
        checked_partition_key(key)
