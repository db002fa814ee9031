"""The Dagster code location, as ``dg`` and ``workspace.yaml`` load it: the project's defs folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
