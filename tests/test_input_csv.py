"""Reading input files: text kept as written, rows numbered exactly, unusable files named."""

from __future__ import annotations

import csv
import io
import itertools
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_header import InputFileError, read_layout
from scoring_assets.core.csv_records import _DataStream, iter_record_batches, read_csv_frame
from scoring_assets.core.files import file_sha256
from scoring_assets.core.ingest import find_repeated_ids, text_hashes, validate_raw_parquet, write_raw_parquet
from scoring_assets.core.lake import lake_reader
from scoring_assets.core.partition_keys import PartitionKeyError, checked_partition_key, partition_key_for, safe_stem
from scoring_assets.core.routing import route_by_header
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase
from scoring_assets.use_cases import all_use_cases
from tests.support.batches import CREDIT_RISK, TELCO, customer_rows, valid_rows, write_csv


def csv_text(rows) -> str:
    return rows.to_csv(index=False)


def test_values_are_read_as_written_text(tmp_path):
    rows = customer_rows(5)
    rows.loc[0, "customerID"] = "0001"
    rows.loc[1, "TotalCharges"] = " "
    path = write_csv(rows, tmp_path / "batch.csv")
    frame = read_csv_frame(path, TELCO)
    assert frame.loc[1, "customerID"] == "0001"
    assert frame.loc[2, "TotalCharges"] == " "
    assert list(frame.index) == [1, 2, 3, 4, 5]


def test_numbers_of_a_use_case_without_ids_are_read_as_written_text(tmp_path):
    rows = valid_rows(CREDIT_RISK, 5)
    rows.loc[0, "credit_amount"] = "0001500"
    rows.loc[1, "age"] = " 40 "
    frame = read_csv_frame(write_csv(rows, tmp_path / "applications.csv"), CREDIT_RISK)
    assert frame.loc[1, "credit_amount"] == "0001500"
    assert frame.loc[2, "age"] == " 40 "
    assert list(frame.index) == [1, 2, 3, 4, 5]


def test_bom_crlf_padded_headers_reordered_and_extra_columns_are_accepted(tmp_path, use_case):
    rows = valid_rows(use_case, 20)
    rows = rows[list(reversed(rows.columns))]
    rows.insert(3, "notes", "free text, ignored")
    text = csv_text(rows).replace("\n", "\r\n")
    header, body = text.split("\r\n", 1)
    header = ",".join(f"  {name.strip()} " for name in header.split(","))
    path = tmp_path / "excel export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (header + "\r\n" + body).encode("utf-8"))
    frame = read_csv_frame(path, use_case)
    assert list(frame.columns) == use_case.contract_columns
    assert len(frame) == 20
    assert validate_frame(use_case, frame).rejects.empty


def test_header_names_with_leading_spaces_are_matched_after_trimming(tmp_path):
    rows = valid_rows(CREDIT_RISK, 12, labelled=True)
    assert " foreign_worker" in rows.columns, "the German extract's header spells it with a leading space"
    path = write_csv(rows, tmp_path / "german.csv")

    header = path.read_text().splitlines()[0].split(",")
    frame = read_csv_frame(path, CREDIT_RISK)

    assert route_by_header(path, list(all_use_cases().values())) == CREDIT_RISK
    assert read_layout(path).names == [name.strip() for name in header]
    assert list(frame.columns) == [*CREDIT_RISK.contract_columns, "class"]
    assert frame["foreign_worker"].tolist() == rows[" foreign_worker"].tolist()
    assert validate_frame(CREDIT_RISK, frame).rejects.empty


def test_a_header_naming_a_column_twice_once_with_a_leading_space_is_refused(tmp_path):
    rows = valid_rows(CREDIT_RISK, 3)
    rows["foreign_worker"] = "yes"
    path = write_csv(rows, tmp_path / "twice.csv")
    with pytest.raises(InputFileError, match="appear more than once in the header: foreign_worker"):
        read_csv_frame(path, CREDIT_RISK)


def bytes_read_by_this_process() -> int:
    counters = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(counters["rchar"])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts reads with Linux's /proc/self/io")
