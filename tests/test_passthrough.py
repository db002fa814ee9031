"""Input columns carried through to the scored file: after the fixed columns, as written, spreadsheet-safe.

A run names the columns to carry (``raw_batch`` config ``carry_columns``); without it, the use
case's declared ``passthrough`` is carried. Carried values are copied as the file wrote them,
before the contract strips or parses anything, and are neutralised like every other text cell
of a file people open. A name the scored file already has, a repeat or a column the file lacks
is refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import json

import dagster as dg
import pandas as pd
import pytest

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_assets import record_model_observation
from scoring_assets.builders.use_case_definitions import build_use_case_definitions
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.core.scoring import scored_columns
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.runs import execute_score_run, model_store, register_file
from tests.support.batches import CREDIT_RISK, TELCO, header_name, out_of_set, valid_rows, write_csv
from tests.support.model_roots import copy_dvc_project, install_new_model
from tests.support.scoring_runs import run_config, score_file

pytestmark = pytest.mark.usefixtures("model_artifact")

# Values a source system really writes, and what the scored file must show for each.
ACCOUNT_REFS = {
    "0001": "0001",  # leading zeros are text, not a number to reformat
    "": "",  # blank stays blank
    "  padded  ": "  padded  ",  # surrounding spaces are kept
    "-3": "-3",  # a plain number is never prefixed
    '=HYPERLINK("http://x")': '\'=HYPERLINK("http://x")',  # a formula is neutralised
    "@SUM(A1)": "'@SUM(A1)",
    "+1 555 0100": "'+1 555 0100",
    "A-17": "A-17",
}
FORMULA_LIKE = sum(1 for written, shown in ACCOUNT_REFS.items() if written != shown)


def contract_column_to_carry(use_case) -> str:
    """A contract column (as the contract names it) written with spaces: a padded header, else a whole number."""
    headers = valid_rows(use_case, 1).columns
    padded = [name.strip() for name in headers if name != name.strip() and name.strip() in use_case.contract_columns]
    return padded[-1] if padded else use_case.integer_columns[0]


def extract_with_extra_columns(use_case, count: int = 40, labelled: bool = False) -> pd.DataFrame:
    """Valid rows of ``use_case`` with two columns the contract does not know: account_ref first, then sales_region."""
    assert not {"account_ref", "sales_region"} & {name.strip() for name in valid_rows(use_case, 1).columns}
    rows = valid_rows(use_case, count, labelled=labelled)
    refs = list(ACCOUNT_REFS)
    rows.insert(0, "account_ref", [refs[index % len(refs)] for index in range(count)])
    rows["sales_region"] = [f"region {index % 3}" for index in range(count)]
    return rows


def read_scored(path) -> pd.DataFrame:
    """The scored CSV exactly as written: every cell as text, blanks as empty strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def refusal(result):
    return next(event for event in result.all_events if event.is_step_failure)


def assert_nothing_written(folders, use_case, partition_key: str) -> None:
    own = folders.of(use_case.name)
    assert not own.lake_file("raw_batch", partition_key).exists()
    assert not own.reject_report(partition_key).exists()
    assert not own.scored_file(partition_key).exists()
    assert not manifest_path_for(own.scored_file(partition_key)).exists()


def test_carried_columns_follow_the_fixed_columns_in_the_order_given_with_values_as_written(
    instance, folders, use_case, tmp_path
):
    rows = extract_with_extra_columns(use_case)
    column, value = out_of_set(use_case)
    # a rejected row: not in the scored file, and no carried value of it either
    rows.loc[4, header_name(rows, column)] = value
    source = write_csv(rows, tmp_path / "with_refs.csv")

    registration, result = score_file(
        instance, folders, source, use_case=use_case, raw={"carry_columns": ["sales_region", "account_ref"]}
    )

    assert result.success
    scored_path = folders.of(use_case.name).scored_file(registration.partition_key)
    scored = read_scored(scored_path)
    assert list(scored.columns) == [*scored_columns(use_case), "sales_region", "account_ref"]
    kept = rows.drop(index=4)
    assert scored["row_number"].astype(int).tolist() == [index + 1 for index in kept.index]
    assert scored["account_ref"].tolist() == [ACCOUNT_REFS[value] for value in kept["account_ref"]]
    assert scored["sales_region"].tolist() == kept["sales_region"].tolist()
    manifest = json.loads(manifest_path_for(scored_path).read_text())
    formula_like_rows = sum(ACCOUNT_REFS[value] != value for value in kept["account_ref"])
    assert formula_like_rows >= FORMULA_LIKE and manifest["output"]["cells_neutralised"] == formula_like_rows


