"""Nothing is lost: no output reaches the input, concurrent first runs share one sound instance,
killed runs leave no litter, and a damaged dvc.lock makes files wait instead of failing.

The CLI runs as a real process here (exit codes, stderr, files on disk), with its own
SCORING_DATA_DIR and DAGSTER_HOME per test.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from scoring_assets.core import manifest, scoring
from scoring_assets.core.files import THIS_HOST, atomic_path, file_sha256, remove_dead_writers_temporaries
from scoring_assets.core.model_store import ModelIntegrityError
from scoring_assets.core.output_paths import (
    UnsafeOutputPathError,
    check_outputs_do_not_reach_input,
    check_scored_output_path,
)
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.runs import execute_score_run, model_store, register_file
from scoring_assets.use_cases.telco_churn.generate import write_extract
from tests.support.batches import CREDIT_RISK, TELCO, customer_rows, valid_rows, write_csv
from tests.support.cli_workspace import Workspace, new_workspace
from tests.support.model_roots import copy_dvc_project
from tests.support.scoring_runs import run_config, sensor_resources

pytestmark = pytest.mark.usefixtures("model_artifact")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_MODEL = 0, 1, 2, 4
CONFLICTED_LOCK_LINES = ["<<<<<<< HEAD", "schema: '2.0'", "=======", "schema: '3.0'", ">>>>>>> other-branch"]


def temporaries_under(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders if folder.exists() for path in folder.rglob("*.tmp"))


def dead_process_id() -> int:
    """The id of a process that has just exited (not yet reused: ids are handed out in turn)."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(finished.stdout)


# --- No output may reach the input -------------------------------------------------------


@pytest.fixture
def extract(tmp_path) -> Path:
    return write_csv(customer_rows(20), tmp_path / "work" / "extract.csv")


