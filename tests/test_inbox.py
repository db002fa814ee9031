"""Which inbox entries have settled and what can be decided about them without reading them (pure rules)."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

from scoring_assets.core.inbox import (
    RECENT_DECISIONS,
    SECOND_SIGHTING_IN_TICK_SECONDS,
    Decision,
    DecisionRecord,
    InboxState,
    decision_without_reading,
    is_being_written,
    printable_name,
    scan_inbox,
    second_sighting_wait,
    signature_of,
)


@pytest.mark.parametrize(
    "name, being_written",
    [
        ("customers.csv", False),
        ("Customers Export.CSV", False),
        ("notes.txt", False),
        (".hidden.csv", True),
        ("~lock.customers.csv", True),
        ("customers.csv.tmp", True),
        ("customers.csv.part", True),
        ("customers.csv.crdownload", True),
        ("customers.CSV.FILEPART", True),
    ],
)
def test_hidden_and_temporary_names_are_files_still_being_written(name, being_written):
    assert is_being_written(name) is being_written


@pytest.mark.parametrize(
    "name, kind, size, decision",
    [
        ("customers.csv", "file", 10, None),
        ("Customers Export.CSV", "file", 10, None),
        ("customers.csv", "file", 0, Decision.EMPTY),
        ("customers.txt", "file", 10, Decision.NOT_CSV),
        ("customers.xlsx", "file", 10, Decision.NOT_CSV),
        ("customers.csv.gz", "file", 10, Decision.NOT_CSV),
        ("caf\udce9.csv", "file", 10, Decision.UNREADABLE_NAME),
        ("two\nlines.csv", "file", 10, Decision.UNREADABLE_NAME),
        ("invoice\u202evsc.csv", "file", 10, Decision.UNREADABLE_NAME),
        ("café 北京.csv", "file", 10, None),
        ("batches", "folder", 0, Decision.NOT_A_FILE),
        ("link.csv", "symbolic link", 10, Decision.NOT_A_FILE),
        ("pipe.csv", "special file", 0, Decision.NOT_A_FILE),
    ],
)
def test_what_is_decided_from_the_directory_entry_alone(name, kind, size, decision):
    verdict = decision_without_reading(name, kind, size)
    assert (verdict[0] if verdict else None) == decision
    if verdict:
        assert verdict[1], "every decision says why"


def test_unreadable_names_are_shown_with_their_bytes_escaped():
    assert printable_name("caf\udce9.csv") == "caf\\xe9.csv"
    assert printable_name("two\nlines.csv") == "two\\u000alines.csv"
    assert printable_name("café.csv") == "café.csv"


def age(path, seconds: float) -> None:
    """Pretend ``path`` was last written ``seconds`` ago."""
    past = time.time() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


def tick(inbox, state, settle=5.0):
    return [entry.name for entry in scan_inbox(inbox, state, now=time.time(), settle_seconds=settle)]


def decide_all(inbox, state):
    """Scan and mark every settled entry handled, as the sensor does for decided files."""
    for entry in scan_inbox(inbox, state, now=time.time(), settle_seconds=5):
        state.mark_handled(entry.path, entry.signature)


def test_a_file_settles_only_once_it_is_unchanged_across_ticks_and_old_enough(tmp_path):
    state = InboxState()
    target = tmp_path / "batch.csv"
    target.write_text("customerID\n1\n")
    age(target, 60)
    assert tick(tmp_path, state) == [], "first sight: not yet known to be stable"
    assert tick(tmp_path, state) == ["batch.csv"]


def test_a_growing_file_never_settles(tmp_path):
    state = InboxState()
    target = tmp_path / "growing.csv"
    target.write_text("customerID\n")
    for row in range(5):
        with open(target, "a") as handle:
            handle.write(f"{row}\n")
        assert tick(tmp_path, state, settle=0) == []


def test_a_short_settle_is_waited_for_within_the_tick_only_when_something_is_still_settling(tmp_path):
    state = InboxState()
    (tmp_path / "new.csv").write_text("customerID\n1\n")
    now = time.time()
    settled = scan_inbox(tmp_path, state, now=now, settle_seconds=1)
    assert settled == [] and second_sighting_wait(state, settled, 1, now) == 1
    assert second_sighting_wait(state, settled, SECOND_SIGHTING_IN_TICK_SECONDS, now) == SECOND_SIGHTING_IN_TICK_SECONDS
    assert second_sighting_wait(state, settled, SECOND_SIGHTING_IN_TICK_SECONDS + 0.5, now) == 0, "the next tick looks"
    assert second_sighting_wait(state, settled, 0, now) == 0, "no settle: no second look in the tick"
    settled = scan_inbox(tmp_path, state, now=now + 1, settle_seconds=1)
    assert [entry.name for entry in settled] == ["new.csv"]
    assert second_sighting_wait(state, settled, 1, now + 1) == 0, "everything seen has settled: nothing to wait for"


def test_an_unchanged_file_not_yet_old_enough_is_waited_for_but_a_file_from_the_future_is_not(tmp_path):
    """Seen before and unchanged, but modified less than the settle ago: the wait lets it settle.
    Modified after now (a share whose clock runs ahead): no wait could settle it, so none is spent."""
    state = InboxState()
    recent = tmp_path / "recent.csv"
    recent.write_text("customerID\n1\n")
    now = time.time()
    scan_inbox(tmp_path, state, now=now, settle_seconds=1)
    settled = scan_inbox(tmp_path, state, now=now + 0.5, settle_seconds=1)
    assert settled == [] and second_sighting_wait(state, settled, 1, now + 0.5) == 1
    assert [e.name for e in scan_inbox(tmp_path, state, now=now + 1.5, settle_seconds=1)] == ["recent.csv"]

    state = InboxState()
    recent.unlink()
    ahead = tmp_path / "ahead.csv"
    ahead.write_text("customerID\n1\n")
    os.utime(ahead, (now + 3600, now + 3600))
    for look in range(2):  # first sighting, then unchanged
        settled = scan_inbox(tmp_path, state, now=now, settle_seconds=1)
        assert settled == [] and second_sighting_wait(state, settled, 1, now) == 0, look
    assert [e.name for e in scan_inbox(tmp_path, state, now=now + 3601, settle_seconds=1)] == ["ahead.csv"]


def test_a_recently_written_file_waits_for_the_settle_time(tmp_path):
    state = InboxState()
    (tmp_path / "fresh.csv").write_text("customerID\n1\n")
    assert tick(tmp_path, state, settle=30) == []
    assert tick(tmp_path, state, settle=30) == []
    age(tmp_path / "fresh.csv", 31)
    tick(tmp_path, state, settle=30)
    assert tick(tmp_path, state, settle=30) == ["fresh.csv"]


def test_files_being_written_are_passed_over_and_every_other_entry_settles_with_its_verdict(tmp_path):
    state = InboxState()
    for name in (".in-progress.csv", "upload.csv.part"):
        (tmp_path / name).write_text("customerID\n1\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "good.csv").write_text("customerID\n1\n")
    (tmp_path / "subfolder").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "good.csv")
    os.mkfifo(tmp_path / "pipe.csv")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "socket.csv"))
        for entry in os.scandir(tmp_path):
            age(entry.path, 60)
        tick(tmp_path, state)
        verdicts = {
            entry.name: entry.verdict and entry.verdict[0]
            for entry in scan_inbox(tmp_path, state, now=time.time(), settle_seconds=5)
        }
    assert verdicts == {
        "empty.csv": Decision.EMPTY,
        "notes.txt": Decision.NOT_CSV,
        "good.csv": None,
        "subfolder": Decision.NOT_A_FILE,
        "link.csv": Decision.NOT_A_FILE,
        "pipe.csv": Decision.NOT_A_FILE,
        "socket.csv": Decision.NOT_A_FILE,
    }


def test_an_undecodable_file_name_is_scanned_not_crashed_on(tmp_path):
    state = InboxState()
    name = os.fsdecode(b"caf\xe9.csv")  # Latin-1 bytes: not UTF-8
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.csv"), "w") as handle:
        handle.write("customerID\n1\n")
    age(tmp_path / name, 60)
    tick(tmp_path, state)
    [entry] = scan_inbox(tmp_path, state, now=time.time(), settle_seconds=5)
    assert entry.name == name and entry.verdict[0] == Decision.UNREADABLE_NAME
    state.mark_handled(entry.path, entry.signature)
    assert InboxState.from_cursor(state.to_cursor()) == state, "the cursor keeps the name byte for byte"


def test_decided_entries_are_passed_over_until_they_change_and_forgotten_when_removed(tmp_path):
    state = InboxState()
    target = tmp_path / "batch.csv"
    target.write_text("")
    age(target, 60)
    tick(tmp_path, state)
    decide_all(tmp_path, state)
    assert tick(tmp_path, state) == [], "an empty file is decided once, not every tick"

    target.write_text("customerID\n2\n3\n")  # the content arrives
    age(target, 30)
    tick(tmp_path, state)
    assert tick(tmp_path, state) == ["batch.csv"]

    target.unlink()
    tick(tmp_path, state)
    assert state.handled == {} and state.pending == {}


def test_an_inbox_removed_between_ticks_is_an_empty_one_and_its_files_are_forgotten(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("decided.csv", "settling.csv"):
        (inbox / name).write_text("customerID\n1\n")
        age(inbox / name, 60)
    tick(inbox, state := InboxState())
    state.mark_handled(inbox / "decided.csv", signature_of(inbox / "decided.csv"))
    assert state.handled and state.pending

    shutil.rmtree(inbox)
    assert tick(inbox, state) == []
    assert state.handled == {} and state.pending == {}


def test_the_use_cases_own_folders_inside_the_shared_inbox_are_passed_over(tmp_path):
    """inbox/<use case>/ are watched by their own sensors: the shared inbox's scan neither decides nor lists them."""
    state = InboxState()
    for name in ("telco_churn", "credit_risk", "processed"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "batch.csv").write_text("customerID\n1\n")
    skip = frozenset({"telco_churn", "credit_risk"})
    ticks = [[e.name for e in scan_inbox(tmp_path, state, time.time(), 5, skip=skip)] for _ in range(2)]
    assert ticks == [[], ["processed"]], "only a folder that is no use case's is decided (not a file)"
    assert set(state.pending) | set(state.handled) == {"processed"}


