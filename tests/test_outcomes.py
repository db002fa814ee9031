"""Outcomes: what really happened to scored rows, joined back to them, realized against expected performance."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import build_sensor_context
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_assets.builders.keys import keys_of
from scoring_assets.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from scoring_assets.core.csv_safety import NEUTRALISING_PREFIX
from scoring_assets.core.outcome_files import OUTCOME_DATE, OutcomeRejection, checked_outcome_rows
from scoring_assets.core.outcome_join import PARTITION, SCORED_AT, join_to_scored_rows
from scoring_assets.core.outcomes import register_outcomes
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.use_cases import all_use_cases
from tests.support.batches import REAL_EXTRACTS, TELCO, valid_rows, write_csv
from tests.support.cli_workspace import reported_path
from tests.support.scoring_runs import score_file, sensor_resources

pytestmark = pytest.mark.usefixtures("model_artifact")
WITHOUT_IDS = [each for each in all_use_cases().values() if each.id_column is None]
JSON_FIELDS = {"matched", "unmatched", "rejected", "files"}


def outcome_rows(labelled: pd.DataFrame, use_case=TELCO) -> pd.DataFrame:
    return labelled[[use_case.id_column, use_case.label_column]]


def manifest_of(scored_stdout: str) -> dict:
    return json.loads(reported_path(scored_stdout, "manifest").read_text(encoding="utf-8"))


def labelled_extract(source: str, tmp_path: Path) -> pd.DataFrame:
    if source == "generated":
        return valid_rows(TELCO, 400, seed=5, labelled=True)
    if not REAL_EXTRACTS["telco_churn"].exists():
        pytest.skip("the real Telco extract is not beside the repository")
    return pd.read_csv(REAL_EXTRACTS["telco_churn"], dtype=str, keep_default_na=False)


@pytest.mark.parametrize("source", ["generated", "real"])
def test_realized_roc_auc_of_outcomes_equals_the_backtest_of_the_labelled_file(source, workspace, tmp_path):
    labelled = labelled_extract(source, tmp_path)
    backtested = workspace.run("score", str(write_csv(labelled, tmp_path / "labelled.csv")))
    assert backtested.returncode == EXIT_OK, backtested.stderr
    backtest = manifest_of(backtested.stdout)["backtest"]
    unlabelled = labelled.drop(columns=[TELCO.label_column])
    scored = workspace.run("score", str(write_csv(unlabelled, tmp_path / "unlabelled.csv")))
    assert scored.returncode == EXIT_OK, scored.stderr
    expected = manifest_of(scored.stdout)["estimated_performance"]

    done = workspace.run("outcomes", str(write_csv(outcome_rows(labelled), tmp_path / "outcomes.csv")), "--json")

    assert done.returncode == EXIT_OK, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == JSON_FIELDS
    scored_rows = backtest["rows_with_label"]
    assert (report["matched"], report["unmatched"], report["rejected"]) == (scored_rows, len(labelled) - scored_rows, 0)
    [scored_file] = report["files"]  # the unlabelled file: the latest scored before the outcomes arrived
    assert set(scored_file) == {"partition", "realized", "expected"}
    assert set(scored_file["realized"]) == {"roc_auc", "precision", "recall", "brier"}
    assert set(scored_file["expected"]) == {"precision", "recall"}
    assert scored_file["partition"] == reported_path(scored.stdout, "scored").stem
    assert scored_file["realized"]["roc_auc"] == pytest.approx(backtest["roc_auc"], abs=1e-9)
    assert scored_file["realized"]["precision"] == pytest.approx(backtest["precision"], abs=1e-9)
    assert scored_file["realized"]["recall"] == pytest.approx(backtest["recall"], abs=1e-9)
    assert scored_file["expected"] == pytest.approx(
        {"precision": expected["expected_precision"], "recall": expected["expected_recall"]}
    )


@pytest.fixture
def scored(instance, folders, tmp_path):
    """200 labelled Telco rows, scored without their label through the real job."""
    labelled = valid_rows(TELCO, 200, seed=3, labelled=True)
    source = write_csv(labelled.drop(columns=[TELCO.label_column]), tmp_path / "scored.csv")
    registration, result = score_file(instance, folders, source)
    assert result.success
    return labelled, registration.partition_key


def test_an_id_never_scored_is_counted_unmatched_not_rejected(scored, folders, tmp_path):
    labelled, key = scored
    outcomes = outcome_rows(labelled).copy()
    outcomes.loc[:9, TELCO.id_column] = [f"NEVER-{n}" for n in range(10)]

    report = register_outcomes(TELCO, folders.of(TELCO.name), write_csv(outcomes, tmp_path / "outcomes.csv"))

    assert (report.matched, report.unmatched, report.rejected, report.refusal) == (190, 10, 0, None)
    assert [each["partition"] for each in report.files] == [key]
    assert report.files[0]["rows_with_outcome"] == 190


def test_a_label_outside_the_declared_values_and_a_repeated_id_are_rejected_in_a_safe_report(scored, folders, tmp_path):
    labelled, _ = scored
    outcomes = outcome_rows(labelled).copy()
    outcomes.loc[0, TELCO.label_column] = "=HYPERLINK()"
    outcomes.loc[2, TELCO.id_column] = outcomes.loc[1, TELCO.id_column]

    report = register_outcomes(TELCO, folders.of(TELCO.name), write_csv(outcomes, tmp_path / "outcomes.csv"))

    assert (report.matched, report.rejected, report.refusal) == (197, 3, None)
    assert report.reject_counts == {OutcomeRejection.INVALID_LABEL: 1, OutcomeRejection.DUPLICATE_ID: 2}
    rejects = pd.read_csv(report.reject_report, dtype=str, keep_default_na=False)
    assert rejects[ROW_NUMBER].tolist() == ["1", "2", "3"]
    assert rejects[TELCO.label_column].iloc[0] == NEUTRALISING_PREFIX + "=HYPERLINK()"
    assert rejects["reason"].tolist() == [
        OutcomeRejection.INVALID_LABEL,
        OutcomeRejection.DUPLICATE_ID,
        OutcomeRejection.DUPLICATE_ID,
    ]


def test_each_outcome_joins_the_latest_row_scored_before_its_date(instance, folders, tmp_path):
    labelled = valid_rows(TELCO, 40, seed=8, labelled=True)
    unlabelled = labelled.drop(columns=[TELCO.label_column])
    first, _ = score_file(instance, folders, write_csv(unlabelled, tmp_path / "monday.csv"))
    time.sleep(0.05)
    second, _ = score_file(instance, folders, write_csv(unlabelled, tmp_path / "tuesday.csv"))
    own = folders.of(TELCO.name)
    times = {
        registration.partition_key: pd.Timestamp(
            json.loads(Path(summary["manifest_path"]).read_text())["scoring_timestamp"]
        )
        for registration in (first, second)
        for summary in [own.read_stage_summary("scores", registration.partition_key)]
    }
    between = times[first.partition_key] + (times[second.partition_key] - times[first.partition_key]) / 2
    outcomes = outcome_rows(labelled).assign(**{OUTCOME_DATE: ""})
    outcomes.loc[:9, OUTCOME_DATE] = (times[first.partition_key] - pd.Timedelta(days=1)).date().isoformat()
    outcomes.loc[10:19, OUTCOME_DATE] = between.isoformat()

    report = register_outcomes(TELCO, own, write_csv(outcomes, tmp_path / "outcomes.csv"))

    assert (report.matched, report.unmatched, report.rejected) == (30, 10, 0)
    joined = pd.read_parquet(own.outcomes.lake_file("joined", report.outcomes_key))
    assert joined[PARTITION].tolist() == [first.partition_key] * 10 + [second.partition_key] * 20
    assert {each["partition"]: each["rows_with_outcome"] for each in report.files} == {
        first.partition_key: 10,
        second.partition_key: 20,
    }


@pytest.fixture
def cli(monkeypatch, tmp_path, folders):
    """The ``scoring-assets`` command in this process, on its own Dagster home and the test's data folder."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return main