@pytest.mark.parametrize(
    "spelling",
    ["work/extract.csv", "work/../work/./extract.csv", "elsewhere/../work/extract.csv"],
    ids=["same_path", "dot_segments", "dot_dot_through_another_folder"],
)
def test_an_output_spelled_differently_but_naming_the_input_is_refused(tmp_path, extract, spelling, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(UnsafeOutputPathError, match="is the input file .*: it would be overwritten"):
        check_outputs_do_not_reach_input("work/extract.csv", [Path(spelling)])


def test_an_output_symlinked_to_the_input_is_refused(tmp_path, extract):
    link = tmp_path / "link.csv"
    link.symlink_to(extract)
    with pytest.raises(UnsafeOutputPathError, match="through a symlink"):
        check_outputs_do_not_reach_input(extract, [link])


def test_an_output_at_the_target_of_a_symlinked_input_is_refused(tmp_path, extract):
    link = tmp_path / "link.csv"
    link.symlink_to(extract)
    for output in (extract, link):
        with pytest.raises(UnsafeOutputPathError, match="through a symlink|: it would be overwritten"):
            check_outputs_do_not_reach_input(link, [output])


def test_an_output_in_a_symlinked_folder_reaching_the_input_is_refused(tmp_path, extract):
    (tmp_path / "alias").symlink_to(extract.parent, target_is_directory=True)
    with pytest.raises(UnsafeOutputPathError, match="through a symlink"):
        check_outputs_do_not_reach_input(extract, [tmp_path / "alias" / "extract.csv"])


def test_an_output_hard_linked_to_the_input_is_refused(tmp_path, extract):
    os.link(extract, tmp_path / "hard.csv")
    with pytest.raises(UnsafeOutputPathError, match="a hard link to it"):
        check_outputs_do_not_reach_input(extract, [tmp_path / "hard.csv"])


@pytest.mark.parametrize(
    "input_name, output_name",
    [
        ("out.rejected.csv", "out.csv"),
        ("out.manifest.json", "out.csv"),
        ("out.drift.html", "out.csv"),
        ("archive/out/old/out.csv", "out.csv"),
    ],
    ids=["reject_report", "manifest", "drift_report", "archive_folder"],
)
def test_no_path_written_beside_the_output_may_reach_the_input(tmp_path, input_name, output_name):
    source = write_csv(customer_rows(5), tmp_path / input_name)
    with pytest.raises(UnsafeOutputPathError, match=str(source)):
        check_scored_output_path(source, tmp_path / output_name)


def test_an_output_folder_or_a_path_below_a_file_is_refused(tmp_path, extract):
    with pytest.raises(UnsafeOutputPathError, match="is a folder"):
        check_scored_output_path(extract, tmp_path)
    with pytest.raises(UnsafeOutputPathError, match=f"{extract} is not a folder"):
        check_scored_output_path(extract.with_name("other.csv"), extract / "scored.csv")


def test_an_output_inside_a_protected_folder_is_refused(tmp_path, extract):
    inbox = tmp_path / "inbox"
    with pytest.raises(UnsafeOutputPathError, match="taken for a new input"):
        check_scored_output_path(extract, inbox / "sub" / "scored.csv", protected_folders=[inbox])


def test_an_output_beside_the_input_with_another_name_is_accepted(tmp_path, extract):
    os.link(extract, tmp_path / "copy_of_input.csv")
    check_scored_output_path(extract, extract.with_name("extract_scored.csv"), protected_folders=[tmp_path / "inbox"])
    check_outputs_do_not_reach_input(extract, [tmp_path / "not_yet_written.csv"])


@pytest.fixture
def cli_workspace(tmp_path) -> Workspace:
    workspace = new_workspace(tmp_path / "cli")
    write_csv(customer_rows(20), workspace.cwd / "extract.csv")
    write_csv(customer_rows(20, seed=3), workspace.cwd / "scored.rejected.csv")
    write_csv(customer_rows(20, seed=4), workspace.cwd / "scored.drift.html")
    (workspace.cwd / "link.csv").symlink_to(workspace.cwd / "extract.csv")
    os.link(workspace.cwd / "extract.csv", workspace.cwd / "hard.csv")
    (workspace.cwd / "handoff").mkdir()
    return workspace


@pytest.mark.parametrize(
    "input_name, output, problem",
    [
        ("extract.csv", "extract.csv", "is the input file"),
        ("extract.csv", "handoff/../extract.csv", "is the input file"),
        ("extract.csv", "link.csv", "through a symlink"),
        ("link.csv", "extract.csv", "through a symlink"),
        ("extract.csv", "hard.csv", "a hard link to it"),
        (
            "scored.rejected.csv",
            "scored.csv",
            "the reject report of output scored.csv, scored.rejected.csv, is the input",
        ),
        (
            "scored.drift.html",
            "scored.csv",
            "the drift report of output scored.csv, scored.drift.html, is the input",
        ),
        ("extract.csv", "handoff", "is a folder"),
        ("extract.csv", "scoring_data/inbox/scored.csv", "taken for a new input"),
    ],
    ids=[
        "same_path",
        "dot_dot",
        "output_symlink",
        "input_symlink",
        "hard_link",
        "reject_report",
        "drift_report",
        "folder",
        "inbox",
    ],
)
def test_cli_refuses_an_output_that_could_destroy_the_input_before_registering_anything(
    cli_workspace, input_name, output, problem
):
    inputs = files_with_content(cli_workspace.cwd)

    result = cli_workspace.run("score", input_name, "--output", output)

    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("scoring-assets: ") and len(result.stderr.splitlines()) == 1
    assert f"output {output}" in result.stderr and problem in result.stderr
    assert files_with_content(cli_workspace.cwd) == inputs
    assert not cli_workspace.dagster_home.exists() and not (cli_workspace.data_dir / "lake").exists()


def files_with_content(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_cli_refuses_an_input_inside_the_default_archive_folder_before_registering_anything(cli_workspace):
    """Without --output the scored file goes to the data folder: its archive may not hold the input either."""
    source = write_csv(customer_rows(20), cli_workspace.data_dir / "scored" / TELCO.name / "archive" / "x" / "in.csv")
    inputs = files_with_content(cli_workspace.data_dir)

    result = cli_workspace.run("score", str(source))

    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.startswith("scoring-assets: the archive folder of output ") and "\n" not in result.stderr[:-1]
    assert f"is a folder holding the input {source}" in result.stderr
    assert files_with_content(cli_workspace.data_dir) == inputs
    assert not cli_workspace.dagster_home.exists() and not (cli_workspace.data_dir / "lake").exists()


@pytest.mark.parametrize("output", [None, "handoff/scored.csv"], ids=["default_output", "output_beside_it"])
def test_cli_refuses_an_input_named_like_a_dead_writers_temporary_instead_of_deleting_it(cli_workspace, output):
    """Runs delete what dead writers left in the data folder and beside an output: an input may not look like that."""
    folder = cli_workspace.data_dir / "incoming" if output is None else cli_workspace.cwd / "handoff"
    source = write_csv(customer_rows(20), folder / f".extract.csv.{THIS_HOST}.{dead_process_id()}.0123abcd.tmp")
    content = source.read_bytes()

    result = cli_workspace.run(
        "score", str(source), "--use-case", "telco_churn", *(["--output", output] if output else [])
    )

    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"input {source} is named like the temporary file of an unfinished write" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert source.read_bytes() == content
    assert not (cli_workspace.data_dir / "lake").exists()


# --- Any number of first runs at once on a new Dagster home ------------------------------


def start_scoring(workspace: Workspace, source: Path) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "SCORING_MODEL_ROOT"}
    env.update(SCORING_DATA_DIR=str(workspace.data_dir), DAGSTER_HOME=str(workspace.dagster_home))
    return subprocess.Popen(
        [sys.executable, "-m", "scoring_assets", "score", str(source)],
        cwd=workspace.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_first_runs_started_at_once_on_a_new_dagster_home_all_succeed(tmp_path):
    """Two files of each use case at once: their partitions, runs and model observations share one instance."""
    for attempt in range(3):
        workspace = new_workspace(tmp_path / f"attempt_{attempt}")
        sources = [
            write_csv(valid_rows(use_case, 30, seed=seed), workspace.cwd / f"{use_case.name}_{seed}.csv")
            for use_case in (TELCO, CREDIT_RISK)
            for seed in range(2)
        ]
        processes = [start_scoring(workspace, source) for source in sources]
        outcomes = [(process.wait(timeout=600), process.stderr.read()) for process in processes]
        for process in processes:
            process.stdout.close()
            process.stderr.close()
        assert outcomes == [(EXIT_OK, "")] * 4, f"attempt {attempt}"
        assert (
            len(workspace.scored_files(TELCO)) == len(workspace.scored_files(CREDIT_RISK)) == 6
        )  # csv, manifest, drift report

    later = workspace.run("score", str(write_csv(customer_rows(30, seed=9), workspace.cwd / "later.csv")))
    assert later.returncode == EXIT_OK, later.stderr
    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        statuses = [run.status for run in instance.get_runs()]
    assert statuses == [DagsterRunStatus.SUCCESS] * 5


# --- Two runs of one file at once --------------------------------------------------------


class TwoRunsOfOneFile:
    """Runs A and B of one partition in two threads, held at the racing step of publication.

    Run A stops right after it has published its scored file and manifest, before it checks the
    file against the manifest; run B then goes as far as it can: it stops right after moving the
    earlier result aside (A's, before the fix), or when it has to wait for A (a lock A holds).
    A goes on; B finishes after A. The interleaving in which one run of six failed with
    ``[Errno 2]`` on the scored file, every time.
    """

    def __init__(self, monkeypatch):
        self.a_published, self.b_held, self.release_a, self.release_b = (threading.Event() for _ in range(4))
        publish, archive, flock = scoring.publish_scored_file, manifest.archive_previous, fcntl.flock

        def publish_then_hold_a(*args, **kwargs):
            publication = publish(*args, **kwargs)
            if threading.current_thread().name == "A":
                self.a_published.set()
                assert self.release_a.wait(timeout=300)
            return publication

        def archive_then_hold_b(*args):
            archived = archive(*args)
            if threading.current_thread().name == "B":
                self.b_held.set()
                assert self.release_b.wait(timeout=300)
            return archived

        def note_b_waiting(handle, operation):
            if threading.current_thread().name == "B" and operation == fcntl.LOCK_EX:
                try:
                    return flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self.b_held.set()  # B waits for the lock A holds
            return flock(handle, operation)

        monkeypatch.setattr(scoring, "publish_scored_file", publish_then_hold_a)
        monkeypatch.setattr(manifest, "archive_previous", archive_then_hold_b)
        monkeypatch.setattr(fcntl, "flock", note_b_waiting)

    def run(self, instance, partition_key: str) -> dict:
        results = {}

        def score(name: str) -> None:
            results[name] = execute_score_run(instance, TELCO, partition_key, run_config(TELCO))

        a, b = (threading.Thread(target=score, args=(name,), name=name) for name in "AB")
        a.start()
        assert self.a_published.wait(timeout=300), "run A never published"
        b.start()
        assert self.b_held.wait(timeout=300), "run B neither archived nor waited"
        self.release_a.set()
        a.join(timeout=300)
        self.release_b.set()
        b.join(timeout=300)
        return results


def root_cause(step_failure) -> str:
    error = step_failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return f"{step_failure.step_key}: {error.message.strip()}"


def test_two_runs_of_the_same_file_at_once_both_succeed_and_keep_both_results(instance, folders, tmp_path, monkeypatch):
    own = folders.of(TELCO.name)
    registration = register_file(instance, TELCO, own, write_csv(customer_rows(40), tmp_path / "twice.csv"))
    race = TwoRunsOfOneFile(monkeypatch)

    results = race.run(instance, registration.partition_key)

    failures = {
        name: [root_cause(event) for event in result.all_events if event.is_step_failure]
        for name, result in results.items()
    }
    assert failures == {"A": [], "B": []}
    scored = own.scored_file(registration.partition_key)
    published = json.loads(manifest.manifest_path_for(scored).read_text())
    assert published["run_id"] == results["B"].run_id and published["output"]["sha256"] == file_sha256(scored)
    archived_manifest = Path(published["previous_output_archived_to"]) / manifest.manifest_path_for(scored).name
    earlier = json.loads(archived_manifest.read_text())
    assert earlier["run_id"] == results["A"].run_id
    assert earlier["output"]["sha256"] == file_sha256(archived_manifest.parent / scored.name)


@pytest.fixture
def another_run_moves_it_first(monkeypatch):
    """Whatever is being moved aside is moved away by another run right after it was looked at."""
    new_folder = manifest.new_archive_folder

    def folder_made_while_another_run_moves(parent: Path, label: str) -> Path:
        for earlier in [path for path in parent.parent.parent.iterdir() if path.is_file()]:
            earlier.rename(earlier.with_name(f"moved_by_another_run_{earlier.name}"))
        return new_folder(parent, label)

    monkeypatch.setattr(manifest, "new_archive_folder", folder_made_while_another_run_moves)


@pytest.mark.usefixtures("another_run_moves_it_first")
def test_moving_aside_what_another_run_has_just_moved_aside_is_not_an_error(tmp_path):
    scored = tmp_path / "out" / "scored.csv"
    for path in (scored, manifest.manifest_path_for(scored), manifest.reject_report_path_for(scored)):
        write_csv(customer_rows(3), path)

    assert manifest.archive_previous(scored, manifest.reject_report_path_for(scored)) is None
    write_csv(customer_rows(3), scored)
    assert manifest.set_aside(scored) is None
    assert not (scored.parent / manifest.ARCHIVE_FOLDER).exists(), "no empty archive folder is left behind"


# --- Killed runs leave no litter ---------------------------------------------------------


def test_a_temporary_of_a_live_writer_is_never_removed(tmp_path):
    alive = tmp_path / f".scored.csv.{THIS_HOST}.{os.getpid()}.0123abcd.tmp"
    dead = tmp_path / f".scored.csv.{THIS_HOST}.{dead_process_id()}.0123abcd.tmp"
    other_host = tmp_path / f".scored.csv.another-host.{dead_process_id()}.0123abcd.tmp"
    not_ours = tmp_path / ".notes.tmp"
    for path in (alive, dead, other_host, not_ours):
        path.write_text("partial")

    assert remove_dead_writers_temporaries(tmp_path) == [dead]
    assert sorted(tmp_path.iterdir()) == sorted([alive, other_host, not_ours])


def test_writing_into_a_folder_removes_dead_writers_temporaries_there_and_keeps_its_own(tmp_path):
    dead = tmp_path / "lake" / f".old.parquet.{THIS_HOST}.{dead_process_id()}.0123abcd.tmp"
    nested = tmp_path / "lake" / "deeper" / dead.name
    for path in (dead, nested):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")

    with atomic_path(tmp_path / "lake" / "new.parquet") as temporary:
        temporary.write_text("complete")
        assert not dead.exists() and nested.exists(), "only the destination folder is swept while writing"

    assert (tmp_path / "lake" / "new.parquet").read_text() == "complete"
    assert remove_dead_writers_temporaries(tmp_path, recursive=True) == [nested]


@pytest.fixture(scope="module")
def big_extract(tmp_path_factory) -> Path:
    """300,000 rows: scoring takes long enough to be stopped in the middle of writing."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    write_extract(path, 300_000, seed=7, labelled=False)
    return path


def stop_while_writing(workspace: Workspace, source: Path, output: Path, signum: int) -> subprocess.CompletedProcess:
    """Start scoring, wait until a temporary exists in ``output``'s folder, then send ``signum``."""
    env = {key: value for key, value in os.environ.items() if key != "SCORING_MODEL_ROOT"}
    env.update(SCORING_DATA_DIR=str(workspace.data_dir), DAGSTER_HOME=str(workspace.dagster_home))
    command = [sys.executable, "-m", "scoring_assets", "score", str(source), "--output", str(output)]
    with subprocess.Popen(command, cwd=workspace.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as run:
        while not temporaries_under(output.parent) and run.poll() is None:
            time.sleep(0.01)
        assert run.poll() is None, "the run finished before it could be stopped: use a bigger file"
        os.kill(run.pid, signum)
        stdout, stderr = run.communicate(timeout=600)
    return subprocess.CompletedProcess(command, run.returncode, stdout.decode(), stderr.decode())


def test_temporaries_of_a_run_killed_while_writing_are_removed_by_the_next_run(workspace, big_extract):
    output = workspace.cwd / "handoff" / "scored.csv"

    killed = stop_while_writing(workspace, big_extract, output, signal.SIGKILL)

    assert killed.returncode == -signal.SIGKILL
    assert temporaries_under(output.parent), "kill -9 leaves the temporary being written"
    assert not output.exists()
    rerun = workspace.run("score", str(big_extract), "--output", str(output))
    assert rerun.returncode == EXIT_OK, rerun.stderr
    assert output.exists()
    assert temporaries_under(workspace.data_dir, output.parent) == []


def test_sigterm_stops_the_cli_cleanly_without_leaving_temporaries(workspace, big_extract):
    output = workspace.cwd / "handoff" / "scored.csv"

    stopped = stop_while_writing(workspace, big_extract, output, signal.SIGTERM)

    assert stopped.returncode == EXIT_ERROR
    assert "Traceback" not in stopped.stderr
    assert temporaries_under(workspace.data_dir, output.parent) == []
    assert not output.exists()
    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        assert [run.status for run in instance.get_runs()] == [DagsterRunStatus.FAILURE]


# --- A damaged dvc.lock is a model-integrity failure -------------------------------------


@pytest.fixture
def conflicted_model_root(tmp_path) -> Path:
    root = copy_dvc_project(tmp_path / "conflicted")
    lock = (root / "dvc.lock").read_text().splitlines()
    (root / "dvc.lock").write_text("\n".join([lock[0], *CONFLICTED_LOCK_LINES, *lock[1:]]) + "\n")
    return root


def test_cli_exits_4_with_the_repair_for_a_dvc_lock_with_merge_conflict_markers(
    workspace, conflicted_model_root, use_case
):
    write_csv(valid_rows(use_case, 20), workspace.cwd / "extract.csv")

    result = workspace.run("score", "extract.csv", model_root=conflicted_model_root)

    assert result.returncode == EXIT_MODEL
    assert result.stderr == (
        f"scoring-assets: {use_case.name} model: {conflicted_model_root / 'dvc.lock'} has merge-conflict markers "
        "(line 2): resolve the merge conflict or restore it with `git checkout dvc.lock` (or fix it by hand), then "
        "run `dvc repro`\n"
    )
    assert workspace.scored_files(use_case) == []
    assert not (workspace.data_dir / "lake").exists(), "nothing is registered for a model that cannot run"


def test_inbox_sensor_keeps_files_waiting_while_dvc_lock_is_damaged(
    instance, folders, conflicted_model_root, monkeypatch, use_case
):
    monkeypatch.setenv("SCORING_MODEL_ROOT", str(conflicted_model_root))
    with pytest.raises(ModelIntegrityError):
        model_store().verify(use_case)
    path = write_csv(valid_rows(use_case, 10), folders.of(use_case.name).inbox / "monday.csv")
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    inbox_sensor = scoring_definitions().resolve_sensor_def(f"{use_case.name}__inbox_sensor")

    cursor, reasons = None, []
    for _ in range(3):  # a file is taken once it has been seen unchanged across ticks
        context = build_sensor_context(instance=instance, cursor=cursor, resources=sensor_resources(folders))
        result = inbox_sensor(context)
        assert not result.run_requests
        cursor = result.cursor
        reasons.append(result.skip_reason.skip_message)

    waiting = [reason for reason in reasons if "monday.csv" in reason]
    assert waiting, reasons
    assert all("waiting" in reason and "merge-conflict markers" in reason for reason in waiting)
