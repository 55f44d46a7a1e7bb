"""TrainingTask: what a model family gives the Trainer (training/trainer.py), and what it gets.

A task builds its data, model and optimiser in ``setup`` and returns a Plan (epochs, steps per
epoch, what ``on_fit_start`` reports); ``run_step`` takes one step and returns its losses;
``evaluate`` returns the validation numbers of an epoch ("val.*"); ``export`` writes the
finished model and returns its path. The rest has defaults a family overrides when it differs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from karyostudio.core.progress import CancelToken
from karyostudio.training import checkpoint as ckpt
from karyostudio.training.config import TrainConfig
from karyostudio.training.processes import Processes
from karyostudio.training.results import emit
from karyostudio.training.run_state import RunState


@dataclass
class RunContext:
    """What the Trainer lends a task: the run's config, folder, processes, cancel token and clock."""

    config: TrainConfig
    config_dict: dict[str, Any]
    out: Path
    processes: Processes
    cancel: CancelToken | None
    callbacks: Sequence[Any]
    started: float
    deadline: float | None = None  # set once the task is set up (time.monotonic() value)

    @property
    def device(self) -> torch.device:
        return self.processes.device

    def data_progress(self, done: int, total: int, message: str = "") -> None:
        emit(self.callbacks, "on_data_progress", done, total, message)

    def budget_used(self, since: float) -> float:
        """How much of the time from ``since`` to the deadline has passed, in [0, 1] (0: no budget).
        Schedules anneal by this when it is further along than the step count, so a run that is
        cut short by its time budget still ends its learning-rate decay."""
        if self.deadline is None:
            return 0.0
        span = self.deadline - since
        return min(1.0, (time.monotonic() - since) / span) if span > 0 else 1.0


@dataclass(frozen=True)
class Plan:
    epochs: int
    steps_per_epoch: int | Callable[[int], int]  # or a function of the epoch (Mask R-CNN's stages)
    info: dict[str, Any] = field(default_factory=dict)  # reported by on_fit_start (sizes, stages, ...)

    def steps_in(self, epoch: int) -> int:
        return self.steps_per_epoch(epoch) if callable(self.steps_per_epoch) else self.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return sum(self.steps_in(e) for e in range(self.epochs))


@dataclass(frozen=True)
class Step:
    losses: dict[str, float]  # "loss" is the total
    lr: float
    log_fields: dict[str, Any] = field(default_factory=dict)  # extra fields of the step's log record


class TrainingTask:
    """One family's part of a run (see the module docstring)."""

    family: str = ""
    distributed = False  # runs under torchrun as DistributedDataParallel
    model: torch.nn.Module

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        raise NotImplementedError

    def run_step(self, state: RunState) -> Step:
        raise NotImplementedError

    def evaluate(self, state: RunState) -> dict[str, Any]:
        return {}

    def export(self, state: RunState) -> Path | None:
        return None

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        """The number that picks the best epoch (higher is better; None: this epoch has none)."""
        return None

    def competes_for_best(self, record: Mapping[str, Any]) -> bool:
        """Whether this epoch may become the best one (Mask R-CNN: only epochs of the last stage)."""
        return True

    def begin_epoch(self, state: RunState) -> None:
        """Called before each epoch's first step (and before the rest of an epoch a resumed run finishes)."""

    def should_stop(self, state: RunState, record: Mapping[str, Any]) -> bool:
        """After an epoch: end the run before its planned epochs (e.g. the loss has plateaued)."""
        return False

    def end_epoch(self, state: RunState) -> dict[str, Any]:
        """Called as an epoch ends, before its record is kept (and saved in last.pt): update the
        task's own counters; returns extra fields of the record (e.g. its stage)."""
        return {}

    def reserve_seconds(self) -> float:
        """Time the task needs after its last step (final validation, calibration, export)."""
        return 0.0

    def log_every(self) -> int:
        return 10

    def optimizer_state(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def scaler_state(self) -> dict[str, Any]:
        return {}


def first_number(record: Mapping[str, Any], names: Sequence[str]) -> float | None:
    """The record's value of the first of ``names`` it has as a number."""
    for name in names:
        value = record.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def best_weights(out: Path, model: Any, state: RunState) -> tuple[Mapping[str, Any], dict[str, float]]:
    """What an export writes: best.pt's weights (the model's own when no epoch was kept) and the
    best epoch's numeric metrics."""
    best = out / ckpt.BEST_NAME
    weights = ckpt.load_best(best)["model"] if best.exists() else model.state_dict()
    return weights, {k: v for k, v in state.best_metrics.items() if isinstance(v, (int, float))}
