"""Which files under the data folder are reports people may open from another machine, and their URLs.

The report server (``report_server``) serves these and nothing else; the assets link to them
with ``report_url``. One rule for both, so a link the UI shows is always one the server serves::

    scored/<use case>/<key>.drift.html          drift report of one scored file
    monitoring/<use case>/trend.html            trend of the recent scored files
    monitoring/<use case>/model_change_<md5>.html  model change impact report of a challenger
    rejected/<use case>/<key>.csv               reject report (downloaded, not shown)

A report's URL is ``<base>/<use case>/<path under the data folder>``. A path is refused unless
it has exactly that shape, names the same use case twice, and is a regular file reached without
any symbolic link: nothing else in the data folder (lake files, manifests, scored files) and
nothing outside it can be reached, whatever the request's spelling.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

HTML = "text/html; charset=utf-8"
CSV = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class ReportFile:
    """A report the server may send: where it is, its content type, and whether it is a download."""

    path: Path
    use_case: str
    content_type: str
    attachment: bool


def report_kind(folder: str, name: str) -> str | None:
    """The content type of a report named ``name`` in ``folder/<use case>/``, or None when it is no report."""
    if name.startswith("."):
        return None
    if folder == "scored" and name.endswith(".drift.html"):
        return HTML
    if folder == "monitoring" and (
        name == "trend.html" or (name.startswith("model_change_") and name.endswith(".html"))
    ):
        return HTML
    if folder == "rejected" and name.endswith(".csv"):
        return CSV
    return None


def _safe_segment(segment: str) -> bool:
    return segment not in ("", ".", "..") and not any(c in segment for c in "/\\\x00")


def report_file(data_dir: Path, url_path: str, use_cases: Collection[str]) -> ReportFile | None:
    """The report a URL path (``/<use case>/<folder>/<use case>/<name>``, percent-encoded) stands for, or None.

    Each segment is decoded on its own, so an encoded ``/`` or ``..`` is a segment's text and is
    refused as such; the file must be a regular file whose real path is exactly the one named.
    """
    raw = url_path.split("/")
    if len(raw) != 5 or raw[0] != "":
        return None
    try:
        segments = [unquote(segment, errors="strict") for segment in raw[1:]]
    except UnicodeDecodeError:
        return None
    if not all(_safe_segment(segment) for segment in segments):
        return None
    use_case, folder, named_use_case, name = segments
    content_type = report_kind(folder, name)
    if use_case not in use_cases or named_use_case != use_case or content_type is None:
        return None
    root = data_dir.resolve()
    path = root / folder / use_case / name
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real != path or path.is_symlink() or not real.is_file():
        return None
    return ReportFile(path=real, use_case=use_case, content_type=content_type, attachment=content_type == CSV)


def report_url(base_url: str, data_dir: Path, path: str | Path) -> str | None:
    """The URL the report server serves ``path`` at, or None: no base URL, or ``path`` is no report of the data folder.

    ``base_url`` is where the server is reached (``SCORING_REPORTS_URL``, e.g. ``http://reports.example:3001``).
    """
    if not base_url:
        return None
    try:
        relative = PurePosixPath(Path(path).resolve().relative_to(data_dir.resolve()).as_posix())
    except ValueError:
        return None
    if len(relative.parts) != 3 or report_kind(relative.parts[0], relative.parts[2]) is None:
        return None
    use_case = relative.parts[1]
    return f"{base_url.rstrip('/')}/{quote(use_case)}/" + "/".join(quote(part, safe="") for part in relative.parts)
