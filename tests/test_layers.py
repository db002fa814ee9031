"""The layers stay apart: the core is Dagster-free and no generic module names a column of any table.

``scoring_assets.core``, ``scoring_assets.training`` and the use case declarations must run
without Dagster (training runs in DVC stages, the core is reusable logic); each module is
imported on its own in a fresh interpreter, so an import that only happens to be satisfied by
another module cannot hide. The generic code (core, the Dagster wiring, training, the CLI)
must take every column and use case name from a ``UseCase``: a registered use case's name or
one of its columns written there as a string literal (docstrings aside) means the table leaked
into the generic layer. The product's own words declared as enum members (a run's trigger
``schedule``, say) are not table names, even when some table has a column spelled alike.
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


def table_names() -> dict[str, str]:
    """Every registered use case's name and contract and label columns -> what it is, for the message."""
    names = {}
    for each in all_use_cases().values():
        for column in [*each.contract_columns, *([each.label_column] if each.label_column else [])]:
            names[column] = f"a column of {each.name}"
        names[each.name] = "a use case's name"
    return names


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


def enum_member_values(tree: ast.Module) -> set[int]:
    """ids of the string constants assigned to members of an enum class (``SCHEDULE = "schedule"``)."""
    enums = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and any(map(is_enum, node.bases))]
    return {
        id(statement.value)
        for enum in enums
        for statement in enum.body
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
    }


def is_enum(base: ast.expr) -> bool:
    """Whether a class base names an enum type (``StrEnum``, ``enum.Enum``, ...)."""
    name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
    return name.endswith("Enum")


def column_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of every string literal in ``source`` that is neither a docstring nor an enum member's value."""
    tree = ast.parse(source)
    skipped = docstring_nodes(tree) | enum_member_values(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    ]


GENERIC_FILES = sorted(path for pattern in GENERIC_SOURCES for path in PACKAGE_ROOT.glob(pattern))


@pytest.mark.parametrize("path", GENERIC_FILES, ids=lambda path: str(path.relative_to(PACKAGE_ROOT)))
def test_generic_code_names_no_table_nor_any_of_its_columns(path):
    names = table_names()
    found = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {value!r} is {names[value]}"
        for line, value in column_literals(path.read_text(encoding="utf-8"))
        if value in names
    ]
    assert not found, (
        "the generic code names a table or its column; take it from the UseCase (or, if the word is the "
        "product's own, declare it as an enum member):\n" + "\n".join(found)
    )


def test_the_column_scan_leaves_out_enum_member_values_but_not_their_other_uses():
    source = """
class Trigger(StrEnum):
    SCHEDULE = "schedule"


def launched_by(tags):
    return tags["schedule"]
"""
    assert column_literals(source) == [(7, "schedule")]


def test_a_column_named_like_a_trigger_value_does_not_flag_the_run_tags():
    source = (PACKAGE_ROOT / "builders" / "run_tags.py").read_text(encoding="utf-8")
    assert 'SCHEDULE = "schedule"' in source
    assert "schedule" not in {value for _, value in column_literals(source)}


def test_the_column_scan_sees_string_literals_but_not_docstrings():
    source = '''"""Mentions "customerID" as an example."""


class Report:
    """Churn."""

    def column(self):
        """Churn, again."""
        return "Churn"
'''
    assert column_literals(source) == [(9, "Churn")]
