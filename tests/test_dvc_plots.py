"""The models' charts: static SVG images that `dvc plots show` embeds, so its page works with no network.

These run the real `dvc` against the workspace outputs of `dvc repro` (CI runs it first), for
every use case the pipeline trains.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_dvc_pipeline import TRAINED_USE_CASES, dvc

from scoring_assets.core.use_case import UseCase
from scoring_assets.training import load_params, metrics_path, plots_dir
from scoring_assets.training.evaluate import scored_test_split, write_plots
from scoring_assets.training.metrics import classification_metrics

pytestmark = pytest.mark.e2e  # a real daemon, PostgreSQL or DVC: `pytest -m 'not e2e'` leaves it out

SVG = "{http://www.w3.org/2000/svg}"
CHARTS = ("calibration", "confusion", "precision_recall", "roc")


def axis_labels(use_case: UseCase) -> dict[str, tuple[str, str]]:
    """Each chart's axis labels: they speak of the use case's own label, never of another table's."""
    label = use_case.label
    positive_class = f"{label.column} = {label.positive}"
    return {
        "roc": ("False positive rate", "True positive rate"),
        "precision_recall": ("Recall", "Precision"),
        "calibration": (f"Mean predicted probability of {positive_class}", f"Observed fraction of {positive_class}"),
        "confusion": (f"Predicted {label.column}", f"Actual {label.column}"),
    }


class ResourceReferences(HTMLParser):
    """Every tag of a page, and every address it refers to (src, href, and the like)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.image_sources: list[str] = []
        self.addresses: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href", "srcset", "action", "data", "poster"} and value is not None:
                self.addresses.append(value)
                if tag == "img" and name == "src":
                    self.image_sources.append(value)


def test_plots_page_shows_every_chart_of_every_use_case_and_needs_no_network(tmp_path):
    page_dir = tmp_path / "page"
    shown = dvc("plots", "show", "-o", str(page_dir))
    assert shown.returncode == 0, shown.stderr
    html = (page_dir / "index.html").read_text(encoding="utf-8")
    references = ResourceReferences()
    references.feed(html)

    assert not re.search(r"https?://|//cdn|url\(", html), "the page must not fetch anything"
    assert "script" not in references.tags
    assert all(not re.match(r"[a-z]+:|//", address) for address in references.addresses), references.addresses
    shown_images = {(page_dir / source).read_bytes() for source in references.image_sources}
    charts = [plots_dir(use_case) / f"{name}.svg" for use_case in TRAINED_USE_CASES for name in CHARTS]
    assert len(references.image_sources) == len(charts)
    assert shown_images == {chart.read_bytes() for chart in charts}


def svg_texts(path: Path) -> list[str]:
    return [element.text or "" for element in ElementTree.parse(path).getroot().iter(f"{SVG}text")]


@pytest.mark.parametrize("name", CHARTS)
@pytest.mark.parametrize("use_case", TRAINED_USE_CASES, ids=lambda use_case: use_case.name)
def test_each_chart_is_a_self_contained_svg_with_a_title_and_axis_labels(use_case, name):
    path = plots_dir(use_case) / f"{name}.svg"
    root = ElementTree.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        for attribute, value in element.attrib.items():
            assert "href" not in attribute and "url(" not in value, f"{path} refers to {value}"
    title, *labels = svg_texts(path)
    assert "(test split)" in title
    assert set(axis_labels(use_case)[name]) <= set(labels)


@pytest.mark.parametrize("use_case", TRAINED_USE_CASES, ids=lambda use_case: use_case.name)
def test_confusion_matrix_names_the_use_cases_classes(use_case):
    texts = svg_texts(plots_dir(use_case) / "confusion.svg")
    assert {use_case.label.negative, use_case.label.positive} <= set(texts)
    assert any(text.endswith(f"of actual {use_case.label.positive}") for text in texts)


@pytest.mark.parametrize("use_case", TRAINED_USE_CASES, ids=lambda use_case: use_case.name)
def test_chart_titles_quote_the_metrics_dvc_reports(use_case):
    metrics = json.loads(metrics_path(use_case).read_text(encoding="utf-8"))
    charts = plots_dir(use_case)
    assert svg_texts(charts / "roc.svg")[0].endswith(f"AUC {metrics['roc_auc']:.3f}")
    assert svg_texts(charts / "precision_recall.svg")[0].endswith(f"AP {metrics['pr_auc']:.3f}")
    assert f"threshold {metrics['threshold']:.3f}" in svg_texts(charts / "confusion.svg")[0]


@pytest.mark.parametrize("use_case", TRAINED_USE_CASES, ids=lambda use_case: use_case.name)
def test_rendering_the_charts_again_gives_the_same_bytes(use_case, tmp_path):
    """What `dvc repro` relies on: the same model and test split always give byte-identical images."""
    model, labels, scores = scored_test_split(use_case)
    metrics = classification_metrics(labels, scores, model.threshold)
    bins = load_params(use_case.name, "evaluate")["calibration_bins"]
    write_plots(use_case.label, labels, scores, metrics, bins, directory=tmp_path)
    for name in CHARTS:
        assert (tmp_path / f"{name}.svg").read_bytes() == (plots_dir(use_case) / f"{name}.svg").read_bytes(), name
