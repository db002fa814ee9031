"""The Dagster code location, as ``dg`` and ``workspace.yaml`` load it: the project's defs folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from scoring_assets.core.memory import collection_paused, freeze_at_exit, return_freed_memory


@dg.definitions
def defs() -> dg.Definitions:
    # Every run worker is a process that loads this, scores one file and ends: the CLI's settings (core.memory).
    return_freed_memory()
    with collection_paused():
        loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
    freeze_at_exit()  # registered after loading, so it runs before the exit handlers that loading registered
    return loaded
