"""Every blocking check fails on the defect it exists to catch (a check that cannot fail is no check)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring_assets.defs import asset_checks
from scoring_assets.core.features import FEATURE_COLUMNS
from scoring_assets.core.ingest import accepted_schema
from scoring_assets.core.scoring import SCORES_SCHEMA, feature_schema


def write_table(path, rows: dict, schema: pa.Schema):
    pq.write_table(pa.Table.from_pydict(rows, schema=schema), path)
    return path


def accepted_rows(count: int) -> dict:
    from conftest import customer_rows

    from scoring_assets.core.contract import validate_frame

    rows = customer_rows(count)
    accepted = validate_frame(rows.set_axis(pd.RangeIndex(1, count + 1, name="row_number"))).accepted.reset_index()
    schema = accepted_schema(has_label=False)
    return {name: accepted[name].tolist() for name in schema.names}


def test_raw_checks_fail_on_missing_columns_and_no_rows(tmp_path):
    path = write_table(
        tmp_path / "raw.parquet",
        {"row_number": [], "customerID": []},
        pa.schema([("row_number", pa.int64()), ("customerID", pa.string())]),
    )
    assert not asset_checks.raw_required_columns_present(path).passed
    assert not asset_checks.raw_has_rows(path).passed


def test_reject_fraction_check_fails_above_the_limit_and_passes_at_it():
    assert not asset_checks.reject_fraction_within_limit(rows_in=100, rows_rejected=6, limit=0.05).passed
    assert asset_checks.reject_fraction_within_limit(rows_in=100, rows_rejected=5, limit=0.05).passed


def test_accepted_rows_check_fails_when_a_stored_row_breaks_the_contract(tmp_path):
    schema = accepted_schema(has_label=False)
    rows = accepted_rows(10)
    assert asset_checks.accepted_rows_satisfy_contract(write_table(tmp_path / "ok.parquet", rows, schema)).passed
    rows["Contract"][3] = "Lifetime"
    result = asset_checks.accepted_rows_satisfy_contract(write_table(tmp_path / "bad.parquet", rows, schema))
    assert not result.passed
    assert "Contract" in result.metadata["examples"].value


def test_feature_check_fails_on_wrong_dtype_order_or_model_expectation(tmp_path):
    schema = feature_schema(has_label=False)
    rows = {field.name: [] for field in schema}
    good = write_table(tmp_path / "good.parquet", rows, schema)
    assert asset_checks.feature_columns_match_model(good, FEATURE_COLUMNS).passed
    assert not asset_checks.feature_columns_match_model(good, list(reversed(FEATURE_COLUMNS))).passed
    wrong_type = schema.set(schema.get_field_index("tenure"), pa.field("tenure", pa.int64()))
    assert not asset_checks.feature_columns_match_model(
        write_table(tmp_path / "t.parquet", rows, wrong_type), FEATURE_COLUMNS
    ).passed


def test_missing_or_infinite_model_inputs_fail_the_feature_check(tmp_path):
    schema = feature_schema(has_label=False)
    row = {field.name: ["Yes"] if pa.types.is_string(field.type) else [1] for field in schema}
    row["row_number"] = [1]
    assert asset_checks.features_have_no_missing_values(write_table(tmp_path / "ok.parquet", row, schema)).passed
    row["tenure"] = [float("inf")]
    row["Contract"] = [None]
    row["PaymentMethod"] = [-1]  # a category code outside the contract's levels
    result = asset_checks.features_have_no_missing_values(write_table(tmp_path / "bad.parquet", row, schema))
    assert not result.passed
    assert "tenure: 1" in result.metadata["missing_or_non_finite"].value
    assert "Contract: 1" in result.metadata["missing_or_non_finite"].value
    assert "PaymentMethod: 1" in result.metadata["missing_or_non_finite"].value


def scores_file(path, ids: list[str], scores: list[float]):
    count = len(ids)
    rows = {
        "customer_id": ids,
        "churn_score": scores,
        "predicted_label": [0] * count,
        "model_version": ["m"] * count,
        "scoring_timestamp": ["t"] * count,
        "row_number": list(range(1, count + 1)),
    }
    return write_table(path, rows, SCORES_SCHEMA)


def test_scores_check_fails_on_missing_extra_or_reordered_rows(tmp_path):
    rows = accepted_rows(4)
    accepted = write_table(tmp_path / "accepted.parquet", rows, accepted_schema(has_label=False))
    ids = rows["customerID"]
    same = scores_file(tmp_path / "same.parquet", ids, [0.1] * 4)
    assert asset_checks.scores_cover_accepted_rows(same, accepted).passed
    fewer = scores_file(tmp_path / "fewer.parquet", ids[:3], [0.1] * 3)
    assert not asset_checks.scores_cover_accepted_rows(fewer, accepted).passed
    swapped = scores_file(tmp_path / "swapped.parquet", [ids[1], ids[0], *ids[2:]], [0.1] * 4)
    result = asset_checks.scores_cover_accepted_rows(swapped, accepted)
    assert not result.passed and result.metadata["customer_ids_out_of_place"].value == 2


def test_scores_outside_zero_one_or_not_finite_fail(tmp_path):
    assert asset_checks.scores_are_probabilities(scores_file(tmp_path / "ok.parquet", ["a", "b"], [0.0, 1.0])).passed
    bad = scores_file(tmp_path / "bad.parquet", ["a", "b", "c"], [1.5, float("nan"), -0.1])
    result = asset_checks.scores_are_probabilities(bad)
    assert not result.passed and result.metadata["scores_not_finite_or_outside_0_1"].value == 3


def test_manifest_check_fails_when_the_file_differs_from_the_record():
    assert asset_checks.manifest_matches_output("a" * 64, "a" * 64).passed
    assert not asset_checks.manifest_matches_output("a" * 64, "b" * 64).passed
