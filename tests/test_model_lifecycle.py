"""Promotion and rollback: ``served.dvc`` is the one switch, the history says who switched what and why.

Each test works in a DVC project of its own (``dvc_model_root``: the repository's dvc.lock, DVC
config and champion files, with the champion in its cache) and makes challengers with
``new_challenger``: the champion's Pipeline re-pickled with compression, so another md5 and the
same predictions. The commands run as a user runs them (``scoring-assets`` in a subprocess, with
``SCORING_MODEL_ROOT`` at the temporary project); tests marked e2e also run the real ``dvc``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.model_lifecycle import build_model_history_asset
from scoring_assets.builders.model_sensors import build_model_sensor
from scoring_assets.core.dvc_cache import cache_object
from scoring_assets.core.model_lifecycle import STEPS, ModelFiles, promote, rollback
from scoring_assets.core.model_store import ModelIntegrityError, verify_artifact
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import TELCO, USE_CASE_NAMES, valid_rows, write_csv
from tests.support.cli_workspace import reported_path
from tests.support.model_roots import built_model, dvc_model_root, dvc_status, new_challenger

USE_CASE = ["--use-case", TELCO.name]


@pytest.fixture
def model_root(tmp_path, model_artifact) -> Path:
    return dvc_model_root(tmp_path / "models")


def run_json(workspace, root: Path, *args: str) -> dict:
    result = workspace.run(*args, "--json", model_root=root)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def changed_in_git(root: Path) -> list[str]:
    """What ``git`` shows changed since the last commit (new files included), then commit it."""
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    names = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "switch"], cwd=root, check=True
    )
    return names


def manifest_model_md5(workspace, root: Path, tmp_path: Path, name: str) -> str:
    source = write_csv(valid_rows(TELCO, 20, seed=len(name)), tmp_path / f"{name}.csv")
    result = workspace.run("score", str(source), *USE_CASE, model_root=root)
    assert result.returncode == 0, result.stderr
    return json.loads(reported_path(result.stdout, "manifest").read_text())["model"]["md5"]


@pytest.mark.e2e
def test_promoting_a_challenger_the_gate_passed_serves_it_and_git_shows_only_the_switch(
    tmp_path, workspace, model_artifact
):
    root = dvc_model_root(tmp_path / "models", git=True)
    champion = verify_artifact(TELCO, root).md5
    files = ModelFiles(TELCO, root)
    folder = files.folder.relative_to(root)
    challenger = new_challenger(root)
    switched = run_json(workspace, root, "promote", *USE_CASE)
    assert (switched["served_md5"], switched["previous_md5"]) == (challenger, champion)
    assert verify_artifact(TELCO, root).md5 == challenger
    assert dvc_status(root) == "Data and pipelines are up to date."
    assert sorted(changed_in_git(root)) == [
        f"{folder}/.gitignore",
        f"{folder}/model_history.jsonl",
        f"{folder}/served.dvc",
    ]
    assert cache_object(root, champion).is_file(), "the previous champion stays in the DVC cache"
    assert not files.challenger.exists() and not files.challenger.with_suffix("").exists()
    assert manifest_model_md5(workspace, root, tmp_path, "after_promotion") == challenger

    second = new_challenger(root, compress=5)
    assert run_json(workspace, root, "promote", *USE_CASE)["served_md5"] == second
    assert sorted(changed_in_git(root)) == [f"{folder}/model_history.jsonl", f"{folder}/served.dvc"]
    assert dvc_status(root) == "Data and pipelines are up to date."


def test_promotion_without_a_challenger_is_refused_as_usage(workspace, model_root):
    result = workspace.run("promote", *USE_CASE, model_root=model_root)
    assert result.returncode == 2
    assert "has no challenger" in result.stderr


def test_a_challenger_that_failed_the_gate_is_refused_with_each_failed_criterion_and_its_figure(workspace, model_root):
    champion = verify_artifact(TELCO, model_root).md5
    new_challenger(model_root, passed=False)
    result = workspace.run("promote", *USE_CASE, model_root=model_root)
    assert result.returncode == 5
    assert "failed the gate: roc_auc = 0.71 (threshold 0.75)" in result.stderr
    assert verify_artifact(TELCO, model_root).md5 == champion


def test_a_challenger_without_a_verdict_is_refused_by_the_gate(workspace, model_root):
    new_challenger(model_root, passed=None)
    result = workspace.run("promote", *USE_CASE, model_root=model_root)
    assert result.returncode == 5
    assert "no gate verdict is recorded" in result.stderr


def test_forcing_a_promotion_needs_a_reason_and_records_it(workspace, model_root):
    challenger = new_challenger(model_root, passed=False)
    assert workspace.run("promote", *USE_CASE, "--force", model_root=model_root).returncode == 2
    switched = run_json(workspace, model_root, "promote", *USE_CASE, "--force", "--reason", "regulator asked for it")
    assert switched["served_md5"] == challenger
    history = run_json(workspace, model_root, "models", *USE_CASE)["history"]
    assert history[-1]["event"] == "promoted"
    assert history[-1]["why"] == "forced: regulator asked for it"
    assert history[-1]["gate"]["passed"] is False


def test_rollback_serves_the_previous_champion_again_and_walks_further_back_each_time(tmp_path, workspace, model_root):
    champion = verify_artifact(TELCO, model_root).md5
    first = new_challenger(model_root, compress=3)
    promote(TELCO, model_root)
    second = new_challenger(model_root, compress=5)
    promote(TELCO, model_root)
    back = run_json(workspace, model_root, "rollback", *USE_CASE)
    assert (back["served_md5"], back["previous_md5"], back["record"]["event"]) == (first, second, "rolled_back")
    assert manifest_model_md5(workspace, model_root, tmp_path, "after_rollback") == first
    assert run_json(workspace, model_root, "rollback", *USE_CASE)["served_md5"] == champion
    assert not ModelFiles(TELCO, model_root).served.exists(), "back past the first promotion: dvc.lock's champion"
    assert verify_artifact(TELCO, model_root).md5 == champion
    nothing_before = workspace.run("rollback", *USE_CASE, model_root=model_root)
    assert nothing_before.returncode == 2 and "no model was served before it" in nothing_before.stderr
    assert (
        run_json(workspace, model_root, "rollback", *USE_CASE, "--to", TELCO.model_version(second))["served_md5"]
        == second
    )


def test_rollback_to_a_model_never_served_is_refused_as_usage(workspace, model_root):
    new_challenger(model_root)
    promote(TELCO, model_root)
    result = workspace.run("rollback", *USE_CASE, "--to", "0123456789ab", model_root=model_root)
    assert result.returncode == 2 and "was never served" in result.stderr


def test_rollback_to_a_model_missing_from_the_dvc_cache_says_to_dvc_pull(workspace, model_root):
    first = new_challenger(model_root, compress=3)
    promote(TELCO, model_root)
    new_challenger(model_root, compress=5)
    promote(TELCO, model_root)
    os.chmod(cache_object(model_root, first), 0o644)
    cache_object(model_root, first).unlink()
    result = workspace.run("rollback", *USE_CASE, "--to", first[:12], model_root=model_root)
    assert result.returncode == 4
    assert "dvc pull" in result.stderr and "Traceback" not in result.stderr


def test_models_json_shows_champion_challenger_and_history(workspace, model_root):
    champion = verify_artifact(TELCO, model_root).md5
    challenger = new_challenger(model_root)
    shown = run_json(workspace, model_root, "models", *USE_CASE)
    assert set(shown) == {"champion", "challenger", "history"}
    assert (shown["champion"]["md5"], shown["champion"]["source"]) == (champion, "dvc.lock")
    assert shown["challenger"]["md5"] == challenger
    assert shown["challenger"]["gate"]["passed"] is True
    assert shown["challenger"]["training_set"]["rows"] == 100
    [challenged] = shown["history"]
    assert challenged["event"] == "challenged" and challenged["model_md5"] == challenger
    assert {"who", "when", "dir_md5", "metrics"} <= set(challenged)


def test_discarding_drops_the_challenger_and_records_it(workspace, model_root):
    challenger = new_challenger(model_root)
    assert workspace.run("discard", *USE_CASE, model_root=model_root).returncode == 0
    shown = run_json(workspace, model_root, "models", *USE_CASE)
    assert shown["challenger"] is None
    assert [(each["event"], each["model_md5"]) for each in shown["history"]][-1] == ("discarded", challenger)


def test_replacing_a_challenger_records_the_one_replaced_as_discarded(model_root):
    first = new_challenger(model_root, compress=3)
    second = new_challenger(model_root, compress=5)
    history = ModelFiles(TELCO, model_root).history.read_text().splitlines()
    assert [(json.loads(line)["event"], json.loads(line)["model_md5"]) for line in history] == [
        ("challenged", first),
        ("discarded", first),
        ("challenged", second),
    ]


@pytest.mark.parametrize(
    "damage, says",
    [
        ("outs: [\n", "is not valid YAML"),
        ("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: served\n", "dvc pull"),
    ],
)
def test_a_damaged_served_dvc_is_a_model_problem_not_a_traceback(workspace, model_root, damage, says):
    ModelFiles(TELCO, model_root).served.write_text(damage)
    result = workspace.run("models", *USE_CASE, "--json", model_root=model_root)
    assert result.returncode == 4
    assert says in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(ModelIntegrityError, match=says):
        verify_artifact(TELCO, model_root)


# --- a process killed at any step leaves a champion that verifies ---------------------------------------


def killed_at(workspace, root: Path, step: str, *args: str) -> None:
    """Run the command until it pauses at ``step`` (the lifecycle's test seam), then kill -9 it there."""
    process = workspace.start(*args, model_root=root, SCORING_LIFECYCLE_PAUSE_AT=step)
    deadline, said = time.monotonic() + 120, ""
    try:
        while f"paused at {step}" not in said:
            assert time.monotonic() < deadline, f"never paused at {step}: {said}"
            ready, _, _ = select.select([process.stderr], [], [], 1)
            line = process.stderr.readline() if ready else ""
            assert line or process.poll() is None, f"ended before pausing at {step}: {said}"
            said += line
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("step", STEPS)
def test_a_promotion_killed_at_any_step_serves_the_old_or_the_new_champion(workspace, model_root, step):
    champion = verify_artifact(TELCO, model_root).md5
    challenger = new_challenger(model_root)
    killed_at(workspace, model_root, step, "promote", *USE_CASE)
    assert verify_artifact(TELCO, model_root).md5 in {champion, challenger}
    assert verify_artifact(TELCO, model_root).md5 == (champion if step == "cached" else challenger)
    assert run_json(workspace, model_root, "models", *USE_CASE)["champion"]["md5"] in {champion, challenger}


@pytest.mark.parametrize("step", STEPS)
def test_a_rollback_killed_at_any_step_serves_the_old_or_the_new_champion(workspace, model_root, step):
    first = new_challenger(model_root, compress=3)
    promote(TELCO, model_root)
    second = new_challenger(model_root, compress=5)
    promote(TELCO, model_root)
    killed_at(workspace, model_root, step, "rollback", *USE_CASE)
    assert verify_artifact(TELCO, model_root).md5 == (second if step == "cached" else first)
    champion_before = first if step == "cached" else built_model(TELCO).md5
    assert rollback(TELCO, model_root).served_md5 == champion_before, "the next rollback walks on from where it is"


@pytest.mark.parametrize("step", [step for step in STEPS if step != "materializing"])
def test_a_rollback_to_the_dvc_lock_champion_killed_at_any_step_serves_the_old_or_the_new(workspace, model_root, step):
    champion = verify_artifact(TELCO, model_root).md5
    challenger = new_challenger(model_root)
    promote(TELCO, model_root)
    killed_at(workspace, model_root, step, "rollback", *USE_CASE)
    assert verify_artifact(TELCO, model_root).md5 == (challenger if step == "cached" else champion)


@pytest.mark.parametrize("name", USE_CASE_NAMES)
def test_every_use_case_can_promote_and_roll_back(tmp_path, name):
    use_case = declared_use_case(name)
    built = built_model(use_case)
    root = dvc_model_root(tmp_path / name, use_case)
    challenger = new_challenger(root, use_case)
    assert promote(use_case, root).served_md5 == challenger
    assert verify_artifact(use_case, root).md5 == challenger
    assert rollback(use_case, root).served_md5 == built.md5


def run_lifecycle_job(instance, job_name: str, op_name: str, config: dict):
    job = scoring_definitions().resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance, run_config={"ops": {op_name: {"config": config}}}, raise_on_error=False
    )