def test_a_file_without_the_label_column_is_refused_with_exit_3(cli, scored, tmp_path, capsys):
    labelled, _ = scored
    path = write_csv(labelled[[TELCO.id_column]], tmp_path / "ids_only.csv")
    assert cli(["outcomes", str(path), "--use-case", TELCO.name]) == EXIT_REFUSED
    assert TELCO.label_column in capsys.readouterr().err


def test_outcomes_that_match_no_scored_row_are_refused_with_exit_3(cli, scored, tmp_path, capsys):
    labelled, _ = scored
    outcomes = outcome_rows(labelled).assign(**{TELCO.id_column: [f"X-{n}" for n in range(len(labelled))]})
    assert cli(["outcomes", str(write_csv(outcomes, tmp_path / "strangers.csv")), "--json"]) == EXIT_REFUSED
    assert "no row matches a scored row" in capsys.readouterr().err


def test_more_rejected_rows_than_the_use_case_allows_are_refused_with_exit_3(cli, scored, tmp_path, capsys):
    labelled, _ = scored
    outcomes = outcome_rows(labelled).copy()
    too_many = int(len(outcomes) * TELCO.max_reject_fraction) + 1
    outcomes.loc[: too_many - 1, TELCO.label_column] = "unknown"
    assert cli(["outcomes", str(write_csv(outcomes, tmp_path / "bad_labels.csv"))]) == EXIT_REFUSED
    assert "reject report" in capsys.readouterr().err


