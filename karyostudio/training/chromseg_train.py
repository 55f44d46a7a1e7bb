"""ChromSegTask: training of ChromSeg's region-guided UNet++ on crossing-cluster crops (family "chromseg").

Settings (TrainConfig.settings) are training/chromseg_settings.py's ChromSegSettings. Data: ``train_count`` synthetic crops (seed ``synth_seed``) plus the crops of
every folder in ``labelme_dirs`` (their images split by key: ``labelme_val_fraction`` of them
validate); validation: ``val_count`` synthetic crops from a separate index range. Crops are
cached under ``cache_dir`` (default ``<out_dir>/cache``).

Training: Adam (``lr``, ``weight_decay`` as the loss's regularisation term) on the Mixed-Weight
Focal loss (``loss_lambda``, ``loss_alpha``, ``loss_gamma``) applied to every deep-supervision
head, cosine decay over the planned steps (or over what is left of ``max_minutes`` once the data
are ready, when that runs out first), ``epochs`` passes over the crops in an order shuffled per
(seed, epoch), augmented per (seed, epoch, crop). Every epoch ends with
validation: foreground IoU and crossing IoU (karyostudio.metrics.overlap.map_iou, averaged per
crop as the paper does) and OverlapAcc (crossing regions in one-to-one correspondence); the
epoch with the best ``select_metric`` is kept in best.pt and exported as float16 weights plus a
manifest into ``<out_dir>/export``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from karyostudio.core.progress import check
from karyostudio.metrics.overlap import map_iou, regions_correspond
from karyostudio.models.overlap.loss import MixedWeightFocalLoss
from karyostudio.models.overlap.segmenter import IMAGE_MEAN, IMAGE_STD, export_chromseg
from karyostudio.models.overlap.unetpp import UNetPPSpec, build_unetpp, parameter_count
from karyostudio.synth import SynthConfig
from karyostudio.training.chromseg_data import (
    VAL_OFFSET,
    ChromSegDataError,
    Crop,
    augment,
    augment_rng,
    labelme_crops_by_image,
    split_keys,
    synth_crops,
)
from karyostudio.training.chromseg_settings import ChromSegSettings
from karyostudio.training.config import TrainConfig
from karyostudio.training.errors import ConfigError, TrainingError
from karyostudio.training.family_settings import settings_for
from karyostudio.training.run_state import RunState
from karyostudio.training.task import Plan, RunContext, Step, TrainingTask, best_weights, first_number

def _to_tensors(crops: list[Crop], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = np.stack([c.image for c in crops]).astype(np.float32)
    labels = np.stack([c.labels for c in crops])
    x = torch.from_numpy((images / 255.0 - IMAGE_MEAN) / IMAGE_STD)[:, None].to(device)
    fg = torch.from_numpy((labels >= 1).astype(np.float32))[:, None].to(device)
    cross = torch.from_numpy((labels >= 2).astype(np.float32))[:, None].to(device)
    return x, fg, cross


class ChromSegTask(TrainingTask):
    family = "chromseg"

    def __init__(self, config: TrainConfig):
        self.config = config
        self.s: ChromSegSettings = settings_for(config)
        self.spec = UNetPPSpec(in_channels=1, base_channels=self.s.base_channels, depth=self.s.depth)
        self.loss = MixedWeightFocalLoss(self.s.loss_lambda, self.s.loss_alpha, self.s.loss_gamma)

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        self.run = run
        self.train, self.val = self._data()
        torch.manual_seed(self.config.seed)
        self.model = build_unetpp(self.spec).to(run.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.s.lr, weight_decay=self.s.weight_decay)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        self.per_epoch = self.s.steps_per_epoch or max(1, math.ceil(len(self.train) / self.s.batch_size))
        self.train_start = time.monotonic()  # the schedule anneals over what the data left of the budget
        return Plan(self.s.epochs, self.per_epoch, {"steps_per_epoch": self.per_epoch, "train_crops": len(self.train),
                                                    "val_crops": len(self.val),
                                                    "parameters": parameter_count(self.model)})

    def _data(self) -> tuple[list[Crop], list[Crop]]:
        s, run = self.s, self.run
        cache = Path(s.cache_dir).expanduser() if s.cache_dir else run.out / "cache"
        synth = SynthConfig(size=s.synth_size)

        def progress(what: str):
            return lambda done, total: run.data_progress(done, total, what)

        try:
            train = synth_crops(s.synth_seed, s.train_count, size=s.size, synth=synth, max_per_image=s.max_per_image,
                                cache_dir=cache, progress=progress("synthetic training crops"), cancel=run.cancel)
            val = synth_crops(s.synth_seed, s.val_count, first_index=VAL_OFFSET, size=s.size, synth=synth,
                              max_per_image=s.max_per_image, cache_dir=cache,
                              progress=progress("synthetic validation crops"), cancel=run.cancel) \
                if s.val_count else []
            for folder in s.labelme_dirs:
                by_image = labelme_crops_by_image(folder, s.size, cancel=run.cancel)
                train_keys, val_keys = split_keys(sorted(by_image), s.labelme_val_fraction)
                train += [c for k in train_keys for c in by_image[k]]
                val += [c for k in val_keys for c in by_image[k]]
        except ChromSegDataError as exc:
            raise ConfigError(str(exc)) from None
        if not train:
            raise ConfigError("no training crops")
        return train, val

    # training

    def _batch_indices(self, epoch: int, step_in_epoch: int) -> list[int]:
        """The crops of a step: a (seed, epoch)-shuffled order, cycled as often as the epoch needs."""
        n, size = len(self.train), self.s.batch_size
        order = np.random.default_rng(np.random.SeedSequence([self.config.seed, 11, epoch])).permutation(n)
        return [int(order[(step_in_epoch * size + k) % n]) for k in range(size)]

    def begin_epoch(self, state: RunState) -> None:
        self.model.train()

    def run_step(self, state: RunState) -> Step:
        # How far along the run is: by steps, or by the time budget when that is further (a run cut
        # short by max_minutes still ends its learning-rate decay).
        done = max(state.step / max(self.per_epoch * self.s.epochs, 1), self.run.budget_used(self.train_start))
        lr = self.s.lr * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        indices = self._batch_indices(state.epoch, state.step_in_epoch)
        crops = [augment(self.train[i], augment_rng(self.config.seed, state.epoch, i), self.s.tight_probability)
                 for i in indices]
        x, fg, cross = _to_tensors(crops, self.run.device)
        foreground, crossing = self.model(x)
        loss = self.loss.deep_supervised(foreground, crossing, fg, cross)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingError(f"the loss became {value} at step {state.step + 1}: training diverged; "
                                f"lower settings.lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return Step({"loss": value}, lr)

    def evaluate(self, state: RunState) -> dict[str, Any]:
        if not self.val:
            return {}
        self.model.eval()
        fg_ious, cross_ious, detected, with_crossings = [], [], 0, 0
        threshold, size = self.s.threshold, self.s.val_batch_size
        for start in range(0, len(self.val), size):
            check(self.run.cancel)
            batch = self.val[start:start + size]
            x, _, _ = _to_tensors(batch, self.run.device)
            fg_prob, cross_prob = self.model.probabilities(x)
            fg_pred = (fg_prob >= threshold).cpu().numpy()
            cross_pred = ((torch.minimum(cross_prob, fg_prob)) >= threshold).cpu().numpy()
            for crop, f, c in zip(batch, fg_pred, cross_pred):
                for values, truth, pred in ((fg_ious, crop.foreground, f), (cross_ious, crop.crossing, c)):
                    value = map_iou(truth, pred)
                    if value is not None:
                        values.append(value)
                if crop.crossing.any() or c.any():
                    with_crossings += 1
                    detected += regions_correspond(crop.crossing, c)
        self.model.train()
        return {"val.iou_foreground": float(np.mean(fg_ious)) if fg_ious else None,
                "val.iou_crossing": float(np.mean(cross_ious)) if cross_ious else None,
                "val.overlap_acc": detected / with_crossings if with_crossings else None}

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        return first_number(record, (self.s.select_metric,))

    def log_every(self) -> int:
        return self.s.log_every

    # export

    def export(self, state: RunState) -> Path | None:
        weights, metrics = best_weights(self.run.out, self.model, state)
        s = self.s
        data = f"synthetic x{s.train_count} crossing crops at {s.size} px (seed {s.synth_seed})"
        if s.labelme_dirs:
            data += "; labelme " + ", ".join(s.labelme_dirs)
        manifest = export_chromseg(
            self.run.out / "export", self.config.name, weights, self.spec, input_size=s.size, threshold=s.threshold,
            description=f"ChromSeg region-guided UNet++ (depth {self.spec.depth}, {self.spec.base_channels} base "
                        f"channels): foreground and crossing-overlap maps of cluster crops",
            training_data=data, metrics=metrics,
            extra={"best_epoch": state.best_epoch, "steps": state.step,
                   "loss": {"lambda": s.loss_lambda, "alpha": s.loss_alpha, "gamma": s.loss_gamma},
                   "val_crops": len(self.val)})
        return manifest.path
