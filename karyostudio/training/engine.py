"""fit(config, callbacks, cancel): train any model family; used by the CLI, the GUI and tests.

The config's family (models/families.py) names its TrainingTask; the one training loop
(training/trainer.py) runs it. Families that train on several GPUs run under torchrun as
DistributedDataParallel (training/processes.py); the GUI trains in one process.
"""

from __future__ import annotations

from typing import Any, Sequence

from karyostudio.core.progress import CancelToken
from karyostudio.models.families import family_record
from karyostudio.training.config import TrainConfig, check_config
from karyostudio.training.errors import ConfigError, TrainingError
from karyostudio.training.processes import distributed
from karyostudio.training.results import FitResult
from karyostudio.training.trainer import Trainer

__all__ = ["ConfigError", "FitResult", "TrainingError", "fit"]


def fit(config: TrainConfig, callbacks: Sequence[Any] = (), cancel: CancelToken | None = None) -> FitResult:
    """Train as ``config`` says; raises ConfigError, TrainingError, CheckpointError or Cancelled."""
    check_config(config)
    task = family_record(config.family).load("task")(config)
    if not task.distributed:
        return Trainer(config, task, callbacks, cancel).fit()
    with distributed(config.device) as processes:
        return Trainer(config, task, callbacks, cancel, processes).fit()
