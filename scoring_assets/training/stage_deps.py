"""What a DVC stage must depend on: exactly the project source files its command imports.

A stage reruns when code it runs changes, and only then. The one reading of "what it imports":
run the stage's module import (and, for a use case's stage, ``trained_use_case``) in a fresh
Python at the top of the project and list the modules loaded from its ``scoring_assets/``.
``tests/test_dvc_pipeline.py`` checks ``dvc.yaml`` with it; ``scaffold`` writes new stages with it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

STAGE_IMPORTS = """
import importlib, sys
from pathlib import Path
importlib.import_module(sys.argv[1])
if len(sys.argv) > 2:
    from scoring_assets.training import trained_use_case
    trained_use_case(sys.argv[2])
root = Path.cwd().resolve()
for module in list(sys.modules.values()):
    path = Path(getattr(module, "__file__", None) or root).resolve()
    if path.is_relative_to(root / "scoring_assets"):
        print(path.relative_to(root).as_posix())
"""


def imported_source_files(command: str, project: Path) -> list[str]:
    """The project files (POSIX, relative to ``project``) that ``python -m MODULE [USE_CASE]`` imports, sorted."""
    python, dash_m, module, *use_case_name = shlex.split(command)
    if (python, dash_m) != ("python", "-m"):
        raise ValueError(f"a stage command must be `python -m MODULE [USE_CASE]`, not {command!r}")
    imported = subprocess.run(
        [sys.executable, "-c", STAGE_IMPORTS, module, *use_case_name],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(set(imported))


def required_source_files(command: str, project: Path) -> list[str]:
    """The imported files a stage must list: the non-empty ones (DVC warns about an empty dependency)."""
    return [path for path in imported_source_files(command, project) if (project / path).stat().st_size > 0]
