"""Trainer: the one training loop every model family runs through (detectron2's TrainerBase + hooks).

A family gives a TrainingTask (training/task.py): ``setup`` builds its data, model and optimiser
(restored from last.pt when resuming), ``run_step`` takes one optimisation step, ``evaluate``
validates at the end of an epoch and ``export`` writes the finished model. The Trainer owns what
every run shares, on a typed RunState that last.pt carries: resuming, the epoch loop, cancelling,
and the hooks below (time budget, best model, metric log, checkpoints, callbacks).

Callbacks are plain objects; the methods they have are called on the main process:
``on_fit_start(info)``, ``on_data_progress(done, total, message)`` (while a task prepares its
data), ``on_step_end(step, losses)``, ``on_epoch_end(epoch, record)``, ``on_fit_end(result)``.
``cancel`` (CancelToken) is checked before every step: the run saves last.pt and raises
Cancelled. When the time budget (``max_minutes``, the whole run) runs out, the epoch so far is
validated as a partial one, the model exported and the result says ``stopped_early``; a resumed
run continues as an uninterrupted one would. Errors are raised, never turned into an exit.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from karyostudio.core.progress import CancelToken, Cancelled, check
from karyostudio.training import checkpoint as ckpt
from karyostudio.training.config import TrainConfig, config_to_dict, resume_mismatch
from karyostudio.training.errors import ConfigError
from karyostudio.training.processes import Processes
from karyostudio.training.results import FitResult, emit
from karyostudio.training.run_state import RunState
from karyostudio.training.run_support import torch_threads
from karyostudio.training.task import RunContext, Step, TrainingTask


class Trainer:
    """Runs one TrainingTask under ``config`` (its common fields: name, out_dir, resume,
    max_minutes, num_threads, export, checkpoint_every)."""

    def __init__(self, config: TrainConfig, task: TrainingTask, callbacks: Sequence[Any] = (),
                 cancel: CancelToken | None = None, processes: Processes | None = None):
        self.config, self.task, self.cancel = config, task, cancel
        self.processes = processes or Processes.single(config.device)
        self.callbacks = list(callbacks) if self.processes.main else []
        self.out = Path(config.out_dir)
        self.config_dict = config_to_dict(config)
        self.state = RunState()
        self.stopped_early = False
        self.hooks = [TimeBudget(), BestModel(), MetricLog(), Checkpoints(), Callbacks()]

    def fit(self) -> FitResult:
        with torch_threads(self.config.num_threads), _determinism(self.config.deterministic):
            return self._fit()

    def _fit(self) -> FitResult:
        self.start = time.monotonic()
        saved = self._saved_run()
        if saved is not None:
            self.state = RunState.from_dict(saved["progress"])
        self.log = (ckpt.MetricLog.resume(self.out / ckpt.LOG_NAME, self.state.step) if saved is not None
                    else ckpt.MetricLog(self.out / ckpt.LOG_NAME))
        self.minutes_before = self.state.minutes
        self.context = RunContext(config=self.config, config_dict=self.config_dict, out=self.out,
                                  processes=self.processes, cancel=self.cancel, callbacks=self.callbacks,
                                  started=self.start)
        self.plan = self.task.setup(self.context, saved)
        self.context.deadline = self._deadline()
        if self.processes.main:
            self.out.mkdir(parents=True, exist_ok=True)
            ckpt.write_config(self.out / ckpt.CONFIG_NAME, self.config_dict)
        self._call("before_train")
        try:
            self._epochs()
        except Cancelled:
            self._call("on_cancel")
            raise
        exported = self.task.export(self.state) if self.config.export and self.processes.main else None
        result = self._result(exported)
        self._call("after_train", result)
        return result

    def _saved_run(self) -> dict[str, Any] | None:
        """last.pt's state when resuming, None for a fresh run.

        A fresh run refuses a folder that already holds one (it would overwrite it); a resumed one
        needs last.pt and a config that differs from the saved one only where RESUMABLE_CHANGES allows.
        """
        last = self.out / ckpt.LAST_NAME
        if not self.config.resume:
            if last.exists():
                raise ConfigError(f"{self.out} already holds a training run ({ckpt.LAST_NAME}); continue it with "
                                  f"--resume or choose another output folder")
            return None
        if not last.exists():
            raise ConfigError(f"nothing to resume: {last} does not exist")
        saved = ckpt.load_train_state(last)
        differ = resume_mismatch(saved["config"], self.config_dict)
        if differ:
            raise ConfigError(f"cannot resume {last}: settings differ from the saved run's: {', '.join(differ)}")
        return saved

    def _deadline(self) -> float | None:
        """When the run must stop stepping: the time budget less what the task needs after its last
        step (its final validation and export)."""
        if self.config.max_minutes is None:
            return None
        return self.start + 60.0 * self.config.max_minutes - self.task.reserve_seconds()

    def _epochs(self) -> None:
        state, task = self.state, self.task
        while state.epoch < self.plan.epochs:
            per_epoch = self.plan.steps_in(state.epoch)
            task.begin_epoch(state)
            while state.step_in_epoch < per_epoch:
                if any(hook.stops_run(self) for hook in self.hooks):
                    self.stopped_early = True
                    break
                check(self.cancel)
                step = task.run_step(state)
                state.count_step(step.losses, step.lr)
                state.minutes = self.minutes_before + (time.monotonic() - self.start) / 60.0
                self._call("after_step", step)
            record = self._close_epoch(partial=self.stopped_early)
            if self.stopped_early or task.should_stop(state, record):
                return

    def _close_epoch(self, *, partial: bool) -> dict[str, Any]:
        state = self.state
        metrics = self.task.evaluate(state) if self.processes.main else {}
        self.processes.barrier()
        means = state.mean_losses()
        record = {"type": "epoch", "epoch": state.epoch, "step": state.step, "train_loss": means.get("loss"),
                  "train_losses": means, "lr": state.lr, "minutes": state.minutes, "partial": partial,
                  **self.task.end_epoch(state), **metrics}
        self._call("before_epoch_closed", record)
        state.close_epoch(record, partial=partial)
        self._call("after_epoch", record)
        return record

    def _result(self, exported: Path | None) -> FitResult:
        best, last = self.out / ckpt.BEST_NAME, self.out / ckpt.LAST_NAME
        state = self.state
        return FitResult(out_dir=self.out, steps=state.step, epochs=state.epoch, best_epoch=state.best_epoch,
                         best_metrics=dict(state.best_metrics), history=list(state.history),
                         last_checkpoint=last if last.exists() else None,
                         best_checkpoint=best if best.exists() else None, manifest=exported,
                         stopped_early=self.stopped_early, elapsed_s=time.monotonic() - self.start)

    def _call(self, name: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, name)(self, *args)

    def save_last(self) -> None:
        """last.pt (everything a resumed run needs) and the metric log that matches it."""
        if not self.processes.main:
            return
        ckpt.save_train_state(self.out / ckpt.LAST_NAME, config=self.config_dict,
                              model=self.task.model.state_dict(), optimizer=self.task.optimizer_state(),
                              scaler=self.task.scaler_state(), progress=self.state.to_dict())
        self.log.write()


# --- hooks ------------------------------------------------------------------------------------------

class Hook:
    """Does nothing at every point of the loop; a hook overrides the points it works at."""

    def before_train(self, trainer: Trainer) -> None: ...

    def stops_run(self, trainer: Trainer) -> bool:
        return False

    def after_step(self, trainer: Trainer, step: Step) -> None: ...

    def before_epoch_closed(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def after_epoch(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def on_cancel(self, trainer: Trainer) -> None: ...

    def after_train(self, trainer: Trainer, result: FitResult) -> None: ...


class TimeBudget(Hook):
    """Stops the run when max_minutes (less the task's reserve) is spent; all processes agree."""

    def stops_run(self, trainer: Trainer) -> bool:
        deadline = trainer.context.deadline  # the same on every process: all of them ask, or none
        return deadline is not None and trainer.processes.any(time.monotonic() > deadline)


def is_better(score: float | None, best_score: float | None) -> bool:
    """A validated epoch beats the best so far; ties go to the later epoch: it has trained longer."""
    return best_score is None or (score is not None and score >= best_score)


class BestModel(Hook):
    """Keeps the best validated epoch (the task's ``best_score``) in the run state and in best.pt."""

    def before_epoch_closed(self, trainer: Trainer, record: dict[str, Any]) -> None:
        task, state = trainer.task, trainer.state
        if not task.competes_for_best(record):
            return
        score = task.best_score(record)
        if not is_better(score, state.best_score):
            return
        state.best_epoch, state.best_score = record["epoch"], score
        state.best_metrics = {k: v for k, v in record.items() if "." in k}
        if trainer.processes.main:
            ckpt.save_best(trainer.out / ckpt.BEST_NAME, model=task.model.state_dict(), config=trainer.config_dict,
                           metrics=state.best_metrics, epoch=record["epoch"])


class MetricLog(Hook):
    """metrics.jsonl: a step record every ``log_every`` steps (and the first), every epoch record."""

    def after_step(self, trainer: Trainer, step: Step) -> None:
        state, every = trainer.state, trainer.task.log_every()
        if trainer.processes.main and (state.step % every == 0 or state.step == 1):
            trainer.log.append({"type": "step", "step": state.step, "epoch": state.epoch, "lr": step.lr,
                                **step.log_fields, **step.losses})

    def after_epoch(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if trainer.processes.main:
            trainer.log.append(record)


class Checkpoints(Hook):
    """last.pt after every epoch, every ``checkpoint_every`` steps and when the run is cancelled."""

    def after_step(self, trainer: Trainer, step: Step) -> None:
        every = trainer.config.checkpoint_every
        if every and trainer.state.step % every == 0:
            trainer.save_last()

    def after_epoch(self, trainer: Trainer, record: dict[str, Any]) -> None:
        trainer.save_last()

    def on_cancel(self, trainer: Trainer) -> None:
        trainer.save_last()


class Callbacks(Hook):
    """Tells the run's callbacks (see the module docstring)."""

    def before_train(self, trainer: Trainer) -> None:
        plan, state = trainer.plan, trainer.state
        emit(trainer.callbacks, "on_fit_start", {
            "family": trainer.task.family, "name": trainer.config.name, "total_steps": plan.total_steps,
            "start_step": state.step, "device": str(trainer.processes.device),
            "world_size": trainer.processes.world_size, **plan.info})

    def after_step(self, trainer: Trainer, step: Step) -> None:
        emit(trainer.callbacks, "on_step_end", trainer.state.step, step.losses)

    def after_epoch(self, trainer: Trainer, record: dict[str, Any]) -> None:
        emit(trainer.callbacks, "on_epoch_end", record["epoch"], record)

    def after_train(self, trainer: Trainer, result: FitResult) -> None:
        emit(trainer.callbacks, "on_fit_end", result)


@contextlib.contextmanager
def _determinism(deterministic: bool) -> Iterator[None]:
    """Deterministic algorithms for the run when asked, restored afterwards so callers (the GUI) keep theirs."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]
