"""RunState: what a training run has done so far, typed; last.pt carries it as a plain dict."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from karyostudio.training.checkpoint import CheckpointError


@dataclass
class RunState:
    step: int = 0  # optimisation steps taken, all epochs
    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per validated epoch
    best_epoch: int | None = None
    best_score: float | None = None
    best_metrics: dict[str, Any] = field(default_factory=dict)
    loss_sums: dict[str, float] = field(default_factory=dict)  # this epoch's, per loss term
    loss_count: int = 0
    lr: float | None = None  # of the last step
    minutes: float = 0.0  # training time of every session of the run so far
    family: dict[str, Any] = field(default_factory=dict)  # the task's own counters (plain data)

    def count_step(self, losses: Mapping[str, float], lr: float | None) -> None:
        self.step += 1
        self.step_in_epoch += 1
        self.loss_count += 1
        self.lr = lr
        for key, value in losses.items():
            self.loss_sums[key] = self.loss_sums.get(key, 0.0) + float(value)

    def mean_losses(self) -> dict[str, float]:
        return {k: v / self.loss_count for k, v in self.loss_sums.items()} if self.loss_count else {}

    def close_epoch(self, record: Mapping[str, Any], *, partial: bool) -> None:
        """Add the epoch's record to the history; a complete epoch moves the counters on."""
        self.history.append(dict(record))
        if not partial:
            self.epoch += 1
            self.step_in_epoch = 0
            self.loss_sums, self.loss_count = {}, 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunState":
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, Mapping) or not known >= set(data) or "step" not in data:
            raise CheckpointError(None, "the checkpoint's progress record is not one this karyostudio writes")
        return cls(**dict(data))
