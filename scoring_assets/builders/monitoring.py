"""Monitoring over time, per use case: the trend of the recent scored files, and drift alerts.

- ``[use case, monitoring]`` (unpartitioned, downstream of ``scores``): gathers the latest
  manifest of the recent scored files (``core.monitoring``), writes the trend report
  (``monitoring/<use case>/trend.html`` in the data folder, ``core.reports.trend``) and shows a
  table of the files plus the latest file's figures as numbers, so the UI plots them across
  materializations; files with outcomes registered since (``outcome_assets``) show their realized
  precision and recall beside the expected ones.
- ``<use case>__monitoring_sensor`` (running): requests ``<use case>__monitoring`` whenever a
  ``scores`` (or ``realized_performance``) materialization is newer than the monitoring asset's
  latest one, so files scored from the CLI while the daemon was off are caught up at its next
  tick. While files of the use case wait in the run queue or are being scored, it waits for them
  (up to ``REFRESH_AT_LEAST_EVERY`` since the last refresh): one refresh after a burst of files
  covers them all, where a refresh between every few files would take a run slot and CPU from
  scoring. Its runs also queue behind scoring runs (``dagster/priority`` -1).
- ``<use case>__drift_alert_sensor`` (running): for each new ``scores`` materialization whose
  inputs or score drifted to ``alert``, records an observation on the monitoring asset (tag
  ``scoring/drift_alert=alert``; its description names the file, the partition and the most
  drifted inputs) and, when ``DriftAlerts.webhook_url`` is set (``SCORING_DRIFT_WEBHOOK_URL``),
  POSTs the alert as JSON. A failed POST is logged; it never fails the tick. Drift never stops
  scoring: the alert is information for the people who own the model.

Routing alerts to Slack or e-mail:
- Slack, no code: set ``SCORING_DRIFT_WEBHOOK_URL`` to a Slack incoming-webhook URL; the
  payload's ``text`` field is the message (Mattermost and Teams workflows accept it too).
- Slack through Dagster's integration (``pip install dagster-slack``): a sensor like
  ``build_drift_alert_sensor`` holding a ``dagster_slack.SlackResource`` and calling
  ``slack.get_client().chat_postMessage(channel="#scoring", text=observation.description)``;
  ``dagster_slack.make_slack_on_run_failure_sensor(channel, slack_token)`` adds failed scoring
  runs (refused files, broken models).
- E-mail: ``dg.make_email_on_run_failure_sensor`` for failed runs; for drift, a webhook into a
  mail gateway, or ``smtplib`` in such a sensor. On Dagster+, an alert policy on the WARN
  asset checks ``input_drift_below_alert`` / ``score_drift_below_alert`` of ``scores`` does the same.
"""

from __future__ import annotations

import time
from typing import Any

import dagster as dg

from scoring_assets.builders.figures import figure
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import DriftAlerts, ScoringFolders
from scoring_assets.builders.run_tags import Trigger, trigger_tags
from scoring_assets.core.monitoring import ALERT, at_alert, post_alert, recent_file_records
from scoring_assets.core.realized_performance import realized_by_file, with_realized
from scoring_assets.core.reports.trend import write_trend_report
from scoring_assets.core.use_case import UseCase

RECENT_FILES = 30  # files in the trend report and the table
ALERTS_PER_TICK = 8  # webhook POSTs time out after 5 s: at most 40 s of a 60 s tick; the rest next tick
DRIFTED_INPUTS_NAMED = 3
DRIFT_ALERT_TAG = "scoring/drift_alert"
LATEST_FIGURES = (
    "score_mean",
    "share_at_or_above_threshold",
    "reject_rate",
    "max_input_psi",
    "score_psi",
    "expected_precision",
    "expected_recall",
    "backtest_precision",
    "backtest_recall",
    "backtest_roc_auc",
    "realized_precision",
    "realized_recall",
    "realized_roc_auc",
)

RECENT_FILES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("partition", "string"),
        dg.TableColumn("scored_at", "string", description="scoring timestamp (UTC)"),
        dg.TableColumn("rows_scored", "int"),
        dg.TableColumn("reject_rate", "float", description="rejected rows / input rows"),
        dg.TableColumn("score_mean", "float"),
        dg.TableColumn("share_at_or_above_threshold", "float"),
        dg.TableColumn("input_level", "string", description="worst drift level of the model inputs"),
        dg.TableColumn("most_drifted_feature", "string"),
        dg.TableColumn("max_input_psi", "float"),
        dg.TableColumn("score_psi", "float"),
        dg.TableColumn("score_level", "string"),
        dg.TableColumn("backtest_precision", "float", description="empty: the file had no labels"),
        dg.TableColumn("expected_precision", "float", description="from the calibrated scores"),
        dg.TableColumn("backtest_recall", "float"),
        dg.TableColumn("expected_recall", "float"),
        dg.TableColumn("realized_precision", "float", description="from outcomes registered later; empty: none yet"),
        dg.TableColumn("realized_recall", "float"),
    ]
)


