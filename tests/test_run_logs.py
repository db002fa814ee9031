"""A run on the shipped instance config prints a few lines to its console, while the event log keeps every event.

Runs the daemon or the webserver launch print into the service's logs. Dagster's default console
logger prints each event (STEP_START, STEP_SUCCESS, ...) at DEBUG, about 60 lines per scored
file; the shipped instance config sets ``python_logs.python_log_level`` to INFO so they stay in
the event log, which the UI shows, and out of the logs.
"""

from __future__ import annotations

import pytest
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

from scoring_assets.core.paths import INSTANCE_CONFIG_PATH
from tests.support.batches import valid_rows, write_csv
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file

EVENT_LINES = ("STEP_START", "STEP_SUCCESS", "ASSET_MATERIALIZATION")


@pytest.fixture
def shipped_instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG_PATH.read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        yield instance


def printed_by_a_scored_file(instance, folders, use_case, tmp_path, capfd) -> str:
    """What scoring a small file through the real job prints to stdout and stderr (the run must succeed)."""
    built_model(use_case)
    source = write_csv(valid_rows(use_case, 40), tmp_path / "inbox" / "batch.csv")
    capfd.readouterr()
    _, result = score_file(instance, folders, source, use_case=use_case)
    assert result.success
    captured = capfd.readouterr()
    return captured.out + captured.err


def test_a_run_prints_no_event_lines_and_records_every_event(shipped_instance, folders, use_case, tmp_path, capfd):
    printed = printed_by_a_scored_file(shipped_instance, folders, use_case, tmp_path, capfd)

    assert not [event for event in EVENT_LINES if event in printed], printed[-2000:]
    started = shipped_instance.get_event_records(EventRecordsFilter(event_type=DagsterEventType.STEP_START))
    assert started, "the event log still records the DEBUG-level events"


def test_without_the_setting_a_run_prints_every_event(instance, folders, use_case, tmp_path, capfd):
    """The other side: Dagster's default (DEBUG) prints the event lines, so the test above can fail."""
    printed = printed_by_a_scored_file(instance, folders, use_case, tmp_path, capfd)

    assert all(event in printed for event in EVENT_LINES)