def test_the_header_of_a_big_file_is_found_reading_only_the_start_of_the_file(tmp_path):
    header, body = csv_text(customer_rows(200)).split("\n", 1)
    path = tmp_path / "big.csv"
    path.write_text(header + "\n" + body * 800)
    assert path.stat().st_size > 16 << 20

    before = bytes_read_by_this_process()
    names = read_layout(path).names
    read = bytes_read_by_this_process() - before

    assert names == header.split(",")
    assert read < 256 << 10


@pytest.mark.parametrize("header_bytes, accepted", [((16 << 20) - 2_000, True), ((16 << 20) + 2_000, False)])
def test_a_header_line_up_to_16_mib_is_read_and_a_longer_one_is_refused(tmp_path, header_bytes, accepted):
    header, body = csv_text(valid_rows(CREDIT_RISK, 5)).split("\n", 1)
    padding = header_bytes - len(header)
    extra = [f"x{index:07}" + "x" * 99_991 for index in range(padding // 100_000)]
    extra.append("y" * (padding - 100_000 * len(extra) - 1))
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join([header, *extra]) + "\n" + "".join(f"{line}{',' * len(extra)}\n" for line in body.splitlines())
    )
    assert len(path.read_bytes().split(b"\n", 1)[0]) == header_bytes

    if accepted:
        assert read_layout(path).names == [name.strip() for name in header.split(",")] + extra
        assert len(read_csv_frame(path, CREDIT_RISK)) == 5
    else:
        with pytest.raises(InputFileError, match="its first line is over 16 MiB long; is this a CSV file"):
            read_layout(path)


def header_crlf_straddling(first_read: int) -> tuple[str, str]:
    """(text before the data, extra column name): a CRLF header whose "\r" is the last byte of the first read."""
    header = ",".join(valid_rows(CREDIT_RISK, 1).columns)
    name = "n" * (first_read - len(header) - 2)
    return f"{header},{name}\r\n", name


@pytest.mark.parametrize("case", ["blank_lines_past_the_first_read", "crlf_straddling", "quoted_name_past_it"])
def test_a_header_region_running_past_the_first_read_is_read_whole(tmp_path, case):
    header, body = csv_text(valid_rows(CREDIT_RISK, 5)).split("\n", 1)
    before, extra, lines = {
        "blank_lines_past_the_first_read": ("\n" * 70_000 + header + "\n", None, 70_001),
        "crlf_straddling": (*header_crlf_straddling(64 << 10), 1),
        "quoted_name_past_it": (f'{header},"a, b{"x" * 70_000}"\n', f"a, b{'x' * 70_000}", 1),
    }[case]
    rows = [f"{line}{',' if extra else ''}\n" for line in body.splitlines()]
    path = tmp_path / "header.csv"
    path.write_bytes((before + "".join(rows)).encode())

    layout = read_layout(path)

    assert layout.names == [name.strip() for name in header.split(",")] + ([extra] if extra else [])
    assert (layout.data_offset, layout.lines_before_data) == (len(before), lines)
    assert list(read_csv_frame(path, CREDIT_RISK).index) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "body_bytes, nul_bytes, refused",
    [(400, 15, False), (400, 16, True), (70_000, 654, False), (70_000, 655, True)],
    ids=["15_in_a_small_file", "16_in_a_small_file", "654_in_the_first_64_kib", "655_in_them"],
)
def test_nul_bytes_make_a_file_binary_from_1_in_100_of_its_first_64_kib_and_16_of_them(
    tmp_path, body_bytes, nul_bytes, refused
):
    body = bytearray(b"x" * body_bytes)
    body[: 3 * nul_bytes : 3] = bytes(nul_bytes)
    path = tmp_path / "nul_bytes.csv"
    path.write_bytes((",".join(TELCO.contract_columns) + "\n").encode() + body)

    if refused:
        with pytest.raises(InputFileError, match=f"is binary, not CSV text: {nul_bytes:,} of its first"):
            read_layout(path)
    else:
        assert read_layout(path).names == TELCO.contract_columns


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
    good: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)  # (row_number, contract values)
    ragged: list[tuple[int, int, int, str, str]] = field(default_factory=list)  # (row_number, line, fields, id, text)

    def __post_init__(self):
        self.parts.append(self.header + self.line_breaks[0])

    def add(self, text: str, kind: str, fields: int = 0, values: tuple[str, ...] = (), row_id: str = "") -> None:
        if kind != "blank":
            self.data_records += 1
        if kind == "good":
            self.good.append((self.data_records, values))
        elif kind == "ragged":
            self.ragged.append((self.data_records, self.lines + 1, fields, row_id, text))
        line_break = self.generator.choice(self.line_breaks)
        if text == "" and self.parts[-1].endswith("\r"):
            line_break = "\r"  # "\r" then "\n" would be one CRLF line break, not an empty line
        self.parts.append(text + line_break)
        self.lines += 1 + len(LINE_BREAK.findall(text))

    def text(self) -> str:
        return "".join(self.parts)


