"""Run bookkeeping shared by the trainers: resuming, the time budget, epochs, best/last checkpoints, results.

Every trainer keeps its state in a ``progress`` dict that goes into last.pt (keys step, epoch,
step_in_epoch, history, best_epoch, best_score, best_metrics, plus its own loss sums) and writes
the files of training/checkpoint.py into its output folder. The helpers here are the parts of that
bookkeeping that do not depend on the model family; the training loops themselves stay with the
families.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from karyostudio.core.progress import CancelToken, Cancelled, check
from karyostudio.training import checkpoint as ckpt
from karyostudio.training.config import ConfigError, resume_mismatch
from karyostudio.training.results import FitResult, emit


def fresh_progress(**extra: Any) -> dict[str, Any]:
    """The progress of a run that has not taken a step, with the family's own counters added."""
    return {"step": 0, "epoch": 0, "step_in_epoch": 0, "history": [], "best_epoch": None, "best_score": None,
            "best_metrics": {}, **extra}


def saved_run(out: Path, resume: bool, config_dict: Mapping[str, Any]) -> dict[str, Any] | None:
    """last.pt's state when resuming, None for a fresh run.

    A fresh run refuses a folder that already holds one (it would overwrite it); a resumed one needs
    last.pt and a config that differs from the saved one only where RESUMABLE_CHANGES allows.
    """
    last = out / ckpt.LAST_NAME
    if not resume:
        if last.exists():
            raise ConfigError(f"{out} already holds a training run ({ckpt.LAST_NAME}); continue it with "
                              f"--resume or choose another output folder")
        return None
    if not last.exists():
        raise ConfigError(f"nothing to resume: {last} does not exist")
    saved = ckpt.load_train_state(last)
    differ = resume_mismatch(saved["config"], config_dict)
    if differ:
        raise ConfigError(f"cannot resume {last}: settings differ from the saved run's: {', '.join(differ)}")
    return saved


def open_run(out: Path, resume: bool, config_dict: Mapping[str, Any], *, fresh: dict[str, Any]
             ) -> tuple[dict[str, Any] | None, dict[str, Any], ckpt.MetricLog]:
    """(saved state, progress, metric log) of a run about to start in ``out``: None, ``fresh`` and an
    empty log for a new run; last.pt's state, its progress and the log up to its step for a resumed
    one (checked as saved_run says)."""
    saved = saved_run(out, resume, config_dict)
    if saved is None:
        return None, fresh, ckpt.MetricLog(out / ckpt.LOG_NAME)
    progress = dict(saved["progress"])
    return saved, progress, ckpt.MetricLog.resume(out / ckpt.LOG_NAME, progress["step"])


def deadline_after(start: float, max_minutes: float | None) -> float | None:
    """The monotonic time a run that began at ``start`` must stop by (None: no time budget)."""
    return None if max_minutes is None else start + 60.0 * max_minutes


def past(deadline: float | None) -> bool:
    """The time budget ran out."""
    return deadline is not None and time.monotonic() > deadline


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


def train_epochs(progress: dict[str, Any], *, epochs: int, per_epoch: int, deadline: float | None,
                 cancel: CancelToken | None, step: Callable[[], None], end_epoch: Callable[..., None],
                 save_last: Callable[[], None], plateaued: Callable[[], bool] | None = None) -> bool:
    """The epoch loop of a single-stage run: ``step()`` until ``epochs`` epochs are done, each epoch
    closed by ``end_epoch(partial=...)``; ``plateaued()`` (when given) may end the run after an epoch.

    ``cancel`` is checked before every step: last.pt is saved (``save_last()``) and Cancelled raised.
    When the time budget runs out the epoch so far is closed as a partial one and the loop ends.
    Returns whether it ended for lack of time.
    """
    stopped_early = False
    try:
        while progress["epoch"] < epochs and not stopped_early:
            while progress["step_in_epoch"] < per_epoch:
                if past(deadline):
                    stopped_early = True
                    break
                check(cancel)
                step()
            end_epoch(partial=stopped_early)
            if plateaued is not None and plateaued():
                break
    except Cancelled:
        save_last()
        raise
    return stopped_early


