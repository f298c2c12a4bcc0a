"""Cells side by side: the one way the commands run several cells at once (run, the gate's two sides, sweep).

A cell keeps about one core busy (JAX start-up and compiles are per process), so two at a time on the two-core
machine this project is measured on; ``jobs`` says otherwise. Results come back in the order given; the first
error raised by any of them is raised once all have ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
JOBS = 2  # cells at once by default (see README, "Speed")


def each(items: Sequence[T], run: Callable[[T], R], jobs: int = JOBS) -> list[R]:
    """``run`` on every item, ``jobs`` at a time; the results in the items' order."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, item) for item in items]
    return [future.result() for future in futures]
