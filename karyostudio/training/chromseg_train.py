"""fit_chromseg: train ChromSeg's region-guided UNet++ on crossing-cluster crops (engine family "chromseg").

Settings (TrainConfig.settings; unknown keys are a ConfigError listing the known ones) are in
DEFAULTS below. Data: ``train_count`` synthetic crops (seed ``synth_seed``) plus the crops of
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
manifest into ``<out_dir>/export``. ``cancel`` is checked before every step (last.pt saved,
then Cancelled raised); ``max_minutes`` ends the run after the current step, validated and
exported; ``resume`` continues from last.pt at the step it stopped.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from karyostudio.core.progress import CancelToken, Cancelled, check
from karyostudio.metrics.overlap import map_iou, regions_correspond
from karyostudio.models.overlap.loss import MixedWeightFocalLoss
from karyostudio.models.overlap.segmenter import IMAGE_MEAN, IMAGE_STD, export_chromseg
from karyostudio.models.overlap.unetpp import UNetPPSpec, UNetPPSpecError, build_unetpp, parameter_count
from karyostudio.models.registry import resolve_device
from karyostudio.synth import SynthConfig
from karyostudio.training import checkpoint as ckpt
from karyostudio.training import run_support as runs
from karyostudio.training.classifier_train import TrainingError
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
from karyostudio.training.config import ConfigError, TrainConfig, config_to_dict
from karyostudio.training.results import FitResult, emit

DEFAULTS: dict[str, Any] = {
    "size": 256, "base_channels": 8, "depth": 4,
    "train_count": 800, "val_count": 100, "synth_seed": 0, "synth_size": 1024, "max_per_image": 3,
    "labelme_dirs": [], "labelme_val_fraction": 0.1, "cache_dir": None,
    "batch_size": 8, "lr": 1e-3, "weight_decay": 1e-5, "epochs": 20, "steps_per_epoch": None,
    "loss_lambda": 0.7, "loss_alpha": 0.75, "loss_gamma": 1.0, "tight_probability": 0.3,
    "threshold": 0.5, "val_batch_size": 8, "select_metric": "val.iou_crossing", "log_every": 10,
}
METRICS = ("val.iou_foreground", "val.iou_crossing", "val.overlap_acc")
_POSITIVE_INTS = ("size", "base_channels", "depth", "train_count", "synth_size", "max_per_image", "batch_size",
                  "epochs", "val_batch_size", "log_every")


def chromseg_settings(config: TrainConfig) -> dict[str, Any]:
    """DEFAULTS overridden by config.settings, checked."""
    given = dict(config.settings or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown chromseg setting(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULTS))}")
    s = {**DEFAULTS, **given}
    for name in _POSITIVE_INTS:
        value = s[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"settings.{name} must be a positive integer, got {value!r}")
    for name in ("val_count",):
        if isinstance(s[name], bool) or not isinstance(s[name], int) or s[name] < 0:
            raise ConfigError(f"settings.{name} must be a non-negative integer, got {s[name]!r}")
    if s["steps_per_epoch"] is not None and (not isinstance(s["steps_per_epoch"], int) or s["steps_per_epoch"] < 1):
        raise ConfigError(f"settings.steps_per_epoch must be a positive integer or null, got {s['steps_per_epoch']!r}")
    for name, low, high in (("loss_lambda", 0, 1), ("loss_alpha", 0, 1), ("labelme_val_fraction", 0, 0.99),
                            ("tight_probability", 0, 1), ("threshold", 0.001, 0.999)):
        if not isinstance(s[name], (int, float)) or isinstance(s[name], bool) or not low <= s[name] <= high:
            raise ConfigError(f"settings.{name} must be a number in [{low}, {high}], got {s[name]!r}")
    for name in ("lr", "loss_gamma", "weight_decay"):
        if not isinstance(s[name], (int, float)) or isinstance(s[name], bool) or s[name] < 0 or (
                name == "lr" and s[name] == 0):
            raise ConfigError(f"settings.{name} must be a {'positive' if name == 'lr' else 'non-negative'} number, "
                              f"got {s[name]!r}")
    if not isinstance(s["labelme_dirs"], list) or not all(isinstance(f, str) for f in s["labelme_dirs"]):
        raise ConfigError("settings.labelme_dirs must be a list of folder paths")
    if s["size"] % 2 ** (s["depth"] - 1):
        raise ConfigError(f"settings.size must be a multiple of {2 ** (s['depth'] - 1)} for depth {s['depth']}")
    if s["select_metric"] not in METRICS:
        raise ConfigError(f"settings.select_metric must be one of {', '.join(METRICS)}; got {s['select_metric']!r}")
    try:
        UNetPPSpec(base_channels=s["base_channels"], depth=s["depth"])
        SynthConfig(size=s["synth_size"])
    except (UNetPPSpecError, ValueError) as exc:
        raise ConfigError(f"settings: {exc}") from None
    return s


def fit_chromseg(config: TrainConfig, callbacks: list, cancel: CancelToken | None = None) -> FitResult:
    settings = chromseg_settings(config)
    device = torch.device(resolve_device(config.device))
    with runs.torch_threads(config.num_threads):
        return _Run(config, settings, device, callbacks, cancel).fit()


def _to_tensors(crops: list[Crop], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = np.stack([c.image for c in crops]).astype(np.float32)
    labels = np.stack([c.labels for c in crops])
    x = torch.from_numpy((images / 255.0 - IMAGE_MEAN) / IMAGE_STD)[:, None].to(device)
    fg = torch.from_numpy((labels >= 1).astype(np.float32))[:, None].to(device)
    cross = torch.from_numpy((labels >= 2).astype(np.float32))[:, None].to(device)
    return x, fg, cross


class _Run:
    def __init__(self, config: TrainConfig, settings: dict[str, Any], device: torch.device, callbacks: list,
                 cancel: CancelToken | None):
        self.config, self.s, self.device, self.callbacks, self.cancel = config, settings, device, callbacks, cancel
        self.out = Path(config.out_dir)
        self.start = time.monotonic()
        self.deadline = runs.deadline_after(self.start, config.max_minutes)
        self.config_dict = config_to_dict(config)
        self.spec = UNetPPSpec(in_channels=1, base_channels=settings["base_channels"], depth=settings["depth"])
        self.loss = MixedWeightFocalLoss(settings["loss_lambda"], settings["loss_alpha"], settings["loss_gamma"])
        self.p: dict[str, Any] = runs.fresh_progress(loss_sum=0.0, loss_count=0)
        self.stopped_early = False

    # --- setup

    def fit(self) -> FitResult:
        saved, self.p, self.log = runs.open_run(self.out, self.config.resume, self.config_dict, fresh=self.p)
        self.train, self.val = self._data()
        torch.manual_seed(self.config.seed)
        self.model = build_unetpp(self.spec).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.s["lr"], weight_decay=self.s["weight_decay"])
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt.write_config(self.out / ckpt.CONFIG_NAME, self.config_dict)
        emit(self.callbacks, "on_fit_start", self._info())
        try:
            self._train()
        except Cancelled:
            self._save_last()
            raise
        return runs.finish_fit(self.callbacks, self.out, self.p, manifest=self._export(),
                               stopped_early=self.stopped_early, start=self.start)

    def _data(self) -> tuple[list[Crop], list[Crop]]:
        s = self.s
        cache = Path(s["cache_dir"]).expanduser() if s["cache_dir"] else self.out / "cache"
        synth = SynthConfig(size=s["synth_size"])

        def progress(what: str):
            return lambda done, total: emit(self.callbacks, "on_data_progress", done, total, what)

        try:
            train = synth_crops(s["synth_seed"], s["train_count"], size=s["size"], synth=synth,
                                max_per_image=s["max_per_image"], cache_dir=cache,
                                progress=progress("synthetic training crops"), cancel=self.cancel)
            val = synth_crops(s["synth_seed"], s["val_count"], first_index=VAL_OFFSET, size=s["size"], synth=synth,
                              max_per_image=s["max_per_image"], cache_dir=cache,
                              progress=progress("synthetic validation crops"), cancel=self.cancel) \
                if s["val_count"] else []
            for folder in s["labelme_dirs"]:
                by_image = labelme_crops_by_image(folder, s["size"], cancel=self.cancel)
                train_keys, val_keys = split_keys(sorted(by_image), s["labelme_val_fraction"])
                train += [c for k in train_keys for c in by_image[k]]
                val += [c for k in val_keys for c in by_image[k]]
        except ChromSegDataError as exc:
            raise ConfigError(str(exc)) from None
        if not train:
            raise ConfigError("no training crops")
        return train, val

    def _steps_per_epoch(self) -> int:
        if self.s["steps_per_epoch"] is not None:
            return self.s["steps_per_epoch"]
        return max(1, math.ceil(len(self.train) / self.s["batch_size"]))

    def _info(self) -> dict[str, Any]:
        per_epoch = self._steps_per_epoch()
        return {"family": "chromseg", "name": self.config.name, "total_steps": per_epoch * self.s["epochs"],
                "start_step": self.p["step"], "steps_per_epoch": per_epoch, "device": str(self.device),
                "train_crops": len(self.train), "val_crops": len(self.val),
                "parameters": parameter_count(self.model)}

    # --- training

    def _batch_indices(self, epoch: int, step_in_epoch: int) -> list[int]:
        """The crops of a step: a (seed, epoch)-shuffled order, cycled as often as the epoch needs."""
        n, size = len(self.train), self.s["batch_size"]
        order = np.random.default_rng(np.random.SeedSequence([self.config.seed, 11, epoch])).permutation(n)
        return [int(order[(step_in_epoch * size + k) % n]) for k in range(size)]

    def _train(self) -> None:
        p, per_epoch = self.p, self._steps_per_epoch()
        self.train_start = time.monotonic()
        total = per_epoch * self.s["epochs"]
        while p["epoch"] < self.s["epochs"]:
            self.model.train()
            while p["step_in_epoch"] < per_epoch:
                if runs.past(self.deadline):
                    self.stopped_early = True
                    break
                check(self.cancel)
                lr = self.s["lr"] * 0.5 * (1.0 + math.cos(math.pi * self._progress(p["step"], total)))
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                indices = self._batch_indices(p["epoch"], p["step_in_epoch"])
                crops = [augment(self.train[i], augment_rng(self.config.seed, p["epoch"], i),
                                 self.s["tight_probability"]) for i in indices]
                loss = self._step(crops)
                p["step"] += 1
                p["step_in_epoch"] += 1
                p["loss_sum"] += loss
                p["loss_count"] += 1
                if runs.wants_step_log(p["step"], self.s["log_every"]):
                    self.log.append({"type": "step", "step": p["step"], "epoch": p["epoch"], "lr": lr, "loss": loss})
                emit(self.callbacks, "on_step_end", p["step"], {"loss": loss})
            self._end_epoch(partial=self.stopped_early)
            if self.stopped_early:
                return

    def _progress(self, step: int, total: int) -> float:
        """How far along the run is, in [0, 1]: by steps, or by the time budget when that is further
        (a run cut short by max_minutes still ends its learning-rate decay)."""
        done = step / max(total, 1)
        if self.deadline is not None:
            budget = self.deadline - self.train_start
            done = max(done, (time.monotonic() - self.train_start) / budget if budget > 0 else 1.0)
        return min(done, 1.0)

    def _step(self, crops: list[Crop]) -> float:
        x, fg, cross = _to_tensors(crops, self.device)
        foreground, crossing = self.model(x)
        loss = self.loss.deep_supervised(foreground, crossing, fg, cross)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingError(f"the loss became {value} at step {self.p['step'] + 1}: training diverged; "
                                f"lower settings.lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return value

    def _end_epoch(self, *, partial: bool) -> None:
        p = self.p
        record = {"type": "epoch", "epoch": p["epoch"], "step": p["step"],
                  "train_loss": p["loss_sum"] / p["loss_count"] if p["loss_count"] else None,
                  "minutes": (time.monotonic() - self.start) / 60.0, "partial": partial, **self._validate()}
        self._consider_best(record)
        epoch = runs.close_epoch(p, self.log, record, partial=partial, fresh_losses={"loss_sum": 0.0, "loss_count": 0})
        self._save_last()
        emit(self.callbacks, "on_epoch_end", epoch, record)

    def _validate(self) -> dict[str, float | None]:
        if not self.val:
            return {}
        self.model.eval()
        fg_ious, cross_ious, detected, with_crossings = [], [], 0, 0
        threshold, size = self.s["threshold"], self.s["val_batch_size"]
        for start in range(0, len(self.val), size):
            check(self.cancel)
            batch = self.val[start:start + size]
            x, _, _ = _to_tensors(batch, self.device)
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

    def _consider_best(self, record: dict[str, Any]) -> None:
        score = record.get(self.s["select_metric"])
        runs.keep_if_best(self.out, self.p, record, score, model=self.model, config_dict=self.config_dict)

    def _save_last(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        runs.save_last(self.out, self.log, config_dict=self.config_dict, model=self.model,
                       optimizer=self.optimizer, progress=dict(self.p))

    # --- export

    def _export(self) -> Path | None:
        if not self.config.export:
            return None
        state, metrics = runs.export_inputs(self.out, self.model, self.p)
        s = self.s
        data = f"synthetic x{s['train_count']} crossing crops at {s['size']} px (seed {s['synth_seed']})"
        if s["labelme_dirs"]:
            data += "; labelme " + ", ".join(s["labelme_dirs"])
        manifest = export_chromseg(
            self.out / "export", self.config.name, state, self.spec, input_size=s["size"], threshold=s["threshold"],
            description=f"ChromSeg region-guided UNet++ (depth {self.spec.depth}, {self.spec.base_channels} base "
                        f"channels): foreground and crossing-overlap maps of cluster crops",
            training_data=data, metrics=metrics,
            extra={"best_epoch": self.p["best_epoch"], "steps": self.p["step"],
                   "loss": {"lambda": s["loss_lambda"], "alpha": s["loss_alpha"], "gamma": s["loss_gamma"]},
                   "val_crops": len(self.val)})
        return manifest.path