def rows_filling(use_case: UseCase, n_bytes: int, at_least: int) -> int:
    """How many valid rows of ``use_case`` take well over ``n_bytes`` as CSV (``at_least``): narrow tables need more."""
    per_row = len(valid_rows(use_case, 100).to_csv(index=False).encode()) / 100
    return max(at_least, math.ceil(1.25 * n_bytes / per_row))


def messy_file(use_case: UseCase, line_breaks: list[str], seed: int, rows: int) -> MessyFile:
    """Good rows with multi-line notes, ragged rows, blank and delimiter-only lines, in random order."""
    generator = random.Random(seed)
    records = valid_rows(use_case, rows, seed=seed)
    header = [*records.columns, "notes"]
    id_position = [name.strip() for name in header].index(use_case.id_column) if use_case.id_column else None
    messy = MessyFile(header=",".join(header), line_breaks=line_breaks, generator=generator)
    notes = ["plain", '"with, comma"', '"two\nlines"', '"three\r\nlines\rhere"', '"say ""hi"""', ""]
    for values in records.itertuples(index=False):
        roll = generator.random()
        fields = [*values, generator.choice(notes)]
        if roll < 0.04:
            messy.add(generator.choice(["", "   ", ",,,", ",".join([""] * len(header))]), "blank")
        if roll < 0.08:
            ragged = [*fields, "extra"] if generator.random() < 0.5 else fields[: generator.randrange(1, len(header))]
            row_id = ragged[id_position] if id_position is not None and id_position < len(ragged) else ""
            messy.add(",".join(ragged), "ragged", fields=len(ragged), row_id=row_id)
        else:
            messy.add(",".join(fields), "good", values=tuple(values))
    return messy


def read_everything(path, use_case: UseCase, block_bytes: int):
    good, ragged = [], []
    on_ragged = lambda b: ragged.extend(b.to_pylist())  # noqa: E731
    for batch in iter_record_batches(path, use_case, block_bytes=block_bytes, on_ragged=on_ragged):
        values = zip(*(batch.column(name).to_pylist() for name in use_case.contract_columns), strict=True)
        good += list(zip(batch.column(ROW_NUMBER).to_pylist(), values, strict=True))
    return good, [(r[ROW_NUMBER], r["line_number"], r["fields"], r["id"], r["text"]) for r in ragged]


@pytest.mark.parametrize("block_bytes", [1024, 4096])
@pytest.mark.parametrize(
    "line_breaks", [["\n"], ["\r\n"], ["\r"], ["\n", "\r\n", "\r"]], ids=["LF", "CRLF", "CR", "mixed"]
)
def test_row_and_line_numbers_stay_exact_around_ragged_blank_and_multiline_records(
    tmp_path, use_case, line_breaks, block_bytes
):
    seed = len(line_breaks[0]) * 7 + len(line_breaks) + block_bytes
    messy = messy_file(use_case, line_breaks, seed, rows=rows_filling(use_case, 10 * block_bytes, at_least=400))
    path = tmp_path / "messy.csv"
    path.write_bytes(messy.text().encode())
    assert path.stat().st_size > 10 * block_bytes, "the file spans many read blocks"
    assert messy.ragged and len(messy.good) > 300

    good, ragged = read_everything(path, use_case, block_bytes)

    assert good == messy.good
    assert ragged == messy.ragged
    assert len(good) + len(ragged) == messy.data_records


