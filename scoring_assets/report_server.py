"""``scoring-assets serve-reports``: a small read-only web server for the reports, so the UI's links open anywhere.

The reports (drift, trend, model change impact, rejects) are files in the data folder; a person on
another machine cannot open a server path. This serves exactly the files ``core.report_files``
names, at ``http://HOST:PORT/<use case>/<path under the data folder>``, and answers 404 to
everything else (other files, ``..`` however spelled, symbolic links, another use case's folder).
GET and HEAD only. The HTML reports are offline and self-contained, so the pages are sent with a
Content-Security-Policy that lets them load nothing; reject reports are sent as CSV downloads.
It holds no state: stop and start it at will.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Collection
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

from scoring_assets.core.report_files import ReportFile, report_file

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
ALLOWED_METHODS = "GET, HEAD"


class ReportRequestHandler(BaseHTTPRequestHandler):
    """Answers one request: the report file, or 404; 405 for any method but GET and HEAD."""

    server: ReportServer
    server_version = "scoring-assets-reports"
    sys_version = ""

    def do_GET(self) -> None:
        self._send_report(with_body=True)

    def do_HEAD(self) -> None:
        self._send_report(with_body=False)

    def _refuse_method(self) -> None:
        self._send_status(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": ALLOWED_METHODS})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse_method

    def _send_report(self, with_body: bool) -> None:
        found = report_file(self.server.data_dir, urlsplit(self.path).path, self.server.use_cases())
        if found is None:
            self._send_status(HTTPStatus.NOT_FOUND)
            return
        with found.path.open("rb") as report:  # streamed: a reject report may be large
            self.send_response(HTTPStatus.OK)
            for name, value in {
                **report_headers(found),
                "Content-Length": str(os.fstat(report.fileno()).st_size),
            }.items():
                self.send_header(name, value)
            self.end_headers()
            if with_body:
                shutil.copyfileobj(report, self.wfile)

    def _send_status(self, status: HTTPStatus, headers: dict[str, str] | None = None) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        for name, value in {**common_headers(), "Content-Type": "text/plain; charset=utf-8", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def common_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def report_headers(found: ReportFile) -> dict[str, str]:
    """The report's content type; a reject report is a download named as its file."""
    headers = {**common_headers(), "Content-Type": found.content_type}
    if found.attachment:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(found.path.name, safe='')}"
    return headers


class ReportServer(ThreadingHTTPServer):
    """The report server over ``data_dir``; ``use_cases`` is asked on each request (the registry may grow)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], data_dir: Path, use_cases: Callable[[], Collection[str]]):
        self.data_dir = data_dir
        self.use_cases = use_cases
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, ReportRequestHandler)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:3001`` for IPv6) as a (host, port) pair; ValueError when it is not one."""
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def configured_report_server(address: str | None = None) -> ReportServer:
    """The report server over the configured data folder, on ``address`` (else ``SCORING_REPORTS_ADDRESS``)."""
    from scoring_assets.settings import data_folder, reports_address
    from scoring_assets.use_cases import all_use_cases

    return ReportServer(parse_address(address or reports_address()), data_folder(), lambda: all_use_cases().keys())
