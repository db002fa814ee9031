"""Retiring a file scored by mistake: it leaves its use case's partitions and status, its files are kept.

Through the CLI (a subprocess) and the UI's retire_file job, which share one path; what Dagster
reports afterwards is read with the functions its UI's GraphQL resolvers call.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.partition_keys import PartitionKeyError
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.runs import execute_job
from scoring_assets.use_cases import all_use_cases
from tests.support.batches import valid_rows, write_csv
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file

USE_CASES = sorted(all_use_cases())
NOT_STATUSES = (AssetCheckExecutionResolvedStatus.FAILED, AssetCheckExecutionResolvedStatus.EXECUTION_FAILED)


@pytest.fixture(params=USE_CASES)
def each_use_case(request):
    use_case = all_use_cases()[request.param]
    built_model(use_case)
    return use_case


def rows_mostly_bad(use_case, count: int = 50, bad: int = 20):
    """``count`` rows whose first ``bad`` hold a value no contract column accepts (the id left alone)."""
    rows = valid_rows(use_case, count, seed=5)
    for column in rows.columns:
        if column.strip() in use_case.contract_columns and column.strip() != use_case.id_column:
            rows.loc[rows.index[:bad], column] = "#not a value#"
    return rows


def red_partitions(instance, use_case) -> set[str]:
    """The partitions Dagster shows as failed on the use case's scoring assets or any check of theirs.

    Read as the UI's GraphQL reads them: the assets' partition status cache, the checks' partition states.
    """
    keys = keys_of(use_case)
    partitions_def = dg.DynamicPartitionsDefinition(name=keys.partitions)
    graph = scoring_definitions().resolve_asset_graph()
    checks = [check for check in graph.asset_check_keys if check.asset_key in keys.scoring_assets]
    red: set[str] = set()
    with partition_loading_context(dynamic_partitions_store=instance):
        for asset in keys.scoring_assets:
            cached = get_and_update_asset_status_cache_value(instance, asset, partitions_def)
            if cached is not None:
                red |= set(cached.deserialize_failed_partition_subsets(partitions_def).get_partition_keys())
        states = instance.event_log_storage.get_asset_check_state([(check, partitions_def) for check in checks])
        for state in states.values():
            for status in NOT_STATUSES:
                subset = state.subsets.get(status)
                red |= set(subset.subset_value.get_partition_keys()) if subset is not None else set()
    return red


def test_a_retired_file_leaves_its_partition_and_keeps_its_outputs_and_why(workspace, each_use_case):
    name = each_use_case.name
    source = write_csv(valid_rows(each_use_case, 30), workspace.cwd / "wrong_table.csv")
    before = (source.read_bytes(), os.stat(source).st_mtime_ns)
    assert workspace.run("score", "wrong_table.csv", "--use-case", name).returncode == 0
    [scored] = [path for path in workspace.scored_files(each_use_case) if path.suffix == ".csv"]
    key = scored.stem

    done = workspace.run("retire", "--use-case", name, "--partition", key, "--reason", "wrong table", "--json")
    assert done.returncode == 0, done.stderr
    retired = json.loads(done.stdout)["retired"]
    assert (retired["partition"], retired["why"], retired["source_path"]) == (key, "wrong table", str(source))
    assert retired["who"] and retired["when"] and len(retired["sha256"]) == 64
    moved = {Path(each["from"]): Path(each["to"]) for each in retired["archived"]}
    assert scored in moved and all(not old.exists() and new.exists() for old, new in moved.items())
    assert (source.read_bytes(), os.stat(source).st_mtime_ns) == before  # the original is never moved nor changed
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        assert key not in instance.get_dynamic_partitions(keys_of(each_use_case).partitions)
    ledger = workspace.data_dir / "lake" / name / "retired.jsonl"
    assert [json.loads(line) for line in ledger.read_text().splitlines()] == [retired]

    for asked in (moved[scored], scored):  # the archived copy, or the path it had
        lineage = workspace.run("lineage", str(asked))
        assert lineage.returncode == 0, lineage.stderr
        summary = json.loads(lineage.stdout)
        assert summary["retired"]["why"] == "wrong table" and summary["matches_manifest"]
        assert summary["scored_file"] == str(moved[scored])

    again = workspace.run("score", "wrong_table.csv", "--use-case", name)
    assert again.returncode == 0, again.stderr
    assert scored.exists() and json.loads(workspace.run("lineage", str(scored)).stdout)["retired"] is None


def test_retiring_needs_a_known_partition_and_a_reason(workspace):
    name = USE_CASES[0]
    unknown = workspace.run("retire", "--use-case", name, "--partition", "never-0123abcd", "--reason", "test")
    assert unknown.returncode == 2 and "no partition 'never-0123abcd'" in unknown.stderr
    blank = workspace.run("retire", "--use-case", name, "--partition", "never-0123abcd", "--reason", "  ")
    assert blank.returncode == 2 and "--reason" in blank.stderr
    assert workspace.run("retire", "--use-case", name, "--partition", "x-0123abcd").returncode == 2


def test_retiring_a_refused_file_turns_its_group_green_again(instance, folders, each_use_case, tmp_path):
    good, _ = score_file(
        instance, folders, write_csv(valid_rows(each_use_case, 30), tmp_path / "good.csv"), use_case=each_use_case
    )
    bad, run = score_file(
        instance, folders, write_csv(rows_mostly_bad(each_use_case), tmp_path / "bad.csv"), use_case=each_use_case
    )
    assert not run.success
    red_before = red_partitions(instance, each_use_case)  # the good file may carry a drift warning of its own
    assert bad.partition_key in red_before

    config = {
        "ops": {
            keys_of(each_use_case).retire_file_op: {
                "config": {"partition_key": bad.partition_key, "reason": "test file"}
            }
        }
    }
    result = execute_job(instance, keys_of(each_use_case).retire_file_job, config)

    assert result.success
    assert red_partitions(instance, each_use_case) == red_before - {bad.partition_key}
    assert instance.get_dynamic_partitions(keys_of(each_use_case).partitions) == [good.partition_key]
    own = folders.of(each_use_case.name)
    assert not own.reject_report(bad.partition_key).exists() and own.partition_for_content(bad.sha256) is None
    [record] = [json.loads(line) for line in own.retired_ledger.read_text().splitlines()]
    assert (record["partition"], record["why"]) == (bad.partition_key, "test file")
    assert any(Path(each["to"]).name == f"{bad.partition_key}.csv" for each in record["archived"])  # reject report


def test_the_retire_job_refuses_an_unknown_partition_and_moves_nothing(instance, folders):
    use_case = all_use_cases()[USE_CASES[0]]
    keys = keys_of(use_case)
    config = {"ops": {keys.retire_file_op: {"config": {"partition_key": "never-0123abcd", "reason": "test"}}}}
    result = execute_job(instance, keys.retire_file_job, config)
    assert not result.success
    assert not folders.of(use_case.name).retired_ledger.exists()


def test_a_retired_key_never_comes_back_for_other_content(folders, tmp_path):
    own = folders.of(USE_CASES[0])
    first = own.register_input(write_csv(valid_rows(all_use_cases()[USE_CASES[0]], 5), tmp_path / "file.csv"))
    other = {**first.as_dict(), "sha256": "f" * 64}
    own.retired_key_record(first.partition_key).parent.mkdir(parents=True, exist_ok=True)
    own.retired_key_record(first.partition_key).write_text(json.dumps(other))
    with pytest.raises(PartitionKeyError, match="retired for other content"):
        own.register_input(tmp_path / "file.csv")
