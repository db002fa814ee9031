"""The score_file job end to end, through real materializations on a Dagster instance.

What every use case must do is proven on each shipped one (the ``use_case`` fixture); what only
one table has (Telco's customer ids, the real German credit extract) is proven on that one.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, AssetObservation, AssetRecordsFilter, DagsterEventType, DataVersion

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import (
    DATA_VERSION_TAG,
    build_model_asset,
    latest_observed_model_md5,
    record_model_observation,
)
from scoring_assets.cli import explain
from scoring_assets.core.contract import reject_columns
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.core.manifest_model import Manifest
from scoring_assets.core.model_store import ModelIntegrityError, verify_artifact
from scoring_assets.core.scoring import scored_columns
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.runs import execute_score_run, model_store, register_file
from tests.support.batches import (
    CREDIT_RISK,
    REAL_EXTRACTS,
    TELCO,
    contract_breaks,
    customer_rows,
    header_name,
    valid_rows,
    write_csv,
)
from tests.support.model_roots import built_model, copy_dvc_project, install_new_model, with_classes
from tests.support.scoring_runs import score_file

pytestmark = pytest.mark.usefixtures("model_artifact")

SCORING_ASSETS = {"raw_batch", "validated_batch", "feature_matrix", "scores", "scoring_manifest"}
needs_german_extract = pytest.mark.skipif(
    not REAL_EXTRACTS["credit_risk"].exists(), reason=f"{REAL_EXTRACTS['credit_risk']} is not here"
)


def check_results(result) -> dict[str, bool]:
    """``asset:check`` -> passed, for every check evaluated in the run (asset names without the use case)."""
    evaluations = [
        event.event_specific_data
        for event in result.all_events
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    return {f"{e.asset_key.path[-1]}:{e.check_name}": e.passed for e in evaluations}


def refusal(result):
    """The failed step's event: a refusal carries its one-line reason as user failure data."""
    return next(event for event in result.all_events if event.is_step_failure)


def failure_text(result) -> str:
    """The first failed step's error, with its cause chain, as the UI shows it."""
    return refusal(result).step_failure_data.error.to_string()


def materialized(result) -> set[str]:
    return {event.asset_key.path[-1] for event in result.get_asset_materialization_events()}


def latest_materialization(instance, use_case, asset: str, partition: str):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey([use_case.name, asset]), asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization


def break_rows(use_case, rows: pd.DataFrame, count: int) -> list[int]:
    """Make ``count`` rows invalid in different ways; returns their 1-based row numbers."""
    broken = []
    for position in range(count):
        index = rows.index[position * 3 + 1]
        column, value, _ = contract_breaks(use_case)[position % 3]
        rows.loc[index, header_name(rows, column)] = value
        broken.append(int(index) + 1)
    return broken


def test_clean_file_is_scored_with_manifest_and_model_lineage(instance, folders, use_case, tmp_path):
    model_artifact = built_model(use_case)
    own = folders.of(use_case.name)
    rows = valid_rows(use_case, 250)
    source = write_csv(rows, tmp_path / "inbox" / "clean batch.csv")
    registration, result = score_file(instance, folders, source, use_case=use_case)

    assert result.success
    assert materialized(result) == SCORING_ASSETS
    # 9 blocking checks (10 with reasons) and 2 drift checks (WARN): a file drawn like the training data does not drift
    assert all(check_results(result).values()) and len(check_results(result)) == 11 + bool(use_case.reasons)

    scored_path = own.scored_file(registration.partition_key)
    scored = pd.read_csv(scored_path, dtype={use_case.scored_id_column: str})
    assert list(scored.columns) == scored_columns(use_case)
    assert scored.columns[:2].tolist() == [use_case.scored_id_column, use_case.score_column]
    if use_case.id_column:
        assert scored[use_case.scored_id_column].tolist() == rows[use_case.id_column].tolist()
    assert scored["row_number"].astype(int).tolist() == list(range(1, 251))
    score = scored[use_case.score_column]
    assert score.between(0, 1).all()
    assert (scored["predicted_label"] == (score >= model_artifact.threshold).astype(int)).all()
    assert set(scored["model_version"]) == {model_artifact.version}
    assert model_artifact.version == f"{use_case.name}_model-{model_artifact.md5[:12]}"
    assert scored["scoring_timestamp"].nunique() == 1 and scored["scoring_timestamp"].iloc[0].endswith("Z")

    manifest_text = manifest_path_for(scored_path).read_text()
    manifest = json.loads(manifest_text)
    assert Manifest.from_dict(manifest).to_json() == manifest_text  # what is written reads back losslessly
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
        "use_case": use_case.name,
        "version": model_artifact.version,
        "md5": model_artifact.md5,
        "path": str(model_artifact.path),
        "serving": model_artifact.serving.as_record(),  # what computed the scores, and how close it is to the Pipeline
    }
    assert manifest["threshold"] == model_artifact.threshold
    assert manifest["backtest"] is None
    assert {"scoring_timestamp", "code_version", "score_summary"} <= set(manifest)

    scores_event = latest_materialization(instance, use_case, "scores", registration.partition_key)
    assert scores_event.tags[keys_of(use_case).model_used_tag] == model_artifact.md5
    assert scores_event.metadata["model_version"].value == model_artifact.version
    assert len(scores_event.metadata["preview"].value.records) == 10
    assert not own.reject_report(registration.partition_key).exists()


