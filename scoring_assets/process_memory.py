"""Process-wide memory settings for the processes that score: allocators and the cyclic garbage collector.

Allocators. Scoring streams a file in batches, so what is live at any moment is small (about 150 MB
at 1M rows beyond the loaded libraries). What made the peak RSS high was memory already freed but
kept by the allocators: glibc's per-thread arenas (numpy and pandas buffers freed on the Parquet
writer's and Arrow's threads) and Arrow's default pool (mimalloc), which holds freed pages for
reuse. Measured on 1M-row files: peak 680 MB with the defaults, about 460 MB with two glibc arenas,
a fixed trim threshold and Arrow's jemalloc pool returning freed pages after 100 ms (returning them
at once cost 15% at 10M rows). Since then: after 20 ms (10M Telco rows, alternated: peak 351-397 MB
against 361-416 at 100 ms, CPU-seconds the same; at once still costs ~17 CPU-s of system time
there), and jemalloc as Arrow's own default too (see ``_arrow_loaded_with_jemalloc``). Fixing the
trim threshold also fixes glibc's mmap threshold, at 128 KB unless set: then every array of a batch
(64k float64 values: 512 KB) was a fresh mmap, its pages faulted in and unmapped again (2.3 s of
system time at 1M rows, the score step 20% slower). Blocks up to 4 MB now come from the heap and are
reused; the large transients (predict_proba's matrices) still go straight back to the system. Peak
RSS is about the same.

The collector. Loading Dagster, scikit-learn and pandas creates millions of long-lived objects,
and Python's cyclic collector walks them again and again while they load and once more when the
interpreter ends: about 1.3 s of CPU in every process that scores a file (the CLI's, each run
worker's). Loading with collection paused, freezing what was loaded (``gc.freeze``: never walked
again) and freezing everything at exit removes that; the run's own garbage is still collected.

Results do not depend on any of this.
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
FREED_PAGES_KEPT_MS = 20  # jemalloc's decay: the freed pages it holds are about this long's worth of churn
_applied = False
_frozen_at_exit = False


def return_freed_memory() -> None:
    """Make glibc and Arrow give freed memory back to the system instead of keeping it (idempotent).

    Call it early in a process, before worker threads start: the arena limit applies to arenas
    made afterwards. Where an allocator is not there (not glibc, an Arrow build without
    jemalloc) that part is skipped, and an Arrow pool chosen with ``ARROW_DEFAULT_MEMORY_POOL`` is kept.
    """
    global _applied
    if _applied:
        return
    _applied = True
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")  # glibc; other C libraries are left alone
            libc.mallopt(_M_ARENA_MAX, 2)
            libc.mallopt(_M_TRIM_THRESHOLD, 16 << 20)
            libc.mallopt(_M_MMAP_THRESHOLD, 4 << 20)
        except (OSError, AttributeError):
            pass
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):  # chosen by whoever runs us
        return
    pyarrow = _arrow_loaded_with_jemalloc()
    try:
        pyarrow.set_memory_pool(pyarrow.jemalloc_memory_pool())  # where pyarrow was loaded before this call
        pyarrow.jemalloc_set_decay_ms(FREED_PAGES_KEPT_MS)
    except (NotImplementedError, pyarrow.ArrowNotImplementedError):  # built without jemalloc
        pass


def _arrow_loaded_with_jemalloc():
    """pyarrow, loaded (if not yet) with jemalloc as Arrow's own default pool, not only pyarrow's.

    ``set_memory_pool`` changes the pool pyarrow's functions use, but Arrow's C++ code (Parquet, the
    CSV reader's threads) keeps allocating from the default it chose when it loaded (mimalloc): two
    allocators then each keep freed pages, ~40 MB more peak RSS at 1M rows. Arrow reads its choice
    from the environment as it loads; the variable is removed again, so child processes choose for
    themselves. Only on Linux, whose pyarrow wheels have jemalloc (a build without it would warn on
    every command); elsewhere ``set_memory_pool`` below is all there is.
    """
    if "pyarrow" in sys.modules or not sys.platform.startswith("linux"):
        import pyarrow

        return pyarrow
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"
    try:
        import pyarrow
    finally:
        del os.environ["ARROW_DEFAULT_MEMORY_POOL"]
    return pyarrow


@contextmanager
def collection_paused() -> Iterator[None]:
    """Load inside this block without the cyclic collector; then freeze what was loaded and collect again.

    When the collector is already off (a caller that paused it from the start, like the CLI), it is
    left to that caller.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        resume_collection()


def resume_collection() -> None:
    """Freeze every object alive now (what start-up loaded: never garbage) and turn the collector on."""
    gc.freeze()
    gc.enable()


def freeze_at_exit() -> None:
    """At interpreter exit, freeze everything, so ending the process skips the collector's last walk.

    Exit handlers run last-registered first: register this after loading, so it runs before the
    handlers the libraries registered (freezing after them cost the CLI ~0.07 s). Outputs are published
    and closed before then (every write is atomic), so nothing waits on it.
    """
    global _frozen_at_exit
    if not _frozen_at_exit:
        _frozen_at_exit = True
        atexit.register(gc.freeze)
