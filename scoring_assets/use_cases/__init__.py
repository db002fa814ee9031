"""Every scoring use case this installation knows: one package per use case in this folder.

A use case is a package here exposing ``USE_CASE`` (a ``core.use_case.UseCase``); adding a
folder adds the use case everywhere (Dagster assets, sensors and jobs, the CLI, the docs).
Use cases kept outside the repository are named by module in ``$SCORING_USE_CASE_MODULES``
(comma-separated importable modules, each exposing ``USE_CASE``), read when the code location
or the CLI starts.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
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


@cache
def all_use_cases() -> dict[str, UseCase]:
    """Name -> use case, for every declared use case, in name order."""
    found: dict[str, UseCase] = {}
    for module_name in _declared_modules():
        declared = getattr(importlib.import_module(module_name), "USE_CASE", None)
        if not isinstance(declared, UseCase):
            raise UseCaseError(f"{module_name} has no USE_CASE (a scoring_assets.core.use_case.UseCase)")
        if not re.match(NAME_PATTERN, declared.name):
            raise UseCaseError(f"{module_name}: use case name {declared.name!r} must match {NAME_PATTERN}")
        if declared.name in found:
            raise UseCaseError(f"two use cases are named {declared.name!r} ({module_name} and another)")
        found[declared.name] = declared
    return dict(sorted(found.items()))


def use_case(name: str) -> UseCase:
    """The use case called ``name``, or a UseCaseError listing the ones there are."""
    known = all_use_cases()
    if name not in known:
        raise UseCaseError(f"no use case named {name!r}; use cases: {', '.join(known)}")
    return known[name]
