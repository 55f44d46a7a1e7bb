"""fit_deepchm(config, callbacks, cancel): train a DeepCHM rotated chromosome detector.

engine.fit hands family "deepchm" configs here. The run reads ``config.settings``
(training/deepchm_settings.py) and the common fields name, device, seed, out_dir, max_minutes,
num_threads, resume and export. Adam with exponential step decay (the paper's schedule),
batches from a reproducible BatchStream (loaded by settings.num_workers processes), the
sampling draws of step n seeded by (seed, n), so a resumed run continues as an uninterrupted one.
Every epoch ends with validation on the held-out images: AP, precision, recall, F1 at the
F1-maximising score threshold, mFPs and mOD (karyostudio.metrics.detection) under "val.*";
the best epoch by val.ap is kept in best.pt and exported as float16 weights plus a manifest of
family "deepchm" in ``<out_dir>/export``. ``cancel`` is checked before every step: the run
saves last.pt and raises Cancelled. Running out of ``max_minutes`` validates the partial epoch,
exports and returns with ``stopped_early``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from karyostudio.core.progress import CancelToken, check
from karyostudio.geometry.rotated import rotated_iou_matrix
from karyostudio.metrics.detection import DetectionAccumulator
from karyostudio.models.registry import resolve_device
from karyostudio.models.rotated.deepchm import DeepCHM
from karyostudio.models.rotated.deepchm_weights import export_model
from karyostudio.training import checkpoint as ckpt
from karyostudio.training import run_support as runs
from karyostudio.training import settings_parsing as parsing
from karyostudio.training.classifier_train import TrainingError
from karyostudio.training.config import ConfigError, DataConfig, TrainConfig, config_to_dict
from karyostudio.training.deepchm_data import DeepCHMDataset
from karyostudio.training.deepchm_settings import DeepCHMSettings, parse_settings
from karyostudio.training.detection_data import BatchStream, batch_loader, build_sources
from karyostudio.training.results import FitResult, emit

SELECT_METRIC = "val.ap"
_STREAM_ID = 5


def fit_deepchm(config: TrainConfig, callbacks: Sequence[Any] = (), cancel: CancelToken | None = None) -> FitResult:
    settings = parse_settings(config.settings)
    with runs.torch_threads(config.num_threads):
        return _Run(config, settings, list(callbacks), cancel).fit()


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


class _Run:
    def __init__(self, config: TrainConfig, settings: DeepCHMSettings, callbacks: list[Any],
                 cancel: CancelToken | None):
        self.config, self.settings, self.callbacks, self.cancel = config, settings, callbacks, cancel
        self.out = Path(config.out_dir)
        self.config_dict = config_to_dict(config)
        self.device = torch.device(resolve_device(config.device))
        self.start = time.monotonic()
        self.deadline = runs.deadline_after(self.start, config.max_minutes)
        self.progress: dict[str, Any] = runs.fresh_progress(loss_sum=0.0, loss_count=0)
        self.stopped_early = False

    def _datasets(self) -> tuple[DeepCHMDataset, DeepCHMDataset]:
        s = self.settings
        data = DataConfig(root=s.data_root or self.config.data.root, mask_sources=parsing.with_corrections(list(s.sources), s.labelme_dirs))
        train, val = build_sources(dataclasses.replace(self.config, data=data), "masks")
        if len(train) == 0:
            raise ConfigError("no training images in settings.sources")
        return DeepCHMDataset(train, s.model, s.augment), DeepCHMDataset(val, s.model)

    def fit(self) -> FitResult:
        s, config = self.settings, self.config
        saved, self.progress, self.log = runs.open_run(self.out, config.resume, self.config_dict, fresh=self.progress)
        self.train_set, self.val_set = self._datasets()
        torch.manual_seed(config.seed)
        self.model = DeepCHM(s.model).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=s.lr)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt.write_config(self.out / ckpt.CONFIG_NAME, self.config_dict)
        per_epoch = s.steps_per_epoch or max(1, math.ceil(len(self.train_set) / s.batch_size))
        self.per_epoch, self.decay_steps = per_epoch, s.decay_steps or per_epoch
        emit(self.callbacks, "on_fit_start", {
            "family": "deepchm", "name": config.name, "total_steps": s.epochs * per_epoch,
            "start_step": self.progress["step"], "steps_per_epoch": per_epoch, "device": str(self.device),
            "train_images": len(self.train_set), "val_images": len(self.val_set)})
        stream = BatchStream(len(self.train_set), s.batch_size, seed=config.seed, stream_id=_STREAM_ID,
                             start=self.progress["step"])
        batches = batch_loader(self.train_set, stream, num_workers=s.num_workers,
                               pin_memory=self.device.type == "cuda")
        self.model.train()
        self.stopped_early = runs.train_epochs(
            self.progress, epochs=s.epochs, per_epoch=per_epoch, deadline=self.deadline, cancel=self.cancel,
            step=lambda: self._step(*next(batches)), end_epoch=self._end_epoch, save_last=self._save_last)
        return runs.finish_fit(self.callbacks, self.out, self.progress, manifest=self._export(),
                               stopped_early=self.stopped_early, start=self.start)

    def _step(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]) -> None:
        s, p = self.settings, self.progress
        lr = s.lr * s.lr_decay ** (p["step"] // self.decay_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images, targets = collate(list(zip(images, targets)))
        images = images.to(self.device, non_blocking=True)
        targets = [{k: v.to(self.device, non_blocking=True) for k, v in t.items()} for t in targets]
        generator = torch.Generator().manual_seed(runs.step_seed(self.config.seed, p["step"]))
        losses = self.model.losses(self.model(images), targets, generator)
        total = self.model.total_loss(losses)
        if not torch.isfinite(total):
            raise TrainingError(f"the loss became {float(total)} at step {p['step'] + 1}: training diverged; "
                                f"lower settings.lr")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if s.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.optimizer.step()
        values = {k: float(v.detach()) for k, v in losses.items()}
        values["loss"] = float(total.detach())
        p["step"] += 1
        p["step_in_epoch"] += 1
        p["loss_sum"] += values["loss"]
        p["loss_count"] += 1
        if runs.wants_step_log(p["step"], s.log_every):
            self.log.append({"type": "step", "step": p["step"], "epoch": p["epoch"], "lr": lr, **values})
        emit(self.callbacks, "on_step_end", p["step"], values)

    def _end_epoch(self, *, partial: bool) -> None:
        p, s = self.progress, self.settings
        metrics = predictions_metrics(self.model, self.val_set, self.device, s.val_score_floor, s.max_val_images,
                                      self.cancel) if len(self.val_set) else {}
        record = {"type": "epoch", "epoch": p["epoch"], "step": p["step"],
                  "train_loss": p["loss_sum"] / p["loss_count"] if p["loss_count"] else None,
                  "minutes": (time.monotonic() - self.start) / 60.0, "partial": partial,
                  **{f"val.{k}": v for k, v in metrics.items()}}
        self._consider_best(record)
        epoch = runs.close_epoch(p, self.log, record, partial=partial, fresh_losses={"loss_sum": 0.0, "loss_count": 0})
        self._save_last()
        emit(self.callbacks, "on_epoch_end", epoch, record)

    def _consider_best(self, record: dict[str, Any]) -> None:
        score = record.get(SELECT_METRIC)
        score = float(score) if isinstance(score, (int, float)) else None
        runs.keep_if_best(self.out, self.progress, record, score, model=self.model, config_dict=self.config_dict)

    def _save_last(self) -> None:
        runs.save_last(self.out, self.log, config_dict=self.config_dict, model=self.model,
                       optimizer=self.optimizer, progress=self.progress)

    def _export(self) -> Path | None:
        if not self.config.export:
            return None
        state, metrics = runs.export_inputs(self.out, self.model, self.progress)
        spec = self.settings.model
        flags = [n for n in ("pminf", "sgach", "hdlos", "dasmp") if getattr(spec, f"use_{n}")]
        sources = "; ".join(f"{x.kind} {x.path or f'x{x.count} at {x.size} px (seed {x.seed})'}"
                            for x in self.settings.sources)
        manifest = export_model(self.out / "export", self.config.name, state, spec,
                                description=f"DeepCHM {spec.backbone} rotated detector "
                                            f"({' + '.join(flags) if flags else 'baseline'})",
                                training_data=sources, metrics=metrics,
                                extra={"best_epoch": self.progress["best_epoch"], "steps": self.progress["step"]})
        return manifest.path
