"""DeepCHMTask: training of the DeepCHM rotated chromosome detector in the one training loop.

The Trainer (training/trainer.py) runs it for family "deepchm" configs; it reads
``config.settings`` (training/deepchm_settings.py). Adam with exponential step decay (the paper's schedule),
batches from a reproducible BatchStream (loaded by settings.num_workers processes), the
sampling draws of step n seeded by (seed, n), so a resumed run continues as an uninterrupted one.
Every epoch ends with validation on the held-out images: AP, precision, recall, F1 at the
F1-maximising score threshold, mFPs and mOD (karyostudio.metrics.detection) under "val.*";
the best epoch by val.ap is kept in best.pt and exported as float16 weights plus a manifest of
family "deepchm" in ``<out_dir>/export``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.nn import functional as F

from karyostudio.core.progress import CancelToken, check
from karyostudio.geometry.rotated import rotated_iou_matrix
from karyostudio.metrics.detection import DetectionAccumulator
from karyostudio.models.deepchm.model import DeepCHM
from karyostudio.models.deepchm.weights import export_model
from karyostudio.training.config import TrainConfig
from karyostudio.training.deepchm_data import DeepCHMDataset
from karyostudio.training.detection_data import BatchStream, batch_loader, build_sources
from karyostudio.training.errors import ConfigError, TrainingError
from karyostudio.training.family_settings import describe_sources, settings_for, with_settings_data
from karyostudio.training.run_state import RunState
from karyostudio.training.run_support import step_seed
from karyostudio.training.task import Plan, RunContext, Step, TrainingTask, best_weights, first_number

SELECT_METRIC = "val.ap"
_STREAM_ID = 5


def collate(items: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[torch.Tensor, list[dict]]:
    """Images padded (bottom/right) to the batch's largest and stacked; saliency maps padded alike."""
    height = max(i.shape[-2] for i, _ in items)
    width = max(i.shape[-1] for i, _ in items)
    images, targets = [], []
    for image, target in items:
        pad_h, pad_w = height - image.shape[-2], width - image.shape[-1]
        images.append(F.pad(image, (0, pad_w, 0, pad_h), value=float(image.median())))
        sal = target["saliency"]
        stride = image.shape[-1] // sal.shape[-1]
        targets.append({**target, "saliency": F.pad(sal, (0, pad_w // stride, 0, pad_h // stride))})
    return torch.stack(images), targets


def predictions_metrics(model: DeepCHM, dataset: DeepCHMDataset, device: torch.device, score_floor: float,
                        limit: int | None, cancel: CancelToken | None = None) -> dict[str, Any]:
    """DeepCHM detection metrics of the model on the dataset's un-augmented images."""
    acc = DetectionAccumulator()
    model.eval()
    count = len(dataset) if limit is None else min(limit, len(dataset))
    with torch.no_grad():
        for index in range(count):
            check(cancel)
            image, target = dataset[index]
            found = model.detect(model(image[None].to(device)), score_floor)[0]
            boxes, scores = found.boxes.cpu().double().numpy(), found.scores.cpu().double().numpy()
            gt = target["rboxes"].double().numpy()
            acc.add_image(rotated_iou_matrix(boxes, gt), scores, np.zeros(len(scores), dtype=int),
                          np.zeros(len(gt), dtype=int))
    model.train()
    result = acc.result()
    return {k: result[k] for k in ("ap", "precision", "recall", "f1", "mfps", "mod", "score_threshold")}


class DeepCHMTask(TrainingTask):
    family = "deepchm"

    def __init__(self, config: TrainConfig):
        self.config = config
        self.settings = settings_for(config)

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        s, config = self.settings, self.config
        self.run = run
        self.train_set, self.val_set = self._datasets()
        torch.manual_seed(config.seed)
        self.model = DeepCHM(s.model).to(run.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=s.lr)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        per_epoch = s.steps_per_epoch or max(1, math.ceil(len(self.train_set) / s.batch_size))
        self.decay_steps = s.decay_steps or per_epoch
        start = int(saved["progress"]["step"]) if saved is not None else 0
        stream = BatchStream(len(self.train_set), s.batch_size, seed=config.seed, stream_id=_STREAM_ID, start=start)
        self.batches = batch_loader(self.train_set, stream, num_workers=s.num_workers,
                                    pin_memory=run.device.type == "cuda")
        self.model.train()
        return Plan(s.epochs, per_epoch, {"steps_per_epoch": per_epoch, "train_images": len(self.train_set),
                                          "val_images": len(self.val_set)})

    def _datasets(self) -> tuple[DeepCHMDataset, DeepCHMDataset]:
        s = self.settings
        train, val = build_sources(with_settings_data(self.config, s), "masks")
        if len(train) == 0:
            raise ConfigError("no training images in settings.sources")
        return DeepCHMDataset(train, s.model, s.augment), DeepCHMDataset(val, s.model)

    def run_step(self, state: RunState) -> Step:
        s, device = self.settings, self.run.device
        lr = s.lr * s.lr_decay ** (state.step // self.decay_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images, targets = collate(list(zip(*next(self.batches))))
        images = images.to(device, non_blocking=True)
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        generator = torch.Generator().manual_seed(step_seed(self.config.seed, state.step))
        losses = self.model.losses(self.model(images), targets, generator)
        total = self.model.total_loss(losses)
        if not torch.isfinite(total):
            raise TrainingError(f"the loss became {float(total)} at step {state.step + 1}: training diverged; "
                                f"lower settings.lr")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if s.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.optimizer.step()
        values = {k: float(v.detach()) for k, v in losses.items()}
        values["loss"] = float(total.detach())
        return Step(values, lr)

    def evaluate(self, state: RunState) -> dict[str, Any]:
        if not len(self.val_set):
            return {}
        s = self.settings
        metrics = predictions_metrics(self.model, self.val_set, self.run.device, s.val_score_floor, s.max_val_images,
                                      self.run.cancel)
        return {f"val.{k}": v for k, v in metrics.items()}

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        return first_number(record, (SELECT_METRIC,))

    def log_every(self) -> int:
        return self.settings.log_every

    def export(self, state: RunState) -> Path | None:
        weights, metrics = best_weights(self.run.out, self.model, state)
        spec = self.settings.model
        flags = [n for n in ("pminf", "sgach", "hdlos", "dasmp") if getattr(spec, f"use_{n}")]
        sources = describe_sources(self.settings.sources)
        manifest = export_model(self.run.out / "export", self.config.name, weights, spec,
                                description=f"DeepCHM {spec.backbone} rotated detector "
                                            f"({' + '.join(flags) if flags else 'baseline'})",
                                training_data=sources, metrics=metrics,
                                extra={"best_epoch": state.best_epoch, "steps": state.step})
        return manifest.path
