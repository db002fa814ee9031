"""The Arrow clean path: the contract compiled to Arrow never calls a batch clean that pandera would reject.

Every check of every registered contract is either translated or refused with a reason; a refused
check sends every batch to pandera. Property tests mutate valid rows (values outside a value set,
numbers outside a bound, blanks, padding, text that is not a number, fractions, repeated ids, NUL
bytes, codes that contradict each other) and run the validation stage twice, once as it runs and
once with pandera judging every batch: Arrow's "clean" must be pandera's, with the same stored rows.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from functools import cache
from pathlib import Path
from unittest import mock

import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandera.typing import Series

from scoring_assets.core import contract as contract_module
from scoring_assets.core import ingest
from scoring_assets.core.arrow_contract import COLUMN_CHECKS, broken_rules, compile_contract, decoded, typed_text_batch
from scoring_assets.core.contract import validate_frame
from scoring_assets.core.cross_field import BlankOnlyWhen, CodesAgree, dataframe_check
from scoring_assets.core.ingest import validate_raw_parquet
from scoring_assets.use_cases import all_use_cases
from tests.support.batches import CREDIT_RISK, TELCO, header_name, out_of_set, valid_rows

ROWS = 12


def test_every_check_of_every_contract_is_translated_or_refused_with_a_reason(use_case):
    compiled = compile_contract(use_case.schema)
    translated = {rule.label for rule in compiled.rules}
    refused = {reason.rsplit(": ", 1)[0] for reason in compiled.refused}
    for name, column in use_case.schema.columns.items():
        for check in column.checks:
            label = f"{name}: {check.error or check.name}"
            assert label in translated or any(reason.startswith(label) for reason in refused), label
    for check in use_case.schema.checks:
        assert check.name in translated or any(reason.startswith(check.name) for reason in refused), check.name


def test_the_shipped_contracts_are_proven_in_arrow_entirely():
    """Telco (value sets, bounds, a unique id, three cross-field rules) and credit never need pandera when clean."""
    for shipped in (TELCO, CREDIT_RISK):
        assert compile_contract(shipped.schema).refused == ()


class Visits(pa.DataFrameModel):
    """A contract using what Arrow cannot prove: a custom check, a regex, a hand-written dataframe check."""

    member: Series[str] = pa.Field(str_matches=r"^m\d+$")
    visits: Series[pd.Int64Dtype] = pa.Field(ge=0)
    kind: Series[str] = pa.Field(isin=["a", "b"])
    plan: Series[str] = pa.Field(isin=["x", "y"])

    @pa.check("visits")
    def _even(cls, visits: Series[pd.Int64Dtype]) -> Series[bool]:
        return visits % 2 == 0

    @pa.dataframe_check
    def _kind_b_has_plan_y(cls, batch: pd.DataFrame) -> Series[bool]:
        return (batch["kind"] != "b") | (batch["plan"] == "y")

    kinds_agree = dataframe_check(CodesAgree("kinds_agree", "kind", "a", {"plan": "x"}))
    visits_known = dataframe_check(BlankOnlyWhen("visits_known", "visits", "kind", "a"))


def test_checks_without_a_translation_are_refused_naming_the_check():
    compiled = compile_contract(Visits.to_schema())
    assert not compiled.complete
    assert [reason.split(": ")[0:2] for reason in compiled.refused] == [
        ["member", "str_matches('^m\\d+$')"],
        ["visits", "_even"],
        ["_kind_b_has_plan_y", "a dataframe check not declared with core.cross_field (its function is pandera's)"],
    ]
    assert {rule.label for rule in compiled.rules} >= {"kind: isin(['a', 'b'])", "kinds_agree", "visits_known"}
    assert "str_matches" not in COLUMN_CHECKS


def raw_parquet(rows: pd.DataFrame, path: Path) -> Path:
    """Rows of text as the raw stage stores them: trimmed header names, row numbers from 1."""
    rows = rows.rename(columns=str.strip)
    table = pyarrow.Table.from_pandas(rows.astype(object), preserve_index=False)
    table = table.cast(pyarrow.schema([(name, pyarrow.string()) for name in table.schema.names]))
    pq.write_table(table.add_column(0, "row_number", pyarrow.array(range(1, len(rows) + 1), pyarrow.int64())), path)
    return path


def test_a_clean_file_is_validated_without_pandas_or_pandera(use_case, tmp_path):
    if not compile_contract(use_case.schema).complete:
        pytest.skip(f"{use_case.name}'s contract has a rule Arrow cannot prove: its batches go to pandera")
    raw = raw_parquet(valid_rows(use_case, 500), tmp_path / "raw.parquet")
    refuse = mock.Mock(side_effect=AssertionError("a clean batch reached pandas or pandera"))
    with mock.patch.object(ingest, "batch_to_frame", refuse), mock.patch.object(pa.DataFrameSchema, "validate", refuse):
        summary = validate_raw_parquet(use_case, raw, tmp_path / "accepted.parquet", tmp_path / "rejects.csv")
    assert (summary.rows_accepted, summary.rows_rejected) == (500, 0)


@pytest.mark.parametrize("judged_by", ["arrow", "pandera"])
def test_the_validated_file_reads_back_as_text_though_its_categories_are_written_as_dictionaries(
    use_case, judged_by, tmp_path
):
    rows = valid_rows(use_case, 500, labelled=True)
    if judged_by == "pandera":
        column, value = out_of_set(use_case)
        rows.loc[7, header_name(rows, column)] = value
    raw = raw_parquet(rows, tmp_path / "raw.parquet")
    summary = validate_raw_parquet(use_case, raw, tmp_path / "accepted.parquet", tmp_path / "rejects.csv")
    assert summary.rows_rejected == (judged_by == "pandera")
    stored = pq.read_table(tmp_path / "accepted.parquet")
    assert stored.schema.equals(ingest.accepted_schema(use_case, has_label=use_case.label is not None))
    coded = ingest.categorical_text_columns(use_case)
    as_dictionaries = pq.ParquetFile(tmp_path / "accepted.parquet", read_dictionary=coded).read()
    for name in coded:
        assert pyarrow.types.is_dictionary(as_dictionaries.column(name).type), name
        assert decoded(as_dictionaries.column(name).combine_chunks()).equals(stored.column(name).combine_chunks())


@cache
def valid_text(name: str) -> pd.DataFrame:
    return valid_rows(all_use_cases()[name], ROWS, seed=3).rename(columns=str.strip)


def mutations(use_case) -> st.SearchStrategy:
    """One way to change a value of a valid row: most break the contract, some (padding, other codes) need not."""
    columns = use_case.contract_columns
    numeric = use_case.integer_columns + use_case.float_columns
    value_sets = use_case.value_sets
    return st.one_of(
        st.tuples(st.sampled_from(columns), st.sampled_from(["", " ", "\t", "not one", "x\x00"])),
        st.tuples(st.sampled_from(numeric), st.sampled_from(["-1", "0", "1.5", "1e20", "nan", "inf", "1,0", "0x1"])),
        st.tuples(st.sampled_from(numeric), st.integers(-10, 10**6).map(str)),
        st.sampled_from(list(value_sets)).flatmap(
            lambda name: st.tuples(st.just(name), st.sampled_from([str(value) for value in value_sets[name]]))
        ),
        st.tuples(st.sampled_from(columns), st.just("pad")),
    )


def judged_both_ways(use_case, rows: pd.DataFrame):
    """(summary, stored rows, batches pandas saw) of the validation stage as it runs, then with pandera judging all."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        raw = raw_parquet(rows, Path(folder) / "raw.parquet")
        for arrow_allowed in (True, False):
            with ExitStack() as patches:
                if not arrow_allowed:
                    patches.enter_context(mock.patch.object(ingest._BatchJudge, "_proven_clean", lambda *_: None))
                    patches.enter_context(mock.patch.object(contract_module, "_proven_clean", lambda *_: False))
                pandas_path = patches.enter_context(mock.patch.object(ingest, "validate_frame", wraps=validate_frame))
                accepted = Path(folder) / f"accepted_{arrow_allowed}.parquet"
                summary = validate_raw_parquet(use_case, raw, accepted, Path(folder) / "rejects.csv")
            results.append((summary.as_record(), pq.read_table(accepted), pandas_path.call_count))
    return results


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_arrow_never_calls_clean_a_batch_pandera_rejects(use_case, data):
    rows = valid_text(use_case.name).copy()
    for _ in range(data.draw(st.integers(0, 3))):
        row = data.draw(st.integers(0, ROWS - 1))
        column, value = data.draw(mutations(use_case))
        rows.loc[row, column] = f" {rows.loc[row, column]}\t" if value == "pad" else value
    if use_case.id_column and data.draw(st.booleans()):
        rows.loc[1, use_case.id_column] = rows.loc[0, use_case.id_column]
    (as_run, stored, fallbacks), (by_pandera, stored_by_pandera, _) = judged_both_ways(use_case, rows)
    assert as_run == by_pandera  # same counts, same reasons
    assert stored.equals(stored_by_pandera)
    if fallbacks == 0:  # Arrow called the batch clean
        assert by_pandera["rows_rejected"] == 0
    if by_pandera["rows_rejected"] == 0:  # and a clean batch is called clean
        assert fallbacks == 0


def test_categorical_columns_read_as_dictionaries_are_judged_as_their_texts():
    """A padded text beside its trimmed twin: one distinct value after the trim, and the rules see the texts."""
    rows = valid_text("telco_churn").copy()
    rows.loc[0, "gender"], rows.loc[1, "Contract"] = " Female\t", "Weekly"
    contract = compile_contract(TELCO.schema)
    plain = pyarrow.RecordBatch.from_pandas(rows.astype(object), preserve_index=False)
    coded = pyarrow.RecordBatch.from_arrays(
        [
            column.dictionary_encode() if name in TELCO.value_sets else column
            for name, column in zip(plain.schema.names, plain.columns, strict=True)
        ],
        names=plain.schema.names,
    )
    trimmed = TELCO.contract_columns
    as_text, as_codes = typed_text_batch(contract, plain, trimmed), typed_text_batch(contract, coded, trimmed)
    for name in TELCO.contract_columns:
        assert decoded(as_codes[name]).equals(as_text[name]), name
    assert pyarrow.types.is_dictionary(as_codes["gender"].type) and len(as_codes["gender"].dictionary) == 2
    assert list(broken_rules(contract, as_codes)) == list(broken_rules(contract, as_text)) != []