MONITORING_PRIORITY_TAG, MONITORING_PRIORITY = "dagster/priority", "-1"  # the run queue's order (default 0)
REFRESH_AT_LEAST_EVERY = 600  # seconds: how long a refresh may wait for scoring runs in progress
SCORING_IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_monitoring_definitions(use_case: UseCase) -> dg.Definitions:
    """The monitoring asset, its job and the two sensors of one use case (resources come from the location)."""
    keys = keys_of(use_case)
    job = dg.define_asset_job(
        name=keys.monitoring_job,
        selection=dg.AssetSelection.assets(keys.monitoring),
        executor_def=dg.in_process_executor,
        description=f"Refresh {use_case.name}/monitoring: the trend of the recent scored files.",
        # Behind every queued file in the run queue: a refresh covers all files scored before it, so
        # scoring first loses nothing and a burst of files is not slowed by refreshes in between.
        tags={MONITORING_PRIORITY_TAG: MONITORING_PRIORITY},
    )
    return dg.Definitions(
        assets=[build_monitoring_asset(use_case)],
        jobs=[job],
        sensors=[build_monitoring_sensor(use_case, job), build_drift_alert_sensor(use_case)],
    )


def build_monitoring_asset(use_case: UseCase) -> dg.AssetsDefinition:
    keys = keys_of(use_case)
    spec = dg.AssetSpec(
        keys.monitoring,
        group_name=use_case.name,
        deps=[keys.scores],
        description=f"The trend of the last {RECENT_FILES} scored {use_case.name} files: drift (PSI) per input and "
        "of the score, score mean and share at or above the threshold, reject rate, backtest vs expected precision "
        f"and recall. Report: monitoring/{use_case.name}/trend.html in the data folder. Refreshed after each "
        f"scored file by {keys.monitoring_sensor}.",
    )

    # The op is named apart from the asset key, whose default op name is the job's name.
    @dg.multi_asset(name=keys.refresh_monitoring_op, specs=[spec])
    def monitoring(folders: ScoringFolders) -> dg.MaterializeResult:
        own = folders.of(use_case.name)
        records = with_realized(recent_file_records(own, RECENT_FILES), realized_by_file(use_case, own))
        report = write_trend_report(own.monitoring_report, use_case, records)
        return dg.MaterializeResult(metadata=monitoring_metadata(records, str(report), folders))

    return monitoring


def monitoring_metadata(records: list[dict[str, Any]], report_path: str, folders: ScoringFolders) -> dict[str, Any]:
    """The files as a table, the latest file's figures as separate numbers (plotted over time), the report."""
    table = [
        dg.TableRecord({column.name: _shown(record.get(column.name)) for column in RECENT_FILES_SCHEMA.columns})
        for record in reversed(records)  # newest first, as the UI reads
    ]
    latest = records[-1] if records else {}
    return {
        "recent_files": dg.MetadataValue.table(table, schema=RECENT_FILES_SCHEMA),
        "files": len(records),
        "files_at_alert": sum(at_alert(record) for record in records),
        "latest_partition": latest.get("partition") or "no file scored yet",
        **{f"latest_{name}": figure(latest[name]) for name in LATEST_FIGURES if latest.get(name) is not None},
        **folders.report_metadata("trend_report", report_path),
    }


