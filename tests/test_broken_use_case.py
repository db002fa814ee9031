"""A team's use case package that fails to load is named (module, file, line) and the others keep working.

Broken packages are written into a temporary folder on ``PYTHONPATH`` and named in
``$SCORING_USE_CASE_MODULES``, as a team's own would be; the CLI, the registry and ``dg check
defs`` are asked with it there. The use case that still scores is taken from the registry.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.defs.use_cases import scoring_definitions
from scoring_assets.use_cases import EXTRA_MODULES_VARIABLE, all_use_cases, broken_use_cases
from scoring_assets.use_cases import use_case as declared_use_case
from tests.support.batches import USE_CASE_NAMES, valid_rows, write_csv

BROKEN = {
    "syntax_error_team": ("from scoring_assets.core.use_case import UseCase\n\nUSE_CASE = UseCase(name='x',\n", 3),
    "missing_import_team": ("import os\n\nfrom not_a_module_anywhere import contract\n", 3),
    "no_declaration_team": ("TITLE = 'a use case that forgot USE_CASE'\n", None),
}


@pytest.fixture
def broken_site(tmp_path, monkeypatch) -> Path:
    """The broken packages on the path and named as use case modules, here and in every subprocess."""
    for module, (source, _) in BROKEN.items():
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text(source)
    monkeypatch.setenv(EXTRA_MODULES_VARIABLE, ",".join(BROKEN))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(REPO_ROOT)]))
    monkeypatch.syspath_prepend(str(tmp_path))
    all_use_cases.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    for module in BROKEN:
        sys.modules.pop(module, None)
    all_use_cases.cache_clear()
    scoring_definitions.cache_clear()


def test_each_broken_package_is_named_with_its_file_and_line_and_the_others_load(broken_site):
    broken = {each.module: each.problem for each in broken_use_cases()}

    assert set(broken) == set(BROKEN)
    for module, (_, line) in BROKEN.items():
        if line is not None:
            assert broken[module].startswith(f"{broken_site / module / '__init__.py'}, line {line}: ")
    assert "ModuleNotFoundError: No module named 'not_a_module_anywhere'" in broken["missing_import_team"]
    assert "has no USE_CASE" in broken["no_declaration_team"]
    assert set(USE_CASE_NAMES) <= set(all_use_cases())


def test_the_cli_scores_another_use_cases_file_and_names_each_broken_package_once(broken_site, workspace):
    name = next(iter(USE_CASE_NAMES))
    source = write_csv(valid_rows(declared_use_case(name), 20), workspace.cwd / "batch.csv")

    result = workspace.run("score", str(source), "--use-case", name)

    assert result.returncode == 0, result.stderr
    for module in BROKEN:
        assert result.stderr.count(f"use case package {module} is broken and left out: ") == 1


def test_dg_check_defs_loads_the_others_and_names_the_broken_package(broken_site):
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "check", "defs"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(broken_site)},
    )
    shown = result.stdout + result.stderr

    assert result.returncode == 0, shown
    assert "All definitions loaded successfully." in shown
    for module in BROKEN:
        assert f"use case package {module} is broken and left out" in shown
