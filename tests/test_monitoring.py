"""Monitoring over time: the recent files' trend, its refresh after each scored file, and drift alerts."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from scoring_assets.builders import monitoring as monitoring_module
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.monitoring import DRIFT_ALERT_TAG, build_monitoring_definitions
from scoring_assets.builders.resources import DriftAlerts
from scoring_assets.core.drift import DRIFT_LEVELS
from scoring_assets.core.monitoring import recent_file_records
from tests.support.batches import TELCO, valid_rows, write_csv
from tests.support.scoring_runs import score_file

MONITORING_JOB = "telco_churn__monitoring"


def score_rows(instance, folders, rows, path: Path) -> str:
    """Score ``rows`` written to ``path`` with the real score_file job; returns the partition key."""
    registration, result = score_file(instance, folders, write_csv(rows, path))
    assert result.success
    return registration.partition_key


def month_to_month_fiber(seed: int):
    """A shifted customer mix: only month-to-month fiber customers, as churn-prone as it gets."""
    rows = valid_rows(TELCO, 3000, seed)
    return rows[(rows["Contract"] == "Month-to-month") & (rows["InternetService"] == "Fiber optic")]


@pytest.fixture
def three_files(instance, folders, tmp_path) -> list[str]:
    """Telco files drawn like the training data (the second labelled), then a shifted one; their partitions."""
    return [
        score_rows(instance, folders, valid_rows(TELCO, 1500, 21), tmp_path / "monday.csv"),
        score_rows(instance, folders, valid_rows(TELCO, 1500, 22, labelled=True), tmp_path / "tuesday.csv"),
        score_rows(instance, folders, month_to_month_fiber(23), tmp_path / "wednesday.csv"),
    ]


def location_resources(folders, webhook_url: str = "") -> dict:
    """The resources the code location gives the monitoring definitions."""
    return {"folders": folders, "drift_alerts": DriftAlerts(webhook_url=webhook_url)}


def monitoring_definitions(folders, webhook_url: str = "") -> dg.Definitions:
    return dg.Definitions.merge(
        build_monitoring_definitions(TELCO), dg.Definitions(resources=location_resources(folders, webhook_url))
    )


def refresh_monitoring(instance, folders) -> dg.ExecuteInProcessResult:
    result = monitoring_definitions(folders).resolve_job_def(MONITORING_JOB).execute_in_process(instance=instance)
    assert result.success
    return result


def sensor_tick(instance, folders, name: str, cursor: str | None = None, webhook_url: str = ""):
    definitions = monitoring_definitions(folders, webhook_url)
    sensor = definitions.resolve_sensor_def(f"telco_churn__{name}")
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=definitions, resources=location_resources(folders, webhook_url)
    )
    return sensor.evaluate_tick(context)


def test_recent_file_records_list_each_scored_file_oldest_first_with_its_drift(folders, three_files):
    records = recent_file_records(folders.of(TELCO.name))

    assert [record["partition"] for record in records] == three_files
    assert records[0]["scored_at"] < records[1]["scored_at"] < records[2]["scored_at"]
    for record in records:
        assert set(record["psi"]) == set(TELCO.features.columns)
        assert record["input_level"] in DRIFT_LEVELS and record["score_level"] in DRIFT_LEVELS
        assert record["rows_in"] == record["rows_scored"] and record["reject_rate"] == 0.0
        assert 0.0 < record["expected_precision"] <= 1.0 and 0.0 < record["expected_recall"] <= 1.0
    assert [record["backtest_precision"] is not None for record in records] == [False, True, False]
    assert records[2]["input_level"] == "alert" and records[2]["score_level"] == "alert"
    assert records[2]["most_drifted_feature"] in {"Contract", "InternetService", "MonthlyCharges"}
    assert records[2]["max_input_psi"] == max(records[2]["psi"].values())


def test_recent_file_records_skip_lost_manifests_and_keep_files_without_drift(folders, three_files):
    own = folders.of(TELCO.name)
    first, second, _ = three_files
    Path(own.read_stage_summary("scores", first)["manifest_path"]).unlink()
    manifest_path = Path(own.read_stage_summary("scores", second)["manifest_path"])
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps({**manifest, "drift": None}), encoding="utf-8")  # a brought-in model

    records = recent_file_records(own)

    assert [record["partition"] for record in records] == three_files[1:]
    assert records[0]["psi"] == {} and records[0]["input_level"] is None and records[0]["score_psi"] is None
    assert records[0]["backtest_precision"] is not None
    assert len(recent_file_records(own, limit=1)) == 1


def test_monitoring_asset_shows_the_recent_files_and_writes_an_offline_trend_report(instance, folders, three_files):
    result = refresh_monitoring(instance, folders)

    metadata = result.asset_materializations_for_node("telco_churn__refresh_monitoring")[0].metadata
    table = metadata["recent_files"].value
    assert [row.data["partition"] for row in table.records] == three_files[::-1]  # newest first
    assert metadata["files"].value == 3 and metadata["files_at_alert"].value == 1
    assert metadata["latest_partition"].value == three_files[-1]
    assert metadata["latest_score_psi"].value > 0.25 and metadata["latest_max_input_psi"].value > 0.25
    assert "latest_expected_precision" in metadata and "latest_backtest_precision" not in metadata
    report = Path(metadata["trend_report"].value)
    assert report == folders.of(TELCO.name).monitoring_report
    html = report.read_text(encoding="utf-8")
    assert html.count("<svg") == 4 and "http" not in html.lower()
    assert all(partition in html for partition in three_files)


def test_monitoring_sensor_requests_a_refresh_after_each_newly_scored_file(instance, folders, tmp_path):
    assert isinstance(sensor_tick(instance, folders, "monitoring_sensor").skip_message, str)
    score_rows(instance, folders, valid_rows(TELCO, 500, 31), tmp_path / "first.csv")

    first = sensor_tick(instance, folders, "monitoring_sensor").run_requests
    assert len(first) == 1
    sensor = monitoring_definitions(folders).resolve_sensor_def("telco_churn__monitoring_sensor")
    assert sensor.job_name == MONITORING_JOB
    refresh_monitoring(instance, folders)
    assert sensor_tick(instance, folders, "monitoring_sensor").run_requests == []

    score_rows(instance, folders, valid_rows(TELCO, 500, 32), tmp_path / "second.csv")
    second = sensor_tick(instance, folders, "monitoring_sensor").run_requests
    assert len(second) == 1 and second[0].run_key != first[0].run_key


def test_monitoring_sensor_waits_for_files_still_being_scored_then_refreshes_once(
    instance, folders, tmp_path, monkeypatch
):
    """A burst of files gets one refresh after it, not one between every few files (bounded wait)."""
    score_rows(instance, folders, valid_rows(TELCO, 500, 33), tmp_path / "first.csv")
    scoring = dg.DagsterRun(
        job_name="telco_churn__score_file", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTING
    )
    instance.add_run(scoring)
    other = dg.DagsterRun(
        job_name="credit_risk__score_file", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED
    )
    instance.add_run(other)

    waiting = sensor_tick(instance, folders, "monitoring_sensor")
    assert waiting.run_requests == [] and "1 telco_churn file(s) queued or being scored" in waiting.skip_message

    monkeypatch.setattr(monitoring_module, "REFRESH_AT_LEAST_EVERY", 0)  # waited long enough: refresh anyway
    assert len(sensor_tick(instance, folders, "monitoring_sensor").run_requests) == 1
    monkeypatch.undo()

    instance.delete_run(scoring.run_id)  # the burst is over (another use case's runs do not hold it back)
    requests = sensor_tick(instance, folders, "monitoring_sensor").run_requests
    assert len(requests) == 1
    job = monitoring_definitions(folders).resolve_job_def(MONITORING_JOB)
    assert job.tags["dagster/priority"] == "-1"  # queued behind scoring runs


class RecordingHandler(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    """A local HTTP server recording every JSON body POSTed to it: (url, received bodies)."""
    handler = type("Handler", (RecordingHandler,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/drift", handler.received
    server.shutdown()
    server.server_close()


def alerts_of(tick) -> list[dg.AssetObservation]:
    return [event for event in tick.asset_events if isinstance(event, dg.AssetObservation)]


def test_drift_alert_sensor_raises_the_shifted_file_only_and_posts_it_to_the_webhook(
    instance, folders, three_files, webhook
):
    url, received = webhook

    tick = sensor_tick(instance, folders, "drift_alert_sensor", webhook_url=url)

    [alert] = alerts_of(tick)
    shifted = three_files[2]
    assert alert.asset_key == keys_of(TELCO).monitoring and alert.tags == {DRIFT_ALERT_TAG: "alert"}
    assert "wednesday.csv" in alert.description and shifted in alert.description
    assert any(name in alert.description for name in ("Contract", "InternetService", "MonthlyCharges"))
    [payload] = received
    assert payload["partition"] == shifted and payload["score_level"] == "alert"
    assert payload["text"] == alert.description and payload["most_drifted"][0]["psi"] > 0.25

    again = sensor_tick(instance, folders, "drift_alert_sensor", cursor=tick.cursor, webhook_url=url)
    assert alerts_of(again) == [] and len(received) == 1


def test_drift_alert_sensor_posts_nothing_without_a_webhook(instance, folders, three_files, webhook):
    _, received = webhook

    tick = sensor_tick(instance, folders, "drift_alert_sensor")

    assert len(alerts_of(tick)) == 1 and received == []


def test_an_unreachable_webhook_is_logged_and_the_alert_still_recorded(instance, folders, three_files):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    tick = sensor_tick(instance, folders, "drift_alert_sensor", webhook_url=f"http://127.0.0.1:{closed_port}/")

    assert len(alerts_of(tick)) == 1 and tick.cursor