@pytest.mark.parametrize("use_case", WITHOUT_IDS, ids=lambda each: each.name)
def test_a_use_case_without_an_id_column_gets_no_outcomes_and_exit_2(cli, use_case, tmp_path, capsys):
    path = write_csv(valid_rows(use_case, 5, labelled=True), tmp_path / "labelled.csv")
    assert cli(["outcomes", str(path), "--use-case", use_case.name]) == EXIT_USAGE
    problem = capsys.readouterr().err
    assert "no id column" in problem and "labelled extracts" in problem


def test_the_outcomes_sensor_requests_the_register_outcomes_job_for_a_settled_file(instance, folders, tmp_path):
    keys = keys_of(TELCO)
    sensor = scoring_definitions().resolve_sensor_def(keys.outcomes_sensor)
    inbox = folders.of(TELCO.name).outcomes.inbox
    path = write_csv(outcome_rows(valid_rows(TELCO, 5, labelled=True)), inbox / "outcomes.csv")
    resources = sensor_resources(folders, settle_seconds=0)
    cursor = None
    requests = []
    for _ in range(2):  # seen, then seen unchanged: settled
        result = sensor(build_sensor_context(instance=instance, cursor=cursor, resources=resources))
        cursor = result.cursor
        requests += result.run_requests or []
    [request] = requests
    assert request.job_name == keys.register_outcomes_job
    assert request.run_config["ops"][keys.join_outcomes_op]["config"]["path"] == str(path)
    again = sensor(build_sensor_context(instance=instance, cursor=None, resources=resources))
    again = sensor(build_sensor_context(instance=instance, cursor=again.cursor, resources=resources))
    assert not again.run_requests, "the same bytes are a duplicate"


IDS = st.sampled_from(["A", "B", "C", "D", "E", "", " A"])
LABELS = st.sampled_from([TELCO.label.positive, TELCO.label.negative, "maybe", ""])
DATES = st.sampled_from(["", "2026-01-01", "2026-06-30T12:00:00Z", "not a date"])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(IDS, LABELS, DATES), max_size=30), scored_ids=st.sets(st.sampled_from("ABCDE")))
def test_every_outcome_row_is_counted_once_as_matched_unmatched_or_rejected(rows, scored_ids):
    text = pd.DataFrame(rows, columns=[TELCO.id_column, TELCO.label_column, OUTCOME_DATE], dtype=object)
    checked = checked_outcome_rows(TELCO, text)
    scored = pd.DataFrame(
        {
            TELCO.scored_id_column: sorted(scored_ids),
            TELCO.score_column: 0.5,
            "predicted_label": 1,
            "scoring_timestamp": "2026-03-01T00:00:00.000Z",
            "scored_row_number": range(len(scored_ids)),
            PARTITION: "file-00000000",
            SCORED_AT: pd.Timestamp("2026-03-01", tz="UTC"),
        }
    )
    matched, unmatched = join_to_scored_rows(TELCO, checked.outcomes, scored, "2026-12-01T00:00:00+00:00")

    numbers = [*matched[ROW_NUMBER], *unmatched[ROW_NUMBER], *checked.rejected[ROW_NUMBER]]
    assert sorted(numbers) == list(range(1, len(rows) + 1))
    assert set(matched[TELCO.scored_id_column]) <= scored_ids
    known_before_scoring = unmatched[unmatched[TELCO.scored_id_column].isin(scored_ids)][OUTCOME_DATE]
    assert (known_before_scoring <= pd.Timestamp("2026-03-01", tz="UTC")).all()