def test_a_contract_column_and_the_label_can_be_carried_as_written(instance, folders, use_case, tmp_path):
    rows = valid_rows(use_case, 60, labelled=True)
    column = contract_column_to_carry(use_case)
    header = header_name(rows, column)
    if column in use_case.integer_columns:
        rows.loc[3, header] = f"  {rows.loc[3, header]} "  # the contract reads it stripped; carried as written
    source = write_csv(rows, tmp_path / "labelled.csv")

    registration, result = score_file(
        instance, folders, source, use_case=use_case, raw={"carry_columns": [column, use_case.label_column]}
    )

    assert result.success
    scored_path = folders.of(use_case.name).scored_file(registration.partition_key)
    scored = read_scored(scored_path)
    assert list(scored.columns) == [*scored_columns(use_case), column, use_case.label_column]
    assert scored[column].tolist() == rows[header].tolist()
    assert scored[use_case.label_column].tolist() == rows[use_case.label_column].tolist()
    assert json.loads(manifest_path_for(scored_path).read_text())["backtest"]["rows_with_label"] == 60


def fixed_column_clashes():
    """(use case, column): fixed columns of each shipped use case's scored file, its id and score among them."""
    return [
        pytest.param(TELCO, "churn_score", id="telco_churn-churn_score"),
        pytest.param(TELCO, "row_number", id="telco_churn-row_number"),
        pytest.param(TELCO, "customer_id", id="telco_churn-customer_id"),
        pytest.param(CREDIT_RISK, "risk_score", id="credit_risk-risk_score"),
        pytest.param(CREDIT_RISK, "model_version", id="credit_risk-model_version"),
    ]


@pytest.mark.parametrize("clashing_use_case, clash", fixed_column_clashes())
def test_a_carried_name_the_scored_file_already_has_is_refused_and_nothing_is_written(
    instance, folders, tmp_path, clashing_use_case, clash
):
    rows = extract_with_extra_columns(clashing_use_case)
    rows[clash] = "from an earlier scoring"
    source = write_csv(rows, tmp_path / "clash.csv")

    registration, result = score_file(
        instance, folders, source, use_case=clashing_use_case, raw={"carry_columns": ["account_ref", clash]}
    )

    assert not result.success
    failure = refusal(result)
    assert failure.step_key == f"{clashing_use_case.name}__raw_batch"
    data = failure.step_failure_data.user_failure_data
    assert data.description == f"cannot carry {clash}: the scored file already has a column of that name"
    assert data.metadata["refusal_kind"].value == "run_config"
    assert_nothing_written(folders, clashing_use_case, registration.partition_key)


def test_a_column_named_twice_to_carry_is_refused(instance, folders, use_case, tmp_path):
    source = write_csv(extract_with_extra_columns(use_case), tmp_path / "twice.csv")
    registration, result = score_file(
        instance,
        folders,
        source,
        use_case=use_case,
        raw={"carry_columns": ["sales_region", "account_ref", "sales_region"]},
    )
    assert not result.success
    data = refusal(result).step_failure_data.user_failure_data
    assert data.description == "column(s) named more than once to carry: sales_region"
    assert_nothing_written(folders, use_case, registration.partition_key)


