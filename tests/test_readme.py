"""The README introduces, the docs pages it links document the product as it is.

The README stays what a newcomer needs (the two commands first, a tour, where to go next); the
input-format tables on docs/use-cases.md are each shipped use case's contract, generated.
"""

from __future__ import annotations

import pytest

from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.use_cases import use_case
from tests.support.scripts import load_script

readme_tables = load_script("readme_tables")
INPUT_FORMAT_PAGE, input_format_markdown, markers, page_with_tables = (
    readme_tables.INPUT_FORMAT_PAGE,
    readme_tables.input_format_markdown,
    readme_tables.markers,
    readme_tables.page_with_tables,
)
README = REPO_ROOT / "README.md"
DOCS = (README, *sorted((REPO_ROOT / "docs").glob("*.md")))

# The shipped use cases by name: other tests may add a toy use case through the environment.
SHIPPED = ("telco_churn", "credit_risk")


@pytest.mark.parametrize("name", SHIPPED)
def test_input_format_table_is_generated_from_the_contract(name):
    page = INPUT_FORMAT_PAGE.read_text(encoding="utf-8")
    start, end = markers(use_case(name))
    assert f"{start}\n{input_format_markdown(use_case(name))}\n{end}" in page


def test_input_format_tables_are_current():
    page = INPUT_FORMAT_PAGE.read_text(encoding="utf-8")
    shipped = [use_case(name) for name in SHIPPED]
    assert page_with_tables(page, shipped) == page, "run `.venv/bin/python scripts/readme_tables.py`"


def test_readme_starts_with_the_two_commands():
    head = README.read_text(encoding="utf-8")[:1500]
    assert "python3 dev.py demo" in head
    assert "python3 dev.py test" in head


def test_readme_stays_an_introduction_and_links_every_docs_page():
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 300, "move reference material into a docs/ page"
    for page in DOCS[1:]:
        assert f"](docs/{page.name})" in readme, f"the README's 'Where to go next' does not link {page.name}"


def test_readme_points_at_nothing_outside_the_repository():
    assert "../shared" not in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_docs_name_no_asset_key_or_path_from_before_use_cases(page):
    text = page.read_text(encoding="utf-8")
    for stale in ("churn_model.joblib", "data/model/", "scoring_assets.docs", "--job score_file", "churn_model_sensor"):
        assert stale not in text
