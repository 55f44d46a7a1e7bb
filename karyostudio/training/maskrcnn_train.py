"""MaskRCNNTask: Mask R-CNN training in the one training loop (family "maskrcnn").

Runs go through stages (config.plan_stages): each stage gets a fresh SGD optimiser and a
warm-up + decay schedule that is a pure function of the step. Every epoch ends with validation
(box and mask mAP@50, AJI through karyostudio.metrics) on the held-out part of the mask data
("mask_data.*") and of the box data ("box_data.*"); the best epoch of the last stage
(``select_metric``) is kept in best.pt and exported at the end as float16 weights plus a
manifest in ``<out_dir>/export`` that ``karyostudio predict --model`` and the app can load.

Reproducibility: step n's random draws (proposal sampling) are seeded by (seed, rank, n) and its
batches come from the data streams (detection_data.BatchStream), so a resumed run continues
exactly as an uninterrupted one would (bit for bit on the CPU with deterministic settings).
Under torchrun (WORLD_SIZE > 1) the same code runs DistributedDataParallel (NCCL on GPUs, gloo
on CPUs); each process reads its own slice of every batch.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Mapping

import torch
from torch.nn.parallel import DistributedDataParallel

from karyostudio.models.maskrcnn.build import build_maskrcnn
from karyostudio.models.maskrcnn.validate import evaluate_model
from karyostudio.models.maskrcnn.weights import export_model
from karyostudio.training.config import BOXES, COARSE, MASKS, Stage, TrainConfig, describe_data, plan_stages
from karyostudio.training.detection_data import (
    STREAM_IDS,
    BatchStream,
    DetectionDataset,
    ValidationSet,
    batch_loader,
    build_sources,
    stream_for_step,
)
from karyostudio.training.errors import ConfigError, TrainingError
from karyostudio.training.run_state import RunState
from karyostudio.training.run_support import step_seed
from karyostudio.training.task import Plan, RunContext, Step, TrainingTask, best_weights, first_number

SELECT_FALLBACKS = ("mask_data.mask_map50", "mask_data.box_map50", "box_data.box_map50")


class MaskRCNNTask(TrainingTask):
    family = "maskrcnn"
    distributed = True

    def __init__(self, config: TrainConfig):
        self.config = config
        self.stages = plan_stages(config)
        self.stage_index: int | None = None

    # setup

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        config, processes = self.config, run.processes
        self.run, self.saved = run, saved
        cuda = run.device.type == "cuda"
        self.amp_dtype = getattr(torch, config.amp_dtype) if cuda and config.amp else None
        self.scaler = torch.amp.GradScaler(run.device.type, enabled=self.amp_dtype == torch.float16)
        self.datasets = self._datasets()
        self.validation = self._validation_sets() if processes.main else {}
        torch.manual_seed(config.seed)
        model = build_maskrcnn(config.model)
        if saved is not None:
            model.load_state_dict(saved["model"])
            self.scaler.load_state_dict(saved["scaler"])
        model.to(run.device)
        if cuda and config.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.trained = model  # what a step calls: the model, or its DDP wrapper
        if processes.world_size > 1:
            # Batches without masks leave the mask head unused, which DDP must be told about.
            self.trained = DistributedDataParallel(
                model, device_ids=[run.device.index] if cuda else None,
                find_unused_parameters=not all(d.always_masks for d in self.datasets.values()))
        self.first_epochs = [sum(s.epochs for s in self.stages[:k]) for k in range(len(self.stages))]
        stages = [{"name": s.name, "epochs": s.epochs, "lr": s.lr, "steps_per_epoch": self._steps_per_epoch(s)}
                  for s in self.stages]
        return Plan(sum(s.epochs for s in self.stages), lambda epoch: self._steps_per_epoch(self._stage_of(epoch)),
                    {"regime": config.regime, "stages": stages,
                     "train_images": {k: len(v) for k, v in self.datasets.items()},
                     "val_images": {k: len(v) for k, v in self.validation.items()}})

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
        return max(1, math.ceil(images / (self.config.batch_size * self.run.processes.world_size)))

    def _stage_of(self, epoch: int) -> Stage:
        return self.stages[self._stage_index_of(epoch)]

    def _stage_index_of(self, epoch: int) -> int:
        return max(k for k, first in enumerate(self.first_epochs) if first <= epoch)

    # stages

    def begin_epoch(self, state: RunState) -> None:
        index = self._stage_index_of(state.epoch)
        if index == self.stage_index:
            return
        self.stage_index, stage, config = index, self.stages[index], self.config
        self.params = [q for q in self.model.parameters() if q.requires_grad]
        self.optimizer = torch.optim.SGD(self.params, lr=stage.lr, momentum=config.optim.momentum,
                                         weight_decay=config.optim.weight_decay)
        if self.saved is not None and self.saved["progress"]["family"].get("stage") == index:
            self.optimizer.load_state_dict(self.saved["optimizer"])
        state.family["stage"] = index
        positions = state.family.setdefault("positions", {})
        processes = self.run.processes
        self.loaders = {name: batch_loader(self.datasets[name], BatchStream(
            len(self.datasets[name]), config.batch_size, seed=config.seed, stream_id=STREAM_IDS[name],
            rank=processes.rank, world_size=processes.world_size, start=positions.get(name, 0)),
            num_workers=config.data.num_workers, pin_memory=self.run.device.type == "cuda")
            for name in stage.streams}

    # training

    def run_step(self, state: RunState) -> Step:
        config, stage = self.config, self.stages[self.stage_index]
        per_epoch = self._steps_per_epoch(stage)
        step_in_stage = (state.epoch - self.first_epochs[self.stage_index]) * per_epoch + state.step_in_epoch
        lr = stage.lr * config.optim.lr_factor(step_in_stage, per_epoch * stage.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        kind = stream_for_step(stage.streams, state.step, seed=config.seed, box_ratio=config.box_ratio)
        images, targets = next(self.loaders[kind])
        torch.manual_seed(step_seed(config.seed, self.run.processes.rank, state.step))
        losses = self._train_step(images, targets, state.step)
        positions = state.family["positions"]
        positions[kind] = positions.get(kind, 0) + 1
        return Step(losses, lr, {"batch": kind})

    def _train_step(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]],
                    step: int) -> dict[str, float]:
        device = self.run.device
        images = [i.to(device, non_blocking=True) for i in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        autocast = (torch.autocast(device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            loss_dict = self.trained(images, targets)
        loss = sum(loss_dict.values())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        values = {k: float(v.detach()) for k, v in loss_dict.items()}
        values["loss"] = float(loss.detach())
        values = self.run.processes.mean(values)
        if not math.isfinite(values["loss"]):
            raise TrainingError(f"the loss became {values['loss']} at step {step + 1}: training diverged; "
                                f"lower the learning rate or lengthen the warm-up")
        if self.config.optim.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.config.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return values

    # epochs, checkpoints, export

    def end_epoch(self, state: RunState) -> dict[str, Any]:
        return {"stage": self._stage_of(state.epoch).name}

    def evaluate(self, state: RunState) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        for name, val in self.validation.items():
            summary = evaluate_model(self.model, val.tensors(self.run.device), val.truth, source=self.config.name,
                                     batch_size=self.config.val_batch_size,
                                     score_threshold=self.config.val_score_threshold, cancel=self.run.cancel)
            metrics.update({f"{name}.{key}": value for key, value in summary.items()})
        return metrics

    def competes_for_best(self, record: Mapping[str, Any]) -> bool:
        return record["stage"] == self.stages[-1].name

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        return first_number(record, (self.config.select_metric, *SELECT_FALLBACKS))

    def log_every(self) -> int:
        return self.config.log_every

    def scaler_state(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def export(self, state: RunState) -> Path | None:
        config = self.config
        weights, metrics = best_weights(self.run.out, self.model, state)
        manifest = export_model(
            self.run.out / "export", config.name, weights, config.model,
            description=f"Mask R-CNN {config.model.backbone}{' + attention FPN' if config.model.attention else ''}"
                        f", {config.regime} training",
            training_data=describe_data(config), metrics=metrics,
            extra={"regime": config.regime, "best_epoch": state.best_epoch, "steps": state.step})
        return manifest.path