def test_bad_rows_under_the_limit_are_reported_and_the_rest_scored(instance, folders, use_case, tmp_path):
    own = folders.of(use_case.name)
    rows = valid_rows(use_case, 300)
    broken = break_rows(use_case, rows, 6)
    source = write_csv(rows, tmp_path / "some_bad.csv")
    registration, result = score_file(instance, folders, source, use_case=use_case)

    assert result.success
    report = pd.read_csv(own.reject_report(registration.partition_key), dtype=str, keep_default_na=False)
    assert list(report.columns) == reject_columns(use_case)
    assert sorted(report["row_number"].astype(int)) == broken
    rules = {rule for _, _, rule in contract_breaks(use_case)}
    assert set(report["rule"]) == rules
    scored = pd.read_csv(own.scored_file(registration.partition_key))
    assert len(scored) == 294
    assert not set(scored["row_number"]) & set(broken)
    validated = latest_materialization(instance, use_case, "validated_batch", registration.partition_key)
    counts = {
        record.data["rule"]: record.data["rejects"]
        for record in validated.metadata["reject_counts_by_rule"].value.records
    }
    assert counts == dict.fromkeys(rules, 2)


def test_too_many_bad_rows_refuse_the_batch_visibly_and_keep_the_reject_report(instance, folders, use_case, tmp_path):
    own = folders.of(use_case.name)
    rows = valid_rows(use_case, 100)
    broken = break_rows(use_case, rows, 10)
    source = write_csv(rows, tmp_path / "mostly_bad.csv")
    registration, result = score_file(
        instance, folders, source, validation={"max_reject_fraction": 0.05}, use_case=use_case
    )

    assert not result.success
    assert check_results(result)["validated_batch:reject_fraction_within_limit"] is False
    # Refused, not "materialized": the partition reads as failed, with the reason on the failure.
    assert materialized(result) == {"raw_batch"}
    failure = refusal(result)
    assert failure.step_key == f"{use_case.name}__validated_batch"
    data = failure.step_failure_data.user_failure_data
    assert data.description.startswith(
        "reject_fraction_within_limit: 10 of 100 rows rejected (10.0%) > 5.0% allowed; nothing was scored; "
        "reject report: "
    )
    assert data.metadata["refusal_kind"].value == "too_many_rejects"
    assert data.metadata["rows_rejected"].value == 10
    report = pd.read_csv(own.reject_report(registration.partition_key))
    assert sorted(report["row_number"]) == broken
    scored_path = own.scored_file(registration.partition_key)
    assert not scored_path.exists()
    assert not manifest_path_for(scored_path).exists()


def test_a_higher_reject_limit_lets_the_same_file_through(instance, folders, use_case, tmp_path):
    rows = valid_rows(use_case, 100)
    break_rows(use_case, rows, 10)
    source = write_csv(rows, tmp_path / "mostly_bad.csv")
    registration, result = score_file(
        instance, folders, source, validation={"max_reject_fraction": 0.2}, use_case=use_case
    )
    assert result.success
    assert len(pd.read_csv(folders.of(use_case.name).scored_file(registration.partition_key))) == 90


