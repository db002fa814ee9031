"""The run manifest written beside every scored file, and reading lineage back from it.

A manifest answers "where did this scored file come from": the input file and its sha256,
the model artifact and its md5, the run, the threshold and the counts. ``lineage`` also
proves the scored file is still the one the manifest describes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scoring_assets.files import file_sha256

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path_for(scored_csv: Path) -> Path:
    """``OUT.csv`` -> ``OUT.manifest.json`` (any other name gets the suffix appended)."""
    return _beside(scored_csv, MANIFEST_SUFFIX)


def reject_report_path_for(scored_csv: Path) -> Path:
    """``OUT.csv`` -> ``OUT.rejected.csv``: where the CLI puts rejects beside an ``--output``."""
    return _beside(scored_csv, ".rejected.csv")


def _beside(scored_csv: Path, suffix: str) -> Path:
    scored_csv = Path(scored_csv)
    name = scored_csv.name
    stem = name[: -len(".csv")] if name.lower().endswith(".csv") else name
    return scored_csv.with_name(stem + suffix)


class LineageError(RuntimeError):
    """The scored file has no manifest, or no longer matches it."""


def read_manifest(scored_csv: Path) -> dict[str, Any]:
    path = manifest_path_for(scored_csv)
    if not path.exists():
        raise LineageError(f"{path} not found: {scored_csv} has no manifest beside it")
    return json.loads(path.read_text(encoding="utf-8"))


def lineage(scored_csv: Path) -> dict[str, Any]:
    """The lineage recorded for ``scored_csv``, with ``matches_manifest`` False if the file changed."""
    scored_csv = Path(scored_csv)
    if not scored_csv.exists():
        raise LineageError(f"{scored_csv} not found")
    manifest = read_manifest(scored_csv)
    actual = file_sha256(scored_csv)
    summary = {
        "scored_file": str(scored_csv),
        "scored_sha256": actual,
        "recorded_sha256": manifest["output"]["sha256"],
        "matches_manifest": actual == manifest["output"]["sha256"],
        "partition_key": manifest["partition_key"],
        "run_id": manifest["run_id"],
        "input": manifest["input"],
        "model": manifest["model"],
        "threshold": manifest["threshold"],
        "scoring_timestamp": manifest["scoring_timestamp"],
        "counts": {
            "input_rows": manifest["input"]["rows"],
            "scored_rows": manifest["output"]["rows"],
            "rejected_rows": manifest["rejected"]["rows"],
        },
    }
    return summary