def test_a_column_the_file_does_not_have_is_refused_by_name(instance, folders, use_case, tmp_path):
    source = write_csv(extract_with_extra_columns(use_case), tmp_path / "unknown.csv")
    registration, result = score_file(
        instance, folders, source, use_case=use_case, raw={"carry_columns": ["account_ref", "branch_code"]}
    )
    assert not result.success
    failure = refusal(result)
    assert failure.step_key == f"{use_case.name}__raw_batch"
    description = failure.step_failure_data.user_failure_data.description
    assert "\n" not in description
    assert "column(s) to carry into the scored file are not in the file: branch_code" in description
    assert "account_ref" not in description.split("(its columns")[0]
    assert_nothing_written(folders, use_case, registration.partition_key)


def test_rescoring_with_a_new_model_keeps_the_carried_columns(instance, folders, use_case, tmp_path, monkeypatch):
    rows = extract_with_extra_columns(use_case)
    source = write_csv(rows, tmp_path / "carried.csv")
    registration, first = score_file(
        instance, folders, source, use_case=use_case, raw={"carry_columns": ["account_ref", "sales_region"]}
    )
    assert first.success
    scored_path = folders.of(use_case.name).scored_file(registration.partition_key)
    before = read_scored(scored_path)

    root = copy_dvc_project(tmp_path / "retrained", use_case)
    new_md5 = install_new_model(root, use_case)
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(root))
    rescored = execute_score_run(instance, use_case, registration.partition_key, job_name=keys_of(use_case).rescore_job)

    assert rescored.success
    after = read_scored(scored_path)
    assert list(after.columns) == list(before.columns) == [*scored_columns(use_case), "account_ref", "sales_region"]
    assert set(after["model_version"]) == {use_case.model_version(new_md5)}
    pd.testing.assert_frame_equal(after[["account_ref", "sales_region"]], before[["account_ref", "sales_region"]])


def run_with_declared_passthrough(instance, folders, source, raw: dict | None):
    """Score ``source`` with a Telco use case that declares ``passthrough=("account_ref",)``.

    The code location only builds the declared use cases, so this builds the same definitions
    for the replaced one, with the same resources, and runs its score_file job.
    """
    declared = dataclasses.replace(TELCO, passthrough=("account_ref",))
    definitions = build_use_case_definitions(declared, inbox_interval_seconds=5)
    job = dg.Definitions.merge(definitions, dg.Definitions(resources=scoring_resources())).resolve_job_def(
        f"{declared.name}__score_file"
    )
    registration = register_file(instance, declared, folders.of(declared.name), source)
    record_model_observation(instance, declared, model_store())
    result = job.execute_in_process(
        instance=instance,
        partition_key=registration.partition_key,
        run_config=run_config(declared, raw=raw),
        raise_on_error=False,
    )
    assert result.success
    return read_scored(folders.of(declared.name).scored_file(registration.partition_key))


def test_a_use_cases_declared_passthrough_is_carried_unless_the_run_names_other_columns(instance, folders, tmp_path):
    rows = extract_with_extra_columns(TELCO)
    fixed = scored_columns(TELCO)

    by_default = run_with_declared_passthrough(instance, folders, write_csv(rows, tmp_path / "a.csv"), None)
    assert list(by_default.columns) == [*fixed, "account_ref"]
    assert by_default["account_ref"].tolist() == [ACCOUNT_REFS[value] for value in rows["account_ref"]]

    others = run_with_declared_passthrough(
        instance, folders, write_csv(rows, tmp_path / "b.csv"), {"carry_columns": ["sales_region"]}
    )
    assert list(others.columns) == [*fixed, "sales_region"]

    none = run_with_declared_passthrough(instance, folders, write_csv(rows, tmp_path / "c.csv"), {"carry_columns": []})
    assert list(none.columns) == fixed


def test_without_carry_columns_a_shipped_use_case_writes_only_its_fixed_columns(instance, folders, use_case, tmp_path):
    source = write_csv(extract_with_extra_columns(use_case), tmp_path / "plain.csv")
    registration, result = score_file(instance, folders, source, use_case=use_case)
    assert result.success
    scored = read_scored(folders.of(use_case.name).scored_file(registration.partition_key))
    assert list(scored.columns) == scored_columns(use_case)
