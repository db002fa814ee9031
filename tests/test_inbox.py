"""What the inbox sensor considers a complete, new file (pure rules, no Dagster)."""

from __future__ import annotations

import os
import time

import pytest

from scoring_assets.inbox import InboxState, is_candidate_name, scan_inbox


@pytest.mark.parametrize(
    "name, candidate",
    [
        ("customers.csv", True),
        ("Customers Export.CSV", True),
        (".hidden.csv", False),
        ("~lock.customers.csv", False),
        ("customers.csv.tmp", False),
        ("customers.csv.part", False),
        ("customers.csv.crdownload", False),
        ("customers.csv.filepart", False),
        ("customers.txt", False),
        ("customers.parquet", False),
    ],
)
def test_only_visible_finished_csv_names_are_candidates(name, candidate):
    assert is_candidate_name(name) is candidate


def age(path, seconds: float) -> None:
    """Pretend ``path`` was last written ``seconds`` ago."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def tick(inbox, state, settle=5.0):
    return [path.name for path, _ in scan_inbox(inbox, state, now=time.time(), settle_seconds=settle)]


def test_a_file_is_ready_only_once_it_is_unchanged_across_ticks_and_settled(tmp_path):
    state = InboxState()
    target = tmp_path / "batch.csv"
    target.write_text("customerID\n1\n")
    age(target, 60)
    assert tick(tmp_path, state) == [], "first sight: not yet known to be stable"
    assert tick(tmp_path, state) == ["batch.csv"]


def test_a_growing_file_is_never_ready(tmp_path):
    state = InboxState()
    target = tmp_path / "growing.csv"
    target.write_text("customerID\n")
    for row in range(5):
        with open(target, "a") as handle:
            handle.write(f"{row}\n")
        assert tick(tmp_path, state, settle=0) == []


def test_a_recently_written_file_waits_for_the_settle_time(tmp_path):
    state = InboxState()
    (tmp_path / "fresh.csv").write_text("customerID\n1\n")
    assert tick(tmp_path, state, settle=30) == []
    assert tick(tmp_path, state, settle=30) == []
    age(tmp_path / "fresh.csv", 31)
    tick(tmp_path, state, settle=30)
    assert tick(tmp_path, state, settle=30) == ["fresh.csv"]


def test_empty_and_temporary_files_are_not_picked_up(tmp_path):
    state = InboxState()
    for name in ("empty.csv", ".in-progress.csv", "upload.csv.part"):
        (tmp_path / name).write_text("" if name == "empty.csv" else "customerID\n1\n")
        age(tmp_path / name, 60)
    tick(tmp_path, state)
    assert tick(tmp_path, state) == []


def test_handled_files_are_skipped_until_they_change_and_forgotten_when_removed(tmp_path):
    state = InboxState()
    target = tmp_path / "batch.csv"
    target.write_text("customerID\n1\n")
    age(target, 60)
    tick(tmp_path, state)
    [(path, signature)] = scan_inbox(tmp_path, state, now=time.time(), settle_seconds=5)
    state.mark_handled(path, signature)
    assert tick(tmp_path, state) == []

    target.write_text("customerID\n2\n3\n")  # re-delivered under the same name
    age(target, 30)
    tick(tmp_path, state)
    assert tick(tmp_path, state) == ["batch.csv"]

    target.unlink()
    tick(tmp_path, state)
    assert state.handled == {} and state.pending == {}


def test_state_survives_a_round_trip_through_the_cursor(tmp_path):
    state = InboxState(pending={"a.csv": (10, 1)}, handled={"b.csv": (20, 2)})
    assert InboxState.from_cursor(state.to_cursor()) == state
    assert InboxState.from_cursor(None) == InboxState()


def test_thousands_of_files_are_scanned_without_reading_them(tmp_path):
    state = InboxState()
    for index in range(3000):
        (tmp_path / f"file_{index:04d}.csv").write_text("x\n")
    old = time.time() - 60
    for entry in os.scandir(tmp_path):
        os.utime(entry.path, (old, old))
    tick(tmp_path, state)
    ready = tick(tmp_path, state)
    assert len(ready) == 3000 and len(set(ready)) == 3000
