"""Take the README's screenshots of the running Dagster UI with headless Chromium.

    .venv/bin/python scripts/screenshots.py            # writes docs/images/*.png

Starts `dg dev` on loopback with a scratch instance and data folder, drops the sample
batches, a batch with too many bad rows and a Telco file of one customer kind only (for drift)
into the shared inbox, waits until the runs have finished and the monitoring sensor has
refreshed the trend, adds a duplicate, an empty file, a non-CSV and a CSV of no use case, then
photographs the use case groups, the Telco graph, a credit and a Telco `scores` partition, the
refused file's partition and its reason, the per-file check status, the inbox table, the runs,
the shifted file's drift metadata, the monitoring asset, the drift alerts resource (its webhook
URL, a secret, shown by its variable's name), and the drift and trend reports. Needs Debian's
`chromium` package (`apt-get install chromium`) and Playwright for Python (`pip install -e
'.[screenshots]'`), which drives that Chromium; no browser is downloaded.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from scoring_assets.core.paths import REPO_ROOT  # noqa: E402
from scoring_assets.use_cases.telco_churn.generate import generate_extract  # noqa: E402
from tests.support.dev_server import DagsterDevServer  # noqa: E402

IMAGES = REPO_ROOT / "docs" / "images"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        sys.exit("screenshots.py: Chromium not found; install Debian's package: apt-get install chromium")
    return found


class Camera:
    """One headless Chromium (fresh profile) driven by Playwright, with Dagster's welcome dialog dismissed."""

    def __init__(self, playwright, profile: Path):
        self.context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium(),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        self.page = self.context.new_page()

    def open(self, url: str, ready_text: str) -> None:
        self.page.goto(url)
        skip = self.page.get_by_role("button", name="Skip")
        try:
            skip.click(timeout=5000)
        except PlaywrightTimeout:
            pass
        self.page.get_by_text(ready_text).first.wait_for(timeout=60000)
        self.page.wait_for_timeout(2500)

    def shoot(self, target: Path, height: int = 1000) -> None:
        self.page.set_viewport_size({"width": 1600, "height": height})
        self.page.wait_for_timeout(1500)
        self.page.screenshot(path=str(target))
        print(f"wrote {target.relative_to(REPO_ROOT)}")


def refused_batch(target: Path) -> Path:
    """The sample batch with a fifth of its genders broken: over the 5% reject limit, so refused."""
    lines = (REPO_ROOT / "data" / "samples" / "clean_batch.csv").read_text().splitlines()
    gender = lines[0].split(",").index("gender")
    for number in range(1, len(lines), 5):
        fields = lines[number].split(",")
        fields[gender] = "M"
        lines[number] = ",".join(fields)
    target.write_text("\n".join(lines) + "\n")
    return target


