"""Small helpers the training tasks share: torch's thread count for a run, per-step seeds."""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """torch's thread count for the run (None: unchanged), restored afterwards so callers keep theirs."""
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def step_seed(*words: int) -> int:
    """A torch seed for one step's random draws, a pure function of (seed, ..., step)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1)[0])
