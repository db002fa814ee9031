"""The layers stay apart: the core is Dagster-free and no generic module names a column of any table.

``scoring_assets.core``, ``scoring_assets.training`` and the use case declarations must run
without Dagster (training runs in DVC stages, the core is reusable logic); each module is
imported on its own in a fresh interpreter, so an import that only happens to be satisfied by
another module cannot hide. The generic code (core, the Dagster wiring, training, the CLI)
must take every column name from a ``UseCase``: a column of a shipped use case written there
as a string literal (docstrings aside) means the table leaked into the generic layer.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

import scoring_assets
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.use_cases import all_use_cases

PACKAGE_ROOT = Path(scoring_assets.__file__).parent
DAGSTER_FREE_PACKAGES = ("scoring_assets.core", "scoring_assets.training", "scoring_assets.use_cases")
GENERIC_SOURCES = (  # *.py: cli.py, definitions.py, runs.py, ...
    "*.py",
    "core/*.py",
    "core/reports/*.py",
    "builders/*.py",
    "defs/*.py",
    "deploy/*.py",
    "training/*.py",
)

# Imports the module alone and prints the import chain that first brought Dagster in, if any.
IMPORT_PROBE = """
import importlib, sys, traceback

class ReportDagster:
    found = None
    def find_spec(self, name, path=None, target=None):
        if (name == "dagster" or name.startswith("dagster.")) and ReportDagster.found is None:
            ours = [f for f in traceback.extract_stack()[:-1] if f.filename.startswith(PROJECT)]
            ReportDagster.found = " -> ".join(f"{f.filename}:{f.lineno}" for f in ours)
        return None

PROJECT = sys.argv[2]
sys.meta_path.insert(0, ReportDagster())
importlib.import_module(sys.argv[1])
loaded = sorted(name for name in sys.modules if name == "dagster" or name.startswith("dagster."))
if loaded:
    print(f"imports {len(loaded)} dagster module(s), first through: {ReportDagster.found}")
"""


def modules_under(package: str) -> list[str]:
    folder = PACKAGE_ROOT.joinpath(*package.split(".")[1:])
    found = [package]
    for module in pkgutil.walk_packages([str(folder)], prefix=f"{package}."):
        found.append(module.name)
    return found


DAGSTER_FREE_MODULES = [module for package in DAGSTER_FREE_PACKAGES for module in modules_under(package)]


@cache
def dagster_imports() -> dict[str, str]:
    """Module -> what importing it alone printed (empty: no Dagster), all probed in parallel once."""

    def probe(module: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE, module, str(REPO_ROOT)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            return f"cannot be imported on its own:\n{done.stderr}"
        return done.stdout.strip()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(DAGSTER_FREE_MODULES, pool.map(probe, DAGSTER_FREE_MODULES), strict=True))


@pytest.mark.parametrize("module", DAGSTER_FREE_MODULES)
def test_module_imports_without_dagster(module):
    assert dagster_imports()[module] == "", f"{module} {dagster_imports()[module]}"


def shipped_column_names() -> dict[str, str]:
    """Every contract and label column of the use cases shipped in scoring_assets/use_cases -> its use case."""
    shipped = [
        each for each in all_use_cases().values() if each.contract.__module__.startswith("scoring_assets.use_cases.")
    ]
    assert {each.name for each in shipped} >= {"telco_churn", "credit_risk"}
    return {
        column: each.name
        for each in shipped
        for column in [*each.contract_columns, *([each.label_column] if each.label_column else [])]
    }


def docstring_nodes(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings (of the module, a class or a function)."""
    owners = [tree, *(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef | ast.FunctionDef))]
    owners += [node for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef)]
    return {
        id(owner.body[0].value)
        for owner in owners
        if owner.body
        and isinstance(owner.body[0], ast.Expr)
        and isinstance(owner.body[0].value, ast.Constant)
        and isinstance(owner.body[0].value.value, str)
    }


def column_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of every string literal in ``source`` that is not a docstring."""
    tree = ast.parse(source)
    docstrings = docstring_nodes(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


GENERIC_FILES = sorted(path for pattern in GENERIC_SOURCES for path in PACKAGE_ROOT.glob(pattern))


@pytest.mark.parametrize("path", GENERIC_FILES, ids=lambda path: str(path.relative_to(PACKAGE_ROOT)))
def test_generic_code_names_no_column_of_any_table(path):
    columns = shipped_column_names()
    found = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {value!r} is a column of {columns[value]}"
        for line, value in column_literals(path.read_text(encoding="utf-8"))
        if value in columns
    ]
    assert not found, "the generic code names a table's column; take it from the UseCase:\n" + "\n".join(found)


def test_the_column_scan_sees_string_literals_but_not_docstrings():
    source = '''"""Mentions "customerID" as an example."""


class Report:
    """Churn."""

    def column(self):
        """Churn, again."""
        return "Churn"
'''
    assert column_literals(source) == [(9, "Churn")]
