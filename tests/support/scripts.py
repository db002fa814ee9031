"""The repository's scripts (``scripts/*.py``) as modules, for tests: they are not part of the package."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from scoring_assets.core.paths import REPO_ROOT


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` imported as the module ``<name>`` (once per test session)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
