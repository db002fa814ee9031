"""The model's charts: static SVG images that `dvc plots show` embeds, so its page works with no network.

These run the real `dvc` against the workspace outputs of `dvc repro` (CI runs it first).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from test_dvc_pipeline import dvc

from scoring_assets.features import build_features
from scoring_assets.model_store import load_model
from scoring_assets.paths import METRICS_PATH
from scoring_assets.training import TEST_SPLIT_PATH, load_params
from scoring_assets.training.evaluate import PLOTS_DIR, churn_labels, classification_metrics, write_plots

SVG = "{http://www.w3.org/2000/svg}"
AXIS_LABELS = {
    "roc": ("False positive rate", "True positive rate"),
    "precision_recall": ("Recall", "Precision"),
    "calibration": ("Mean predicted churn probability", "Observed churn fraction"),
    "confusion": ("Predicted churn", "Actual churn"),
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


def test_plots_page_shows_every_chart_and_needs_no_network(tmp_path):
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
    assert shown_images == {(PLOTS_DIR / f"{name}.svg").read_bytes() for name in AXIS_LABELS}


def svg_texts(path: Path) -> list[str]:
    return [element.text or "" for element in ElementTree.parse(path).getroot().iter(f"{SVG}text")]


@pytest.mark.parametrize("name", sorted(AXIS_LABELS))
def test_each_chart_is_a_self_contained_svg_with_a_title_and_axis_labels(name):
    path = PLOTS_DIR / f"{name}.svg"
    root = ElementTree.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        for attribute, value in element.attrib.items():
            assert "href" not in attribute and "url(" not in value, f"{path} refers to {value}"
    title, *labels = svg_texts(path)
    assert "(test split)" in title
    assert set(AXIS_LABELS[name]) <= set(labels)


def test_chart_titles_quote_the_metrics_dvc_reports():
    metrics = json.loads(METRICS_PATH.read_text(encoding="utf-8"))
    assert svg_texts(PLOTS_DIR / "roc.svg")[0].endswith(f"AUC {metrics['roc_auc']:.3f}")
    assert svg_texts(PLOTS_DIR / "precision_recall.svg")[0].endswith(f"AP {metrics['pr_auc']:.3f}")
    assert f"threshold {metrics['threshold']:.3f}" in svg_texts(PLOTS_DIR / "confusion.svg")[0]


def test_rendering_the_charts_again_gives_the_same_bytes(tmp_path):
    """What `dvc repro` relies on: the same model and test split always give byte-identical images."""
    model = load_model()
    test = pd.read_parquet(TEST_SPLIT_PATH)
    labels = churn_labels(test)
    scores = model.pipeline.predict_proba(build_features(test))[:, 1]
    metrics = classification_metrics(labels, scores, model.threshold)
    write_plots(labels, scores, metrics, load_params("evaluate")["calibration_bins"], directory=tmp_path)
    for name in AXIS_LABELS:
        assert (tmp_path / f"{name}.svg").read_bytes() == (PLOTS_DIR / f"{name}.svg").read_bytes(), name
