"""Work split over forked processes is counted item by item for the progress bar."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from kgjudge._progress import Progress
from kgjudge.metrics._parallel import map_slices, tick


def count_items(job: float, start: int, stop: int) -> list[int]:
    out = []
    for i in range(start, stop):
        time.sleep(job)
        out.append(i)
        tick()
    return out


@pytest.mark.parametrize("count", [1, 2])
def test_ticks_from_workers_reach_the_progress(count: int) -> None:
    if count > 1 and "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    with Progress("score", "graphs", 12, enabled=False) as progress:
        slices = map_slices(count_items, 0.01, 12, count, progress)
    assert [i for part in slices for i in part] == list(range(12))
    assert progress.done == 12
