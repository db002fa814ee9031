"""The report server serves the reports, and only them, to people on other machines; the UI links to them.

A real server on a free loopback port, over a scratch data folder holding one report of each kind
per use case beside files that must never be served (lake files, manifests, scored files, a
secret outside the folder, symbolic links out). Use cases come from the registry.
"""

from __future__ import annotations

import http.client
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring_assets.builders.resources import ScoringFolders
from scoring_assets.core.report_files import report_file, report_url
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.report_server import CONTENT_SECURITY_POLICY, ReportServer
from scoring_assets.settings import DATA_DIR_VARIABLE, REPORTS_URL_VARIABLE
from scoring_assets.use_cases import all_use_cases
from tests.support.batches import TELCO, valid_rows, write_csv
from tests.support.cli_workspace import new_workspace
from tests.support.scoring_runs import score_file

USE_CASES = sorted(all_use_cases())
KEY = "batch_one-0123abcd"


def report_paths(use_case: str) -> dict[str, str]:
    """Kind -> path under the data folder of one sample report of each kind."""
    return {
        "drift": f"scored/{use_case}/{KEY}.drift.html",
        "trend": f"monitoring/{use_case}/trend.html",
        "impact": f"monitoring/{use_case}/model_change_0123456789ab.html",
        "rejects": f"rejected/{use_case}/{KEY}.csv",
    }


def forbidden_paths(use_case: str) -> list[str]:
    """Files in the data folder that are no report: they must never be served."""
    return [
        f"lake/{use_case}/inputs/{KEY}.json",
        f"lake/{use_case}/raw_batch/{KEY}.parquet",
        f"scored/{use_case}/{KEY}.csv",
        f"scored/{use_case}/{KEY}.manifest.json",
        f"inbox/{use_case}/incoming.csv",
        f"monitoring/{use_case}/notes.txt",
    ]


@dataclass
class ServedFolder:
    data_dir: Path
    secret: Path
    port: int
    allowed: dict[bytes, str]  # body -> path under the data folder

    def request(self, method: str, path: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request(method, path)
        response = connection.getresponse()
        response.body = response.read()
        connection.close()
        return response


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServedFolder]:
    root = tmp_path_factory.mktemp("reports")
    data_dir, secret = root / "data", root / "secret.html"
    write(secret, "SECRET outside the data folder")
    allowed = {}
    for use_case in USE_CASES:
        for relative in report_paths(use_case).values():
            body = f"report {relative}"
            write(data_dir / relative, body)
            allowed[body.encode()] = relative
        for relative in forbidden_paths(use_case):
            write(data_dir / relative, f"FORBIDDEN {relative}")
        (data_dir / "scored" / use_case / "linked_out.drift.html").symlink_to(secret)
        (data_dir / "scored" / use_case / "linked_in.drift.html").symlink_to(data_dir / forbidden_paths(use_case)[0])
    write(data_dir / "monitoring" / "not_a_use_case" / "trend.html", "FORBIDDEN: no such use case")
    server = ReportServer(("127.0.0.1", 0), data_dir, lambda: USE_CASES)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ServedFolder(data_dir, secret, server.server_address[1], allowed)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("use_case", USE_CASES)
@pytest.mark.parametrize("kind", ["drift", "trend", "impact"])
def test_each_html_report_is_served_as_a_page_that_may_load_nothing(served, use_case, kind):
    relative = report_paths(use_case)[kind]
    response = served.request("GET", f"/{use_case}/{relative}")
    assert response.status == 200
    assert response.body == f"report {relative}".encode()
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert response.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Content-Disposition") is None


@pytest.mark.parametrize("use_case", USE_CASES)
def test_a_reject_report_is_a_csv_download(served, use_case):
    relative = report_paths(use_case)["rejects"]
    response = served.request("GET", f"/{use_case}/{relative}")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/csv; charset=utf-8"
    assert response.getheader("Content-Disposition") == f"attachment; filename*=UTF-8''{KEY}.csv"
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_head_sends_the_headers_without_the_report(served):
    relative = report_paths(USE_CASES[0])["trend"]
    response = served.request("HEAD", f"/{USE_CASES[0]}/{relative}")
    assert response.status == 200
    assert int(response.getheader("Content-Length")) == len(f"report {relative}")
    assert response.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head_are_allowed(served, method):
    response = served.request(method, f"/{USE_CASES[0]}/{report_paths(USE_CASES[0])['trend']}")
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"


def refused_paths(served: ServedFolder, use_case: str) -> list[str]:
    other = next((name for name in USE_CASES if name != use_case), "another_use_case")
    trend = f"monitoring/{use_case}/trend.html"
    return [
        f"/{use_case}/../../etc/passwd",
        f"/{use_case}/%2e%2e/%2e%2e/etc/passwd",
        f"/{use_case}/%2E%2E/{trend}",
        f"/{use_case}/monitoring%2f{use_case}%2ftrend.html",
        f"/{use_case}/monitoring/{use_case}/..%2f..%2f..%2fsecret.html",
        f"/{use_case}/{served.secret}",
        f"/{use_case}//{trend}",
        f"/{use_case}/./{trend}",
        f"/{use_case}/monitoring/{use_case}/./trend.html",
        f"/{other}/{trend}",
        f"/{use_case}/monitoring/{other}/trend.html",
        "/not_a_use_case/monitoring/not_a_use_case/trend.html",
        f"/{use_case}/scored/{use_case}/linked_out.drift.html",
        f"/{use_case}/scored/{use_case}/linked_in.drift.html",
        f"/{use_case}/scored/{use_case}/missing.drift.html",
        f"/{use_case}/monitoring/{use_case}/trend.html/",
        f"/{use_case}/monitoring/{use_case}",
        f"/{use_case}",
        "/",
        *(f"/{use_case}/{relative}" for relative in forbidden_paths(use_case)),
    ]