def test_the_ui_jobs_promote_and_roll_back_with_the_same_refusals_as_the_command(instance, monkeypatch, model_root):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(model_root))
    keys, champion = keys_of(TELCO), verify_artifact(TELCO, model_root).md5
    challenger = new_challenger(model_root, passed=False)
    refused = run_lifecycle_job(instance, keys.promote_job, keys.promote_op, {})
    assert not refused.success
    [failure] = [event for event in refused.all_events if event.is_step_failure]
    assert "roc_auc = 0.71 (threshold 0.75)" in failure.step_failure_data.user_failure_data.description
    forced = run_lifecycle_job(instance, keys.promote_job, keys.promote_op, {"force": True, "reason": "tested"})
    assert forced.success and verify_artifact(TELCO, model_root).md5 == challenger
    assert run_lifecycle_job(instance, keys.rollback_job, keys.rollback_op, {"to": champion[:12]}).success
    assert verify_artifact(TELCO, model_root).md5 == champion


def test_the_model_history_asset_shows_the_champion_the_challenger_and_who_did_what(instance, monkeypatch, model_root):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(model_root))
    first = new_challenger(model_root)
    promote(TELCO, model_root)
    second = new_challenger(model_root, compress=5)

    history = keys_of(TELCO).model_history
    observing = dg.Definitions(
        assets=[build_model_history_asset(TELCO)],
        jobs=[dg.define_asset_job("observe_history", selection=[history])],
        resources=scoring_resources(),
    )
    observed = observing.resolve_job_def("observe_history").execute_in_process(instance=instance)

    assert observed.success
    [observation] = [
        event.asset_observation_data.asset_observation for event in observed.get_asset_observation_events()
    ]
    metadata = {name: value.value for name, value in observation.metadata.items()}
    assert (metadata["champion_md5"], metadata["challenger_md5"]) == (first, second)
    table = metadata["history"]
    assert table.index("challenged") < table.index("promoted") < table.rindex("challenged"), "newest first"
    assert TELCO.model_version(first) in table and TELCO.model_version(second) in table
    assert "trained on ?, 100 rows, md5 000000000000" in table, "a challenger's row says what it was trained on"


def test_the_model_sensor_observes_the_history_once_per_change(instance, monkeypatch, model_root):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(model_root))
    sensor, history = build_model_sensor(TELCO), keys_of(TELCO).model_history

    def tick() -> list:
        context = dg.build_sensor_context(instance=instance, resources=scoring_resources())
        result = sensor.evaluate_tick(context)
        for event in result.asset_events:
            instance.report_runless_asset_event(event)  # what the daemon does with a tick's events
        return [event for event in result.asset_events if event.asset_key == history]

    assert len(tick()) == 1 and tick() == [], "observed once, then only after a change"
    challenger = new_challenger(model_root)
    [after_challenge] = tick()
    assert after_challenge.metadata["challenger_md5"].value == challenger
    promote(TELCO, model_root)
    [after_promotion] = tick()
    assert after_promotion.metadata["champion_md5"].value == challenger
    assert tick() == []
