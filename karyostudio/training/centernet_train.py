"""fit_centernet(config, callbacks, cancel): train the class-agnostic chromosome centre detector.

engine.fit hands family "centernet" configs here. The run reads ``config.settings``
(training/centernet_settings.py) and the common fields name, device, seed, out_dir, max_minutes,
num_threads, resume and export. AdamW with a linear warm-up and a cosine decay over the planned
epochs (by step count, so a run resumed across sessions keeps its schedule); batches from a reproducible BatchStream, so a resumed run
continues as an uninterrupted one. Every epoch ends with validation on held-out images
(class-agnostic AP@50, precision / recall / F1 at the F1-best score, exact-count rate at the
spec's threshold) under "val.*"; the best epoch by val.ap50 is kept in best.pt and exported as
float16 weights plus a manifest of family "centernet" in ``<out_dir>/export``. ``cancel`` is
checked before every step: the run saves last.pt and raises Cancelled.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

from karyostudio.core.progress import CancelToken, check
from karyostudio.metrics.detection import DetectionAccumulator
from karyostudio.models.centernet import targets as T
from karyostudio.models.centernet.decode import decode
from karyostudio.models.centernet.net import CenterNet
from karyostudio.models.centernet.weights import export_model
from karyostudio.models.registry import resolve_device
from karyostudio.training import checkpoint as ckpt
from karyostudio.training import run_support as runs
from karyostudio.training.centernet_data import CenterNetDataset, collate, median_diagonal, rescale, sample_boxes
from karyostudio.training.centernet_settings import CenterNetSettings, parse_settings
from karyostudio.training.classifier_train import TrainingError
from karyostudio.training import settings_parsing as parsing
from karyostudio.training.config import ConfigError, DataConfig, TrainConfig, config_to_dict
from karyostudio.training.detection_data import BatchStream, batch_loader, build_sources
from karyostudio.training.results import emit

SELECT_METRIC = "val.ap50"
_STREAM_ID = 11


def fit_centernet(config: TrainConfig, callbacks: Sequence[Any] = (), cancel: CancelToken | None = None):
    settings = parse_settings(config.settings)
    with runs.torch_threads(config.num_threads):
        return _Run(config, settings, list(callbacks), cancel).fit()


def learning_rate(settings: CenterNetSettings, step: int, total_steps: int) -> float:
    """Linear warm-up, then a cosine from lr down to lr * min_lr_ratio at ``total_steps``.

    A pure function of the step, so a run resumed in another session (with its own time budget)
    follows the same schedule as an uninterrupted one."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    done = min(max((step - settings.warmup_steps) / max(total_steps - settings.warmup_steps, 1), 0.0), 1.0)
    low = settings.lr * settings.min_lr_ratio
    return low + 0.5 * (settings.lr - low) * (1 + math.cos(math.pi * done))


def validation_metrics(model: CenterNet, dataset: CenterNetDataset, device: torch.device, limit: int | None,
                       cancel: CancelToken | None = None) -> dict[str, Any]:
    """Class-agnostic detection metrics on whole validation images at their annotated scale."""
    spec = model.spec
    acc = DetectionAccumulator()
    exact = counted = 0
    model.eval()
    count = len(dataset) if limit is None else min(limit, len(dataset))
    with torch.no_grad():
        for index in range(count):
            check(cancel)
            sample = dataset.source.load(index)
            diagonal = median_diagonal(sample_boxes(sample))
            sample = rescale(sample, spec.default_scale if diagonal is None else spec.chromosome_px / diagonal)
            gt = sample_boxes(sample)
            image = padded(sample.image)
            tensor = torch.from_numpy(image).float().div_(255.0)[None, None].to(device)
            found = decode(model(tensor), spec, score_floor=0.05)[0]
            iou = box_iou(torch.from_numpy(found.boxes), torch.from_numpy(gt)).numpy() if len(gt) else \
                np.zeros((len(found), 0))
            acc.add_image(iou, found.scores, np.zeros(len(found), int), np.zeros(len(gt), int))
            counted += 1
            exact += int(np.count_nonzero(found.scores >= spec.score_threshold) == len(gt))
    model.train()
    best = acc.result()
    fixed = acc.result(spec.score_threshold)
    return {"ap50": best["ap"], "precision": best["precision"], "recall": best["recall"], "f1": best["f1"],
            "score_threshold": best["score_threshold"], "f1_at_threshold": fixed["f1"],
            "exact_count": exact / counted if counted else None}


