"""The one training loop with a minimal task: step and epoch bookkeeping, hooks, best model, time
budget, cancel and resume, whatever the family."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import pytest
import torch

from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.training import checkpoint as ckpt
from karyostudio.training.config import TrainConfig
from karyostudio.training.errors import ConfigError
from karyostudio.training.run_state import RunState
from karyostudio.training.task import Plan, RunContext, Step, TrainingTask, best_weights
from karyostudio.training.trainer import Trainer


class LineTask(TrainingTask):
    """Fits y = 3x with one weight; "validation" scores an epoch by a scripted list."""

    family = "line"

    def __init__(self, scores=(0.1, 0.5, 0.3), steps=4):
        self.scores, self.steps, self.exported = list(scores), steps, None

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        self.run = run
        torch.manual_seed(0)
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        return Plan(len(self.scores), self.steps, {"what": "a line"})

    def run_step(self, state: RunState) -> Step:
        x = torch.full((8, 1), float(state.step % 3 + 1))
        loss = torch.nn.functional.mse_loss(self.model(x), 3 * x)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return Step({"loss": float(loss.detach())}, 0.1, {"x": state.step % 3 + 1})

    def evaluate(self, state: RunState) -> dict[str, Any]:
        return {"val.score": self.scores[state.epoch]}

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        return record["val.score"]

    def log_every(self) -> int:
        return 2

    def export(self, state: RunState) -> Path:
        weights, metrics = best_weights(self.run.out, self.model, state)
        self.exported = (float(weights["weight"]), metrics)
        return self.run.out / "exported"


class Calls:
    def __init__(self, cancel_at: int | None = None, token: CancelToken | None = None):
        self.steps, self.epochs, self.info, self.result = [], [], None, None
        self.cancel_at, self.token = cancel_at, token

    def on_fit_start(self, info):
        self.info = info

    def on_step_end(self, step, losses):
        self.steps.append(step)
        if step == self.cancel_at:
            self.token.cancel()

    def on_epoch_end(self, epoch, record):
        self.epochs.append((epoch, record))

    def on_fit_end(self, result):
        self.result = result


def config(tmp_path, **changes) -> TrainConfig:
    return TrainConfig(name="line", family="maskrcnn", out_dir=str(tmp_path / "run"), **changes)


def test_a_run_counts_steps_keeps_the_best_epoch_and_tells_callbacks(tmp_path):
    task, calls = LineTask(), Calls()
    result = Trainer(config(tmp_path), task, [calls]).fit()
    assert calls.info["family"] == "line" and calls.info["total_steps"] == 12 and calls.info["what"] == "a line"
    assert calls.steps == list(range(1, 13)) and [e for e, _ in calls.epochs] == [0, 1, 2]
    assert result.steps == 12 and result.epochs == 3 and calls.result is result
    assert result.best_epoch == 1 and result.best_metrics == {"val.score": 0.5}
    assert ckpt.load_best(result.best_checkpoint)["epoch"] == 1
    assert task.exported[1] == {"val.score": 0.5} and result.manifest == tmp_path / "run" / "exported"
    record = result.history[0]
    assert record["partial"] is False and record["train_loss"] == pytest.approx(record["train_losses"]["loss"])
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if r["type"] == "step"]
    assert steps == [1, 2, 4, 6, 8, 10, 12] and all("x" in r for r in log if r["type"] == "step")
    assert [r["epoch"] for r in log if r["type"] == "epoch"] == [0, 1, 2]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["name"] == "line"


def test_cancel_saves_a_checkpoint_and_resume_ends_as_an_uninterrupted_run(tmp_path):
    whole_task = LineTask()
    whole = Trainer(config(tmp_path / "whole"), whole_task).fit()
    token = CancelToken()
    with pytest.raises(Cancelled):
        Trainer(config(tmp_path), LineTask(), [Calls(cancel_at=6, token=token)], token).fit()
    saved = RunState.from_dict(ckpt.load_train_state(tmp_path / "run" / "last.pt")["progress"])
    assert saved.step == 6 and saved.epoch == 1 and saved.step_in_epoch == 2
    with pytest.raises(ConfigError, match="already holds a training run"):
        Trainer(config(tmp_path), LineTask()).fit()
    task, calls = LineTask(), Calls()
    resumed = Trainer(config(tmp_path, resume=True), task, [calls]).fit()
    assert calls.steps == list(range(7, 13)) and resumed.steps == 12
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2]
    assert task.exported[0] == pytest.approx(whole_task.exported[0], abs=1e-7)  # the same best weights
    assert resumed.best_epoch == whole.best_epoch == 1


def test_resume_refuses_a_run_that_learns_something_else(tmp_path):
    Trainer(config(tmp_path), LineTask()).fit()
    with pytest.raises(ConfigError, match="settings differ.*epochs"):
        Trainer(config(tmp_path, resume=True, epochs=3), LineTask()).fit()
    with pytest.raises(ConfigError, match="nothing to resume"):
        Trainer(config(tmp_path / "none", resume=True), LineTask()).fit()


def test_the_time_budget_closes_a_partial_epoch_and_still_exports(tmp_path):
    result = Trainer(config(tmp_path, max_minutes=0.0), LineTask()).fit()
    assert result.stopped_early and result.steps == 0 and result.history[-1]["partial"] is True
    assert result.last_checkpoint.is_file() and result.manifest is not None


def test_a_task_may_end_the_run_early_and_keep_time_back(tmp_path):
    class Plateau(LineTask):
        def should_stop(self, state, record):
            return state.epoch == 2

        def reserve_seconds(self):
            return 3600.0  # more than the whole budget: no step fits

    result = Trainer(config(tmp_path, max_minutes=1.0), Plateau()).fit()
    assert result.stopped_early and result.steps == 0
    result = Trainer(config(tmp_path / "b"), Plateau()).fit()
    assert result.epochs == 2 and not result.stopped_early


def test_checkpoint_every_saves_between_epochs(tmp_path):
    class Stop(LineTask):
        def run_step(self, state):
            if state.step == 5:
                raise RuntimeError("power cut")
            return super().run_step(state)

    with pytest.raises(RuntimeError):
        Trainer(config(tmp_path, checkpoint_every=3), Stop(steps=8)).fit()
    assert RunState.from_dict(ckpt.load_train_state(tmp_path / "run" / "last.pt")["progress"]).step == 3


def test_a_progress_record_from_elsewhere_is_a_checkpoint_error():
    with pytest.raises(ckpt.CheckpointError, match="progress record"):
        RunState.from_dict({"step": 3, "loss_sum": 1.0})
    assert RunState.from_dict(dataclasses.asdict(RunState(step=3))).step == 3
