"""The reports people read (drift page, trend page, evaluation charts): offline, deterministic, escaped, never broken.

Pages and charts are built from hand-made figures here, so these run in a second and need no
model, no DVC and no Dagster run; the real pages are checked end to end in test_drift.py,
test_monitoring.py and test_dvc_plots.py.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import xml.etree.ElementTree as ElementTree
from fnmatch import fnmatch
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_assets.core.drift import FeatureDrift, FileDrift
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.reports.charts import Curve, Level, Series, bar_pairs, curve_chart, line_chart
from scoring_assets.core.reports.drift import write_drift_report
from scoring_assets.core.reports.evaluation import calibration_chart, confusion_chart, precision_recall_chart, roc_chart
from scoring_assets.core.reports.palette import LEVEL_COLOURS
from scoring_assets.core.reports.trend import write_trend_report
from tests.support.batches import TELCO

HOSTILE = '<script>alert("x")</script>'
COORDINATES = {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"}


def feature_drift(name: str, psi: float, level: str, labels=("a", "b", "c"), missing: float = 0.0) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind="categorical",
        psi=psi,
        level=level,
        warn=0.1,
        alert=0.25,
        rows=100,
        labels=list(labels),
        batch_fractions=[0.5, 0.3, 0.2 - missing],
        reference_fractions=[0.2, 0.3, 0.5],
        missing_share=missing,
        reference_missing_share=0.0,
    )


def hostile_file_drift() -> FileDrift:
    """A file whose input names and values would run script if a page did not escape them."""
    score = dataclasses.replace(feature_drift("churn_score", 0.3, "alert"), kind="score", batch_mean=0.5, ref_mean=0.27)
    features = {
        HOSTILE: feature_drift(HOSTILE, 2.5, "alert", labels=("<img src=x onerror=alert(1)>", "b", "c"), missing=0.1),
        "tenure": feature_drift("tenure", 0.01, "ok"),
        "gender": feature_drift("gender", 0.12, "warn"),
    }
    return FileDrift(features=features, score=score, rows=100)


HOSTILE_USE_CASE = dataclasses.replace(TELCO, name=f"churn{HOSTILE}", title=f"Churn & <em>{HOSTILE}</em>")


def trend_records() -> list[dict]:
    """Three files' figures as core.monitoring.file_record gives them: the second labelled, the third drifted."""
    records = []
    for number, (psi, level) in enumerate([(0.01, "ok"), (0.02, "ok"), (3.0, "alert")], start=1):
        records.append(
            {
                "partition": f"file{number}{HOSTILE}",
                "scored_at": f"2026-12-0{number}T10:00:00.000Z",
                "rows_in": 1000,
                "rows_scored": 990,
                "reject_rate": 0.01,
                "score_mean": 0.3 * number,
                "share_at_or_above_threshold": 0.25,
                "reference_share_at_or_above_threshold": 0.27,
                "input_level": level,
                "most_drifted_feature": HOSTILE,
                "max_input_psi": psi,
                "psi": {HOSTILE: psi, "tenure": psi / 2},
                "score_psi": psi,
                "score_level": level,
                "backtest_roc_auc": 0.83 if number == 2 else None,
                "backtest_precision": 0.6 if number == 2 else None,
                "backtest_recall": 0.7 if number == 2 else None,
                "expected_precision": 0.61,
                "expected_recall": 0.66,
            }
        )
    return records


def drift_page(path: Path) -> str:
    return write_drift_report(path, HOSTILE_USE_CASE, hostile_file_drift(), [f"file {HOSTILE}", "model m"]).read_text(
        encoding="utf-8"
    )


def trend_page(path: Path, records: list[dict]) -> str:
    return write_trend_report(path, HOSTILE_USE_CASE, records).read_text(encoding="utf-8")


def evaluation_charts() -> dict[str, str]:
    label = TELCO.label
    roc = [Curve("model", [0, 0.1, 0.4, 1], [0, 0.5, 0.8, 1]), Curve("candidate", [0, 0.2, 1], [0, 0.7, 1], "#d62728")]
    return {
        "roc": roc_chart("ROC", roc),
        "precision_recall": precision_recall_chart("PR", [Curve("model", [0, 0.5, 1], [1, 0.6, 0.3])], 0.27),
        "calibration": calibration_chart("Calibration", [Curve("bins", [0.1, 0.5], [0.1, 0.4], markers=True)], label),
        "confusion": confusion_chart("Confusion", np.array([[50, 10], [5, 35]]), label),
    }


class References(HTMLParser):
    """Every address a page refers to (src, href and the like) and every tag."""

    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.addresses += [value or "" for name, value in attrs if name in {"src", "href", "srcset", "action", "data"}]


def assert_offline(page: str) -> None:
    references = References()
    references.feed(page)
    assert references.addresses == [], references.addresses
    assert "script" not in references.tags and "link" not in references.tags
    assert not re.search(r"https?:|//|url\(|@import", page), "a report must not fetch anything"


