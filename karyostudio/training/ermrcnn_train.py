"""fit_ermrcnn(config, callbacks, cancel): training loop of Enhanced Rotated Mask R-CNN.

engine.fit hands configs of family "rotated-maskrcnn" here. Options come from
``config.settings`` (training/ermrcnn_settings.py) plus the common fields name, device, seed,
out_dir, resume, max_minutes, num_threads and export. SGD with momentum and a linear warm-up
(the paper: lr 0.005, momentum 0.9). Every epoch ends with validation: box and mask mAP@50
and AJI through karyostudio.metrics (the predictions go through the predictor's own
postprocess); the best epoch by mask mAP@50 (box mAP@50 when the validation data has no masks)
is kept in best.pt and exported at the end as float16 weights plus a manifest of family
"rotated-maskrcnn" in ``<out_dir>/export``. Training stops early when the epoch's mean mask loss
has not decreased for ``early_stop_patience`` epochs (paper, Sec. III).

``cancel`` is checked before every step: the run saves last.pt and raises Cancelled. Running
out of ``max_minutes`` validates the partial epoch, exports and returns (stopped_early=True).
Step n's random draws are seeded by (seed, n) and its batch comes from a BatchStream, so a
resumed run continues as the uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.progress import CancelToken, check
from karyostudio.metrics.evaluate import evaluate_annotations
from karyostudio.models.maskrcnn.validate import summarise
from karyostudio.models.registry import resolve_device
from karyostudio.models.rotated.ermrcnn import build_ermrcnn
from karyostudio.models.rotated.ermrcnn_predictor import detect, raw_to_instances
from karyostudio.models.rotated.ermrcnn_weights import export_model
from karyostudio.training import checkpoint as ckpt
from karyostudio.training import run_support as runs
from karyostudio.training.classifier_train import TrainingError
from karyostudio.training.config import ConfigError, DataConfig, TrainConfig, config_to_dict
from karyostudio.training.detection_data import BatchStream, batch_loader
from karyostudio.training.ermrcnn_settings import ERMRCNNSettings, all_sources, parse_settings
from karyostudio.training.results import FitResult, emit
from karyostudio.training.rotated_data import RotatedDetectionDataset, build_rotated_datasets, rotated_ground_truth

FAMILY = "rotated-maskrcnn"
SELECT_METRICS = ("val.mask_map50", "val.box_map50")


def fit_ermrcnn(config: TrainConfig, callbacks: Sequence[Any] = (), cancel: CancelToken | None = None) -> FitResult:
    """Train as ``config`` says (see the module docstring)."""
    settings = parse_settings(config.settings)
    with runs.torch_threads(config.num_threads):
        return _Run(config, settings, list(callbacks), cancel).fit()


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


class _Run:
    def __init__(self, config: TrainConfig, settings: ERMRCNNSettings, callbacks: list[Any],
                 cancel: CancelToken | None):
        self.config, self.settings, self.callbacks, self.cancel = config, settings, callbacks, cancel
        self.device = torch.device(resolve_device(config.device))
        self.out = Path(config.out_dir)
        self.config_dict = config_to_dict(config)
        self.start = time.monotonic()
        self.deadline = runs.deadline_after(self.start, config.max_minutes)
        self.progress: dict[str, Any] = runs.fresh_progress(loss_sums={}, loss_count=0, best_mask_loss=None,
                                                            epochs_without_gain=0)
        self.stopped_early = False

    def fit(self) -> FitResult:
        saved, self.progress, self.log = runs.open_run(self.out, self.config.resume, self.config_dict,
                                                       fresh=self.progress)
        s = self.settings
        data = DataConfig(root=s.data_root or self.config.data.root, mask_sources=all_sources(s),
                          augment=s.augment)
        self.train_set, self.val_set = build_rotated_datasets(dataclasses.replace(self.config, data=data),
                                                              s.model.input_size, roles=("masks",))
        if len(self.train_set) == 0:
            raise ConfigError("no training images")
        for dataset in (self.train_set, self.val_set):
            dataset.source = CachedSource(dataset.source, s.cache_images)
        torch.manual_seed(self.config.seed)
        self.model = build_ermrcnn(s.model)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
        self.model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        if saved is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt.write_config(self.out / ckpt.CONFIG_NAME, self.config_dict)
        per_epoch = s.steps_per_epoch or max(1, math.ceil(len(self.train_set) / s.batch_size))
        emit(self.callbacks, "on_fit_start", {
            "family": FAMILY, "name": self.config.name, "total_steps": s.epochs * per_epoch,
            "start_step": self.progress["step"], "device": str(self.device),
            "train_images": {"masks": len(self.train_set)}, "val_images": {"val": len(self.val_set)}})
        stream = BatchStream(len(self.train_set), s.batch_size, seed=self.config.seed, stream_id=0,
                             start=self.progress["step"])
        loader = batch_loader(self.train_set, stream, num_workers=0, pin_memory=False)
        self.stopped_early = runs.train_epochs(
            self.progress, epochs=s.epochs, per_epoch=per_epoch, deadline=self.deadline, cancel=self.cancel,
            step=lambda: self._step(*next(loader)), end_epoch=self._end_epoch, save_last=self._save_last,
            plateaued=self._plateaued)
        return runs.finish_fit(self.callbacks, self.out, self.progress, manifest=self._export(),
                               stopped_early=self.stopped_early, start=self.start)

    def _step(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]) -> None:
        p, s = self.progress, self.settings
        torch.manual_seed(runs.step_seed(self.config.seed, p["step"]))
        lr = s.lr * (min(1.0, 0.001 + 0.999 * p["step"] / s.warmup_steps) if s.warmup_steps else 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images = [i.to(self.device) for i in images]
        targets = [{k: v.to(self.device) for k, v in t.items()} for t in targets]
        self.model.train()
        loss_dict = self.model(images, targets)
        loss = sum(loss_dict.values())
        values = {k: float(v.detach()) for k, v in loss_dict.items()}
        values["loss"] = float(loss.detach())
        if not math.isfinite(values["loss"]):
            raise TrainingError(f"the loss became {values['loss']} at step {p['step'] + 1}: training diverged; "
                                f"lower settings.lr or lengthen settings.warmup_steps")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, s.grad_clip)
        self.optimizer.step()
        p["step"] += 1
        p["step_in_epoch"] += 1
        p["loss_count"] += 1
        for k, v in values.items():
            p["loss_sums"][k] = p["loss_sums"].get(k, 0.0) + v
        if runs.wants_step_log(p["step"], s.log_every):
            self.log.append({"type": "step", "step": p["step"], "epoch": p["epoch"], "lr": lr, **values})
        emit(self.callbacks, "on_step_end", p["step"], values)

    def _end_epoch(self, *, partial: bool) -> None:
        p = self.progress
        model = self.model
        metrics = validation_metrics(model, self.val_set, self.device, source=self.config.name,
                                     limit=self.settings.max_val_images,
                                     score_threshold=self.settings.val_score_threshold, cancel=self.cancel)
        means = {k: v / p["loss_count"] for k, v in p["loss_sums"].items()} if p["loss_count"] else {}
        record = {"type": "epoch", "epoch": p["epoch"], "step": p["step"], "train_loss": means.get("loss"),
                  "train_losses": means, "lr": self.optimizer.param_groups[0]["lr"],
                  "minutes": (time.monotonic() - self.start) / 60.0, "partial": partial,
                  **{f"val.{k}": v for k, v in metrics.items()}}
        self._consider_best(record)
        self._track_mask_loss(means.get("loss_mask"))
        epoch = runs.close_epoch(p, self.log, record, partial=partial, fresh_losses={"loss_sums": {}, "loss_count": 0})
        self._save_last()
        emit(self.callbacks, "on_epoch_end", epoch, record)

    def _track_mask_loss(self, mask_loss: float | None) -> None:
        p = self.progress
        if mask_loss is None:
            return
        if p["best_mask_loss"] is None or mask_loss < p["best_mask_loss"]:
            p["best_mask_loss"], p["epochs_without_gain"] = mask_loss, 0
        else:
            p["epochs_without_gain"] += 1

    def _plateaued(self) -> bool:
        patience = self.settings.early_stop_patience
        return patience is not None and self.progress["epochs_without_gain"] >= patience

    def _consider_best(self, record: dict[str, Any]) -> None:
        score = next((float(record[m]) for m in SELECT_METRICS if isinstance(record.get(m), (int, float))), None)
        runs.keep_if_best(self.out, self.progress, record, score, model=self.model, config_dict=self.config_dict)

    def _save_last(self) -> None:
        runs.save_last(self.out, self.log, config_dict=self.config_dict, model=self.model,
                       optimizer=self.optimizer, progress=self.progress)

    def _export(self) -> Path | None:
        if not self.config.export:
            return None
        state, metrics = runs.export_inputs(self.out, self.model, self.progress)
        spec = self.settings.model
        kinds = ", ".join(sorted({f"{src.kind}" for src in all_sources(self.settings)}))
        manifest = export_model(
            self.out / "export", self.config.name, state, spec,
            description=f"Enhanced Rotated Mask R-CNN {spec.backbone}"
                        f"{' + H&R' if spec.horizontal_branch else ''}{' + endpoints' if spec.endpoint_branch else ''}",
            training_data=f"{kinds}: {len(self.train_set)} training images", metrics=metrics,
            extra={"best_epoch": self.progress["best_epoch"], "steps": self.progress["step"]})
        return manifest.path
