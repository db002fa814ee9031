"""Retention: a file scored before the cut leaves Dagster, and what proves it stays in the lake.

A partition per file cannot grow for ever (Dagster documents about 100,000 partitions per asset;
its UI slows well before). A use case's ``retain_days`` (default None: keep everything) or the
``prune`` command's ``--older-than`` sets a cut; a file whose latest scoring (its manifest's
``scoring_timestamp``; for a file never scored, its registration) is before the cut is pruned.
This module decides which files go and does the data folder's part; removing the partition and
its runs from Dagster is the caller's (``builders.retention``), as for a retired file.

What a pruned file keeps, so that ``lineage``, duplicate detection, the trend, realized performance
and training sets from production rows work as before:

- the input file (never touched), its registration and its content record;
- the scored file, its manifest and drift report, the reject report: the deliverables, where they are;
- every stage summary (``lake/<uc>/<asset>/<key>.json``): the trend and the outcomes join read them;
- the ``validated_batch``, ``scores`` and ``shadow_scores`` Parquet files: training sets from
  production rows, the outcomes join and the challenger's evidence read them;
- ``lake/<uc>/inputs/pruned/<key>.json``: what Dagster held of it (its runs: id, job, status,
  times, trigger), with the scored file, model and run named, plus one line in ``pruned.jsonl``.

What goes: the ``raw_batch`` Parquet (a typed copy of the input, which stays where it was) and the
``feature_matrix`` Parquet (derived from the validated rows): only later steps of the file's own
runs read them, and a pruned file has no runs any more.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scoring_assets.core.files import append_json_line, write_text_atomically
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.manifest_model import Manifest
from scoring_assets.core.model_history import who_and_when

PRUNED_INTERMEDIATES = ("raw_batch", "feature_matrix")  # the lake files a pruned partition no longer needs


@dataclass(frozen=True)
class Pruning:
    """One pruned file: which, scored when, its scored output and model, the Dagster runs it had, what was freed."""

    use_case: str
    partition: str
    scored_at: str
    source_path: str | None
    sha256: str | None
    scored_path: str | None
    manifest_path: str | None
    run_id: str | None
    model_version: str | None
    runs: list[dict[str, Any]]
    removed_files: list[str]
    bytes_freed: int
    when: str
    who: str

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def scored_at(own: UseCaseFolders, partition_key: str) -> datetime | None:
    """When the file was last scored (its manifest), else registered (a refused file); None if neither is known."""
    try:
        summary = own.read_stage_summary("scores", partition_key)
        manifest = Manifest.from_json(Path(summary["manifest_path"]).read_text(encoding="utf-8"))
        return datetime.fromisoformat(manifest.scoring_timestamp)
    except (OSError, ValueError, KeyError, TypeError):  # never scored, or its manifest moved: the registration
        pass
    try:
        return datetime.fromisoformat(own.registered_input(partition_key).registered_at)
    except (OSError, ValueError, TypeError):
        return None


def split_by_cut(
    own: UseCaseFolders, partition_keys: list[str], cut: datetime
) -> tuple[list[tuple[str, datetime]], list[str], list[dict[str, str]]]:
    """(files scored before ``cut`` with when, oldest first; keys kept; keys whose age is unknown, with why)."""
    older, kept, unknown = [], [], []
    for key in partition_keys:
        when = scored_at(own, key)
        if when is None:
            unknown.append({"partition": key, "why": "neither a manifest nor a registration says when it was scored"})
        elif when < cut:
            older.append((key, when))
        else:
            kept.append(key)
    return sorted(older, key=lambda pair: (pair[1], pair[0])), kept, unknown


def intermediate_files(own: UseCaseFolders, partition_key: str) -> list[Path]:
    """The lake files pruning removes for a partition (those present)."""
    paths = [own.lake_file(asset, partition_key) for asset in PRUNED_INTERMEDIATES]
    return [path for path in paths if path.is_file()]


def record_and_free(own: UseCaseFolders, partition_key: str, when: datetime, runs: list[dict[str, Any]]) -> Pruning:
    """Write what Dagster held of the file into the lake, then remove its intermediates; the run lock is held.

    Written before anything is removed from Dagster: a pruning cut short leaves a record and the
    partition, and the next pruning finishes it (the record is rewritten, the ledger gets the line again).
    """
    with own.one_run_at_a_time(partition_key):
        scored = _scores_summary(own, partition_key)
        registration = _registration(own, partition_key)
        removed = intermediate_files(own, partition_key)
        pruning = Pruning(
            use_case=own.use_case,
            partition=partition_key,
            scored_at=when.isoformat(),
            source_path=registration.get("source_path"),
            sha256=registration.get("sha256"),
            scored_path=scored.get("output_path"),
            manifest_path=scored.get("manifest_path"),
            run_id=scored.get("run_id"),
            model_version=(scored.get("model") or {}).get("version"),
            runs=runs,
            removed_files=[str(path) for path in removed],
            bytes_freed=sum(path.stat().st_size for path in removed),
            **who_and_when(),
        )
        write_text_atomically(own.pruned_record(partition_key), json.dumps(pruning.as_record(), indent=2) + "\n")
        for path in removed:
            path.unlink(missing_ok=True)
        append_json_line(own.pruned_ledger, pruning.as_record())
    return pruning


def pruned_record(own: UseCaseFolders, partition_key: str) -> dict[str, Any] | None:
    """The record of a pruned partition, None if it was never pruned."""
    path = own.pruned_record(partition_key)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _scores_summary(own: UseCaseFolders, partition_key: str) -> dict[str, Any]:
    try:
        return own.read_stage_summary("scores", partition_key)
    except FileNotFoundError:  # refused before scoring: nothing was published
        return {}


def _registration(own: UseCaseFolders, partition_key: str) -> dict[str, Any]:
    try:
        return own.registered_input(partition_key).as_dict()
    except FileNotFoundError:  # a partition added by hand
        return {}
