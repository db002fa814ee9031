"""The score_file job end to end, through real materializations on a Dagster instance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import customer_rows, score_file, write_csv
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DataVersion

from scoring_assets.core.contract import REJECT_COLUMNS
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.defs.model_assets import CHURN_MODEL_KEY, DATA_VERSION_TAG
from scoring_assets.core.scoring import SCORE_COLUMNS

pytestmark = pytest.mark.usefixtures("model_artifact")

LEADING_COLUMNS = ["customer_id", "churn_score", "predicted_label", "model_version", "scoring_timestamp"]


def check_results(result) -> dict[str, bool]:
    evaluations = [
        event.event_specific_data
        for event in result.all_events
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in evaluations}


def refusal(result):
    """The failed step's event: a refusal carries its one-line reason as user failure data."""
    return next(event for event in result.all_events if event.is_step_failure)


def failure_text(result) -> str:
    """The first failed step's error, with its cause chain, as the UI shows it."""
    return next(event for event in result.all_events if event.is_step_failure).step_failure_data.error.to_string()


def materialized(result) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def latest_materialization(instance, asset: str, partition: str):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization


def break_rows(rows: pd.DataFrame, count: int) -> list[int]:
    """Make ``count`` rows invalid in different ways; returns their 1-based row numbers."""
    broken = []
    for position in range(count):
        index = rows.index[position * 3 + 1]
        rule = position % 3
        if rule == 0:
            rows.loc[index, "gender"] = "unknown"
        elif rule == 1:
            rows.loc[index, "tenure"] = "-4"
        else:
            rows.loc[index, "customerID"] = ""
        broken.append(int(index) + 1)
    return broken


def test_clean_file_is_scored_with_manifest_and_model_lineage(instance, folders, model_artifact, tmp_path):
    rows = customer_rows(250)
    source = write_csv(rows, tmp_path / "inbox" / "clean batch.csv")
    registration, result = score_file(instance, folders, source)

    assert result.success
    assert materialized(result) == {"raw_batch", "validated_batch", "feature_matrix", "scores", "scoring_manifest"}
    assert all(check_results(result).values()) and len(check_results(result)) == 9

    scored_path = folders.scored_file(registration.partition_key)
    scored = pd.read_csv(scored_path, dtype={"customer_id": str})
    assert list(scored.columns[:5]) == LEADING_COLUMNS
    assert list(scored.columns) == SCORE_COLUMNS
    assert scored["customer_id"].tolist() == rows["customerID"].tolist()
    assert scored["row_number"].tolist() == list(range(1, 251))
    assert scored["churn_score"].between(0, 1).all()
    assert (scored["predicted_label"] == (scored["churn_score"] >= model_artifact.threshold).astype(int)).all()
    assert set(scored["model_version"]) == {model_artifact.version}
    assert scored["scoring_timestamp"].nunique() == 1 and scored["scoring_timestamp"].iloc[0].endswith("Z")

    manifest = json.loads(manifest_path_for(scored_path).read_text())
    assert manifest["partition_key"] == registration.partition_key
    assert manifest["run_id"] == result.run_id
    assert manifest["input"] == {
        "path": str(source.resolve()),
        "sha256": registration.sha256,
        "bytes": source.stat().st_size,
        "rows": 250,
    }
    assert manifest["output"]["rows"] == 250 and manifest["output"]["path"] == str(scored_path)
    assert manifest["rejected"] == {"path": None, "rows": 0, "counts_by_rule": {}}
    assert manifest["model"] == {
        "version": model_artifact.version,
        "md5": model_artifact.md5,
        "path": str(model_artifact.path),
    }
    assert manifest["threshold"] == model_artifact.threshold
    assert manifest["backtest"] is None
    assert {"scoring_timestamp", "code_version", "score_summary"} <= set(manifest)

    scores_event = latest_materialization(instance, "scores", registration.partition_key)
    assert scores_event.tags[f"dagster/input_data_version/{CHURN_MODEL_KEY.to_user_string()}"] == model_artifact.md5
    assert scores_event.metadata["model_version"].value == model_artifact.version
    assert len(scores_event.metadata["preview"].value.records) == 10
    assert not folders.reject_report(registration.partition_key).exists()