def step_seed(*words: int) -> int:
    """A torch seed for one step's random draws, a pure function of (seed, ..., step)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1)[0])


def wants_step_log(step: int, log_every: int) -> bool:
    """Step records go to the log every ``log_every`` steps, and for the first step."""
    return step % log_every == 0 or step == 1


def is_better(score: float | None, best_score: float | None) -> bool:
    """A validated epoch beats the best so far; ties go to the later epoch: it has trained longer."""
    return best_score is None or (score is not None and score >= best_score)


def keep_if_best(out: Path, progress: dict[str, Any], record: Mapping[str, Any], score: float | None, *,
                 model: torch.nn.Module, config_dict: Mapping[str, Any]) -> None:
    """When the epoch is the best so far (is_better), record it as such (its "val.*" numbers) and
    write its weights to best.pt."""
    if not is_better(score, progress["best_score"]):
        return
    progress["best_epoch"], progress["best_score"] = record["epoch"], score
    progress["best_metrics"] = {k: v for k, v in record.items() if k.startswith("val.")}
    ckpt.save_best(out / ckpt.BEST_NAME, model=model.state_dict(), config=config_dict,
                   metrics=progress["best_metrics"], epoch=record["epoch"])


def close_epoch(progress: dict[str, Any], log: ckpt.MetricLog, record: Mapping[str, Any], *, partial: bool,
                fresh_losses: Mapping[str, Any]) -> int:
    """Add the epoch's record to the history and the log; a complete epoch moves the counters on and
    resets the loss sums to ``fresh_losses``. Returns the index of the epoch just closed."""
    progress["history"].append(record)
    log.append(record)
    epoch = progress["epoch"]
    if not partial:
        progress["epoch"] += 1
        progress["step_in_epoch"] = 0
        progress.update(fresh_losses)
    return epoch


def save_last(out: Path, log: ckpt.MetricLog, *, config_dict: Mapping[str, Any], model: torch.nn.Module,
              optimizer: torch.optim.Optimizer, progress: Mapping[str, Any]) -> None:
    """last.pt (a run without a gradient scaler) and the metric log that matches it."""
    ckpt.save_train_state(out / ckpt.LAST_NAME, config=config_dict, model=model.state_dict(),
                          optimizer=optimizer.state_dict(), scaler={}, progress=progress)
    log.write()


def export_inputs(out: Path, model: torch.nn.Module,
                  progress: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """What an export writes: best.pt's weights (the model's own when no epoch was kept) and the
    best epoch's numeric metrics."""
    best = out / ckpt.BEST_NAME
    state = ckpt.load_best(best)["model"] if best.exists() else model.state_dict()
    metrics = {k: v for k, v in progress["best_metrics"].items() if isinstance(v, (int, float))}
    return state, metrics


def finish_fit(callbacks: Sequence[Any], out: Path, progress: Mapping[str, Any], *, manifest: Path | None,
               stopped_early: bool, start: float) -> FitResult:
    """The FitResult of a finished run (its counters, history, the checkpoint files it left, its
    export), after telling the callbacks (``on_fit_end``)."""
    best, last = out / ckpt.BEST_NAME, out / ckpt.LAST_NAME
    result = FitResult(out_dir=out, steps=progress["step"], epochs=progress["epoch"],
                       best_epoch=progress["best_epoch"], best_metrics=dict(progress["best_metrics"]),
                       history=list(progress["history"]), last_checkpoint=last if last.exists() else None,
                       best_checkpoint=best if best.exists() else None, manifest=manifest,
                       stopped_early=stopped_early, elapsed_s=time.monotonic() - start)
    emit(callbacks, "on_fit_end", result)
    return result
