"""The default shared inbox, data/inbox/, is in every clone: its README is committed, and never taken for a batch.

The use cases' own inboxes (data/inbox/<use case>/) are created by their sensors; nothing dropped
in any of them can be committed by mistake.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from scoring_assets.core.inbox import InboxState, scan_inbox
from scoring_assets.core.paths import REPO_ROOT

INBOX_README = REPO_ROOT / "data" / "inbox" / "README.md"


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not (REPO_ROOT / ".git").exists(), reason="not a git checkout")
def test_the_inbox_readme_is_committed_and_dropped_files_stay_out_of_git():
    assert git("ls-files", "data/inbox").stdout.split() == ["data/inbox/README.md"]
    assert git("check-ignore", "--quiet", "--no-index", "data/inbox/README.md").returncode == 1, "README ignored"
    dropped_files = (
        "data/inbox/customers.csv",
        "data/inbox/.customers.csv.1234.tmp",
        "data/inbox/notes.txt",
        "data/inbox/telco_churn/customers.csv",
        "data/inbox/credit_risk/applications.csv",
    )
    for dropped in dropped_files:
        assert git("check-ignore", "--quiet", dropped).returncode == 0, f"{dropped} would be committable"


def test_the_inbox_readme_is_passed_over_by_the_inbox_sensors(tmp_path):
    """Not scored, and no decision to show either: the project's own file is not something a user dropped."""
    shutil.copy(INBOX_README, tmp_path / INBOX_README.name)
    state = InboxState()
    a_day_later = time.time() + 86_400
    ticks = [scan_inbox(tmp_path, state, now=a_day_later, settle_seconds=5) for _ in range(3)]
    assert ticks == [[], [], []]
