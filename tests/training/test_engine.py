"""The training engine on tiny CPU runs: each regime learns, box batches spare the mask head, cancel leaves a
checkpoint that resumes bit for bit, time budgets, exports, two-process DDP and the crop classifier's run."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.models.maskrcnn import build_maskrcnn, from_manifest, mask_head_parameters
from karyostudio.models.manifest import read_manifest
from karyostudio.models.registry import load_predictor
from karyostudio.training.checkpoint import load_train_state
from karyostudio.models.classic.classifier import ChromosomeClassifier
from karyostudio.models.classic.crops import NUM_FEATURES
from karyostudio.training.classifier_data import CropDataset
from karyostudio.training.classifier_train import ClassifierTask
from karyostudio.training.config import ConfigError, config_from_dict, load_preset, plan_stages
from karyostudio.training.detection_data import stream_for_step
from karyostudio.training.engine import FitResult, fit
from tests.models.test_maskrcnn_build import TINY

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
NO_AUGMENT = {"flip": False, "rot90": False, "max_rotation_deg": 0.0, "brightness": 0.0, "contrast": 0.0}


def tiny_settings(out_dir, regime="baseline", steps=4, **changes) -> dict:
    data = {"mask_sources": [{"kind": "synth", "count": 3, "val_count": 1, "size": 128}],
            "augment": NO_AUGMENT, "max_val_images": 1}
    if regime != "baseline":
        data["box_sources"] = [{"kind": "synth", "count": 3, "val_count": 1, "size": 128, "seed": 5}]
    settings = {"name": "tiny", "regime": regime, "model": {"backbone": "resnet18", **TINY, "input_size": 128},
                "data": data, "optim": {"lr": 0.02, "warmup_steps": 0, "schedule": "constant"},
                "epochs": 1, "stage1_epochs": 1, "stage1_lr": 0.02, "steps_per_epoch": steps, "batch_size": 2,
                "num_threads": 1, "deterministic": True, "out_dir": str(out_dir)}
    settings.update(changes)
    return settings


def tiny_config(out_dir, regime="baseline", steps=4, **changes):
    return config_from_dict(tiny_settings(out_dir, regime, steps, **changes))


class Recorder:
    def __init__(self, cancel_at: int | None = None, token: CancelToken | None = None):
        self.losses: dict[int, dict[str, float]] = {}
        self.epochs: list[tuple[int, dict]] = []
        self.info, self.result = None, None
        self.cancel_at, self.token = cancel_at, token

    def on_fit_start(self, info):
        self.info = info

    def on_step_end(self, step, losses):
        self.losses[step] = losses
        if step == self.cancel_at:
            self.token.cancel()

    def on_epoch_end(self, epoch, metrics):
        self.epochs.append((epoch, metrics))

    def on_fit_end(self, result):
        self.result = result


def detection_loss(losses: dict[str, float]) -> float:
    """Total loss without the mask term, comparable between box and mask batches."""
    return losses["loss"] - losses.get("loss_mask", 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("regime", ["baseline", "two-stage", "alternating"])
def test_each_regime_learns_on_a_tiny_fixed_set(tmp_path, regime):
    steps = 5 if regime == "two-stage" else 10  # two stages of 5
    recorder = Recorder()
    result = fit(tiny_config(tmp_path, regime, steps), [recorder])
    losses = [detection_loss(recorder.losses[s]) for s in sorted(recorder.losses)]
    assert len(losses) == 10 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:3])
    assert isinstance(result, FitResult) and result is recorder.result
    assert result.steps == 10 and result.epochs == len(plan_stages(tiny_config(tmp_path, regime)))
    last_epoch = result.history[-1]
    assert {"mask_data.box_map50", "mask_data.mask_map50", "mask_data.aji"} <= set(last_epoch)
    if regime != "baseline":
        assert "box_data.box_map50" in last_epoch and last_epoch["box_data.mask_map50"] is None
    manifest = read_manifest(result.manifest)
    assert manifest.extra["regime"] == regime and manifest.family == "maskrcnn"
    predictor = from_manifest(manifest)
    assert isinstance(predictor.predict(np.full((64, 64), 200, np.uint8)), list)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["type"] == "epoch"] == list(range(result.epochs))


def test_box_batches_leave_the_mask_head_untouched(tmp_path):
    config = tiny_config(tmp_path, "alternating", steps=2, box_ratio=0.999)
    stage = plan_stages(config)[0]
    assert [stream_for_step(stage.streams, s, seed=config.seed, box_ratio=config.box_ratio)
            for s in range(2)] == ["boxes", "boxes"]
    recorder = Recorder()
    fit(config, [recorder])
    assert all("loss_mask" not in losses for losses in recorder.losses.values())
    torch.manual_seed(config.seed)
    initial = build_maskrcnn(config.model)
    trained = build_maskrcnn(config.model)
    trained.load_state_dict(load_train_state(tmp_path / "last.pt")["model"])
    for before, after in zip(mask_head_parameters(initial), mask_head_parameters(trained)):
        assert torch.equal(before, after)  # no gradient, so no momentum or weight decay either
    assert not torch.equal(initial.roi_heads.box_predictor.cls_score.weight,
                           trained.roi_heads.box_predictor.cls_score.weight)


@pytest.mark.slow
def test_cancel_leaves_a_checkpoint_and_resume_continues_the_same_run(tmp_path):
    whole = Recorder()
    fit(tiny_config(tmp_path / "whole", steps=3, epochs=2), [whole])

    token = CancelToken()
    first = Recorder(cancel_at=4, token=token)
    with pytest.raises(Cancelled):
        fit(tiny_config(tmp_path / "cut", steps=3, epochs=2), [first], cancel=token)
    assert max(first.losses) == 4  # stopped before a fifth step began
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert state["progress"]["step"] == 4 and state["progress"]["epoch"] == 1
    assert state["optimizer"]["state"]  # momentum buffers saved

    second = Recorder()
    result = fit(tiny_config(tmp_path / "cut", steps=3, epochs=2, resume=True), [second])
    assert second.info["start_step"] == 4 and sorted(second.losses) == [5, 6]
    for step in (5, 6):
        for key, value in whole.losses[step].items():
            assert second.losses[step][key] == pytest.approx(value, rel=1e-5, abs=1e-6)
    assert result.steps == 6 and result.epochs == 2 and len(result.history) == 2
    steps_logged = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
                    if json.loads(line)["type"] == "step"]
    assert steps_logged == sorted(set(steps_logged))  # nothing logged twice across the interruption


def test_runs_are_not_overwritten_and_resume_needs_a_matching_run(tmp_path):
    fit(tiny_config(tmp_path, steps=1))
    with pytest.raises(ConfigError, match="already holds a training run"):
        fit(tiny_config(tmp_path, steps=1))
    with pytest.raises(ConfigError, match="settings differ.*optim.lr"):
        fit(tiny_config(tmp_path, steps=1, resume=True, optim={"lr": 0.5, "warmup_steps": 0}))
    with pytest.raises(ConfigError, match="nothing to resume"):
        fit(tiny_config(tmp_path / "empty", steps=1, resume=True))


def test_time_budget_stops_with_a_checkpoint_and_an_export(tmp_path):
    result = fit(tiny_config(tmp_path, steps=50, max_minutes=1e-9))
    assert result.stopped_early and result.steps == 0
    assert result.history[-1]["partial"] is True
    assert result.last_checkpoint.is_file() and result.manifest.is_file()


def test_learning_rate_warms_up_then_steps_down():
    config = config_from_dict(tiny_settings("x", optim={"lr": 0.01, "warmup_steps": 10, "schedule": "step",
                                                        "milestones": [0.5], "gamma": 0.1}))
    rates = [0.01 * config.optim.lr_factor(s, 100) for s in (0, 5, 10, 49, 50, 99)]
    assert rates[0] == pytest.approx(1e-5) and rates[1] < rates[2] == pytest.approx(0.01)
    assert rates[3] == pytest.approx(0.01) and rates[4] == rates[5] == pytest.approx(0.001)
    cosine = config_from_dict(tiny_settings("x", optim={"warmup_steps": 0, "schedule": "cosine"})).optim
    assert cosine.lr_factor(0, 100) == 1.0 and cosine.lr_factor(50, 100) == pytest.approx(0.5)


def test_alternating_steps_mix_box_and_mask_batches_by_the_ratio():
    picks = [stream_for_step(("boxes", "masks"), s, seed=0, box_ratio=0.3) for s in range(2000)]
    assert picks.count("boxes") / len(picks) == pytest.approx(0.3, abs=0.04)
    assert picks == [stream_for_step(("boxes", "masks"), s, seed=0, box_ratio=0.3) for s in range(2000)]
    assert {stream_for_step(("masks",), s, seed=0, box_ratio=0.3) for s in range(50)} == {"masks"}


def random_crops(n: int, out_size: tuple[int, int], seed: int) -> CropDataset:
    """Crops of the given size with random pixels and labels (enough for steps to run)."""
    rng = np.random.default_rng(seed)
    return CropDataset(rng.integers(0, 255, (n, *out_size), dtype=np.uint8),
                       rng.normal(size=(n, NUM_FEATURES)).astype(np.float32), rng.integers(0, 24, n).astype(np.int64),
                       (np.arange(n) // 8).astype(np.int32), [str(c) for c in range(-(-n // 8))])


def given_crops(monkeypatch):
    """ClassifierTask reads these crops instead of building them from a Taichung tree."""
    monkeypatch.setattr(ClassifierTask, "_crops",
                        lambda task: (random_crops(64, task.s.out_size, 0), random_crops(16, task.s.out_size, 1)))


def test_default_cpu_preset_trains_the_classifier_in_the_one_loop(tmp_path, monkeypatch):
    given_crops(monkeypatch)
    preset = load_preset("default-cpu")
    config = dataclasses.replace(preset, out_dir=str(tmp_path), max_minutes=3.0,
                                 settings={**preset.settings, "epochs": 2, "batch_size": 16})
    recorder = Recorder()
    result = fit(config, [recorder])
    assert recorder.info["family"] == "classic" and recorder.info["total_steps"] == 2 * 4
    assert sorted(recorder.losses) == list(range(1, 9)) and len(recorder.epochs) == 2
    assert set(result.best_metrics) == {"val.accuracy", "val.loss"} and recorder.result is result
    assert result.manifest == tmp_path / "export" / "default-cpu.manifest.json" and result.last_checkpoint.is_file()
    # The shipped detector's and classifier's weights are found in the model folders.
    manifest = read_manifest(result.manifest)
    train_config = ChromosomeClassifier.load(manifest.weights_path).metrics["train_config"]
    assert train_config["detector"].endswith("models/default-cpu-detector.pt")
    assert train_config["init_from"].endswith("models/default-cpu-classifier.pt")
    assert train_config["max_minutes"] == 3.0
    # The export is the default model with the new classifier: the shipped detector and calibration.
    shipped = read_manifest(REPO / "models" / "default-cpu.manifest.json")
    assert manifest.extra["detector"]["sha256"] == shipped.extra["detector"]["sha256"]
    assert manifest.extra["assign"] == shipped.extra["assign"]
    assert load_predictor(result.manifest).detector is not None
    with pytest.raises(ConfigError, match="CPU only"):
        fit(dataclasses.replace(config, device="cuda"))


@pytest.mark.slow
def test_two_processes_train_with_ddp_on_the_cpu(tmp_path):
    config_file = tmp_path / "ddp.json"
    config_file.write_text(json.dumps(tiny_settings(tmp_path / "run", steps=2, deterministic=False)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "karyostudio", "train", str(config_file)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["progress"]["step"] == 2
    assert (tmp_path / "run" / "export" / "tiny.manifest.json").is_file()
    assert done.stdout.count("trained 2 steps") == 1  # only the first process reports
