"""The run manifest written beside every scored file, and reading lineage back from it.

A manifest answers "where did this scored file come from": the input file and its sha256,
the model artifact and its md5, the run, the threshold and the counts. ``lineage`` also
proves the scored file is still the one the manifest describes.
"""

from __future__ import annotations

import json
import os
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
    return scored_csv.with_name(_stem(scored_csv) + suffix)


def _stem(scored_csv: Path) -> str:
    name = scored_csv.name
    return name[: -len(".csv")] if name.lower().endswith(".csv") else name


def archive_superseded(scored_csv: Path, partition_key: str, model_md5: str | None = None) -> Path | None:
    """Move earlier outputs at ``scored_csv`` aside when they came from another file or model.

    The scored file, its manifest and a reject report beside it go to
    ``<folder>/archive/<stem>/<scoring timestamp>_<model version>/``, so a re-score never
    silently destroys an earlier result and each archived manifest still says which input
    and model produced its file. Outputs of the same partition and model are simply rewritten
    (scoring is deterministic). Returns the archive folder, or None if nothing was moved.
    """
    scored_csv = Path(scored_csv)
    manifest_path = manifest_path_for(scored_csv)
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    same_input = manifest["partition_key"] == partition_key
    same_model = model_md5 is None or manifest["model"]["md5"] == model_md5
    if same_input and same_model:
        return None
    label = f"{manifest['scoring_timestamp']}_{manifest['model']['version']}".replace(":", "")
    archive = scored_csv.parent / "archive" / _stem(scored_csv) / label
    archive.mkdir(parents=True, exist_ok=True)
    for path in (scored_csv, manifest_path, reject_report_path_for(scored_csv)):
        if path.exists():
            os.replace(path, archive / path.name)
    return archive


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
