"""Photograph the product run as a service: final fates, a retired file, a report opened from the UI, its logs.

    .venv/bin/python scripts/service_screenshots.py      # writes docs/images/service_*.png

Starts ``python3 dev.py serve`` (webserver, daemon and report server, the shipped default
settings) on loopback ports with a scratch instance and data folder and ``SCORING_REPORTS_URL``
pointing at its report server, drops the sample batches, a batch with too many bad rows and a
test file sent by mistake into the shared inbox, waits for their runs, retires the mistake with
the UI's ``<use case>__retire_file`` job (launched over GraphQL, as the Launchpad does), and
photographs the inbox table's final fates, the refused file's partition, the retire run, a
drift report link clicked in the UI (the report as the report server serves it) and, once the
service has run five minutes, its logs and ``scoring-assets status``. The repository's models
are read, never changed. Needs what ``scripts/screenshots.py`` needs (Chromium, Playwright).
"""

from __future__ import annotations

import html
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshots import Camera, Shot, cli, named, photograph, refused_batch, scrolled_to  # noqa: E402

from scoring_assets.builders.keys import keys_of  # noqa: E402
from scoring_assets.core.paths import REPO_ROOT  # noqa: E402
from scoring_assets.settings import REPORTS_URL_VARIABLE  # noqa: E402
from scoring_assets.use_cases import use_case  # noqa: E402
from tests.support.dev_server import DagsterDevServer, free_port  # noqa: E402

SERVICE_MINUTES = 5
SAMPLES = REPO_ROOT / "data" / "samples"
MISTAKE = "credit_test_upload"  # the file retired: a test file sent to production by mistake
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


class ServiceServer(DagsterDevServer):
    """``python3 dev.py serve`` in place of ``dg dev``: the service an operator runs, its report server beside it."""

    def __init__(self, scratch: Path):
        self.reports_port = free_port()
        reports_url = f"http://127.0.0.1:{self.reports_port}"
        super().__init__(
            scratch / "dagster_home", scratch / "data", scratch / "serve.log", env={REPORTS_URL_VARIABLE: reports_url}
        )

    def command(self) -> list[str]:
        address = f"127.0.0.1:{self.reports_port}"
        return [sys.executable, "dev.py", "serve", "--port", str(self.port), "--reports-address", address]


def drop_files(inbox: Path) -> int:
    """The samples, a refused batch and a mistake into the shared inbox; how many runs they start."""
    samples = sorted(SAMPLES.glob("*.csv"))
    for sample in samples:
        shutil.copyfile(sample, inbox / sample.name)
    refused_batch(inbox / "refused_batch.csv")
    credit = (SAMPLES / "credit_applications.csv").read_text().splitlines()
    (inbox / f"{MISTAKE}.csv").write_text("\n".join(credit[:21]) + "\n")
    return len(samples) + 2


def job_selector(server: ServiceServer, job: str) -> dict:
    """The job's repository and code location, as the UI addresses it."""
    query = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
    repository = server.graphql(query)["repositoriesOrError"]["nodes"][0]
    return {
        "repositoryLocationName": repository["location"]["name"],
        "repositoryName": repository["name"],
        "jobName": job,
    }


def retire_mistake(server: ServiceServer, partition: str) -> str:
    """Launch credit_risk's retire_file job for the mistake, as the UI's Launchpad does; its run id."""
    keys = keys_of(use_case("credit_risk"))
    config = {"partition_key": partition, "reason": "a test file sent to production by mistake"}
    params = {
        "selector": job_selector(server, keys.retire_file_job),
        "runConfigData": {"ops": {keys.retire_file_op: {"config": config}}},
    }
    launched = server.graphql(LAUNCH, {"params": params})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        sys.exit(f"service_screenshots.py: the retire job was not launched: {launched}")
    server.wait_for_finished_runs(1, job_name=keys.retire_file_job)
    return launched["run"]["runId"]


def open_report_link(camera: Camera) -> None:
    """Click the drift report's link in the partition's metadata: the report opens from the report server."""
    with camera.context.expect_page() as opened:
        camera.page.get_by_text("http://127.0.0.1", exact=False).first.click()
    camera.page = opened.value
    camera.page.set_viewport_size({"width": 1400, "height": 1100})
    camera.page.get_by_text("Most drifted").first.wait_for(timeout=60000)
    camera.page.wait_for_timeout(1500)


def log_page(server: ServiceServer, scratch: Path, minutes: float) -> Path:
    """An HTML page of ``scoring-assets status`` and every service log (line count, then its text)."""
    status = cli(server, "status", allowed=(0, 1))  # 1: stale, shown as such
    parts = [
        f"<h2>After {minutes:.1f} minutes of <code>python3 dev.py serve</code></h2>",
        f"<h3>$ scoring-assets status (exit {status.returncode})</h3>",
        f"<pre>{html.escape(status.stdout + status.stderr)}</pre>",
    ]
    for log in sorted((server.dagster_home / "service_logs").glob("*.log")):
        text = log.read_text(errors="replace")
        parts.append(f"<h3>{log.name}: {len(text.splitlines())} lines</h3><pre>{html.escape(text[-6000:])}</pre>")
    page = scratch / "service_logs.html"
    style = "body{font-family:sans-serif;margin:24px} pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}"
    page.write_text(f"<html><head><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return page


def shots(partitions: list[str], retire_run: str) -> list[Shot]:
    refused, clean = (quote(named(partitions, stem)) for stem in ("refused_batch", "clean_batch"))
    return [
        Shot("/assets/inbox?view=events", "recent_files", "service_inbox_fates.png", 1100),
        Shot(
            f"/assets/telco_churn/validated_batch?view=partitions&partition={refused}",
            "refused",
            "service_refused_partition.png",
            1000,
        ),
        Shot(f"/runs/{retire_run}", "files_archived", "service_retired_file.png", 1000),
        Shot("/assets/credit_risk/scores?view=partitions", "credit_applications", "service_retired_partition.png", 700),
        Shot(
            f"/assets/telco_churn/scores?view=partitions&partition={clean}",
            "drift_report_url",
            "service_report_link.png",
            900,
            scrolled_to("drift_report"),
        ),
        Shot(
            f"/assets/telco_churn/scores?view=partitions&partition={clean}",
            "drift_report_url",
            "service_report_opened.png",
            1100,
            open_report_link,
        ),
    ]


def main() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "data" / "inbox").mkdir(parents=True)
        with ServiceServer(scratch) as server:
            runs = server.wait_for_finished_runs(drop_files(scratch / "data" / "inbox"), timeout=600)
            partitions = [run["tags"]["dagster/partition"] for run in runs]
            retire_run = retire_mistake(server, named(partitions, MISTAKE))
            time.sleep(30)  # the inbox sensor's next ticks record the final fates
            failed = photograph(server, scratch, shots(partitions, retire_run))
            time.sleep(max(0.0, SERVICE_MINUTES * 60 - (time.monotonic() - started)))
            page = log_page(server, scratch, (time.monotonic() - started) / 60)
            failed += photograph(server, scratch, [Shot(page.as_uri(), "status", "service_log.png", 1400, width=1200)])
    if failed:
        sys.exit(f"service_screenshots.py: not taken: {', '.join(failed)}")


if __name__ == "__main__":
    main()
