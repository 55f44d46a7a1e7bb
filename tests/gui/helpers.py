"""Helpers shared by the GUI tests."""

from __future__ import annotations

import time

import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.progress import check, report


def square(x: float, y: float, size: float) -> np.ndarray:
    return np.array([[x, y], [x + size, y], [x + size, y + size], [x, y + size]], dtype=np.float64)


class FakePredictor:
    """A slow predictor: `steps` steps of `delay` seconds, each a progress report and a cancel point."""

    description = "test predictor"

    def __init__(self, name: str = "fake-slow", steps: int = 5, delay: float = 0.01):
        self.name = name
        self.steps = steps
        self.delay = delay
        self.calls = 0

    def predict(self, image, *, progress=None, cancel=None):
        self.calls += 1
        for step in range(self.steps):
            check(cancel)
            time.sleep(self.delay)
            report(progress, step + 1, self.steps, f"step {step + 1}")
        check(cancel)
        return [Instance(id=1, polygon=square(10, 10, 20), label="1", score=0.9, source=self.name),
                Instance(id=2, polygon=square(50, 40, 25), label="X", score=0.7, source=self.name)]


class GpuOutOfMemory(RuntimeError):
    """Stands in for torch.cuda.OutOfMemoryError (its name is what the app recognises)."""


GpuOutOfMemory.__name__ = "OutOfMemoryError"
