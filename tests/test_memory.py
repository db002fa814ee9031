"""The allocator settings that keep a scoring process's peak RSS low, in fresh interpreters.

The peak itself is measured by ``bench/run.py`` (no test asserts on memory or time); these
tests pin what the settings do and that an explicit choice of Arrow pool is respected.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow
import pytest

PROBE = (
    "import pyarrow\n"
    "from scoring_assets.process_memory import return_freed_memory\n"
    "return_freed_memory(); return_freed_memory()\n"
    "print(pyarrow.default_memory_pool().backend_name)\n"
)


def _pool_after_settings(**env: str) -> str:
    environment = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pyarrow.jemalloc_memory_pool()
    except (NotImplementedError, pyarrow.ArrowNotImplementedError):
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc pool")
def test_arrow_uses_the_pool_that_returns_freed_memory():
    assert _pool_after_settings() == "jemalloc"


# Arrow's own default (what its C++ code allocates from: Parquet, the CSV reader's threads) is what
# pyarrow reports before ``set_memory_pool`` is called; it must be the same jemalloc pool, not a second allocator.
ARROW_OWN_DEFAULT_PROBE = (
    "import os\n"
    "from scoring_assets.process_memory import _arrow_loaded_with_jemalloc\n"
    "pyarrow = _arrow_loaded_with_jemalloc()\n"
    "print(pyarrow.default_memory_pool().backend_name)\n"
    "print(os.environ.get('ARROW_DEFAULT_MEMORY_POOL', 'unset'))\n"
)


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc pool")
def test_arrow_itself_allocates_from_the_same_pool_and_children_choose_their_own():
    environment = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", ARROW_OWN_DEFAULT_PROBE], env=environment, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["jemalloc", "unset"]


def test_a_pool_chosen_with_the_arrow_variable_is_kept():
    assert _pool_after_settings(ARROW_DEFAULT_MEMORY_POOL="system") == "system"


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc pool")
def test_the_command_applies_the_settings():
    entry = "import sys; from scoring_assets import cli; sys.argv = ['scoring-assets', 'use-cases']; cli.console_main()"
    probe = f"{entry}\nimport pyarrow\nprint('POOL', pyarrow.default_memory_pool().backend_name)\n"
    environment = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True)
    assert "POOL jemalloc" in done.stdout.splitlines()


# A run worker is a child the code server spawns; the servers themselves load the same definitions.
RUN_WORKER_PROBE = """
import multiprocessing


def pool_after_loading(queue):
    from scoring_assets.definitions import defs

    defs()
    import pyarrow

    queue.put(pyarrow.default_memory_pool().backend_name)


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=pool_after_loading, args=(queue,))
    worker.start()
    print("WORKER", queue.get())
    worker.join()
    pool_after_loading(queue)
    print("SERVER", queue.get())
"""


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc pool")
def test_the_code_location_applies_the_settings_in_run_workers_only(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(RUN_WORKER_PROBE)
    environment = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, str(probe)], env=environment, capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert "WORKER jemalloc" in lines
    assert "SERVER jemalloc" not in lines, "a long-lived server keeps Arrow's default pool"
