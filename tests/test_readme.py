"""The README documents the product as it is: its input table is the contract's."""

from __future__ import annotations

from scoring_assets.core.docs import README, input_format_markdown, readme_with_table


def test_readme_input_format_table_is_generated_from_the_contract():
    readme = README.read_text(encoding="utf-8")
    assert input_format_markdown() in readme
    assert readme_with_table(readme) == readme, "run `.venv/bin/python -m scoring_assets.core.docs`"


def test_readme_starts_with_the_two_commands():
    head = README.read_text(encoding="utf-8")[:1500]
    assert "python3 dev.py demo" in head
    assert "python3 dev.py test" in head