@pytest.mark.parametrize("problem", ["file is empty", "missing required column(s)", "not UTF-8"])
def test_unusable_file_is_refused_at_raw_batch_with_one_line_and_leaves_no_output(
    instance, folders, use_case, tmp_path, problem
):
    first, second = use_case.contract_columns[:2]
    content = {
        "file is empty": b"",
        "missing required column(s)": f"{first},{second}\nA,B\n".encode(),
        "not UTF-8": b"\xff\xfe" + first.encode("utf-16-le"),
    }[problem]
    source = tmp_path / "broken.csv"
    source.write_bytes(content)
    registration, result = score_file(instance, folders, source, use_case=use_case)

    assert not result.success
    assert materialized(result) == set()
    failure = refusal(result)
    assert failure.step_key == f"{use_case.name}__raw_batch"
    assert failure.step_failure_data.error.cls_name == "Failure"
    data = failure.step_failure_data.user_failure_data
    assert data.metadata["refusal_kind"].value == "input_file"
    assert "\n" not in data.description
    assert str(source.resolve()) in data.description and problem in data.description
    own = folders.of(use_case.name)
    assert not own.lake_file("raw_batch", registration.partition_key).exists()
    assert not own.scored_file(registration.partition_key).exists()


def test_header_only_file_is_refused_by_the_has_rows_check(instance, folders, use_case, tmp_path):
    source = write_csv(valid_rows(use_case, 1).iloc[0:0], tmp_path / "header_only.csv")
    registration, result = score_file(instance, folders, source, use_case=use_case)
    assert not result.success
    assert check_results(result) == {"raw_batch:required_columns_present": True, "raw_batch:has_rows": False}
    assert materialized(result) == set()
    data = refusal(result).step_failure_data.user_failure_data
    assert data.description.startswith("has_rows: the file has a header but no data rows")
    assert data.metadata["refusal_kind"].value == "input_file"
    assert not folders.of(use_case.name).scored_file(registration.partition_key).exists()


def test_same_input_twice_gives_identical_scores(instance, folders, use_case, tmp_path):
    own = folders.of(use_case.name)
    source = write_csv(valid_rows(use_case, 120), tmp_path / "again.csv")
    registration, first_run = score_file(instance, folders, source, use_case=use_case)
    first = pd.read_csv(own.scored_file(registration.partition_key))
    _, second_run = score_file(instance, folders, source, use_case=use_case)
    second = pd.read_csv(own.scored_file(registration.partition_key))
    assert first_run.success and second_run.success and first_run.run_id != second_run.run_id
    columns = [name for name in scored_columns(use_case) if name != "scoring_timestamp"]
    pd.testing.assert_frame_equal(first[columns], second[columns])


def test_file_changed_after_registration_is_refused(instance, folders, use_case, tmp_path):
    source = write_csv(valid_rows(use_case, 30), tmp_path / "moving.csv")
    registration = register_file(instance, use_case, folders.of(use_case.name), source)
    write_csv(valid_rows(use_case, 31), source)
    result = execute_score_run(instance, use_case, registration.partition_key)
    assert not result.success
    assert "content changed since it was registered" in failure_text(result)
    assert not folders.of(use_case.name).scored_file(registration.partition_key).exists()


def test_file_deleted_after_registration_is_refused_in_one_line_as_a_file_problem(
    instance, folders, use_case, tmp_path
):
    source = write_csv(valid_rows(use_case, 30), tmp_path / "gone.csv")
    registration = register_file(instance, use_case, folders.of(use_case.name), source)
    source.unlink()

    result = execute_score_run(instance, use_case, registration.partition_key)

    assert not result.success
    failure = refusal(result).step_failure_data.user_failure_data
    assert failure.metadata["refusal_kind"].value == "input_file"
    assert failure.description.startswith(f"{source}: file not found: deleted or moved since it was registered")
    assert "\n" not in failure.description and "Errno" not in failure.description
    assert not folders.of(use_case.name).scored_file(registration.partition_key).exists()
    outcome = explain(result, folders.of(use_case.name), registration)  # what the CLI makes of it
    assert outcome.exit_code == 3 and outcome.problems == [f"{use_case.name}__raw_batch: {failure.description}"]


