"""CenterNetTask: training of the class-agnostic chromosome centre detector in the one training loop.

The one training loop (training/trainer.py) runs this task for family "centernet" configs; it
reads ``config.settings`` (training/centernet_settings.py). AdamW with a linear warm-up and a cosine decay over the planned
epochs (by step count, so a run resumed across sessions keeps its schedule); batches from a reproducible BatchStream, so a resumed run
continues as an uninterrupted one. Every epoch ends with validation on held-out images
(class-agnostic AP@50, precision / recall / F1 at the F1-best score, exact-count rate at the
spec's threshold) under "val.*"; the best epoch by val.ap50 is kept in best.pt and exported as
float16 weights plus a manifest of family "centernet" in ``<out_dir>/export``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torchvision.ops import box_iou

from karyostudio.core.progress import CancelToken, check
from karyostudio.metrics.detection import DetectionAccumulator
from karyostudio.models.centernet import targets as T
from karyostudio.models.centernet.decode import decode
from karyostudio.models.centernet.net import CenterNet
from karyostudio.models.centernet.spec import CenterNetSpec
from karyostudio.models.centernet.weights import CenterNetWeightsError, export_model, read_weights
from karyostudio.training.centernet_data import CenterNetDataset, collate, median_diagonal, rescale, sample_boxes
from karyostudio.training.centernet_settings import CenterNetSettings
from karyostudio.training.config import TrainConfig, model_file
from karyostudio.training.detection_data import BatchStream, batch_loader, build_sources
from karyostudio.training.errors import ConfigError, TrainingError
from karyostudio.training.family_settings import describe_sources, settings_for, with_settings_data
from karyostudio.training.run_state import RunState
from karyostudio.training.task import Plan, RunContext, Step, TrainingTask, best_weights, first_number

SELECT_METRIC = "val.ap50"
_STREAM_ID = 11


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


def start_weights(path: Path, spec: CenterNetSpec) -> dict[str, torch.Tensor]:
    """The state_dict of a detector weights file to start a run from; its spec must be ``spec``."""
    try:
        stored, state = read_weights(path)
    except CenterNetWeightsError as exc:
        raise ConfigError(f"settings.init_from: {exc}") from None
    if stored != spec:
        raise ConfigError(f"settings.init_from: {path} holds a detector of another spec than settings.model "
                          f"({stored} against {spec})")
    return state


def padded(image: np.ndarray, multiple: int = 32) -> np.ndarray:
    """The image padded (bottom/right, with its median grey) to multiples of ``multiple``."""
    height, width = image.shape
    out = np.full((-(-height // multiple) * multiple, -(-width // multiple) * multiple), int(np.median(image)),
                  np.uint8)
    out[:height, :width] = image
    return out


class CenterNetTask(TrainingTask):
    family = "centernet"

    def __init__(self, config: TrainConfig):
        self.config = config
        self.settings = settings_for(config)

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        s, config = self.settings, self.config
        self.run = run
        # Read before the datasets are built, so a wrong file is reported at once.
        start = (start_weights(model_file(s.init_from, "settings.init_from"), s.model)
                 if s.init_from is not None and saved is None else None)
        self.train_set, self.val_set = self._datasets()
        torch.manual_seed(config.seed)
        self.model = CenterNet(s.model).to(run.device)
        if start is not None:
            self.model.load_state_dict(start)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        per_epoch = s.steps_per_epoch or max(1, len(self.train_set) // s.batch_size)
        self.total_steps = s.epochs * per_epoch
        start = int(saved["progress"]["step"]) if saved is not None else 0
        stream = BatchStream(len(self.train_set), s.batch_size, seed=config.seed, stream_id=_STREAM_ID, start=start)
        self.batches = batch_loader(self.train_set, stream, num_workers=s.num_workers,
                                    pin_memory=run.device.type == "cuda")
        self.model.train()
        return Plan(s.epochs, per_epoch, {"steps_per_epoch": per_epoch, "train_images": len(self.train_set),
                                          "val_images": len(self.val_set)})

    def _datasets(self) -> tuple[CenterNetDataset, CenterNetDataset]:
        s = self.settings
        train, val = build_sources(with_settings_data(self.config, s), "masks")
        if len(train) == 0:
            raise ConfigError("no training images in settings.sources")
        return CenterNetDataset(train, s.model, s.crop, s.augment), CenterNetDataset(val, s.model, s.crop)

    def run_step(self, state: RunState) -> Step:
        s, device = self.settings, self.run.device
        images, targets = collate(list(zip(*next(self.batches))))
        lr = learning_rate(s, state.step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images = images.to(device, non_blocking=True)
        targets = {k: v.to(device, non_blocking=True) for k, v in targets.items()}
        parts = T.losses(self.model(images), targets, s.model)
        total = T.total_loss(parts)
        if not torch.isfinite(total):
            raise TrainingError(f"the loss became {float(total)} at step {state.step + 1}: training diverged; "
                                f"lower settings.lr")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if s.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.optimizer.step()
        values = {k: float(v.detach()) for k, v in parts.items()}
        values["loss"] = float(total.detach())
        return Step(values, lr)

    def evaluate(self, state: RunState) -> dict[str, Any]:
        if not len(self.val_set):
            return {}
        metrics = validation_metrics(self.model, self.val_set, self.run.device, self.settings.max_val_images,
                                     self.run.cancel)
        return {f"val.{k}": v for k, v in metrics.items()}

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        return first_number(record, (SELECT_METRIC,))

    def log_every(self) -> int:
        return self.settings.log_every

    def export(self, state: RunState) -> Path | None:
        weights, metrics = best_weights(self.run.out, self.model, state)
        sources = describe_sources(self.settings.sources)
        manifest = export_model(self.run.out / "export", self.config.name, weights, self.settings.model,
                                description="class-agnostic chromosome centre detector (CenterNet/TTFNet style)",
                                training_data=sources, metrics=metrics,
                                extra={"best_epoch": state.best_epoch, "steps": state.step})
        return manifest.path
