"""Take the screenshots of the README and docs/ pages from the running Dagster UI with headless Chromium.

    .venv/bin/python scripts/screenshots.py            # writes docs/images/*.png
    .venv/bin/python scripts/screenshots.py --hold     # then keeps the server up (Ctrl-C or SIGTERM ends it)

Starts `dg dev` on loopback with a scratch instance, data folder and model root (a copy of the
models' DVC project, so training and promotion never touch the repository's `data/models`), drops
the sample batches, a batch with too many bad rows and a Telco file of one customer kind only (for
drift) into the shared inbox, waits until the runs have finished and the monitoring sensor has
refreshed the trend, adds a duplicate, an empty file, a non-CSV and a CSV of no use case, then
photographs the use case groups, the Telco graph, a credit and a Telco `scores` partition, the
refused file's partition and its reason, the per-file check status, the runs (the inbox table
is ``service_screenshots.py``'s), the shifted file's drift metadata, the monitoring asset, the
drift alerts resource (its webhook URL, a secret, shown by its variable's name) and the drift
and trend reports.

Then the Telco model's lifecycle: four files of a labelled generated extract (labels dropped) are
scored one after another, each followed by its outcomes in `inbox/telco_churn/outcomes/`; the
`train` command trains a challenger on those production rows (in the same instance); one more
file is scored (and shadow-scored by the challenger); `promote` (forced if the gate refused) and
`rollback` follow. It photographs realized against expected performance over time, the trend
report's realized lines, the training set, the challenger, its gate check, the model
change impact report, the shadow scores of the last file and the model history.

Needs Debian's `chromium` package (`apt-get install chromium`) and Playwright for Python (`pip
install -e '.[screenshots]'`), which drives that Chromium; no browser is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from scoring_assets.builders.keys import keys_of  # noqa: E402
from scoring_assets.core.model_lifecycle import models_overview  # noqa: E402
from scoring_assets.core.paths import REPO_ROOT  # noqa: E402
from scoring_assets.settings import DATA_DIR_VARIABLE, MODEL_ROOT_VARIABLE  # noqa: E402
from scoring_assets.use_cases import all_use_cases  # noqa: E402
from scoring_assets.use_cases.telco_churn import USE_CASE as TELCO  # noqa: E402
from scoring_assets.use_cases.telco_churn.generate import generate_extract  # noqa: E402
from tests.support.dev_server import DagsterDevServer  # noqa: E402
from tests.support.model_roots import dvc_model_root  # noqa: E402

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
TELCO_KEYS = keys_of(TELCO)
LIFECYCLE_FILES = 4  # scored, each followed by its outcomes
ROWS_PER_FILE = 1500  # 6,000 labelled rows: the gate's 500-row production holdout and 5,500 to train on
LIFECYCLE_SEED = 2323  # not the training extract's seed (params.yaml): other customers than the champion's


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        sys.exit("screenshots.py: Chromium not found; install Debian's package: apt-get install chromium")
    return found


@dataclass
class Shot:
    """One photograph: a page (a path on the server, or a file: URI), the text that shows it has loaded, the image."""

    page: str
    ready_text: str
    image: str
    height: int = 1000
    action: Callable[[Camera], None] | None = None  # clicks or scrolls after loading
    full_page: bool = False
    width: int = 1600


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

    def open(self, url: str, ready_text: str, width: int = 1600, height: int = 1000) -> None:
        self.page.set_viewport_size({"width": width, "height": height})  # laid out at its final size
        self.page.goto(url)
        skip = self.page.get_by_role("button", name="Skip")
        try:
            skip.click(timeout=5000)
        except PlaywrightTimeout:
            pass
        self.page.get_by_text(ready_text).first.wait_for(timeout=60000)
        self.page.wait_for_timeout(2500)

    def shoot(self, target: Path, full_page: bool = False) -> None:
        self.page.wait_for_timeout(1500)
        self.page.screenshot(path=str(target), full_page=full_page)
        print(f"wrote {target.relative_to(REPO_ROOT)}")

    def click(self, text: str, role: str | None = None) -> None:
        found = self.page.get_by_role(role, name=text) if role else self.page.get_by_text(text, exact=True)
        found.first.click()
        self.page.wait_for_timeout(2500)

    def scroll_to(self, text: str) -> None:
        """The first element showing ``text`` at the top of its scrolling area."""
        self.page.get_by_text(text, exact=True).first.evaluate("element => element.scrollIntoView()")
        self.page.wait_for_timeout(1000)


def scrolled_to(text: str) -> Callable[[Camera], None]:
    """A shot's action: scroll to ``text`` (a section's heading)."""
    return lambda camera: camera.scroll_to(text)


def photograph(server: DagsterDevServer, scratch: Path, shots: list[Shot]) -> list[str]:
    """Every shot taken that can be; the images that could not (each one's error printed)."""
    failed = []
    with sync_playwright() as playwright:
        camera = Camera(playwright, scratch / "chromium_profile")
        for shot in shots:
            try:
                url = shot.page if shot.page.startswith("file:") else f"{server.url}{shot.page}"
                camera.open(url, shot.ready_text, shot.width, shot.height)
                if shot.action is not None:
                    shot.action(camera)
                camera.shoot(IMAGES / shot.image, full_page=shot.full_page)
            except PlaywrightTimeout as error:
                print(f"screenshots.py: {shot.image} not taken: {error}", file=sys.stderr)
                failed.append(shot.image)
        camera.context.close()
    return failed


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


def model_root(root: Path) -> Path:
    """A DVC project of every use case's model files, copied: what training and promotion may change."""
    for use_case in all_use_cases().values():
        dvc_model_root(root, use_case)
    return root


def dev_server(scratch: Path) -> DagsterDevServer:
    """`dg dev` over scratch folders: its instance, data folder and model root (a copy of the models' DVC project)."""
    return DagsterDevServer(
        scratch / "dagster_home",
        scratch / "data",
        scratch / "dagster_dev.log",
        env={
            "SCORING_INBOX_INTERVAL_SECONDS": "2",
            "SCORING_INBOX_SETTLE_SECONDS": "2",
            MODEL_ROOT_VARIABLE: str(model_root(scratch / "models")),
            # A secret, to show that the UI names its variable and never shows its value.
            "SCORING_DRIFT_WEBHOOK_URL": "https://hooks.example.invalid/services/not-a-real-token",
        },
    )


def wait_for_trend(server: DagsterDevServer, trend: Path, *texts: str) -> None:
    """Until the monitoring sensor (it ticks every 15 s) has written a trend report that shows every text."""
    deadline = time.monotonic() + 300
    while not (trend.exists() and all(text in trend.read_text() for text in texts)):
        if time.monotonic() > deadline:
            sys.exit(f"screenshots.py: the monitoring trend was not refreshed:\n{server.log_tail()}")
        time.sleep(2)


def score_samples(server: DagsterDevServer, data: Path) -> list[str]:
    """The sample batches, a refused and a shifted one scored, then the inbox's other fates; their partition keys."""
    inbox = data / "inbox"
    samples = sorted((REPO_ROOT / "data" / "samples").glob("*.csv"))
    for sample in samples:
        shutil.copyfile(sample, inbox / sample.name)
    refused_batch(inbox / "refused_batch.csv")
    shifted_batch(inbox / "shifted_mix.csv")
    partitions = [run["tags"]["dagster/partition"] for run in server.wait_for_finished_runs(len(samples) + 2)]
    wait_for_trend(server, data / "monitoring" / "telco_churn" / "trend.html", "shifted_mix")
    # Then what the inbox sensor decides without a run: a copy of a scored file, an empty file.
    shutil.copyfile(samples[0], inbox / "copy of a scored file.csv")
    (inbox / "empty.csv").touch()
    (inbox / "notes.txt").write_text("not a CSV\n")
    (inbox / "unknown_table.csv").write_text("account,balance,region\nA-1,10.5,north\n")
    time.sleep(12)
    return partitions


def check_partitions(camera: Camera) -> None:
    camera.click("reject_fraction_within_limit")
    camera.page.locator("button[role=tab]", has_text="Partitions").click()
    camera.page.wait_for_timeout(2500)


def named(partitions: list[str], stem: str) -> str:
    """The partition key of the file named ``stem`` (a key is the file's stem and a content hash)."""
    return next(key for key in partitions if key.startswith(f"{stem}-"))


def sample_shots(data: Path, partitions: list[str]) -> list[Shot]:
    """The scoring shots: groups, graph, partitions, refusals, the inbox, runs, drift and monitoring."""
    drift_report = data / "scored" / "telco_churn" / f"{named(partitions, 'shifted_mix')}.drift.html"
    trend = data / "monitoring" / "telco_churn" / "trend.html"
    clean, refused, shifted, credit = (
        quote(named(partitions, stem))
        for stem in ("clean_batch", "refused_batch", "shifted_mix", "credit_applications")
    )
    return [
        Shot("/asset-groups", "credit_risk", "asset_graph.png"),
        Shot(
            "/assets/telco_churn/scoring_manifest?view=lineage&lineageScope=upstream&lineageDepth=5",
            "raw_batch",
            "use_case_graph.png",
        ),
        Shot(
            f"/assets/credit_risk/scores?view=partitions&partition={credit}",
            "rows_scored",
            "credit_scores_partition.png",
            1500,
        ),
        Shot(
            f"/assets/telco_churn/scores?view=partitions&partition={clean}", "rows_scored", "scores_partition.png", 1500
        ),
        Shot(
            f"/assets/telco_churn/validated_batch?view=partitions&partition={refused}",
            "did not materialize",
            "refused_partition.png",
            800,
        ),
        Shot(
            f"/assets/telco_churn/validated_batch?view=events&partition={refused}", "refused", "refused_reason.png", 900
        ),
        Shot(
            "/assets/telco_churn/validated_batch?view=checks",
            "reject_fraction_within_limit",
            "checks_per_file.png",
            900,
            check_partitions,
        ),
        Shot("/runs", "score_file", "runs.png", 700),
        Shot("/locations/scoring_assets/resources/drift_alerts", "webhook_url", "resource_settings.png", 800),
        Shot(
            f"/assets/telco_churn/scores?view=partitions&partition={shifted}",
            "drift_input_level",
            "drift_metadata.png",
            1500,
        ),
        Shot("/assets/telco_churn/monitoring?view=events", "recent_files", "monitoring_asset.png", 1100),
        Shot(drift_report.as_uri(), "Most drifted", "drift_report.png", 1500),
        Shot(trend.as_uri(), "PSI", "trend_report.png", 1500),
    ]


def move_into(source: Path, folder: Path) -> None:
    """Into the inbox in one rename (the same file system), so the sensor never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    source.rename(folder / source.name)


def score_one(server: DagsterDevServer, data: Path, rows, name: str) -> str:
    """Drop ``rows`` (labels dropped) into the inbox as ``name``; its partition key once its run has finished."""
    before = len(server.runs())
    staged = data / "staging" / name
    staged.parent.mkdir(exist_ok=True)
    rows.drop(columns=[TELCO.label_column]).to_csv(staged, index=False)
    move_into(staged, data / "inbox" / "telco_churn")
    runs = server.wait_for_finished_runs(before + 1)
    return named([run["tags"]["dagster/partition"] for run in runs], staged.stem)


def register_outcomes(server: DagsterDevServer, data: Path, rows, name: str, count: int) -> None:
    """Drop the outcomes of ``rows`` (id and label) into inbox/telco_churn/outcomes/; wait for the ``count``th run."""
    staged = data / "staging" / name
    rows[[TELCO.id_column, TELCO.label_column]].to_csv(staged, index=False)
    move_into(staged, data / "inbox" / "telco_churn" / "outcomes")
    server.wait_for_finished_runs(count, job_name=TELCO_KEYS.register_outcomes_job)


def score_with_outcomes(server: DagsterDevServer, data: Path, extract) -> None:
    """Four weeks of Telco files, each scored and then told its outcomes: realized_performance, four times."""
    for week in range(1, LIFECYCLE_FILES + 1):
        rows = extract.iloc[(week - 1) * ROWS_PER_FILE : week * ROWS_PER_FILE]
        score_one(server, data, rows, f"telco_week_{week}.csv")
        register_outcomes(server, data, rows, f"telco_week_{week}_outcomes.csv", week)
        time.sleep(5)  # materializations a few seconds apart, for the plots
    wait_for_trend(server, data / "monitoring" / "telco_churn" / "trend.html", "realized precision", "telco_week_4")


def cli(server: DagsterDevServer, *args: str, allowed: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    """``python -m scoring_assets ARGS`` in the dev server's instance, data folder and model root."""
    env = {**os.environ, **server.extra_env, "DAGSTER_HOME": str(server.dagster_home)}
    env[DATA_DIR_VARIABLE] = str(server.data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "scoring_assets", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode not in allowed:
        sys.exit(f"screenshots.py: {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    print(f"{' '.join(args)}: exit {result.returncode}")
    return result


def promote_and_roll_back(server: DagsterDevServer) -> None:
    """Promote the challenger (forced, with a reason, if the gate refused it), then roll back to the champion."""
    promoted = cli(server, "promote", "--use-case", TELCO.name, allowed=(0, 5))
    if promoted.returncode == 5:
        print(f"the gate refused the challenger: {promoted.stderr.strip()}")
        reason = "screenshots: promoted over the gate to show the history"
        cli(server, "promote", "--use-case", TELCO.name, "--force", "--reason", reason)
    cli(server, "rollback", "--use-case", TELCO.name)


def latest_history_events(server: DagsterDevServer) -> int | None:
    """The ``events`` figure of the latest observation of telco_churn/model_history (None: not observed yet)."""
    query = """query History($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
        assetObservations(limit: 1) { metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }"""
    key = {"path": TELCO_KEYS.model_history.path}
    observations = server.graphql(query, {"key": key})["assetOrError"].get("assetObservations") or []
    for entry in observations[0]["metadataEntries"] if observations else []:
        if entry["label"] == "events":
            return entry.get("intValue")
    return None


def wait_for_history_observed(server: DagsterDevServer) -> None:
    """Until the model sensor (every 15 s) has observed model_history with every record of the history file."""
    events = len(models_overview(TELCO, Path(server.extra_env[MODEL_ROOT_VARIABLE]))["history"])
    deadline = time.monotonic() + 120
    while latest_history_events(server) != events:
        if time.monotonic() > deadline:
            sys.exit(f"screenshots.py: model_history was not observed with {events} events:\n{server.log_tail()}")
        time.sleep(2)


def lifecycle(server: DagsterDevServer, data: Path) -> dict:
    """Outcomes, a challenger, a shadow-scored file, promotion and rollback; what the shots need to find."""
    extract = generate_extract(ROWS_PER_FILE * (LIFECYCLE_FILES + 1), LIFECYCLE_SEED, labelled=True)
    score_with_outcomes(server, data, extract)
    trained = json.loads(
        cli(server, "train", "--use-case", TELCO.name, "--training-set", "production", "--json").stdout
    )
    print(f"challenger {trained['challenger_md5']}: gate passed {trained['gate']['passed']}")
    shadowed = score_one(server, data, extract.iloc[LIFECYCLE_FILES * ROWS_PER_FILE :], "telco_week_5.csv")
    promote_and_roll_back(server)
    wait_for_history_observed(server)
    return {"impact_report": Path(trained["impact_report"]), "shadowed": shadowed, "batch_run": batch_rescore(server)}


def batch_rescore(server: DagsterDevServer) -> str:
    """Every Telco file re-scored by one <use case>__rescore_batch run (the CLI's default); its run id."""
    rescored = cli(server, "rescore", "--use-case", TELCO.name, "--all")
    runs = {line.rsplit("(run ", 1)[1].rstrip(")") for line in rescored.stdout.splitlines() if "(run " in line}
    if len(runs) != 1:
        sys.exit(f"screenshots.py: expected one batch run, got {sorted(runs)}")
    return runs.pop()


def realized_plots(camera: Camera) -> None:
    """The Overview's metadata as Dagster's plots, one per number, across the materializations."""
    camera.click("Plots", role="button")
    camera.scroll_to("Metadata")


def gate_figures(camera: Camera) -> None:
    """The gate check's latest execution, its criteria table (Markdown metadata) opened."""
    camera.click(TELCO_KEYS.challenger_check)
    camera.click("[Show Markdown]")


def realized_trend(camera: Camera) -> None:
    """The trend report's precision and recall chart, enlarged (the SVG scales)."""
    camera.page.evaluate("document.body.style.zoom = '1.6'")
    camera.page.get_by_text("Precision and recall at the threshold").first.evaluate("e => e.scrollIntoView()")
    camera.page.evaluate("window.scrollBy(0, -24)")  # a margin above the chart's title
    camera.page.wait_for_timeout(1000)


def lifecycle_shots(data: Path, found: dict) -> list[Shot]:
    """The model lifecycle: realized performance, trend, training set, challenger, gate, impact, shadow, history."""
    trend = data / "monitoring" / "telco_churn" / "trend.html"
    shadowed = quote(found["shadowed"])
    return [
        Shot(
            "/assets/telco_churn/realized_performance",
            "latest_partition",
            "realized_vs_expected.png",
            1050,
            realized_plots,
        ),
        Shot(trend.as_uri(), "PSI", "trend_realized.png", 490, realized_trend, width=1100),
        Shot("/assets/telco_churn/training_set", "rows_by_source", "training_set.png", 1000, scrolled_to("Metadata")),
        Shot("/assets/telco_churn/challenger", "model_card", "challenger.png", 1780, scrolled_to("Description")),
        Shot(
            "/assets/telco_churn/challenger?view=checks",
            TELCO_KEYS.challenger_check,
            "challenger_gate_check.png",
            900,
            gate_figures,
        ),
        Shot(found["impact_report"].as_uri(), "ROC", "impact_report.png", full_page=True, width=1100),
        Shot(
            f"/assets/telco_churn/shadow_scores?view=partitions&partition={shadowed}",
            "flip_share",
            "shadow_scores.png",
            1050,
        ),
        Shot("/assets/telco_churn/model_history?view=events", "champion_source", "model_history.png", 950),
        Shot(f"/runs/{found['batch_run']}", "telco_churn__rescore_files", "rescore_batch_run.png", 1000),
        Shot(
            f"/assets/telco_churn/scores?view=partitions&partition={shadowed}",
            "rows_scored",
            "rescore_batch_partition.png",
            1300,
        ),
    ]


def hold(server: DagsterDevServer, scratch: Path) -> None:
    print(f"holding: {server.url} (data {scratch / 'data'}); Ctrl-C or SIGTERM ends it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("screenshots.py: terminated"))  # still stops the server
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = scratch / "data"
        (data / "inbox").mkdir(parents=True)
        server = dev_server(scratch)
        with server:
            partitions = score_samples(server, data)
            failed = photograph(server, scratch, sample_shots(data, partitions))
            found = lifecycle(server, data)
            failed += photograph(server, scratch, lifecycle_shots(data, found))
            if "--hold" in sys.argv[1:]:
                hold(server, scratch)
    if failed:
        sys.exit(f"screenshots.py: not taken: {', '.join(failed)}")


if __name__ == "__main__":
    main()