def test_threshold_from_run_config_overrides_the_model_card(instance, folders, use_case, tmp_path):
    own = folders.of(use_case.name)
    source = write_csv(valid_rows(use_case, 80), tmp_path / "threshold.csv")
    registration, result = score_file(instance, folders, source, scoring={"threshold": 0.9}, use_case=use_case)
    scored = pd.read_csv(own.scored_file(registration.partition_key))
    assert result.success
    assert (scored["predicted_label"] == (scored[use_case.score_column] >= 0.9).astype(int)).all()
    manifest = json.loads(manifest_path_for(own.scored_file(registration.partition_key)).read_text())
    assert manifest["threshold"] == 0.9 and manifest["threshold_source"] == "run config"


def test_labelled_file_gets_a_backtest_in_metadata_and_manifest(instance, folders, use_case, tmp_path):
    rows = valid_rows(use_case, 1000, seed=5, labelled=True)
    assert use_case.label_column in rows.columns
    source = write_csv(rows, tmp_path / "labelled.csv")
    registration, result = score_file(instance, folders, source, use_case=use_case)
    assert result.success
    metadata = latest_materialization(instance, use_case, "scores", registration.partition_key).metadata
    assert metadata["backtest_rows_with_label"].value == 1000
    assert 0.7 < metadata["backtest_roc_auc"].value <= 1.0
    assert 0.0 <= metadata["backtest_precision"].value <= 1.0 and 0.0 <= metadata["backtest_recall"].value <= 1.0
    positive_rate = (rows[use_case.label_column] == use_case.label.positive).mean()
    assert metadata["backtest_observed_positive_rate"].value == pytest.approx(positive_rate)
    manifest = json.loads(
        manifest_path_for(folders.of(use_case.name).scored_file(registration.partition_key)).read_text()
    )
    assert manifest["backtest"]["roc_auc"] == metadata["backtest_roc_auc"].value
    assert use_case.label_column not in pd.read_csv(folders.of(use_case.name).scored_file(registration.partition_key))


def test_scores_refuse_to_run_when_the_model_observation_is_stale(instance, folders, use_case, tmp_path):
    source = write_csv(valid_rows(use_case, 20), tmp_path / "stale.csv")
    registration = register_file(instance, use_case, folders.of(use_case.name), source)
    instance.report_runless_asset_event(
        AssetObservation(asset_key=keys_of(use_case).model, tags={DATA_VERSION_TAG: "0" * 32})
    )
    result = (
        scoring_definitions()
        .resolve_job_def(f"{use_case.name}__score_file")
        .execute_in_process(instance=instance, partition_key=registration.partition_key, raise_on_error=False)
    )
    assert not result.success
    assert f"{use_case.model_name} was last observed with md5 {'0' * 32}" in failure_text(result)
    assert "observe the model first" in failure_text(result)
    assert not folders.of(use_case.name).scored_file(registration.partition_key).exists()


def test_a_tampered_model_is_refused_and_nothing_is_scored(instance, folders, use_case, tmp_path, monkeypatch):
    """Altered after it was observed: the run stops at the model check; altered before: the run never starts."""
    root = copy_dvc_project(tmp_path / "project", use_case)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(root))
    own = folders.of(use_case.name)
    registration = register_file(instance, use_case, own, write_csv(valid_rows(use_case, 20), tmp_path / "t.csv"))
    record_model_observation(instance, use_case, model_store())
    with (root / use_case.model.model_path).open("ab") as model_file:
        model_file.write(b"tampered")

    result = (
        scoring_definitions()
        .resolve_job_def(f"{use_case.name}__score_file")
        .execute_in_process(instance=instance, partition_key=registration.partition_key, raise_on_error=False)
    )
    assert not result.success
    assert "but DVC records" in failure_text(result) and "refusing to load it" in failure_text(result)
    assert refusal(result).step_failure_data.user_failure_data.metadata["refusal_kind"].value == "model"
    assert {"scores", "scoring_manifest"}.isdisjoint(materialized(result))
    assert not own.scored_file(registration.partition_key).exists()

    with pytest.raises(ModelIntegrityError, match="but DVC records"):
        execute_score_run(instance, use_case, registration.partition_key)
    assert not own.scored_file(registration.partition_key).exists()


