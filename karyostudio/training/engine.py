"""fit(config, callbacks, cancel): the one training loop, used by the CLI, the GUI and tests.

Mask R-CNN runs go through stages (config.plan_stages): each stage gets a fresh SGD optimiser and
a warm-up + decay schedule that is a pure function of the step. Every epoch ends with validation
(box and mask mAP@50, AJI through karyostudio.metrics) on the held-out part of the mask data
("mask_data.*") and of the box data ("box_data.*"); the best epoch of the last stage
(``select_metric``) is kept in best.pt and exported at the end as float16 weights plus a
manifest in ``<out_dir>/export`` that ``karyostudio predict --model`` and the app can load.

Reproducibility: step n's random draws (proposal sampling) are seeded by (seed, rank, n) and its
batches come from the data streams (detection_data.BatchStream), so ``resume`` continues exactly
as an uninterrupted run would (bit for bit on the CPU with deterministic settings).

Callbacks are plain objects; the methods they have are called on the main process:
``on_fit_start(info)``, ``on_step_end(step, losses)``, ``on_epoch_end(epoch, metrics)``,
``on_fit_end(result)``. ``cancel`` (CancelToken) is checked before every step: the run saves
last.pt and raises Cancelled. Errors are raised, never turned into an exit. Under torchrun
(WORLD_SIZE > 1) the same code runs DistributedDataParallel (NCCL on GPUs, gloo on CPUs); each
process reads its own slice of every batch, the time budget is agreed between processes, and
cancelling is per process (the GUI trains in one process).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as torch_dist
from torch.nn.parallel import DistributedDataParallel

from karyostudio.core.progress import CancelToken, Cancelled, check
from karyostudio.models.maskrcnn.build import build_maskrcnn
from karyostudio.models.maskrcnn.validate import evaluate_model
from karyostudio.models.maskrcnn.weights import export_model
from karyostudio.models.registry import resolve_device
from karyostudio.training import checkpoint as ckpt
from karyostudio.training.results import FitResult, emit as _emit
from karyostudio.training.classifier_train import TrainingError, train_classifier
from karyostudio.training.config import (
    BOXES,
    COARSE,
    MASKS,
    ConfigError,
    Stage,
    TrainConfig,
    check_config,
    classifier_train_config,
    config_to_dict,
    describe_data,
    plan_stages,
)
from karyostudio.training.detection_data import (
    STREAM_IDS,
    BatchStream,
    DetectionDataset,
    ValidationSet,
    batch_loader,
    build_sources,
    stream_for_step,
)
from karyostudio.training.run_support import (
    deadline_after,
    export_inputs,
    finish_fit,
    fresh_progress,
    is_better,
    open_run,
    step_seed,
    torch_threads,
)

# Families with a trainer of their own: trainer(config, callbacks, cancel) -> FitResult, reading its
# settings from ``config.settings`` (imported only when used).
FAMILY_TRAINERS = {
    "centernet": "karyostudio.training.centernet_train:fit_centernet",
    "chromseg": "karyostudio.training.chromseg_train:fit_chromseg",
    "deepchm": "karyostudio.training.deepchm_train:fit_deepchm",
    "rotated-maskrcnn": "karyostudio.training.ermrcnn_train:fit_ermrcnn",
}

SELECT_FALLBACKS = ("mask_data.mask_map50", "mask_data.box_map50", "box_data.box_map50")


def fit(config: TrainConfig, callbacks: Sequence[Any] = (), cancel: CancelToken | None = None) -> FitResult:
    """Train as ``config`` says (see the module docstring)."""
    check_config(config)
    if config.family == "classifier":
        return _fit_classifier(config, callbacks, cancel)
    if config.family in FAMILY_TRAINERS:
        module_name, _, attr = FAMILY_TRAINERS[config.family].partition(":")
        return getattr(importlib.import_module(module_name), attr)(config, list(callbacks), cancel)
    with _distributed(config.device) as dist:
        return _Run(config, dist, list(callbacks), cancel).fit()


# --- processes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Dist:
    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            torch_dist.barrier()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Values averaged over processes (same keys everywhere: all ranks take the same batch kind)."""
        if self.world_size == 1:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(t)
        return dict(zip(keys, (t / self.world_size).tolist()))

    def any(self, flag: bool) -> bool:
        if self.world_size == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
        return bool(t.item())


