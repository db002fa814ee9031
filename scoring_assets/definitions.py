"""The Dagster code location, as ``dg`` and ``workspace.yaml`` load it: the project's defs folder.

Run workers are the processes that score: the code server spawns one per run, it loads this,
scores one file and ends. They get the CLI's process settings (``process_memory``: allocators that
return freed memory, definitions loaded with the garbage collector paused, then frozen). The
webserver's, the daemon's and the code server's own processes load the same definitions without
them: those settings are for processes that score and exit, not for long-lived servers.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import dagster as dg


def _is_run_worker() -> bool:
    """A run worker is a child the code server spawned (``multiprocessing``); the servers themselves are not."""
    return multiprocessing.parent_process() is not None


@dg.definitions
def defs() -> dg.Definitions:
    folder = Path(__file__).resolve().parent / "defs"
    if not _is_run_worker():
        return dg.load_from_defs_folder(path_within_project=folder)
    from scoring_assets.process_memory import collection_paused, freeze_at_exit, return_freed_memory

    return_freed_memory()
    with collection_paused():
        loaded = dg.load_from_defs_folder(path_within_project=folder)
    freeze_at_exit()  # registered after loading, so it runs before the exit handlers that loading registered
    return loaded