def test_a_model_whose_classes_lack_the_cards_positive_class_is_refused_as_a_model_problem(
    instance, folders, use_case, tmp_path, monkeypatch
):
    """The UI's way in (the job on its own): the scores step refuses it as the CLI does, before scoring."""
    root = copy_dvc_project(tmp_path / "project", use_case)
    install_new_model(root, use_case, alter=with_classes("No", "Maybe"))
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(root))
    own = folders.of(use_case.name)
    registration = register_file(instance, use_case, own, write_csv(valid_rows(use_case, 20), tmp_path / "c.csv"))

    result = execute_score_run(instance, use_case, registration.partition_key)

    assert not result.success
    failure = refusal(result).step_failure_data.user_failure_data
    assert failure.metadata["refusal_kind"].value == "model"
    assert "its model card says positive_class 1 but the model's classes are 'No', 'Maybe'" in failure.description
    assert {"scores", "scoring_manifest"}.isdisjoint(materialized(result))
    assert not own.scored_file(registration.partition_key).exists()


def test_model_observation_reports_the_dvc_md5_as_data_version(instance, use_case):
    model_artifact = built_model(use_case)
    observed = build_model_asset(use_case).observe_fn(model_store=model_store())
    assert observed.data_version == DataVersion(model_artifact.md5)
    for key in ("path", "md5", "model_version", "threshold", "sklearn_version", "test_metrics"):
        assert key in observed.metadata
    assert np.isclose(observed.metadata["threshold"], model_artifact.threshold)

    assert latest_observed_model_md5(instance, use_case) is None
    record_model_observation(instance, use_case, model_store())
    record_model_observation(instance, use_case, model_store())
    assert latest_observed_model_md5(instance, use_case) == model_artifact.md5
    observations = instance.fetch_observations(keys_of(use_case).model, limit=10).records
    assert len(observations) == 1, "an unchanged model is observed once, not once per run"


def test_telco_scored_file_is_keyed_by_customer_id_with_the_row_number_last_of_the_fixed_columns(
    instance, folders, tmp_path
):
    rows = customer_rows(30)
    registration, result = score_file(instance, folders, write_csv(rows, tmp_path / "telco.csv"))
    assert result.success
    scored = pd.read_csv(folders.of(TELCO.name).scored_file(registration.partition_key), dtype={"customer_id": str})
    assert list(scored.columns) == [
        "customer_id",
        "churn_score",
        "predicted_label",
        "model_version",
        "scoring_timestamp",
        "row_number",
        *["reason_1", "reason_2", "reason_3"],
    ]
    assert scored["customer_id"].tolist() == rows["customerID"].tolist()


@needs_german_extract
def test_the_real_german_credit_extract_is_scored_whole_with_a_backtest_from_its_class_labels(
    instance, folders, tmp_path
):
    model_md5 = verify_artifact(CREDIT_RISK).md5
    source = REAL_EXTRACTS["credit_risk"]
    registration, result = score_file(instance, folders, source, use_case=CREDIT_RISK)
    assert result.success, failure_text(result)

    own = folders.of(CREDIT_RISK.name)
    scored = pd.read_csv(own.scored_file(registration.partition_key))
    assert list(scored.columns) == [
        *["row_number", "risk_score", "predicted_label", "model_version", "scoring_timestamp"],
        *["reason_1", "reason_2", "reason_3", "reason_4"],
    ]
    assert len(scored) == 1000 and scored["row_number"].tolist() == list(range(1, 1001))
    assert set(scored["model_version"]) == {CREDIT_RISK.model_version(model_md5)}
    assert not own.reject_report(registration.partition_key).exists()

    manifest = json.loads(manifest_path_for(own.scored_file(registration.partition_key)).read_text())
    assert manifest["input"]["rows"] == 1000 and manifest["output"]["rows"] == 1000
    assert manifest["rejected"]["rows"] == 0
    assert manifest["model"]["md5"] == model_md5
    backtest = manifest["backtest"]
    assert backtest["rows_with_label"] == 1000
    assert backtest["observed_positive_rate"] == pytest.approx(0.3)  # 300 bad credits of 1,000 in the UCI file
    assert backtest["roc_auc"] >= 0.72
