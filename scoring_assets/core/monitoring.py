"""How a use case's scored files evolve: one record per recently scored file, read from the manifests.

Each scored file's manifest already says everything monitoring needs (rows in and rejected,
score distribution, drift from the training reference, the backtest when the file carried
labels, precision and recall expected from the calibrated scores); this module gathers the
latest manifest of each recently scored partition into flat records, oldest first, for the
trend report and the monitoring asset. It never fails on what it cannot read: a partition
whose manifest was moved or deleted is skipped, and a file scored by a model without a
reference profile simply has no drift figures (None). It also posts drift alerts to a webhook.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from scoring_assets.core.folders import UseCaseFolders

ALERT = "alert"
WEBHOOK_TIMEOUT_SECONDS = 5.0


def recent_file_records(folders: UseCaseFolders, limit: int = 30) -> list[dict[str, Any]]:
    """The ``limit`` most recently scored partitions of a use case, one record each, oldest first.

    Partitions are found through their ``scores`` stage summaries (rewritten at every scoring,
    so they point at each partition's latest manifest, wherever ``--output`` put it); only the
    newest ``limit`` summaries (by modification time) are read, so the cost does not grow with
    the number of partitions ever scored. Records are ordered by scoring timestamp.
    """
    summaries = sorted(
        (folders.root / "lake" / folders.use_case / "scores").glob("*.json"),
        key=_modified_time,
        reverse=True,
    )[:limit]
    records = [record for record in map(_record_from_summary, summaries) if record is not None]
    return sorted(records, key=lambda record: record["scored_at"])


def file_record(manifest: dict[str, Any]) -> dict[str, Any]:
    """One scored file as flat figures (None where the file has none, e.g. no labels, no drift)."""
    rows_in = _get(manifest, "input", "rows")
    rows_rejected = _get(manifest, "rejected", "rows")
    drift = manifest.get("drift") or {}
    psi = {name: float(figures["psi"]) for name, figures in sorted((drift.get("features") or {}).items())}
    levels = {name: figures.get("level") for name, figures in sorted((drift.get("features") or {}).items())}
    most_drifted = max(psi, key=psi.__getitem__) if psi else None
    return {
        "partition": manifest.get("partition_key"),
        "scored_at": manifest.get("scoring_timestamp") or "",
        "model_version": _get(manifest, "model", "version"),
        "rows_in": rows_in,
        "rows_rejected": rows_rejected,
        "rows_scored": _get(manifest, "output", "rows"),
        "reject_rate": rows_rejected / rows_in if rows_in and rows_rejected is not None else None,
        "threshold": manifest.get("threshold"),
        "score_mean": _get(manifest, "score_summary", "mean"),
        "share_at_or_above_threshold": _get(manifest, "score_summary", "share_at_or_above_threshold"),
        "input_level": drift.get("input_level"),
        "score_psi": _get(drift, "score", "psi"),
        "score_level": _get(drift, "score", "level"),
        "reference_share_at_or_above_threshold": _get(drift, "score", "reference_share_at_or_above_threshold"),
        "max_input_psi": psi[most_drifted] if most_drifted else None,
        "most_drifted_feature": most_drifted,
        "psi": psi,
        "feature_levels": levels,
        "backtest_roc_auc": _get(manifest, "backtest", "roc_auc"),
        "backtest_precision": _get(manifest, "backtest", "precision"),
        "backtest_recall": _get(manifest, "backtest", "recall"),
        "expected_precision": _get(manifest, "estimated_performance", "expected_precision"),
        "expected_recall": _get(manifest, "estimated_performance", "expected_recall"),
        "scored_path": _get(manifest, "output", "path"),
        "drift_report": drift.get("report_path"),
    }


def at_alert(record: dict[str, Any]) -> bool:
    """Whether a file's inputs or score drifted to the ``alert`` level."""
    return ALERT in (record.get("input_level"), record.get("score_level"))


def post_alert(webhook_url: str, payload: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    """POST ``payload`` as JSON to ``webhook_url``; returns the HTTP status, raises ``OSError`` on failure.

    The payload's ``text`` field makes it a valid Slack (or Mattermost, Teams workflow) incoming
    webhook message as it is; other receivers read the structured fields.
    """
    if not webhook_url.startswith(("http://", "https://")):
        raise OSError(f"the drift alert webhook must be an http(s) URL, got {webhook_url!r}")
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps(payload, sort_keys=True).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        return response.status


def scored_file_record(folders: UseCaseFolders, partition_key: str) -> dict[str, Any] | None:
    """The record of one scored partition (as ``file_record``), None when its manifest cannot be read."""
    return _record_from_summary(folders.lake_file("scores", partition_key, ".json"))


def _record_from_summary(summary_path: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        manifest = json.loads(Path(summary["manifest_path"]).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):  # moved, deleted, half-migrated: not monitored
        return None
    if not isinstance(manifest, dict):
        return None
    record = file_record(manifest)
    record["partition"] = record["partition"] or summary_path.stem
    return record


def _modified_time(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _get(document: dict[str, Any], section: str, name: str) -> Any:
    part = document.get(section)
    return part.get(name) if isinstance(part, dict) else None
