"""Wall-clock timing shared by the CPU benchmarks: the median of repeated calls after a warm-up.

The benchmarks run as scripts (``.venv/bin/python benchmarks/bench_x.py``), which puts this
folder on ``sys.path``; they import this module as ``_cpu_timing``.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_s(fn: Callable[[], object], iters: int) -> float:
    """Median seconds of ``iters`` calls of ``fn``, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
