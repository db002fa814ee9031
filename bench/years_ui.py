"""The UI's cost at scale: the GraphQL queries a scores asset page and its partitions tab really issue.

A real ``dagster-webserver`` (no daemon: nothing may change the instance while it is measured)
serves the filled instance on 127.0.0.1. Headless Chromium (Debian's, driven by Playwright as
``scripts/screenshots.py`` drives it) opens the page and the tab; every ``/graphql`` request it
sends is captured. Each captured query is then sent again, one at a time, and timed: a page's
figure is the sum of its queries' times (what the server spends on the page), with its slowest
query named. CPU-seconds are the webserver's process group's (``/proc``), over the replay.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

from scoring_assets.core.paths import REPO_ROOT
from tests.support.dev_server import DagsterDevServer

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from screenshots import CHROMIUM_FLAGS, chromium  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Webserver(DagsterDevServer):
    """``dagster-webserver`` alone on the repository's workspace: the UI without a daemon."""

    def command(self) -> list[str]:
        webserver = Path(sys.executable).with_name("dagster-webserver")
        return [str(webserver), "-h", "127.0.0.1", "-p", str(self.port), "-w", str(REPO_ROOT / "workspace.yaml")]

    def cpu_seconds(self) -> float:
        """User + system CPU of every process of the server so far."""
        total = 0
        for pid in self.group_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / CLOCK_TICKS


def captured_queries(url: str, path: str, ready_seconds: float = 300) -> list[dict]:
    """Every GraphQL request the browser sends for ``path`` until the page has been quiet a while."""
    queries: list[dict] = []

    def keep(request) -> None:
        if "/graphql" in request.url and request.method == "POST" and request.post_data:
            queries.append(json.loads(request.post_data))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.on("request", keep)
        page.goto(f"{url}{path}", timeout=ready_seconds * 1000)
        try:  # at 100,000 files the page's live queries outlast their own polling: never idle
            page.wait_for_load_state("networkidle", timeout=ready_seconds * 1000)
        except PlaywrightTimeoutError:
            print(
                f"  {path}: not idle after {ready_seconds:.0f} s; replaying what it sent", file=sys.stderr, flush=True
            )
        page.wait_for_timeout(3000)
        browser.close()
    unique = {
        json.dumps([query.get("operationName"), query.get("variables")], sort_keys=True): query for query in queries
    }
    return list(unique.values())


def replay(url: str, query: dict, timeout: float = 900) -> float:
    """Wall seconds the server takes to answer ``query``; a GraphQL error fails the bench."""
    body = json.dumps(query).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    wall = time.perf_counter() - started
    if payload.get("errors"):
        raise RuntimeError(f"{query.get('operationName')}: {payload['errors'][:1]}")
    return wall


def page_cost(server: Webserver, path: str) -> tuple[float, float, str]:
    """(wall s, webserver CPU s, note) of the queries the browser sent for ``path``, replayed."""
    queries = captured_queries(server.url, path)
    before = server.cpu_seconds()
    walls = [(replay(server.url, query), query.get("operationName") or "?") for query in queries]
    cpu = server.cpu_seconds() - before
    slowest = max(walls, default=(0.0, "none"))
    return sum(wall for wall, _ in walls), cpu, f"{len(walls)} queries; slowest {slowest[1]} {slowest[0]:.2f} s"