def test_quoted_line_breaks_are_read_at_any_file_size(tmp_path, use_case):
    rows = valid_rows(use_case, rows_filling(use_case, 100 * 4096, at_least=3000)).rename(columns=str.strip)
    rows["notes"] = [f'call {i}:\nasked about, the bill\r\nsaid "later"' for i in range(len(rows))]
    path = write_csv(rows, tmp_path / "notes.csv")
    assert path.stat().st_size > 100 * 4096

    batches = list(iter_record_batches(path, use_case, block_bytes=4096))

    assert len(batches) > 100
    table = pa.Table.from_batches(batches)
    assert table.column(ROW_NUMBER).to_pylist() == list(range(1, len(rows) + 1))
    for name in use_case.contract_columns:
        assert table.column(name).to_pylist() == rows[name].tolist(), name


def test_a_file_of_only_ragged_rows_is_handed_over_in_pieces_not_held_to_the_end(tmp_path, use_case):
    path = tmp_path / "all_ragged.csv"
    path.write_text(",".join(use_case.contract_columns) + "\n" + "".join(f"id{i},x\n" for i in range(50_000)))
    handed_over = []

    batches = list(iter_record_batches(path, use_case, block_bytes=4096, on_ragged=handed_over.append))

    assert [batch.num_rows for batch in batches] == [0]
    assert max(batch.num_rows for batch in handed_over) <= 50_000 // 5
    ragged = pa.Table.from_batches(handed_over)
    assert ragged.column(ROW_NUMBER).to_pylist() == list(range(1, 50_001))
    assert ragged.column("line_number").to_pylist() == list(range(2, 50_002))
    first_column_is_the_id = use_case.id_column == use_case.contract_columns[0]  # Telco's customerID; credit has none
    expected_ids = [f"id{i}" for i in range(50_000)] if first_column_is_the_id else [""] * 50_000
    assert ragged.column("id").to_pylist() == expected_ids


class _CountingReader(io.RawIOBase):
    """A file as the parser's reading thread sees it, counting the bytes read so far."""

    def __init__(self, path):
        self._file = open(path, "rb")  # noqa: SIM115 (closed with the reader)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._file.readinto(buffer)
        self.bytes_read += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def _line_ends(path) -> list[int]:
    """The byte offset just past each line of the file (header first)."""
    return list(itertools.accumulate(len(line) for line in path.read_bytes().splitlines(keepends=True)))


BLOCK = 16 << 10
# pyarrow's own reading thread would run up to 32 blocks ahead; the stream lets it run a few.
FURTHEST_AHEAD = (_DataStream.READ_AHEAD_BLOCKS + 2) * BLOCK


def test_the_file_is_read_only_a_few_blocks_ahead_of_the_batches_taken(tmp_path, use_case, monkeypatch):
    monkeypatch.setattr(_DataStream, "STALL_SECONDS", 3600.0)  # a stall would drop the bound: there is none
    n_rows = rows_filling(use_case, 60 * BLOCK, at_least=12_000)
    path = write_csv(valid_rows(use_case, n_rows).rename(columns=str.strip), tmp_path / "big.csv")
    line_ends = _line_ends(path)
    assert path.stat().st_size > 60 * BLOCK
    reader, ahead, rows = _CountingReader(path), [], 0

    with reader:
        for batch in iter_record_batches(path, use_case, block_bytes=BLOCK, reader=reader):
            rows += batch.num_rows
            time.sleep(0.003)  # a consumer with work to do: the reading thread gets every chance to run ahead
            ahead.append(reader.bytes_read - line_ends[rows])

    assert rows == n_rows and len(ahead) > 60
    assert max(ahead) <= FURTHEST_AHEAD


