"""The README documents the product as it is: each shipped use case's input table is its contract's."""

from __future__ import annotations

import pytest

from scoring_assets.use_cases import use_case
from tests.support.scripts import load_script

readme_tables = load_script("readme_tables")
README, input_format_markdown, markers, readme_with_tables = (
    readme_tables.README,
    readme_tables.input_format_markdown,
    readme_tables.markers,
    readme_tables.readme_with_tables,
)

# The shipped use cases by name: other tests may add a toy use case through the environment.
SHIPPED = ("telco_churn", "credit_risk")


@pytest.mark.parametrize("name", SHIPPED)
def test_readme_input_format_table_is_generated_from_the_contract(name):
    readme = README.read_text(encoding="utf-8")
    start, end = markers(use_case(name))
    assert f"{start}\n{input_format_markdown(use_case(name))}\n{end}" in readme


def test_readme_input_format_tables_are_current():
    readme = README.read_text(encoding="utf-8")
    shipped = [use_case(name) for name in SHIPPED]
    assert readme_with_tables(readme, shipped) == readme, "run `.venv/bin/python scripts/readme_tables.py`"


def test_readme_starts_with_the_two_commands():
    head = README.read_text(encoding="utf-8")[:1500]
    assert "python3 dev.py demo" in head
    assert "python3 dev.py test" in head


def test_readme_names_no_asset_key_or_path_from_before_use_cases():
    readme = README.read_text(encoding="utf-8")
    for stale in ("churn_model.joblib", "data/model/", "scoring_assets.docs", "--job score_file", "churn_model_sensor"):
        assert stale not in readme