def _latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def build_monitoring_sensor(use_case: UseCase, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    keys = keys_of(use_case)

    @dg.sensor(
        name=keys.monitoring_sensor,
        job=job,
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Refreshes {use_case.name}/monitoring whenever a file was scored since its last refresh "
        "(from a sensor, the UI or the CLI, daemon running or not).",
    )
    def monitoring_sensor(context: dg.SensorEvaluationContext):
        newest = [_latest_materialization(context.instance, key) for key in (keys.scores, keys.realized_performance)]
        if newest[0] is None:
            return dg.SkipReason(f"no {use_case.name} file has been scored yet")
        # Registered outcomes change the trend too (realized precision and recall).
        newest_scores = max((record for record in newest if record is not None), key=lambda record: record.storage_id)
        refreshed = _latest_materialization(context.instance, keys.monitoring)
        if refreshed is not None and refreshed.storage_id > newest_scores.storage_id:
            return dg.SkipReason("the monitoring asset already includes the latest scored file")
        scoring = context.instance.get_runs_count(
            dg.RunsFilter(job_name=keys.score_file_job, statuses=SCORING_IN_PROGRESS)
        )
        waited = time.time() - (refreshed.timestamp if refreshed is not None else newest_scores.timestamp)
        if scoring and waited < REFRESH_AT_LEAST_EVERY:
            return dg.SkipReason(
                f"{scoring} {use_case.name} file(s) queued or being scored: one refresh after them covers them all"
            )
        # One run per newest scored file: a refresh still running is not requested twice.
        return dg.RunRequest(run_key=f"scores-{newest_scores.storage_id}", tags=trigger_tags(Trigger.SENSOR))

    return monitoring_sensor


def build_drift_alert_sensor(use_case: UseCase) -> dg.SensorDefinition:
    keys = keys_of(use_case)

    @dg.sensor(
        name=keys.drift_alert_sensor,
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Raises each scored {use_case.name} file whose inputs or score drifted to alert: an observation "
        f"on {use_case.name}/monitoring tagged {DRIFT_ALERT_TAG}=alert, and a JSON POST to the drift_alerts "
        "resource's webhook_url when set (SCORING_DRIFT_WEBHOOK_URL).",
    )
    def drift_alert_sensor(context: dg.SensorEvaluationContext, drift_alerts: DriftAlerts, folders: ScoringFolders):
        after = int(context.cursor) if context.cursor else None
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=keys.scores, after_storage_id=after), limit=100, ascending=True
        ).records
        if not records:
            return dg.SkipReason("no file scored since the last tick")
        observations, cursor = [], after
        for record in records:
            if len(observations) == ALERTS_PER_TICK:
                break
            cursor = record.storage_id
            alert = drift_alert(use_case, folders, record)
            if alert is None:
                continue
            observation, payload = alert
            context.log.warning(observation.description)
            observations.append(observation)
            if drift_alerts.webhook_url:
                send_to_webhook(context, drift_alerts.webhook_url, payload)
        summary = f"{len(observations)} of {len(records)} new scored file(s) at drift level alert"
        return dg.SensorResult(asset_events=observations, cursor=str(cursor), skip_reason=summary)

    return drift_alert_sensor


def drift_alert(
    use_case: UseCase, folders: ScoringFolders, record: dg.EventLogRecord
) -> tuple[dg.AssetObservation, dict[str, Any]] | None:
    """The observation and webhook payload for one ``scores`` materialization, or None if it is not at alert."""
    figures = {name: value.value for name, value in record.asset_materialization.metadata.items()}
    input_level, score_level = figures.get("drift_input_level"), figures.get("drift_score_level")
    if ALERT not in (input_level, score_level):
        return None
    partition = record.partition_key
    try:
        source_file = folders.of(use_case.name).registered_input(partition).source_path
    except (FileNotFoundError, ValueError):
        source_file = partition
    drifted = sorted(
        ((name.removeprefix("psi/"), float(value)) for name, value in figures.items() if name.startswith("psi/")),
        key=lambda item: -item[1],
    )[:DRIFTED_INPUTS_NAMED]
    named = ", ".join(f"{name} (PSI {psi:.2f})" for name, psi in drifted) or "none measured"
    description = (
        f"{use_case.name} file {source_file} (partition {partition}) drifted to alert: inputs {input_level}, "
        f"score {score_level} (PSI {float(figures.get('drift_score_psi', 0.0)):.2f}); most drifted inputs: {named}. "
        f"Report: {figures.get('drift_report')}"
    )
    payload = {
        "text": description,
        "use_case": use_case.name,
        "partition": partition,
        "source_file": source_file,
        "scored_file": figures.get("output_path"),
        "input_level": input_level,
        "score_level": score_level,
        "score_psi": figures.get("drift_score_psi"),
        "max_input_psi": figures.get("drift_max_input_psi"),
        "most_drifted": [{"feature": name, "psi": psi} for name, psi in drifted],
        "drift_report": figures.get("drift_report"),
        "run_id": record.run_id,
    }
    observation = dg.AssetObservation(
        asset_key=keys_of(use_case).monitoring,
        description=description,
        metadata={
            "partition": partition,
            "source_file": source_file,
            "input_level": input_level,
            "score_level": score_level,
            "most_drifted": named,
            "drift_report": dg.MetadataValue.path(str(figures.get("drift_report"))),
            "scores_run_id": record.run_id,
        },
        tags={DRIFT_ALERT_TAG: ALERT},
    )
    return observation, payload


def send_to_webhook(context: dg.SensorEvaluationContext, url: str, payload: dict[str, Any]) -> None:
    """POST one alert; a receiver that is down or slow is logged, never fails the tick."""
    try:
        status = post_alert(url, payload)
    except (OSError, ValueError) as error:
        context.log.error(f"drift alert for partition {payload['partition']} not delivered to the webhook: {error}")
        return
    context.log.info(f"drift alert for partition {payload['partition']} delivered to the webhook (HTTP {status})")


def _shown(value: Any) -> Any:
    """Table cells rounded to 4 decimals: enough to compare files at a glance (the manifests keep every digit)."""
    return round(value, 4) if isinstance(value, float) else value