def test_blocks_of_ragged_rows_only_never_wait_for_a_batch_that_cannot_come(tmp_path, use_case, monkeypatch):
    # Such blocks give the parser no batch to hand out; were reading to wait for one, only the
    # stall timeout (made an hour here) would end the wait.
    monkeypatch.setattr(_DataStream, "STALL_SECONDS", 3600.0)
    path = tmp_path / "all_ragged.csv"
    path.write_text(",".join(use_case.contract_columns) + "\n" + "".join(f"id{i},x\n" for i in range(60_000)))
    handed_over, batches = [], []
    parse = threading.Thread(
        target=lambda: batches.extend(
            iter_record_batches(path, use_case, block_bytes=BLOCK, on_ragged=handed_over.append)
        ),
        daemon=True,
    )

    parse.start()
    parse.join(timeout=120)

    assert not parse.is_alive(), "the parse hung waiting to read"
    assert [batch.num_rows for batch in batches] == [0]
    assert pa.Table.from_batches(handed_over).column(ROW_NUMBER).to_pylist() == list(range(1, 60_001))


def test_ragged_rows_of_a_file_without_ids_are_rejected_by_row_and_line_with_no_id_column(tmp_path):
    rows = valid_rows(CREDIT_RISK, 6)
    lines = csv_text(rows).splitlines()
    lines[2] += ",extra"
    lines[5] = lines[5].rsplit(",", 4)[0]
    path = tmp_path / "ragged_applications.csv"
    path.write_text("\n".join(lines) + "\n")

    write_raw_parquet(CREDIT_RISK, path, file_sha256(path), tmp_path / "raw.parquet")
    validation = validate_raw_parquet(
        CREDIT_RISK, tmp_path / "raw.parquet", tmp_path / "ok.parquet", tmp_path / "r.csv"
    )

    assert (validation.rows_in, validation.rows_accepted, validation.rows_rejected) == (6, 4, 2)
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as handle:
        header, *report = list(csv.reader(handle))
    assert header == ["row_number", "column", "rule", "value"]
    assert [row[:3] for row in report] == [["2", "(whole row)", "field_count"], ["5", "(whole row)", "field_count"]]
    assert report[0][3] == f"line 3: 21 fields where the header has 20: {lines[2]}"
    assert report[1][3] == f"line 6: 16 fields where the header has 20: {lines[5]}"
    assert lake_reader(tmp_path / "ok.parquet").read().column(ROW_NUMBER).to_pylist() == [1, 3, 4, 6]


def test_a_file_of_identical_applications_is_accepted_whole_as_rows_without_ids_are_never_duplicates(tmp_path):
    rows = valid_rows(CREDIT_RISK, 5)
    path = write_csv(pd.concat([rows, rows, rows], ignore_index=True), tmp_path / "same_applications.csv")
    raw = tmp_path / "raw.parquet"
    write_raw_parquet(CREDIT_RISK, path, file_sha256(path), raw)

    validation = validate_raw_parquet(CREDIT_RISK, raw, tmp_path / "ok.parquet", tmp_path / "rejects.csv")

    assert (validation.rows_in, validation.rows_accepted, validation.rows_rejected) == (15, 15, 0)
    assert not (tmp_path / "rejects.csv").exists()


def test_header_only_file_is_a_raw_batch_of_zero_rows(tmp_path, use_case):
    columns = use_case.contract_columns
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(columns) + "\r\n\r\n")

    batches = list(iter_record_batches(path, use_case))
    summary = write_raw_parquet(use_case, path, file_sha256(path), tmp_path / "raw.parquet")
    validation = validate_raw_parquet(
        use_case, tmp_path / "raw.parquet", tmp_path / "ok.parquet", tmp_path / "rejects.csv"
    )

    assert [batch.num_rows for batch in batches] == [0]
    assert batches[0].schema.names == [ROW_NUMBER, *columns]
    assert summary.rows == 0 and summary.ragged_rows == 0 and summary.columns == columns
    assert lake_reader(tmp_path / "raw.parquet").schema_arrow.names == [ROW_NUMBER, *columns]
    assert (validation.rows_in, validation.rows_rejected) == (0, 0)
    assert read_csv_frame(path, use_case).empty


NOT_UTF8 = "is not UTF-8 text (line 3 has byte 0xFC, which Windows-1252 / Latin-1 reads as 'ü')"