def padded(image: np.ndarray, multiple: int = 32) -> np.ndarray:
    """The image padded (bottom/right, with its median grey) to multiples of ``multiple``."""
    height, width = image.shape
    out = np.full((-(-height // multiple) * multiple, -(-width // multiple) * multiple), int(np.median(image)),
                  np.uint8)
    out[:height, :width] = image
    return out


class _Run:
    def __init__(self, config: TrainConfig, settings: CenterNetSettings, callbacks: list[Any],
                 cancel: CancelToken | None):
        self.config, self.settings, self.callbacks, self.cancel = config, settings, callbacks, cancel
        self.out = Path(config.out_dir)
        self.config_dict = config_to_dict(config)
        self.device = torch.device(resolve_device(config.device))
        self.start = time.monotonic()
        self.deadline = runs.deadline_after(self.start, config.max_minutes)
        self.progress: dict[str, Any] = runs.fresh_progress(loss_sum=0.0, loss_count=0)

    def _datasets(self) -> tuple[CenterNetDataset, CenterNetDataset]:
        s = self.settings
        data = DataConfig(root=s.data_root or self.config.data.root,
                          mask_sources=parsing.with_corrections(list(s.sources), s.labelme_dirs))
        train, val = build_sources(dataclasses.replace(self.config, data=data), "masks")
        if len(train) == 0:
            raise ConfigError("no training images in settings.sources")
        return CenterNetDataset(train, s.model, s.crop, s.augment), CenterNetDataset(val, s.model, s.crop)

    def fit(self):
        s, config = self.settings, self.config
        saved, self.progress, self.log = runs.open_run(self.out, config.resume, self.config_dict, fresh=self.progress)
        self.train_set, self.val_set = self._datasets()
        torch.manual_seed(config.seed)
        self.model = CenterNet(s.model).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt.write_config(self.out / ckpt.CONFIG_NAME, self.config_dict)
        self.per_epoch = s.steps_per_epoch or max(1, len(self.train_set) // s.batch_size)
        self.total_steps = s.epochs * self.per_epoch
        # Time already spent by earlier sessions of this run counts towards the schedule.
        self.minutes_before = float(self.progress.get("minutes", 0.0))
        emit(self.callbacks, "on_fit_start", {
            "family": "centernet", "name": config.name, "total_steps": self.total_steps,
            "start_step": self.progress["step"], "steps_per_epoch": self.per_epoch, "device": str(self.device),
            "train_images": len(self.train_set), "val_images": len(self.val_set)})
        stream = BatchStream(len(self.train_set), s.batch_size, seed=config.seed, stream_id=_STREAM_ID,
                             start=self.progress["step"])
        loader = batch_loader(self.train_set, stream, num_workers=s.num_workers,
                              pin_memory=self.device.type == "cuda")
        self.model.train()
        stopped_early = runs.train_epochs(
            self.progress, epochs=s.epochs, per_epoch=self.per_epoch, deadline=self.deadline, cancel=self.cancel,
            step=lambda: self._step(next(loader)), end_epoch=self._end_epoch, save_last=self._save_last)
        return runs.finish_fit(self.callbacks, self.out, self.progress, manifest=self._export(),
                               stopped_early=stopped_early, start=self.start)

    def _step(self, batch: tuple[list[torch.Tensor], list[dict]]) -> None:
        s, p = self.settings, self.progress
        images, targets = collate(list(zip(*batch)))
        lr = learning_rate(s, p["step"], self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images = images.to(self.device, non_blocking=True)
        targets = {k: v.to(self.device, non_blocking=True) for k, v in targets.items()}
        parts = T.losses(self.model(images), targets, s.model)
        total = T.total_loss(parts)
        if not torch.isfinite(total):
            raise TrainingError(f"the loss became {float(total)} at step {p['step'] + 1}: training diverged; "
                                f"lower settings.lr")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if s.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.optimizer.step()
        values = {k: float(v.detach()) for k, v in parts.items()}
        values["loss"] = float(total.detach())
        p["step"] += 1
        p["step_in_epoch"] += 1
        p["loss_sum"] += values["loss"]
        p["loss_count"] += 1
        p["minutes"] = self.minutes_before + (time.monotonic() - self.start) / 60.0
        if runs.wants_step_log(p["step"], s.log_every):
            self.log.append({"type": "step", "step": p["step"], "epoch": p["epoch"], "lr": lr, **values})
        emit(self.callbacks, "on_step_end", p["step"], values)

    def _end_epoch(self, *, partial: bool) -> None:
        p, s = self.progress, self.settings
        metrics = validation_metrics(self.model, self.val_set, self.device, s.max_val_images, self.cancel) \
            if len(self.val_set) else {}
        record = {"type": "epoch", "epoch": p["epoch"], "step": p["step"],
                  "train_loss": p["loss_sum"] / p["loss_count"] if p["loss_count"] else None,
                  "minutes": p.get("minutes", 0.0), "partial": partial,
                  **{f"val.{k}": v for k, v in metrics.items()}}
        score = record.get(SELECT_METRIC)
        runs.keep_if_best(self.out, p, record, float(score) if isinstance(score, (int, float)) else None,
                          model=self.model, config_dict=self.config_dict)
        epoch = runs.close_epoch(p, self.log, record, partial=partial, fresh_losses={"loss_sum": 0.0, "loss_count": 0})
        self._save_last()
        emit(self.callbacks, "on_epoch_end", epoch, record)

    def _save_last(self) -> None:
        runs.save_last(self.out, self.log, config_dict=self.config_dict, model=self.model,
                       optimizer=self.optimizer, progress=self.progress)

    def _export(self) -> Path | None:
        if not self.config.export:
            return None
        state, metrics = runs.export_inputs(self.out, self.model, self.progress)
        sources = "; ".join(f"{x.kind} {x.path or f'x{x.count} at {x.size} px (seed {x.seed})'}"
                            for x in self.settings.sources)
        manifest = export_model(self.out / "export", self.config.name, state, self.settings.model,
                                description="class-agnostic chromosome centre detector (CenterNet/TTFNet style)",
                                training_data=sources, metrics=metrics,
                                extra={"best_epoch": self.progress["best_epoch"], "steps": self.progress["step"]})
        return manifest.path