def test_bad_rows_under_the_limit_are_reported_and_the_rest_scored(instance, folders, tmp_path):
    rows = customer_rows(300)
    broken = break_rows(rows, 6)
    source = write_csv(rows, tmp_path / "some_bad.csv")
    registration, result = score_file(instance, folders, source)

    assert result.success
    report = pd.read_csv(folders.reject_report(registration.partition_key), dtype=str, keep_default_na=False)
    assert list(report.columns) == REJECT_COLUMNS
    assert sorted(report["row_number"].astype(int)) == broken
    assert set(report["rule"]) == {"allowed_values", "min_0", "non_empty"}
    scored = pd.read_csv(folders.scored_file(registration.partition_key))
    assert len(scored) == 294
    assert not set(scored["row_number"]) & set(broken)
    validated = latest_materialization(instance, "validated_batch", registration.partition_key)
    counts = {
        record.data["rule"]: record.data["rejects"]
        for record in validated.metadata["reject_counts_by_rule"].value.records
    }
    assert counts == {"allowed_values": 2, "min_0": 2, "non_empty": 2}


def test_too_many_bad_rows_refuse_the_batch_visibly_and_keep_the_reject_report(instance, folders, tmp_path):
    rows = customer_rows(100)
    broken = break_rows(rows, 10)
    source = write_csv(rows, tmp_path / "mostly_bad.csv")
    registration, result = score_file(instance, folders, source, validation={"max_reject_fraction": 0.05})

    assert not result.success
    assert check_results(result)["validated_batch:reject_fraction_within_limit"] is False
    # Refused, not "materialized": the partition reads as failed, with the reason on the failure.
    assert materialized(result) == {"raw_batch"}
    failure = refusal(result)
    assert failure.step_key == "validated_batch"
    data = failure.step_failure_data.user_failure_data
    assert data.description.startswith(
        "reject_fraction_within_limit: 10 of 100 rows rejected (10.0%) > 5.0% allowed; nothing was scored; "
        "reject report: "
    )
    assert data.metadata["refusal_kind"].value == "too_many_rejects"
    assert data.metadata["rows_rejected"].value == 10
    report = pd.read_csv(folders.reject_report(registration.partition_key))
    assert sorted(report["row_number"]) == broken
    scored_path = folders.scored_file(registration.partition_key)
    assert not scored_path.exists()
    assert not manifest_path_for(scored_path).exists()


def test_a_higher_reject_limit_lets_the_same_file_through(instance, folders, tmp_path):
    rows = customer_rows(100)
    break_rows(rows, 10)
    source = write_csv(rows, tmp_path / "mostly_bad.csv")
    registration, result = score_file(instance, folders, source, validation={"max_reject_fraction": 0.2})
    assert result.success
    assert len(pd.read_csv(folders.scored_file(registration.partition_key))) == 90


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "file is empty"),
        (",".join(["customerID", "gender"]).encode() + b"\nA,Male\n", "missing required column(s)"),
        (b"\xff\xfe" + "customerID".encode("utf-16-le"), "not UTF-8"),
    ],
)
def test_unusable_file_is_refused_at_raw_batch_with_one_line_and_leaves_no_output(
    instance, folders, tmp_path, content, problem
):
    source = tmp_path / "broken.csv"
    source.write_bytes(content)
    registration, result = score_file(instance, folders, source)

    assert not result.success
    assert materialized(result) == set()
    failure = refusal(result)
    assert failure.step_key == "raw_batch"
    assert failure.step_failure_data.error.cls_name == "Failure"
    data = failure.step_failure_data.user_failure_data
    assert data.metadata["refusal_kind"].value == "input_file"
    assert "\n" not in data.description
    assert str(source.resolve()) in data.description and problem in data.description
    assert not folders.lake_file("raw_batch", registration.partition_key).exists()
    assert not folders.scored_file(registration.partition_key).exists()


def test_header_only_file_is_refused_by_the_has_rows_check(instance, folders, tmp_path):
    source = write_csv(customer_rows(1).iloc[0:0], tmp_path / "header_only.csv")
    registration, result = score_file(instance, folders, source)
    assert not result.success
    assert check_results(result) == {"raw_batch:required_columns_present": True, "raw_batch:has_rows": False}
    assert materialized(result) == set()
    data = refusal(result).step_failure_data.user_failure_data
    assert data.description.startswith("has_rows: the file has a header but no data rows")
    assert data.metadata["refusal_kind"].value == "input_file"


