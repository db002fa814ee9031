"""The package's shape holds: calls go one way, nothing imports in a circle, no function sprawls.

The layers, lowest first: ``core`` (table-agnostic logic, no Dagster), ``training`` (DVC stages),
``use_cases`` (the declarations), ``builders`` and ``deploy`` (Dagster wiring that takes a use case),
``defs`` and ``settings`` (the definitions and their settings), then what starts runs (``runs``, ``definitions``,
``process_memory``) and the command line (``cli``, ``__main__``). A module may import from its
own layer and the ones below, never from above, and every import counts, including the ones made
inside a function to load lazily.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import scoring_assets

PACKAGE_ROOT = Path(scoring_assets.__file__).parent
PACKAGE = "scoring_assets"
LAYERS = (
    ("scoring_assets", "scoring_assets.core"),
    ("scoring_assets.training",),
    ("scoring_assets.use_cases",),
    ("scoring_assets.scaffold",),
    ("scoring_assets.builders", "scoring_assets.deploy"),
    ("scoring_assets.defs", "scoring_assets.settings"),
    (
        "scoring_assets.runs",
        "scoring_assets.definitions",
        "scoring_assets.process_memory",
        "scoring_assets.service_status",
        "scoring_assets.service",
        "scoring_assets.report_server",
    ),
    ("scoring_assets.cli", "scoring_assets.__main__"),
)
LONGEST_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def imported_modules(name: str) -> set[str]:
    """The package's modules that ``name`` imports anywhere (``from x import y`` may name a module y)."""
    tree = ast.parse(modules()[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {module for module in found if module in modules() and module != name}


@cache
def import_graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(imported_modules(name)) for name in modules()}


def layer_of(name: str) -> int:
    """The highest layer whose prefix names the module (the package itself is the lowest)."""
    matches = [
        index
        for index, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if name == prefix or (prefix != PACKAGE and name.startswith(prefix + "."))
    ]
    assert matches, f"{name} is in no layer: add it to LAYERS in {__file__}"
    return max(matches)


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_imports_from_a_layer_above_its_own(name):
    above = sorted(target for target in import_graph()[name] if layer_of(target) > layer_of(name))
    assert not above, f"{name} (layer {layer_of(name)}) imports from above: {above}"


def cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Each import circle once, as the modules on it (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in on_stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_a_circle_and_nothing_else():
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def long_functions(source: str, limit: int = LONGEST_FUNCTION_LINES) -> list[tuple[str, int, int]]:
    """(name, first line, lines) of every function or method longer than ``limit`` lines, nested ones included."""
    return [
        (node.name, node.lineno, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_function_is_longer_than_sixty_lines(name):
    path = modules()[name]
    found = [
        f"{path.relative_to(PACKAGE_ROOT.parent)}:{line}: {function} has {lines} lines"
        for function, line, lines in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert not found, "split these (aim for ~50 lines):\n" + "\n".join(found)


def test_the_length_check_counts_a_long_function_and_not_a_short_one():
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    assert long_functions(f"def long():\n{body}\n\ndef short():\n    return 1\n") == [("long", 1, 62)]
