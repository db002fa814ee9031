"""Every check result of every run of a file, kept in the lake beside the file's other records.

Dagster's event log holds the check results too, but a deployment prunes its history (the
partition limit makes it): an evidence bundle built a year later must not depend on it. So each
step that evaluates checks appends one JSON line per checked asset to ``lake/<use case>/checks/
<key>.jsonl``: the run, its tags, the asset, and each check's name, verdict, severity, meaning
and figures. A line is written with one ``write`` on a file opened for appending, so lines of
runs of the same file never interleave and a line is never half there for a reader.

A rescore run re-checks ``scores`` and ``scoring_manifest`` only; the upstream steps' results that
stand behind its scored file are those of the run that last wrote them before it
(``checks_behind``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PUBLISHING_ASSETS = ("scores", "scoring_manifest")  # checked by the step that writes the scored file


def check_record(run_id: str, run_tags: dict[str, str], asset: str, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """One line of the log: ``checks`` are ``{name, passed, severity, meaning, description, metadata}``."""
    return {
        "run_id": run_id,
        "run_tags": dict(sorted(run_tags.items())),
        "asset": asset,
        "recorded_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "checks": checks,
    }


def append_check_record(log: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line in one write (``O_APPEND``): concurrent runs' lines stay whole."""
    log.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    handle = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(handle, line)
    finally:
        os.close(handle)


def read_check_records(log: Path) -> list[dict[str, Any]]:
    """The log's records, oldest first; none when the file was scored before check results were kept."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def checks_behind(records: list[dict[str, Any]], scores_run_id: str) -> list[dict[str, Any]]:
    """The records that stand behind the scored file a run published: one per asset, in the order they ran.

    The publishing assets' records are that run's; every other asset's is its latest before them
    (a later run refused upstream did not change what this file was scored from).
    """
    published = [
        index
        for index, record in enumerate(records)
        if record["run_id"] == scores_run_id and record["asset"] in PUBLISHING_ASSETS
    ]
    if not published:
        return []
    latest: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(records[: published[-1] + 1]):
        if record["asset"] not in PUBLISHING_ASSETS or index in published:
            latest[record["asset"]] = record
    return list(latest.values())