@pytest.mark.parametrize(
    "use_case_name, content, problem",
    [
        ("telco_churn", b"", "file is empty"),
        ("credit_risk", b"", "file is empty"),
        ("telco_churn", b"   \n", "file is empty"),
        ("telco_churn", b"customerID,gender\nA,Male\n", "missing required column(s): SeniorCitizen"),
        ("credit_risk", b"checking_status,duration\n<0,6\n", "missing required column(s): credit_history"),
        (
            "telco_churn",
            "latin-1",
            "is not UTF-8 text (line 3 has byte 0xFC, which Windows-1252 / Latin-1 reads as 'ü')",
        ),
        (
            "credit_risk",
            "latin-1",
            "is not UTF-8 text (line 3 has byte 0xFC, which Windows-1252 / Latin-1 reads as 'ü')",
        ),
    ],
)
def test_unusable_files_fail_with_the_file_and_the_problem(tmp_path, use_case_name, content, problem):
    use_case = {"telco_churn": TELCO, "credit_risk": CREDIT_RISK}[use_case_name]
    path = tmp_path / "input.csv"
    rows = valid_rows(use_case, 3)
    if content == "latin-1":
        rows.loc[1, use_case.contract_columns[0]] = "Müller"
        path.write_bytes(csv_text(rows).encode("latin-1"))
    else:
        path.write_bytes(content)
    with pytest.raises(InputFileError) as raised:
        read_csv_frame(path, use_case)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


@pytest.mark.parametrize("ragged_rows", [1, 30_000], ids=["one", "a long run"])
def test_training_reader_refuses_a_ragged_row_naming_its_line(tmp_path, use_case, ragged_rows):
    path = tmp_path / "ragged.csv"
    path.write_text(csv_text(valid_rows(use_case, 3)) + "\n" + "x,y\n" * ragged_rows)
    fields = len(use_case.contract_columns)
    with pytest.raises(InputFileError, match=rf"line 6 has 2 fields where the header has {fields}$"):
        read_csv_frame(path, use_case)


def test_repeated_contract_column_in_header_is_refused(tmp_path, use_case):
    repeated = use_case.integer_columns[0]
    text = csv_text(valid_rows(use_case, 2))
    header, body = text.split("\n", 1)
    path = tmp_path / "twice.csv"
    path.write_text(f"{header},{repeated}\n" + "\n".join(line + ",1" for line in body.strip().split("\n")) + "\n")
    with pytest.raises(InputFileError, match=f"more than once in the header: {repeated}$"):
        read_csv_frame(path, use_case)


def test_partition_key_is_sanitised_name_plus_content_hash():
    key = partition_key_for("../../etc/My Customers (v2).CSV", "ab" * 32)
    assert key == "My_Customers_v2-abababab"
    assert checked_partition_key(key) == key
    assert safe_stem("....csv") == "file"


@pytest.mark.parametrize("key", ["../escape-abababab", "x/y-abababab", "name", "name-ABABABAB", ""])
def test_keys_not_made_by_registration_never_become_paths(key):
    with pytest.raises(PartitionKeyError):
        checked_partition_key(key)


def test_ids_repeated_anywhere_in_the_file_are_found_exactly_across_batches(tmp_path, monkeypatch):
    """Padding does not make an id new, a repeat many batches apart is found, and near twins are not repeats."""
    monkeypatch.setattr("scoring_assets.core.ingest.BATCH_ROWS", 7)
    ids = [f"C-{number}" for number in range(50)] + [" C-3", "C-41\t", "C-4", "3-C", "C-41", "", "é" * 40, "é" * 40]
    path = tmp_path / "raw.parquet"
    pq.write_table(pa.table({"customerID": pa.array(ids, pa.string())}), path)
    assert find_repeated_ids(path, "customerID") == {"C-3", "C-41", "C-4", "é" * 40}


def test_text_hashes_are_equal_for_equal_texts_whatever_the_array_they_sit_in():
    texts = pa.array(["", "ab", "ba", "ab", "x" * 1000, None, "ab"])
    hashes = text_hashes(texts)
    assert hashes[1] == hashes[3] == hashes[6] and len(set(hashes[:5].tolist())) == 4
    assert (text_hashes(texts.slice(2, 3)) == hashes[2:5]).all()
    assert (text_hashes(texts.cast(pa.large_string())) == hashes).all()