def test_a_folder_is_decided_once_whatever_lands_in_it(tmp_path):
    state = InboxState()
    folder = tmp_path / "processed"
    folder.mkdir()
    tick(tmp_path, state)
    decide_all(tmp_path, state)
    (folder / "done.csv").write_text("customerID\n1\n")
    assert tick(tmp_path, state) == [] and tick(tmp_path, state) == []


def record(name: str, decision: str, signature=(10, 1)) -> DecisionRecord:
    return DecisionRecord(name, signature, decision, "why", "2026-11-23T10:00:00+00:00")


def test_a_decision_repeated_for_an_unchanged_file_is_remembered_once():
    state = InboxState()
    assert state.remember(record("wait.csv", Decision.WAITING_FOR_MODEL))
    assert not state.remember(record("wait.csv", Decision.WAITING_FOR_MODEL))
    assert state.remember(record("wait.csv", Decision.REQUESTED))
    assert state.remember(record("wait.csv", Decision.REQUESTED, signature=(11, 2)))
    assert [kept.decision for kept in state.recent] == [Decision.WAITING_FOR_MODEL, *[Decision.REQUESTED] * 2]


def test_only_the_latest_decisions_are_kept():
    state = InboxState()
    for index in range(RECENT_DECISIONS + 20):
        state.remember(record(f"file_{index}.csv", Decision.DUPLICATE))
    assert len(state.recent) == RECENT_DECISIONS
    assert state.recent[-1].name == f"file_{RECENT_DECISIONS + 19}.csv"


def test_state_survives_a_round_trip_through_the_cursor(tmp_path):
    routed = DecisionRecord(
        "c.csv", (30, 3), Decision.REQUESTED, "why", "2026-11-23T10:00:00+00:00", use_case="credit_risk"
    )
    recent = [record("b.csv", Decision.EMPTY), routed]
    state = InboxState(pending={"a.csv": (10, 1)}, handled={"b.csv": (20, 2)}, recent=recent)
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