def test_pages_render_the_same_bytes_every_time(tmp_path):
    assert drift_page(tmp_path / "a.html") == drift_page(tmp_path / "b.html")
    assert trend_page(tmp_path / "a.html", trend_records()) == trend_page(tmp_path / "b.html", trend_records())
    assert evaluation_charts() == evaluation_charts()


def test_no_page_or_chart_names_an_external_address(tmp_path):
    for page in (drift_page(tmp_path / "drift.html"), trend_page(tmp_path / "trend.html", trend_records())):
        assert_offline(page)
    assert_offline(trend_page(tmp_path / "empty.html", []))
    for chart in evaluation_charts().values():
        root = ElementTree.fromstring(chart)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"  # an image file's namespace, not an address
        for element in root.iter():
            assert not any("href" in name or "http" in value for name, value in element.attrib.items())


def test_hostile_names_are_shown_as_text_never_run(tmp_path):
    for page in (drift_page(tmp_path / "drift.html"), trend_page(tmp_path / "trend.html", trend_records())):
        assert "<script" not in page and "<img" not in page and "<em>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    drift = drift_page(tmp_path / "drift.html")
    assert "&lt;img src=x onerror=alert(1)&gt;" in drift  # a bin label, in the chart's tooltip
    assert "Churn &amp; &lt;em&gt;" in drift


def test_an_empty_trend_says_so_and_draws_no_chart(tmp_path):
    page = trend_page(tmp_path / "trend.html", [])
    assert "No file has been scored yet." in page
    assert "<svg" not in page and "<table" not in page


def test_templates_ship_with_the_package_as_package_data():
    shipped = sorted(path.name for path in (resources.files("scoring_assets.core.reports") / "templates").iterdir())
    assert {"base.html.j2", "macros.html.j2", "drift_report.html.j2", "trend_report.html.j2"} <= set(shipped)
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["scoring_assets.core.reports"]
    unshipped = [name for name in shipped if not any(fnmatch(f"templates/{name}", pattern) for pattern in patterns)]
    assert not unshipped, f"add these to [tool.setuptools.package-data] in pyproject.toml: {unshipped}"


# Any figures at all: the chart helpers draw a valid SVG with finite coordinates.
FINITE = st.floats(allow_nan=False, allow_infinity=False)
NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


def assert_valid_svg(chart: str) -> None:
    """Parses as XML, and every coordinate is a finite number (no nan, no inf, no empty value)."""
    root = ElementTree.fromstring(chart)
    for element in root.iter():
        for name, value in element.attrib.items():
            if name in COORDINATES:
                assert math.isfinite(float(value)), (element.tag, name, value)
            if name == "points" and value:
                assert all(math.isfinite(float(part)) for point in value.split(" ") for part in point.split(","))
            if name == "transform":
                assert all(math.isfinite(float(part)) for part in re.findall(r"-?[\d.]+(?:e[-+]?\d+)?", value))


@settings(max_examples=150, deadline=None)
@given(
    series=st.lists(st.tuples(NAMES, st.lists(st.one_of(st.none(), FINITE), max_size=40), st.booleans()), max_size=4),
    levels=st.lists(st.tuples(NAMES, FINITE), max_size=3),
    y_max=st.one_of(st.none(), FINITE),
    root_scale=st.booleans(),
)
def test_line_chart_draws_any_finite_values(series, levels, y_max, root_scale):
    chart = line_chart(
        "title",
        [Series(name, values, dashed=dashed) for name, values, dashed in series],
        [Level(name, value, "#c62828") for name, value in levels],
        y_max=y_max,
        root_scale=root_scale,
    )
    assert_valid_svg(chart)


@settings(max_examples=150, deadline=None)
@given(curves=st.lists(st.tuples(NAMES, st.lists(st.tuples(FINITE, FINITE), max_size=40)), max_size=3))
def test_curve_chart_draws_any_finite_points_of_any_number_of_curves(curves):
    drawn = [Curve(name, [x for x, _ in points], [y for _, y in points], markers=True) for name, points in curves]
    reference = Curve("chance", (0, 1), (0, 1), dashed=True)
    assert_valid_svg(curve_chart("title", ("x", "y"), drawn, [reference], standalone=True))


@settings(max_examples=150, deadline=None)
@given(bins=st.lists(st.tuples(NAMES, FINITE, FINITE), max_size=15))
def test_bar_pairs_draw_any_finite_shares(bins):
    labels, reference, batch = [name for name, _, _ in bins], [r for _, r, _ in bins], [b for _, _, b in bins]
    assert_valid_svg(bar_pairs("title", labels, reference, batch, "#c62828"))


def test_a_constant_single_point_or_empty_series_still_draws_axes():
    for values in ([], [0.0], [0.3, 0.3, 0.3], [None, None]):
        chart = line_chart("title", [Series("only", values)])
        assert_valid_svg(chart)
        assert chart.count("<text") >= 6  # title, five axis ticks, the caption


def test_the_drift_legend_shows_every_level_colour_a_file_can_be_drawn_in(tmp_path):
    page = drift_page(tmp_path / "drift.html")
    legend = page[page.index('<p class="legend">') :].split("</p>")[0]
    for level, colour in LEVEL_COLOURS.items():
        assert colour in legend and level in legend
