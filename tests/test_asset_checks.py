"""Every blocking check fails on the defect it exists to catch (a check that cannot fail is no check).

The checks are generic, so each is proven on every shipped use case.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring_assets.builders import asset_checks
from scoring_assets.core.contract import validate_frame
from scoring_assets.core.ingest import accepted_schema
from scoring_assets.core.scoring import feature_schema, scores_schema
from tests.support.batches import out_of_set, valid_rows


def write_table(path, rows: dict, schema: pa.Schema):
    pq.write_table(pa.Table.from_pydict(rows, schema=schema), path)
    return path


def accepted_rows(use_case, count: int) -> dict:
    rows = valid_rows(use_case, count).rename(columns=str.strip)
    raw = rows.set_axis(pd.RangeIndex(1, count + 1, name="row_number"))
    accepted = validate_frame(use_case, raw).accepted.reset_index()
    schema = accepted_schema(use_case, has_label=False)
    return {name: accepted[name].tolist() for name in schema.names}


def test_raw_checks_fail_on_missing_columns_and_no_rows(tmp_path, use_case):
    first = use_case.contract_columns[0]
    path = write_table(
        tmp_path / "raw.parquet",
        {"row_number": [], first: []},
        pa.schema([("row_number", pa.int64()), (first, pa.string())]),
    )
    missing = asset_checks.raw_required_columns_present(use_case, path)
    assert not missing.passed
    assert use_case.contract_columns[1] in missing.description and first not in missing.description
    assert not asset_checks.raw_has_rows(use_case, path).passed


def test_reject_fraction_check_fails_above_the_limit_and_passes_at_it(use_case):
    assert not asset_checks.reject_fraction_within_limit(use_case, rows_in=100, rows_rejected=6, limit=0.05).passed
    assert asset_checks.reject_fraction_within_limit(use_case, rows_in=100, rows_rejected=5, limit=0.05).passed


def test_accepted_rows_check_fails_when_a_stored_row_breaks_the_contract(tmp_path, use_case):
    schema = accepted_schema(use_case, has_label=False)
    rows = accepted_rows(use_case, 10)
    ok = asset_checks.accepted_rows_satisfy_contract(use_case, write_table(tmp_path / "ok.parquet", rows, schema))
    assert ok.passed
    column, value = out_of_set(use_case)
    rows[column][3] = value
    result = asset_checks.accepted_rows_satisfy_contract(use_case, write_table(tmp_path / "bad.parquet", rows, schema))
    assert not result.passed
    assert column in result.metadata["examples"].value


def test_feature_check_fails_on_wrong_dtype_order_or_model_expectation(tmp_path, use_case):
    columns = use_case.features.columns
    schema = feature_schema(use_case, has_label=False)
    rows = {field.name: [] for field in schema}
    good = write_table(tmp_path / "good.parquet", rows, schema)
    assert asset_checks.feature_columns_match_model(use_case, good, columns).passed
    assert not asset_checks.feature_columns_match_model(use_case, good, list(reversed(columns))).passed
    numeric = use_case.features.numeric[0]
    wrong_type = schema.set(schema.get_field_index(numeric), pa.field(numeric, pa.int64()))
    result = asset_checks.feature_columns_match_model(
        use_case, write_table(tmp_path / "t.parquet", rows, wrong_type), columns
    )
    assert not result.passed and numeric in result.description


def test_missing_or_infinite_model_inputs_fail_the_feature_check(tmp_path, use_case):
    schema = feature_schema(use_case, has_label=False)
    row = {field.name: ["x"] if pa.types.is_string(field.type) else [0] for field in schema}
    row["row_number"] = [1]
    assert asset_checks.features_have_no_missing_values(
        use_case, write_table(tmp_path / "ok.parquet", row, schema)
    ).passed
    numeric = use_case.features.numeric[0]
    blank, unknown = list(use_case.features.categorical)[:2]
    row[numeric] = [float("inf")]
    row[blank] = [None]
    row[unknown] = [-1]  # a category code outside the contract's levels
    result = asset_checks.features_have_no_missing_values(use_case, write_table(tmp_path / "bad.parquet", row, schema))
    assert not result.passed
    for name in (numeric, blank, unknown):
        assert f"{name}: 1" in result.metadata["missing_or_non_finite"].value


def scores_file(use_case, path, ids: list, scores: list[float]):
    """A scores file for ``ids`` (the use case's ids, or row numbers when it has none)."""
    count = len(ids)
    rows = {
        use_case.scored_id_column: ids,
        use_case.score_column: scores,
        "predicted_label": [0] * count,
        "model_version": ["m"] * count,
        "scoring_timestamp": ["t"] * count,
        "row_number": ids if use_case.scored_id_column == "row_number" else list(range(1, count + 1)),
    }
    schema = scores_schema(use_case)
    rows.update({name: [""] * count for name in schema.names if name not in rows})  # reason columns: blank
    return write_table(path, rows, schema)


def test_scores_check_fails_on_missing_extra_or_reordered_rows(tmp_path, use_case):
    rows = accepted_rows(use_case, 4)
    accepted = write_table(tmp_path / "accepted.parquet", rows, accepted_schema(use_case, has_label=False))
    ids = rows[use_case.id_column or "row_number"]
    same = scores_file(use_case, tmp_path / "same.parquet", ids, [0.1] * 4)
    assert asset_checks.scores_cover_accepted_rows(use_case, same, accepted).passed
    fewer = scores_file(use_case, tmp_path / "fewer.parquet", ids[:3], [0.1] * 3)
    assert not asset_checks.scores_cover_accepted_rows(use_case, fewer, accepted).passed
    extra = scores_file(use_case, tmp_path / "extra.parquet", [*ids, ids[0]], [0.1] * 5)
    assert not asset_checks.scores_cover_accepted_rows(use_case, extra, accepted).passed
    swapped = scores_file(use_case, tmp_path / "swapped.parquet", [ids[1], ids[0], *ids[2:]], [0.1] * 4)
    result = asset_checks.scores_cover_accepted_rows(use_case, swapped, accepted)
    assert not result.passed and result.metadata["ids_out_of_place"].value == 2


def test_scores_outside_zero_one_or_not_finite_fail(tmp_path, use_case):
    ids = ["a", "b", "c"] if use_case.id_column else [1, 2, 3]
    ok = scores_file(use_case, tmp_path / "ok.parquet", ids[:2], [0.0, 1.0])
    assert asset_checks.scores_are_probabilities(use_case, ok).passed
    bad = scores_file(use_case, tmp_path / "bad.parquet", ids, [1.5, float("nan"), -0.1])
    result = asset_checks.scores_are_probabilities(use_case, bad)
    assert not result.passed and result.metadata["scores_not_finite_or_outside_0_1"].value == 3


def test_manifest_check_fails_when_the_file_differs_from_the_record(use_case):
    assert asset_checks.manifest_matches_output(use_case, "a" * 64, "a" * 64).passed
    assert not asset_checks.manifest_matches_output(use_case, "a" * 64, "b" * 64).passed


def test_every_check_result_is_recorded_on_the_use_cases_own_asset(tmp_path, use_case):
    result = asset_checks.manifest_matches_output(use_case, "a" * 64, "a" * 64)
    assert result.asset_key.path == [use_case.name, "scoring_manifest"]
