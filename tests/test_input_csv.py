"""Reading input files: text kept as written, header quirks tolerated, unusable files named."""

from __future__ import annotations

import pytest
from conftest import customer_rows, write_csv

from scoring_assets.contract import CONTRACT_COLUMNS, validate_frame
from scoring_assets.input_csv import InputFileError, read_csv_frame
from scoring_assets.partitions import PartitionKeyError, checked_partition_key, partition_key_for, safe_stem


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


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "file is empty"),
        (b"   \n", "file is empty"),
        (None, "has a header but no data rows"),
        (b"customerID,gender\nA,Male\n", "missing required column(s): SeniorCitizen"),
        ("latin-1", "not valid UTF-8"),
        ("ragged", "wrong number of fields"),
    ],
)
def test_unusable_files_fail_with_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "input.csv"
    rows = customer_rows(3)
    if content is None:
        path.write_text(",".join(CONTRACT_COLUMNS) + "\n")
    elif content == "latin-1":
        rows.loc[1, "customerID"] = "Müller"
        path.write_bytes(csv_text(rows).encode("latin-1"))
    elif content == "ragged":
        path.write_text(csv_text(rows) + "x,y\n")
    else:
        path.write_bytes(content)
    with pytest.raises(InputFileError) as raised:
        read_csv_frame(path)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


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