@pytest.mark.parametrize("use_case", USE_CASES)
def test_anything_but_a_report_of_the_named_use_case_is_not_found(served, use_case):
    for path in refused_paths(served, use_case):
        response = served.request("GET", path)
        assert response.status == 404, path
        assert b"FORBIDDEN" not in response.body and b"SECRET" not in response.body, path


SEGMENTS = st.sampled_from(
    [
        *USE_CASES,
        "scored",
        "monitoring",
        "rejected",
        "lake",
        "inbox",
        "..",
        ".",
        "",
        "%2e%2e",
        "%2E.",
        "%2f",
        "%5c",
        "%00",
        "trend.html",
        f"{KEY}.csv",
        f"{KEY}.drift.html",
        f"{KEY}.manifest.json",
        "linked_out.drift.html",
        "linked_in.drift.html",
        "raw_batch",
        "inputs",
        "secret.html",
    ]
) | st.text(alphabet="abc./%2e5fEF_-~:;@", max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(SEGMENTS, min_size=0, max_size=7))
def test_no_request_path_serves_anything_but_a_report(served, segments):
    response = served.request("GET", "/" + "/".join(segments))
    assert response.status in (200, 404)
    if response.status == 200:
        assert response.body in served.allowed


@given(url_path=st.text(max_size=80))
def test_no_path_string_resolves_outside_the_report_set(served, url_path):
    found = report_file(served.data_dir, url_path, USE_CASES)
    if found is not None:
        relative = found.path.relative_to(served.data_dir.resolve()).as_posix()
        assert relative in served.allowed.values()


@pytest.mark.parametrize("use_case", USE_CASES)
def test_each_report_path_maps_to_the_url_that_serves_it(served, use_case):
    base = "http://reports.example:3001/"
    for relative in report_paths(use_case).values():
        url = report_url(base, served.data_dir, served.data_dir / relative)
        assert url == f"http://reports.example:3001/{use_case}/{relative}"
        assert report_file(served.data_dir, url.removeprefix(base[:-1]), USE_CASES).path == served.data_dir / relative
        assert served.request("GET", url.removeprefix(base[:-1])).status == 200


def test_a_path_that_is_no_report_gets_no_url(served):
    base = "http://reports.example:3001"
    assert report_url("", served.data_dir, served.data_dir / report_paths(USE_CASES[0])["trend"]) is None
    assert report_url(base, served.data_dir, served.secret) is None
    for relative in forbidden_paths(USE_CASES[0]):
        assert report_url(base, served.data_dir, served.data_dir / relative) is None


def test_report_metadata_adds_a_link_only_when_the_reports_url_is_set(served):
    path = served.data_dir / report_paths(USE_CASES[0])["drift"]
    without = ScoringFolders(data_dir=str(served.data_dir)).report_metadata("drift_report", path)
    assert without == {"drift_report": dg.MetadataValue.path(str(path))}
    linked = ScoringFolders(data_dir=str(served.data_dir), reports_url="http://r.example:3001")
    assert linked.report_metadata("drift_report", path) == {
        "drift_report": dg.MetadataValue.path(str(path)),
        "drift_report_url": dg.MetadataValue.url(
            f"http://r.example:3001/{USE_CASES[0]}/{path.relative_to(served.data_dir)}"
        ),
    }


def test_serve_reports_serves_until_sigterm_then_exits_0(served, tmp_path):
    workspace = new_workspace(tmp_path)
    workspace.data_dir = served.data_dir
    port = free_port()
    process = workspace.start("serve-reports", "--reports-address", f"127.0.0.1:{port}")
    try:
        relative = report_paths(USE_CASES[0])["trend"]
        status = wait_for_status(port, f"/{USE_CASES[0]}/{relative}")
        assert status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"127.0.0.1:{port}" in stdout


def test_serve_reports_refuses_an_address_that_is_not_host_port(tmp_path):
    done = new_workspace(tmp_path).run("serve-reports", "--reports-address", "nowhere")
    assert done.returncode == 2
    assert "HOST:PORT" in done.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_status(port: int, path: str, seconds: float = 60) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            return connection.getresponse().status
        except OSError:
            time.sleep(0.2)
    return None


def test_a_scored_file_links_its_drift_and_reject_reports_to_the_report_server(
    instance, monkeypatch, tmp_path, request
):
    """Through the real score_file job: with SCORING_REPORTS_URL set, the reports' links open on the server."""
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path / "data"))
    monkeypatch.setenv(REPORTS_URL_VARIABLE, "http://reports.example:3001")
    scoring_definitions.cache_clear()  # the code location reads which settings are set when it loads
    request.addfinalizer(scoring_definitions.cache_clear)
    folders = scoring_resources()["folders"]
    rows = valid_rows(TELCO, 100)
    rows.loc[rows.index[3], "Contract"] = "Weekly"
    _, result = score_file(instance, folders, write_csv(rows, tmp_path / "batch.csv"))
    assert result.success
    links = {
        name: entry.value
        for event in result.get_asset_materialization_events()
        for name, entry in event.materialization.metadata.items()
        if name.endswith("_report_url")
    }
    assert set(links) == {"reject_report_url", "drift_report_url"}
    server = ReportServer(("127.0.0.1", 0), folders.root, lambda: USE_CASES)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for url in links.values():
            connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
            connection.request("GET", url.removeprefix("http://reports.example:3001"))
            assert connection.getresponse().status == 200, url
    finally:
        server.shutdown()
        server.server_close()
