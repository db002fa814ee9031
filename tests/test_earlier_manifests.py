"""Files scored by an earlier version keep their lineage: its manifests still load and still prove the file.

``tests/data/manifest_0.1.0/`` holds a scored file and its manifest exactly as version 0.1.0
(commit 4b343f3, before the wiring was reshaped) wrote them, for ``data/samples/batch_with_bad_rows.csv``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from scoring_assets.core.manifest import lineage
from scoring_assets.core.manifest_model import Manifest
from scoring_assets.core.paths import REPO_ROOT

EARLIER = REPO_ROOT / "tests" / "data" / "manifest_0.1.0"


@pytest.fixture
def earlier_scored_file(tmp_path):
    for name in ("scored.csv", "scored.manifest.json"):
        shutil.copy(EARLIER / name, tmp_path / name)
    return tmp_path / "scored.csv"


def test_the_lineage_of_a_file_scored_by_the_earlier_version_still_proves_it(earlier_scored_file):
    summary = lineage(earlier_scored_file)
    assert summary["matches_manifest"] is True
    assert summary["partition_key"] == "batch_with_bad_rows-ff2e7aa9"
    assert summary["model"]["md5"].startswith("c44623c52cd6")
    assert summary["counts"] == {"input_rows": 400, "scored_rows": 393, "rejected_rows": 7}


def test_the_cli_still_answers_for_it_and_still_catches_a_change(earlier_scored_file):
    command = [sys.executable, "-m", "scoring_assets", "lineage", str(earlier_scored_file)]
    assert subprocess.run(command, capture_output=True, text=True, check=False).returncode == 0
    with earlier_scored_file.open("a", encoding="utf-8") as scored:
        scored.write("tampered\n")
    changed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert changed.returncode == 1 and "was modified after it was written" in changed.stderr


def test_its_manifest_reads_as_a_typed_manifest_that_writes_back_the_same_json_byte_for_byte():
    text = (EARLIER / "scored.manifest.json").read_text(encoding="utf-8")
    earlier = json.loads(text)

    manifest = Manifest.from_dict(earlier)

    assert manifest.as_dict() == earlier
    assert manifest.to_json() == text
    assert manifest.output.rows == 393 and manifest.rejected.counts_by_rule["unique"] == 2
    assert manifest.drift is not None and manifest.drift.features["tenure"].level == "ok"
