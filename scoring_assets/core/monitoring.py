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
from scoring_assets.core.manifest_model import Manifest

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


def file_record(manifest: Manifest) -> dict[str, Any]:
    """One scored file as flat figures (None where the file has none, e.g. no labels, no drift)."""
    rows_in, rows_rejected = manifest.input.rows, manifest.rejected.rows
    distribution, backtest, estimated = manifest.score_summary, manifest.backtest, manifest.estimated_performance
    drift = manifest.drift
    score_drift = drift.score if drift else None
    features = sorted(drift.features.items()) if drift else []
    psi = {name: float(figures.psi) for name, figures in features}
    most_drifted = max(psi, key=psi.__getitem__) if psi else None
    return {
        "partition": manifest.partition_key,
        "scored_at": manifest.scoring_timestamp,
        "model_version": manifest.model.version,
        "rows_in": rows_in,
        "rows_rejected": rows_rejected,
        "rows_scored": manifest.output.rows,
        "reject_rate": rows_rejected / rows_in if rows_in else None,
        "threshold": manifest.threshold,
        "score_mean": distribution.mean if distribution else None,
        "share_at_or_above_threshold": distribution.share_at_or_above_threshold if distribution else None,
        "input_level": drift.input_level if drift else None,
        "score_psi": score_drift.psi if score_drift else None,
        "score_level": score_drift.level if score_drift else None,
        "reference_share_at_or_above_threshold": (
            score_drift.reference_share_at_or_above_threshold if score_drift else None
        ),
        "max_input_psi": psi[most_drifted] if most_drifted else None,
        "most_drifted_feature": most_drifted,
        "psi": psi,
        "feature_levels": {name: figures.level for name, figures in features},
        "backtest_roc_auc": backtest.roc_auc if backtest else None,
        "backtest_precision": backtest.precision if backtest else None,
        "backtest_recall": backtest.recall if backtest else None,
        "expected_precision": estimated.expected_precision if estimated else None,
        "expected_recall": estimated.expected_recall if estimated else None,
        "scored_path": manifest.output.path,
        "drift_report": drift.report_path if drift else None,
    }


def at_alert(record: dict[str, Any]) -> bool:
    """Whether a file's inputs or score drifted to the ``alert`` level."""
    return ALERT in (record.get("input_level"), record.get("score_level"))


def alerting_streak(records: list[dict[str, Any]], scored_after: str | None = None) -> list[dict[str, Any]]:
    """The newest files of ``records`` (oldest first) that are all at ``alert``, back to the first that is not.

    Only files scored after ``scored_after`` (a scoring timestamp) count, so files that already
    answered for a streak are not counted twice.
    """
    streak: list[dict[str, Any]] = []
    for record in reversed(records):
        if not at_alert(record) or (scored_after is not None and record["scored_at"] <= scored_after):
            break
        streak.append(record)
    return streak[::-1]


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
        manifest = Manifest.from_json(Path(summary["manifest_path"]).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):  # moved, deleted, half-migrated: not monitored
        return None
    record = file_record(manifest)
    record["partition"] = record["partition"] or summary_path.stem
    return record


def _modified_time(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
