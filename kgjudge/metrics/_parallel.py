"""Splitting graph evaluation across processes.

Workers are forked, so they inherit the job (the paired graphs) and the tokenizers already
built instead of receiving them pickled; only their results travel back. Where ``fork`` is not
available (Windows, macOS defaults) everything runs in the calling process.

Work done is counted with :func:`tick`, in a worker or here, and shown by the
:class:`~kgjudge._progress.Progress` given to :func:`map_slices`.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import numpy as np

from kgjudge._progress import Progress

R = TypeVar("R")
# The fewest graphs worth a process of their own, by mode (measured on 2 cores). A word-level
# graph costs little, and much of its work (stemming, normalisation) is memoised per process and
# would be repeated in each, so there a second process pays off only for thousands of graphs.
MIN_GRAPHS_PER_WORKER = {"word": 2500, "compat": 150}

_JOB: Any = None
_TICKS: Any = None  # a counter shared with forked workers
_PROGRESS: Progress | None = None  # where ticks go in this process


def tick(n: int = 1) -> None:
    """Count ``n`` more items done, in a worker process or in this one."""
    if _TICKS is not None:
        with _TICKS.get_lock():
            _TICKS.value += n
    elif _PROGRESS is not None:
        _PROGRESS.advance(n)


def default_workers() -> int:
    """All usable cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def effective_workers(n_items: int, workers: int | None, min_per_worker: int) -> int:
    """How many processes to use for ``n_items`` graphs: at most ``workers`` (all cores when
    None), at least ``min_per_worker`` graphs each, and 1 where ``fork`` is unavailable."""
    wanted = default_workers() if workers is None else max(1, workers)
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(wanted, n_items // max(1, min_per_worker)))


def _run(fn: Callable[[Any, int, int], R], start: int, stop: int) -> R:
    return fn(_JOB, start, stop)


def map_slices(
    fn: Callable[[Any, int, int], R], job: Any, n_items: int, count: int, progress: Progress | None = None
) -> list[R]:
    """``fn(job, start, stop)`` over ``count`` contiguous slices of ``range(n_items)``, one per
    forked process (in this process when ``count`` is 1).

    ``fn`` must be a module-level function. Results come back in slice order. What ``fn``
    counts with :func:`tick` advances ``progress``.
    """
    global _JOB, _TICKS, _PROGRESS
    if count <= 1:
        _PROGRESS = progress
        try:
            return [fn(job, 0, n_items)]
        finally:
            _PROGRESS = None
    context = multiprocessing.get_context("fork")
    bounds = np.linspace(0, n_items, count + 1).astype(int).tolist()
    _JOB, _TICKS = job, context.Value("q", 0)
    # Children would otherwise garbage-collect (and so copy on write) the whole inherited heap.
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
            futures = [pool.submit(_run, fn, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
            pending, shown = set(futures), 0
            while pending:
                _, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                if progress is not None:
                    progress.advance(_TICKS.value - shown)
                    shown = _TICKS.value
            return [f.result() for f in futures]
    finally:
        _JOB = _TICKS = None
        gc.unfreeze()