@contextlib.contextmanager
def _distributed(device: str) -> Iterator[_Dist]:
    """One process, or one of torchrun's WORLD_SIZE processes (process group set up and torn down here)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield _Dist(0, 1, torch.device(resolve_device(device)))
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        resolve_device(f"cuda:{local_rank}")
        torch.cuda.set_device(local_rank)
        target = torch.device(f"cuda:{local_rank}")
    else:
        target = torch.device(resolve_device(device))
    started = not torch_dist.is_initialized()
    if started:
        torch_dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    try:
        yield _Dist(torch_dist.get_rank(), torch_dist.get_world_size(), target)
    finally:
        if started:
            torch_dist.destroy_process_group()


@contextlib.contextmanager
def _torch_settings(config: TrainConfig) -> Iterator[None]:
    """Thread count and determinism for the run, restored afterwards so callers (the GUI) keep theirs."""
    deterministic = (torch.are_deterministic_algorithms_enabled(),
                     torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        with torch_threads(config.num_threads):
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
        torch.backends.cudnn.benchmark = deterministic[2]


# --- the Mask R-CNN run ---------------------------------------------------------------------------

class _Run:
    def __init__(self, config: TrainConfig, dist: _Dist, callbacks: list[Any], cancel: CancelToken | None):
        self.config, self.dist, self.callbacks, self.cancel = config, dist, callbacks, cancel
        self.out = Path(config.out_dir)
        self.config_dict = config_to_dict(config)
        self.stages = plan_stages(config)
        self.start = time.monotonic()
        self.deadline = deadline_after(self.start, config.max_minutes)
        cuda = dist.device.type == "cuda"
        self.amp_dtype = getattr(torch, config.amp_dtype) if cuda and config.amp else None
        self.scaler = torch.amp.GradScaler(dist.device.type, enabled=self.amp_dtype == torch.float16)
        self.progress: dict[str, Any] = fresh_progress(positions={}, loss_sum=0.0, loss_count=0)
        self.stopped_early = False

    # setup

    def fit(self) -> FitResult:
        with _torch_settings(self.config):
            return self._fit()

    def _fit(self) -> FitResult:
        config = self.config
        saved = self._resume_state()
        self.datasets = self._datasets()
        self.validation = self._validation_sets() if self.dist.main else {}
        torch.manual_seed(config.seed)
        model = build_maskrcnn(config.model)
        if saved is not None:
            model.load_state_dict(saved["model"])
            self.scaler.load_state_dict(saved["scaler"])
        model.to(self.dist.device)
        if self.dist.device.type == "cuda" and config.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.trained = model  # what a step calls: the model, or its DDP wrapper
        if self.dist.world_size > 1:
            # Batches without masks leave the mask head unused, which DDP must be told about.
            self.trained = DistributedDataParallel(
                model, device_ids=[self.dist.device.index] if self.dist.device.type == "cuda" else None,
                find_unused_parameters=not all(d.always_masks for d in self.datasets.values()))
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            ckpt.write_config(self.out / ckpt.CONFIG_NAME, self.config_dict)
        _emit(self.callbacks if self.dist.main else (), "on_fit_start", self._info())
        for index, stage in enumerate(self.stages):
            optimizer_state = saved["optimizer"] if saved is not None and saved["progress"]["stage"] == index else None
            self._run_stage(index, stage, optimizer_state)
            if self.stopped_early:
                break
        return finish_fit(self.callbacks if self.dist.main else (), self.out, self.progress, manifest=self._export(),
                          stopped_early=self.stopped_early, start=self.start)

    def _resume_state(self) -> dict[str, Any] | None:
        saved, self.progress, self.log = open_run(self.out, self.config.resume, self.config_dict, fresh=self.progress)
        if saved is not None:
            self.progress.pop("stage")
        return saved

    def _datasets(self) -> dict[str, DetectionDataset]:
        config, size = self.config, self.config.model.input_size
        streams = {s for stage in self.stages for s in stage.streams}
        datasets = {}
        self.sources = {MASKS: build_sources(config, "masks")}
        if config.data.box_sources:
            self.sources[BOXES] = build_sources(config, "boxes")
        augment = config.data.augment
        if MASKS in streams:
            datasets[MASKS] = DetectionDataset(self.sources[MASKS][0], input_size=size, augment_config=augment)
        if BOXES in streams:
            datasets[BOXES] = DetectionDataset(self.sources[BOXES][0], input_size=size, augment_config=augment,
                                               boxes_only=True)
        if COARSE in streams:
            datasets[COARSE] = DetectionDataset(self.sources[BOXES][0], input_size=size, augment_config=augment,
                                                boxes_only=True, coarse_shape=config.data.coarse_mask_shape)
        for name, dataset in datasets.items():
            if len(dataset) == 0:
                raise ConfigError(f"no training images for the {name} stream")
        return datasets

    def _validation_sets(self) -> dict[str, ValidationSet]:
        size, limit = self.config.model.input_size, self.config.data.max_val_images
        sets = {"mask_data": ValidationSet.of(DetectionDataset(self.sources[MASKS][1], input_size=size), limit)}
        if BOXES in self.sources:
            sets["box_data"] = ValidationSet.of(
                DetectionDataset(self.sources[BOXES][1], input_size=size, boxes_only=True), limit)
        return {name: s for name, s in sets.items() if len(s)}

    def _steps_per_epoch(self, stage: Stage) -> int:
        if self.config.steps_per_epoch is not None:
            return self.config.steps_per_epoch
        images = sum(len(self.datasets[s]) for s in stage.streams)
        return max(1, math.ceil(images / (self.config.batch_size * self.dist.world_size)))

    def _info(self) -> dict[str, Any]:
        stages = [{"name": s.name, "epochs": s.epochs, "lr": s.lr, "steps_per_epoch": self._steps_per_epoch(s)}
                  for s in self.stages]
        return {"family": "maskrcnn", "name": self.config.name, "regime": self.config.regime,
                "total_steps": sum(s["epochs"] * s["steps_per_epoch"] for s in stages),
                "start_step": self.progress["step"], "stages": stages, "world_size": self.dist.world_size,
                "device": str(self.dist.device), "train_images": {k: len(v) for k, v in self.datasets.items()},
                "val_images": {k: len(v) for k, v in self.validation.items()}}

    # training

    def _run_stage(self, index: int, stage: Stage, optimizer_state: dict[str, Any] | None) -> None:
        config, p = self.config, self.progress
        first = sum(s.epochs for s in self.stages[:index])
        if p["epoch"] >= first + stage.epochs:
            return
        params = [q for q in self.model.parameters() if q.requires_grad]
        optimizer = torch.optim.SGD(params, lr=stage.lr, momentum=config.optim.momentum,
                                    weight_decay=config.optim.weight_decay)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        loaders = {name: batch_loader(self.datasets[name], BatchStream(
            len(self.datasets[name]), config.batch_size, seed=config.seed, stream_id=STREAM_IDS[name],
            rank=self.dist.rank, world_size=self.dist.world_size, start=p["positions"].get(name, 0)),
            num_workers=config.data.num_workers, pin_memory=self.dist.device.type == "cuda") for name in stage.streams}
        per_epoch = self._steps_per_epoch(stage)
        try:
            while p["epoch"] < first + stage.epochs:
                while p["step_in_epoch"] < per_epoch:
                    if self._out_of_time():
                        self.stopped_early = True
                        break
                    check(self.cancel)
                    step_in_stage = (p["epoch"] - first) * per_epoch + p["step_in_epoch"]
                    lr = stage.lr * config.optim.lr_factor(step_in_stage, per_epoch * stage.epochs)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    kind = stream_for_step(stage.streams, p["step"], seed=config.seed, box_ratio=config.box_ratio)
                    images, targets = next(loaders[kind])
                    torch.manual_seed(step_seed(config.seed, self.dist.rank, p["step"]))
                    losses = self._train_step(optimizer, images, targets, params)
                    self._after_step(kind, losses, lr, optimizer, index)
                self._end_epoch(stage, index, optimizer, partial=self.stopped_early)
                if self.stopped_early:
                    return
        except Cancelled:
            self._save_last(optimizer, index)
            raise

    def _train_step(self, optimizer: torch.optim.Optimizer, images: list[torch.Tensor],
                    targets: list[dict[str, torch.Tensor]], params: list[torch.nn.Parameter]) -> dict[str, float]:
        device = self.dist.device
        images = [i.to(device, non_blocking=True) for i in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        autocast = (torch.autocast(device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            loss_dict = self.trained(images, targets)
        loss = sum(loss_dict.values())
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        values = {k: float(v.detach()) for k, v in loss_dict.items()}
        values["loss"] = float(loss.detach())
        values = self.dist.mean(values)
        if not math.isfinite(values["loss"]):
            raise TrainingError(f"the loss became {values['loss']} at step {self.progress['step'] + 1}: training "
                                f"diverged; lower the learning rate or lengthen the warm-up")
        if self.config.optim.grad_clip is not None:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        return values

    def _after_step(self, kind: str, losses: dict[str, float], lr: float, optimizer: torch.optim.Optimizer,
                    stage_index: int) -> None:
        p = self.progress
        p["step"] += 1
        p["step_in_epoch"] += 1
        p["positions"][kind] = p["positions"].get(kind, 0) + 1
        p["loss_sum"] += losses["loss"]
        p["loss_count"] += 1
        if self.dist.main and (p["step"] % self.config.log_every == 0 or p["step"] == 1):
            self.log.append({"type": "step", "step": p["step"], "epoch": p["epoch"], "batch": kind, "lr": lr,
                             **losses})
        _emit(self.callbacks if self.dist.main else (), "on_step_end", p["step"], losses)
        every = self.config.checkpoint_every
        if every and p["step"] % every == 0:
            self._save_last(optimizer, stage_index)

    def _out_of_time(self) -> bool:
        if self.deadline is None:
            return False
        return self.dist.any(time.monotonic() > self.deadline)

    # epochs, validation, checkpoints

    def _end_epoch(self, stage: Stage, index: int, optimizer: torch.optim.Optimizer, *, partial: bool) -> None:
        p = self.progress
        metrics = self._validate() if self.dist.main else {}
        self.dist.barrier()
        record = {"type": "epoch", "epoch": p["epoch"], "stage": stage.name, "step": p["step"],
                  "train_loss": p["loss_sum"] / p["loss_count"] if p["loss_count"] else None,
                  "lr": optimizer.param_groups[0]["lr"], "minutes": (time.monotonic() - self.start) / 60.0,
                  "partial": partial, **metrics}
        if index == len(self.stages) - 1:
            self._consider_best(record)
        p["history"].append(record)
        if self.dist.main:
            self.log.append(record)
        epoch = p["epoch"]
        if not partial:
            p["epoch"] += 1
            p["step_in_epoch"] = 0
            p["loss_sum"], p["loss_count"] = 0.0, 0
        self._save_last(optimizer, index)
        _emit(self.callbacks if self.dist.main else (), "on_epoch_end", epoch, record)

    def _validate(self) -> dict[str, float | None]:
        metrics: dict[str, float | None] = {}
        net, device = self.model, self.dist.device
        for name, val in self.validation.items():
            summary = evaluate_model(net, val.tensors(device), val.truth, source=self.config.name,
                                     batch_size=self.config.val_batch_size,
                                     score_threshold=self.config.val_score_threshold, cancel=self.cancel)
            metrics.update({f"{name}.{key}": value for key, value in summary.items()})
        return metrics

    def _consider_best(self, record: dict[str, Any]) -> None:
        p = self.progress
        score = _select_score(record, self.config.select_metric)
        if not is_better(score, p["best_score"]):
            return
        p["best_epoch"], p["best_score"] = record["epoch"], score
        p["best_metrics"] = {k: v for k, v in record.items() if "." in k}
        if self.dist.main:
            ckpt.save_best(self.out / ckpt.BEST_NAME, model=self.model.state_dict(), config=self.config_dict,
                           metrics=p["best_metrics"], epoch=record["epoch"])

    def _save_last(self, optimizer: torch.optim.Optimizer, stage_index: int) -> None:
        if not self.dist.main:
            return
        ckpt.save_train_state(self.out / ckpt.LAST_NAME, config=self.config_dict,
                              model=self.model.state_dict(), optimizer=optimizer.state_dict(),
                              scaler=self.scaler.state_dict(), progress={**self.progress, "stage": stage_index})
        self.log.write()

    def _export(self) -> Path | None:
        if not (self.config.export and self.dist.main):
            return None
        state, metrics = export_inputs(self.out, self.model, self.progress)
        manifest = export_model(
            self.out / "export", self.config.name, state, self.config.model,
            description=f"Mask R-CNN {self.config.model.backbone}{' + attention FPN' if self.config.model.attention else ''}"
                        f", {self.config.regime} training",
            training_data=describe_data(self.config), metrics=metrics,
            extra={"regime": self.config.regime, "best_epoch": self.progress["best_epoch"],
                   "steps": self.progress["step"]})
        return manifest.path


def _select_score(record: dict[str, Any], metric: str) -> float | None:
    """The record's value of ``metric``, else of the first fallback it has (None: no validation numbers)."""
    for name in (metric, *SELECT_FALLBACKS):
        value = record.get(name)
        if isinstance(value, (int, float)):
            return float(value)
    return None


