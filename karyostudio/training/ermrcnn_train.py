"""ERMRCNNTask: training of Enhanced Rotated Mask R-CNN in the one training loop.

The Trainer (training/trainer.py) runs it for family "rotated-maskrcnn" configs; options come
from ``config.settings`` (training/ermrcnn_settings.py). SGD with momentum and a linear warm-up
(the paper: lr 0.005, momentum 0.9). Every epoch ends with validation: box and mask mAP@50
and AJI through karyostudio.metrics (the predictions go through the predictor's own
postprocess); the best epoch by mask mAP@50 (box mAP@50 when the validation data has no masks)
is kept in best.pt and exported at the end as float16 weights plus a manifest of family
"rotated-maskrcnn" in ``<out_dir>/export``. Training stops early when the epoch's mean mask loss
has not decreased for ``early_stop_patience`` epochs (paper, Sec. III). Step n's random draws are seeded by (seed, n) and its batch comes from a BatchStream, so a
resumed run continues as the uninterrupted one would.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.progress import CancelToken, check
from karyostudio.metrics.evaluate import evaluate_annotations
from karyostudio.models.maskrcnn.validate import summarise
from karyostudio.models.ermrcnn.model import build_ermrcnn
from karyostudio.models.ermrcnn.predictor import detect, raw_to_instances
from karyostudio.models.ermrcnn.weights import export_model
from karyostudio.training.config import TrainConfig
from karyostudio.training.detection_data import BatchStream, batch_loader
from karyostudio.training.ermrcnn_settings import all_sources
from karyostudio.training.family_settings import settings_for, with_settings_data
from karyostudio.training.errors import ConfigError, TrainingError
from karyostudio.training.run_state import RunState
from karyostudio.training.run_support import step_seed
from karyostudio.training.task import Plan, RunContext, Step, TrainingTask, best_weights, first_number
from karyostudio.training.rotated_data import RotatedDetectionDataset, build_rotated_datasets, rotated_ground_truth

FAMILY = "rotated-maskrcnn"
SELECT_METRICS = ("val.mask_map50", "val.box_map50")


def validation_metrics(model: torch.nn.Module, dataset: RotatedDetectionDataset, device: torch.device, *,
                       source: str, limit: int | None, score_threshold: float,
                       cancel: CancelToken | None = None) -> dict[str, float | None]:
    """box_map50, mask_map50, aji, aji_class_aware of the model on un-augmented validation images."""
    truth, predicted = {}, {}
    for index in range(len(dataset) if limit is None else min(limit, len(dataset))):
        check(cancel)
        sample = dataset.sample(index)
        key = sample.key if sample.key not in truth else f"{sample.key}#{index}"
        truth[key] = rotated_ground_truth(sample)
        image = torch.from_numpy(np.ascontiguousarray(sample.image)).to(device).float().div_(255.0)[None]
        raw = detect(model, [image])[0]
        height, width = sample.image.shape
        instances = raw_to_instances(raw, (height, width), source=source, score_threshold=0.0)
        predicted[key] = ImageAnnotations(key=key, instances=instances, image_size=(width, height))
    if not truth:
        return {}
    return summarise(evaluate_annotations(truth, predicted, score_threshold=score_threshold, images="gt"))


class CachedSource:
    """A sample source that keeps the first ``limit`` loaded samples (un-augmented, as loaded) in memory.

    Synthetic samples are generated on every load (about a second each at 1024 px); small sets
    are read again every epoch, so keeping them saves most of the data time. Augmentation is
    applied after loading, so cached samples are still augmented afresh each time.
    """

    def __init__(self, source: Any, limit: int):
        self.source, self.limit, self.cache = source, limit, {}

    def __len__(self) -> int:
        return len(self.source)

    def all_have_masks(self) -> bool:
        return self.source.all_have_masks()

    def load(self, index: int) -> Any:
        if index in self.cache:
            return self.cache[index]
        sample = self.source.load(index)
        if len(self.cache) < self.limit:
            self.cache[index] = sample
        return sample


class ERMRCNNTask(TrainingTask):
    family = FAMILY

    def __init__(self, config: TrainConfig):
        self.config = config
        self.settings = settings_for(config)

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        s, config = self.settings, self.config
        self.run = run
        self.train_set, self.val_set = build_rotated_datasets(with_settings_data(config, s, s.augment),
                                                              s.model.input_size, roles=("masks",))
        if len(self.train_set) == 0:
            raise ConfigError("no training images")
        for dataset in (self.train_set, self.val_set):
            dataset.source = CachedSource(dataset.source, s.cache_images)
        torch.manual_seed(config.seed)
        self.model = build_ermrcnn(s.model)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
        self.model.to(run.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        if saved is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
        per_epoch = s.steps_per_epoch or max(1, math.ceil(len(self.train_set) / s.batch_size))
        start = int(saved["progress"]["step"]) if saved is not None else 0
        stream = BatchStream(len(self.train_set), s.batch_size, seed=config.seed, stream_id=0, start=start)
        self.batches = batch_loader(self.train_set, stream, num_workers=0, pin_memory=False)
        return Plan(s.epochs, per_epoch, {"train_images": {"masks": len(self.train_set)},
                                          "val_images": {"val": len(self.val_set)}})

    def run_step(self, state: RunState) -> Step:
        s, device = self.settings, self.run.device
        images, targets = next(self.batches)
        torch.manual_seed(step_seed(self.config.seed, state.step))
        lr = s.lr * (min(1.0, 0.001 + 0.999 * state.step / s.warmup_steps) if s.warmup_steps else 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images = [i.to(device) for i in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        self.model.train()
        loss_dict = self.model(images, targets)
        loss = sum(loss_dict.values())
        values = {k: float(v.detach()) for k, v in loss_dict.items()}
        values["loss"] = float(loss.detach())
        if not math.isfinite(values["loss"]):
            raise TrainingError(f"the loss became {values['loss']} at step {state.step + 1}: training diverged; "
                                f"lower settings.lr or lengthen settings.warmup_steps")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, s.grad_clip)
        self.optimizer.step()
        return Step(values, lr)

    def evaluate(self, state: RunState) -> dict[str, Any]:
        metrics = validation_metrics(self.model, self.val_set, self.run.device, source=self.config.name,
                                     limit=self.settings.max_val_images,
                                     score_threshold=self.settings.val_score_threshold, cancel=self.run.cancel)
        return {f"val.{k}": v for k, v in metrics.items()}

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        return first_number(record, SELECT_METRICS)

    def end_epoch(self, state: RunState) -> dict[str, Any]:
        """Counts the epochs since the mean mask loss last fell (for should_stop)."""
        counters = state.family
        mask_loss = state.mean_losses().get("loss_mask")
        if mask_loss is not None:
            if counters.get("best_mask_loss") is None or mask_loss < counters["best_mask_loss"]:
                counters["best_mask_loss"], counters["epochs_without_gain"] = mask_loss, 0
            else:
                counters["epochs_without_gain"] = counters.get("epochs_without_gain", 0) + 1
        return {}

    def should_stop(self, state: RunState, record: Mapping[str, Any]) -> bool:
        """Early stop (the paper, Sec. III): the epoch's mean mask loss has not fallen for
        ``early_stop_patience`` epochs."""
        patience = self.settings.early_stop_patience
        return patience is not None and state.family.get("epochs_without_gain", 0) >= patience

    def log_every(self) -> int:
        return self.settings.log_every

    def export(self, state: RunState) -> Path | None:
        weights, metrics = best_weights(self.run.out, self.model, state)
        spec = self.settings.model
        kinds = ", ".join(sorted({f"{src.kind}" for src in all_sources(self.settings)}))
        manifest = export_model(
            self.run.out / "export", self.config.name, weights, spec,
            description=f"Enhanced Rotated Mask R-CNN {spec.backbone}"
                        f"{' + H&R' if spec.horizontal_branch else ''}{' + endpoints' if spec.endpoint_branch else ''}",
            training_data=f"{kinds}: {len(self.train_set)} training images", metrics=metrics,
            extra={"best_epoch": state.best_epoch, "steps": state.step})
        return manifest.path