def test_same_input_twice_gives_identical_scores(instance, folders, tmp_path):
    source = write_csv(customer_rows(120), tmp_path / "again.csv")
    registration, first_run = score_file(instance, folders, source)
    first = pd.read_csv(folders.scored_file(registration.partition_key))
    _, second_run = score_file(instance, folders, source)
    second = pd.read_csv(folders.scored_file(registration.partition_key))
    assert first_run.success and second_run.success and first_run.run_id != second_run.run_id
    columns = ["customer_id", "churn_score", "predicted_label", "model_version", "row_number"]
    pd.testing.assert_frame_equal(first[columns], second[columns])


def test_file_changed_after_registration_is_refused(instance, folders, tmp_path):
    source = write_csv(customer_rows(30), tmp_path / "moving.csv")
    from scoring_assets.defs.runs import execute_score_run, register_file

    registration = register_file(instance, folders, source)
    write_csv(customer_rows(31), source)
    result = execute_score_run(instance, registration.partition_key)
    assert not result.success
    assert "content changed since it was registered" in failure_text(result)


def test_threshold_from_run_config_overrides_the_model_card(instance, folders, tmp_path):
    source = write_csv(customer_rows(80), tmp_path / "threshold.csv")
    registration, result = score_file(instance, folders, source, scoring={"threshold": 0.9})
    scored = pd.read_csv(folders.scored_file(registration.partition_key))
    assert result.success
    assert (scored["predicted_label"] == (scored["churn_score"] >= 0.9).astype(int)).all()
    manifest = json.loads(
        folders.scored_file(registration.partition_key).with_suffix("").with_suffix(".manifest.json").read_text()
    )
    assert manifest["threshold"] == 0.9 and manifest["threshold_source"] == "run config"


def test_labelled_file_gets_a_backtest_in_metadata_and_manifest(instance, folders, tmp_path):
    source = write_csv(customer_rows(400, seed=5, labelled=True), tmp_path / "labelled.csv")
    registration, result = score_file(instance, folders, source)
    assert result.success
    metadata = latest_materialization(instance, "scores", registration.partition_key).metadata
    assert metadata["backtest_rows_with_label"].value == 400
    assert 0.7 < metadata["backtest_roc_auc"].value <= 1.0
    assert 0.0 <= metadata["backtest_precision"].value <= 1.0 and 0.0 <= metadata["backtest_recall"].value <= 1.0
    manifest = json.loads(manifest_path_for(folders.scored_file(registration.partition_key)).read_text())
    assert manifest["backtest"]["roc_auc"] == metadata["backtest_roc_auc"].value


def test_scores_refuse_to_run_when_the_model_observation_is_stale(instance, folders, tmp_path):
    from dagster import AssetObservation

    from scoring_assets.definitions import defs
    from scoring_assets.defs.runs import register_file

    source = write_csv(customer_rows(20), tmp_path / "stale.csv")
    registration = register_file(instance, folders, source)
    instance.report_runless_asset_event(AssetObservation(asset_key=CHURN_MODEL_KEY, tags={DATA_VERSION_TAG: "0" * 32}))
    result = defs.resolve_job_def("score_file").execute_in_process(
        instance=instance, partition_key=registration.partition_key, raise_on_error=False
    )
    assert not result.success
    assert "observe churn_model first" in failure_text(result)
    assert not folders.scored_file(registration.partition_key).exists()


def test_model_observation_reports_the_dvc_md5_as_data_version(instance, model_artifact):
    from scoring_assets.defs.model_assets import churn_model, latest_observed_model_md5, record_model_observation

    observed = churn_model.observe_fn()
    assert observed.data_version == DataVersion(model_artifact.md5)
    for key in ("path", "md5", "model_version", "threshold", "sklearn_version", "test_metrics"):
        assert key in observed.metadata
    assert np.isclose(observed.metadata["threshold"], model_artifact.threshold)

    assert latest_observed_model_md5(instance) is None
    record_model_observation(instance)
    record_model_observation(instance)
    assert latest_observed_model_md5(instance) == model_artifact.md5
    observations = instance.fetch_observations(CHURN_MODEL_KEY, limit=10).records
    assert len(observations) == 1, "an unchanged model is observed once, not once per run"
