"""Splitting graph evaluation across processes.

Workers are forked, so they inherit the job (the paired graphs) and the tokenizers already
built instead of receiving them pickled; only their results travel back. Where ``fork`` is not
available (Windows, macOS defaults) everything runs in the calling process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import numpy as np

R = TypeVar("R")
# Below this many graphs per process a pool costs more than it saves.
MIN_GRAPHS_PER_WORKER = 150

_JOB: Any = None


def default_workers() -> int:
    """All usable cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def effective_workers(n_items: int, workers: int | None) -> int:
    """How many processes :func:`map_slices` will use for ``n_items``."""
    wanted = default_workers() if workers is None else max(1, workers)
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(wanted, n_items // MIN_GRAPHS_PER_WORKER))


def _run(fn: Callable[[Any, int, int], R], start: int, stop: int) -> R:
    return fn(_JOB, start, stop)


def map_slices(fn: Callable[[Any, int, int], R], job: Any, n_items: int, workers: int | None) -> list[R]:
    """``fn(job, start, stop)`` over contiguous slices of ``range(n_items)``, one per process.

    ``fn`` must be a module-level function. Results come back in slice order.
    """
    count = effective_workers(n_items, workers)
    if count == 1:
        return [fn(job, 0, n_items)]
    global _JOB
    bounds = np.linspace(0, n_items, count + 1).astype(int).tolist()
    _JOB = job
    # Children would otherwise garbage-collect (and so copy on write) the whole inherited heap.
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run, fn, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
            return [f.result() for f in futures]
    finally:
        _JOB = None
        gc.unfreeze()