def shifted_batch(target: Path) -> Path:
    """Telco customers of one kind only (month-to-month fiber): a customer mix the model has not seen, for drift."""
    rows = generate_extract(4000, 909, labelled=False)
    rows = rows[(rows["Contract"] == "Month-to-month") & (rows["InternetService"] == "Fiber optic")]
    rows.to_csv(target, index=False)
    return target


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        inbox = scratch / "data" / "inbox"
        inbox.mkdir(parents=True)
        server = DagsterDevServer(
            scratch / "dagster_home",
            scratch / "data",
            scratch / "dagster_dev.log",
            env={
                "SCORING_INBOX_INTERVAL_SECONDS": "2",
                "SCORING_INBOX_SETTLE_SECONDS": "2",
                # A secret, to show that the UI names its variable and never shows its value.
                "SCORING_DRIFT_WEBHOOK_URL": "https://hooks.example.invalid/services/not-a-real-token",
            },
        )
        with server:
            samples = sorted((REPO_ROOT / "data" / "samples").glob("*.csv"))
            for sample in samples:
                shutil.copyfile(sample, inbox / sample.name)
            refused_batch(inbox / "refused_batch.csv")
            shifted_batch(inbox / "shifted_mix.csv")
            partitions = [run["tags"]["dagster/partition"] for run in server.wait_for_finished_runs(len(samples) + 2)]
            # The monitoring sensor refreshes the trend after the last scored file (it ticks every 15 s).
            trend = scratch / "data" / "monitoring" / "telco_churn" / "trend.html"
            deadline = time.monotonic() + 300
            while not (trend.exists() and "shifted_mix" in trend.read_text()):
                if time.monotonic() > deadline:
                    sys.exit(f"screenshots.py: the monitoring trend was not refreshed:\n{server.log_tail()}")
                time.sleep(2)
            # Then what the inbox sensor decides without a run: a copy of a scored file, an empty file.
            shutil.copyfile(samples[0], inbox / "copy of a scored file.csv")
            (inbox / "empty.csv").touch()
            (inbox / "notes.txt").write_text("not a CSV\n")
            (inbox / "unknown_table.csv").write_text("account,balance,region\nA-1,10.5,north\n")
            time.sleep(12)
            clean = next(key for key in partitions if key.startswith("clean_batch"))
            refused = next(key for key in partitions if key.startswith("refused_batch"))
            shifted = next(key for key in partitions if key.startswith("shifted_mix"))
            drift_report = scratch / "data" / "scored" / "telco_churn" / f"{shifted}.drift.html"
            credit = next(key for key in partitions if key.startswith("credit_applications"))
            shots = [  # (page, text that shows it has loaded, image, viewport height)
                (
                    "/asset-groups",
                    "credit_risk",
                    "asset_graph.png",
                    1000,
                ),
                (
                    "/assets/telco_churn/scoring_manifest?view=lineage&lineageScope=upstream&lineageDepth=5",
                    "raw_batch",
                    "use_case_graph.png",
                    1000,
                ),
                (
                    f"/assets/credit_risk/scores?view=partitions&partition={quote(credit)}",
                    "rows_scored",
                    "credit_scores_partition.png",
                    1500,
                ),
                (
                    f"/assets/telco_churn/scores?view=partitions&partition={quote(clean)}",
                    "rows_scored",
                    "scores_partition.png",
                    1500,
                ),
                (
                    f"/assets/telco_churn/validated_batch?view=partitions&partition={quote(refused)}",
                    "did not materialize",
                    "refused_partition.png",
                    800,
                ),
                (
                    f"/assets/telco_churn/validated_batch?view=events&partition={quote(refused)}",
                    "refused",
                    "refused_reason.png",
                    900,
                ),
                (
                    "/assets/telco_churn/validated_batch?view=checks",
                    "reject_fraction_within_limit",
                    "checks_per_file.png",
                    900,
                ),
                ("/assets/inbox?view=events", "recent_files", "inbox_fates.png", 1100),
                ("/runs", "score_file", "runs.png", 700),
                ("/locations/scoring_assets/resources/drift_alerts", "webhook_url", "resource_settings.png", 800),
                (
                    f"/assets/telco_churn/scores?view=partitions&partition={quote(shifted)}",
                    "drift_input_level",
                    "drift_metadata.png",
                    1500,
                ),
                ("/assets/telco_churn/monitoring?view=events", "recent_files", "monitoring_asset.png", 1100),
                (drift_report.as_uri(), "Most drifted", "drift_report.png", 1500),
                (trend.as_uri(), "PSI", "trend_report.png", 1500),
            ]
            with sync_playwright() as playwright:
                camera = Camera(playwright, scratch / "chromium_profile")
                for page, ready_text, image, height in shots:
                    camera.open(page if page.startswith("file:") else f"{server.url}{page}", ready_text)
                    if image == "checks_per_file.png":
                        camera.page.get_by_text("reject_fraction_within_limit").first.click()
                        camera.page.locator("button[role=tab]", has_text="Partitions").click()
                        camera.page.wait_for_timeout(2500)
                    camera.shoot(IMAGES / image, height=height)
                camera.context.close()


if __name__ == "__main__":
    main()