# --- the crop classifier --------------------------------------------------------------------------

class _ClassifierCallbacks:
    """Translates the classifier trainer's callbacks into fit's."""

    def __init__(self, callbacks: Sequence[Any]):
        self.callbacks, self.started = callbacks, False

    def on_data_progress(self, done: int, total: int, message: str = "") -> None:
        _emit(self.callbacks, "on_data_progress", done, total, message)

    def on_batch_end(self, step: int, total_steps: int, loss: float) -> None:
        if not self.started:
            self.started = True
            _emit(self.callbacks, "on_fit_start", {"family": "classifier", "total_steps": total_steps,
                                                    "start_step": 0})
        _emit(self.callbacks, "on_step_end", step, {"loss": loss})

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        _emit(self.callbacks, "on_epoch_end", epoch, metrics)


def _fit_classifier(config: TrainConfig, callbacks: Sequence[Any], cancel: CancelToken | None) -> FitResult:
    if config.device != "cpu":
        raise ConfigError("the crop classifier trains on the CPU only; use device cpu")
    settings = classifier_train_config(config)
    start = time.monotonic()
    trained = train_classifier(settings, callbacks=[_ClassifierCallbacks(callbacks)], cancel=cancel)
    history = list(trained.history)
    result = FitResult(out_dir=trained.out_path.parent, steps=int(history[-1]["steps"]) if history else 0,
                       epochs=len(history), best_epoch=trained.best_epoch,
                       best_metrics={"val_accuracy": trained.best_val_accuracy}, history=history,
                       best_checkpoint=trained.out_path, elapsed_s=time.monotonic() - start)
    _emit(callbacks, "on_fit_end", result)
    return result
