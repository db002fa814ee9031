"""The Dagster code location, as ``dg`` and ``workspace.yaml`` load it: the project's defs folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from scoring_assets.core.memory import return_freed_memory


@dg.definitions
def defs() -> dg.Definitions:
    return_freed_memory()  # run workers are processes that load this; the CLI does the same
    return dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
