"""Every scoring use case this installation knows: one package per use case in this folder.

A use case is a package here exposing ``USE_CASE`` (a ``core.use_case.UseCase``); adding a
folder adds the use case everywhere (Dagster assets, sensors and jobs, the CLI, the docs).
Use cases kept outside the repository are named by module in ``$SCORING_USE_CASE_MODULES``
(comma-separated importable modules, each exposing ``USE_CASE``), read when the code location
or the CLI starts. A package that fails to load (a syntax error, a bad import, no ``USE_CASE``)
is left out and reported once per process on stderr (``report_broken_use_cases``: module, file,
line, error) by the CLI and by the code location, so ``dg check defs`` and ``dg dev`` show it,
while every other use case keeps working.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sys
import traceback
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from scoring_assets.core.use_case import NAME_PATTERN, UseCase

EXTRA_MODULES_VARIABLE = "SCORING_USE_CASE_MODULES"


class UseCaseError(ValueError):
    """A use case name nobody declared, or a declaration that cannot be used."""


def _declared_modules() -> list[str]:
    here = [
        f"{__name__}.{module.name}" for module in pkgutil.iter_modules([str(Path(__file__).parent)]) if module.ispkg
    ]
    extra = [name.strip() for name in os.environ.get(EXTRA_MODULES_VARIABLE, "").split(",") if name.strip()]
    return sorted(here) + extra


@dataclass(frozen=True)
class BrokenUseCase:
    """A declared use case package that cannot be loaded: left out, so every other use case keeps working."""

    module: str
    problem: str  # where (file, line) and what, in one line

    def __str__(self) -> str:
        return f"use case package {self.module} is broken and left out: {self.problem}"


def _where(error: BaseException) -> str:
    """``file, line N: Kind: message`` for the innermost frame of the error (the line of a syntax error)."""
    if isinstance(error, SyntaxError):
        return f"{error.filename}, line {error.lineno}: SyntaxError: {error.msg}"
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}, line {frames[-1].lineno}: " if frames else ""
    return f"{where}{type(error).__name__}: {error}"


def _loaded(module_name: str) -> UseCase:
    declared = getattr(importlib.import_module(module_name), "USE_CASE", None)
    if not isinstance(declared, UseCase):
        raise UseCaseError(f"{module_name} has no USE_CASE (a scoring_assets.core.use_case.UseCase)")
    if not re.match(NAME_PATTERN, declared.name):
        raise UseCaseError(f"{module_name}: use case name {declared.name!r} must match {NAME_PATTERN}")
    return declared


@cache
def _registry() -> tuple[dict[str, UseCase], tuple[BrokenUseCase, ...]]:
    found: dict[str, UseCase] = {}
    broken: list[BrokenUseCase] = []
    for module_name in _declared_modules():
        try:
            declared = _loaded(module_name)
        except Exception as error:  # any error in a team's package: that use case is out, the others stay
            broken.append(BrokenUseCase(module_name, _where(error)))
            continue
        if declared.name in found:
            raise UseCaseError(f"two use cases are named {declared.name!r} ({module_name} and another)")
        found[declared.name] = declared
    return dict(sorted(found.items())), tuple(broken)


def all_use_cases() -> dict[str, UseCase]:
    """Name -> use case, for every declared use case that loads, in name order (``broken_use_cases``: the others)."""
    return dict(_registry()[0])


all_use_cases.cache_clear = _registry.cache_clear  # type: ignore[attr-defined]  # read the declarations again


def broken_use_cases() -> tuple[BrokenUseCase, ...]:
    """The declared use case packages that failed to load, each with the file, line and error."""
    return _registry()[1]


def use_case(name: str) -> UseCase:
    """The use case called ``name``, or a UseCaseError listing the ones there are."""
    known = all_use_cases()
    if name not in known:
        raise UseCaseError(f"no use case named {name!r}; use cases: {', '.join(known)}")
    return known[name]


@cache
def report_broken_use_cases() -> tuple[BrokenUseCase, ...]:
    """Say once per process, on stderr, which use case packages are left out (the CLI and the code location ask).

    On stderr, not as a Python warning: ``dg check defs`` and ``dg dev`` show a code location's
    stderr but not its warnings.
    """
    broken = broken_use_cases()
    for each in broken:
        print(f"scoring-assets: {each}", file=sys.stderr, flush=True)
    return broken
