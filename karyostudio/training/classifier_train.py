"""ClassifierTask: training of the classic pipeline's crop classifier in the one training loop.

The Trainer (training/trainer.py) runs it for family "classic" configs; it reads
``config.settings`` (training/classifier_settings.py). Setting up lists the Taichung-style data,
splits it by patient, builds (or loads cached) crops: of the annotated boxes, of a detector's
boxes on the same images (its false detections teach the "no chromosome" output), of synthetic
cells and of reviewed labelme files. Steps are batches with batch-level augmentation; every
epoch ends with validation accuracy ("val.accuracy", "val.loss"); the best epoch is kept in
best.pt. The export loads the best weights, calibrates a softmax temperature on validation and
writes a complete classic-pipeline model into ``<out_dir>/export`` (models/classic/export.py): the
classifier checkpoint with its measured metrics, the detector it was trained with and a manifest.

Time budget: the learning-rate schedule runs on whichever is further along, steps or wall time,
and the run keeps back what the final calibration and evaluation need, so a slow machine still
anneals fully and stops in time. ``train_on_crops`` trains on crop sets made elsewhere.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from karyostudio.core.progress import CancelToken
from karyostudio.core.typed_mapping import to_mapping
from karyostudio.io.errors import AnnotationReadError, ImageReadError
from karyostudio.models.classic.classifier import CropNet, NetConfig, load_checkpoint, split_reject
from karyostudio.models.classic.export import export_classic_model
from karyostudio.models.manifest import Manifest, ManifestError, find_manifests, read_manifest
from karyostudio.training.classifier_data import (
    CropDataset,
    build_detector_crops,
    build_styled_crops,
    build_synth_crops,
    concat_crops,
    labelme_crops,
    list_image_ids,
    load_or_build,
    split_by_patient,
)
from karyostudio.training.classifier_eval import (
    crop_batch,
    evaluate,
    evaluate_detected,
    fit_temperature,
    log_probs_of,
    predict_logits,
)
from karyostudio.training.classifier_settings import ClassifierSettings
from karyostudio.training.config import TrainConfig, data_path, model_file
from karyostudio.training.errors import ConfigError, TrainingError
from karyostudio.training.family_settings import settings_for
from karyostudio.training.results import FitResult
from karyostudio.training.run_state import RunState
from karyostudio.training.run_support import step_seed
from karyostudio.training.task import Plan, RunContext, Step, TrainingTask, best_weights, first_number
from karyostudio.training.trainer import Trainer


class ClassifierTask(TrainingTask):
    family = "classic"

    def __init__(self, config: TrainConfig, crops: tuple[CropDataset, CropDataset] | None = None):
        if config.device != "cpu":
            raise ConfigError("the crop classifier trains on the CPU only; use device cpu")
        self.config, self.crops = config, crops
        self.s = resolved_paths(config, settings_for(config))
        self.template = pipeline_template(self.s.pipeline_from)

    # setup

    def setup(self, run: RunContext, saved: Mapping[str, Any] | None) -> Plan:
        s, config = self.s, self.config
        self.run = run
        torch.manual_seed(config.seed)
        self.detected_val: CropDataset | None = None
        self.data_summary: dict[str, Any] = {}
        self.train, self.val = self.crops if self.crops is not None else self._crops()
        if len(self.train) == 0:
            raise TrainingError("no training crops")
        self.model = CropNet(NetConfig(out_size=tuple(s.out_size), widths=tuple(s.widths), hidden=s.hidden,
                                       dropout=s.dropout, reject=s.detector is not None))
        if s.init_from is not None:
            init_weights(self.model, s.init_from)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
        self.model.to(memory_format=torch.channels_last)  # faster convolutions on CPU
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        if saved is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
        self.per_epoch = max(1, len(self.train) // s.batch_size)
        self.train_start = time.monotonic()
        self.order_epoch, self.order = -1, np.arange(0)
        return Plan(s.epochs, self.per_epoch, {"steps_per_epoch": self.per_epoch, "train_crops": len(self.train),
                                               "val_crops": len(self.val)})

    def _crops(self) -> tuple[CropDataset, CropDataset]:
        s, run, seed = self.s, self.run, self.config.seed
        ids = list_image_ids(s.data_root)
        if s.max_images is not None and s.max_images < len(ids):
            pick = np.random.default_rng(seed).choice(len(ids), s.max_images, replace=False)
            ids = sorted(ids[k] for k in pick)
        train_ids, val_ids = split_by_patient(ids, s.val_fraction, seed)
        data = load_or_build(s.data_root, s.cache_dir, out_size=s.out_size, image_ids=ids, workers=s.workers,
                             cancel=run.cancel, progress=run.data_progress)
        train, val = data.select_cells(train_ids), data.select_cells(val_ids)
        if s.detector is not None:
            detected = build_detector_crops(s.data_root, ids, s.detector, out_size=s.out_size,
                                            score_floor=s.detector_score_floor, workers=s.workers,
                                            cache_dir=s.cache_dir, cancel=run.cancel, progress=run.data_progress)
            train = concat_crops(train, detected.select_cells(train_ids))
            self.detected_val = detected.select_cells(val_ids)
        if s.capture_styles:
            styled = build_styled_crops(s.data_root, train_ids, s.capture_styles, seed, out_size=s.out_size,
                                        detector_path=s.detector, score_floor=s.detector_score_floor,
                                        workers=s.workers, cache_dir=s.cache_dir, cancel=run.cancel,
                                        progress=run.data_progress)
            train = concat_crops(train, styled)
        if s.synth_cells:
            synthetic = build_synth_crops(s.synth_cells, s.synth_seed, out_size=s.out_size, workers=s.workers,
                                          cache_dir=s.cache_dir, cancel=run.cancel, progress=run.data_progress)
            train = concat_crops(train, synthetic)
        if s.labelme_dirs:
            try:
                corrections = labelme_crops(s.labelme_dirs, out_size=s.out_size, cancel=run.cancel)
            except (AnnotationReadError, ImageReadError) as exc:
                raise TrainingError(f"cannot read the reviewed cells: {exc}") from None
            if corrections is None:
                raise TrainingError(f"no named chromosome to learn from in {', '.join(s.labelme_dirs)}")
            train = concat_crops(train, corrections)
        self.data_summary = {
            "root": str(s.data_root), "images": len(ids), "train_images": len(train_ids),
            "val_images": len(val_ids), "split": f"by patient (id without last digit), "
                                                 f"val_fraction={s.val_fraction}, seed={seed}"}
        return train, val

    def reserve_seconds(self) -> float:
        return _final_phase_seconds(self.model, self.val)

    # training

    def run_step(self, state: RunState) -> Step:
        s = self.s
        if self.order_epoch != state.epoch:  # each epoch's order is a function of (seed, epoch): resumable
            self.order_epoch = state.epoch
            self.order = np.random.default_rng([self.config.seed, state.epoch]).permutation(len(self.train))
        progress = max(state.step / (self.per_epoch * s.epochs), self.run.budget_used(self.train_start))
        lr = s.lr * _lr_factor(min(progress, 1.0))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        b = state.step_in_epoch
        crops, feats, labels = crop_batch(self.train, self.order[b * s.batch_size:(b + 1) * s.batch_size])
        gen = torch.Generator().manual_seed(step_seed(self.config.seed, state.step))
        crops, feats = augment(crops, feats, gen, flip_prob=s.flip_prob, style_prob=s.style_prob)
        self.model.train()
        loss = F.cross_entropy(self.model(crops, feats), labels, label_smoothing=s.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingError(f"the loss became {value} at step {state.step + 1}: training diverged; "
                                f"lower settings.lr")
        return Step({"loss": value}, lr)

    def evaluate(self, state: RunState) -> dict[str, Any]:
        if not len(self.val):
            return {}
        lp = log_probs_of(predict_logits(self.model, self.val))
        return {"val.accuracy": float((lp.argmax(1) == self.val.labels).mean()),
                "val.loss": float(-lp[np.arange(len(self.val)), self.val.labels].mean())}

    def best_score(self, record: Mapping[str, Any]) -> float | None:
        score = first_number(record, ("val.accuracy",))
        if score is None and isinstance(record.get("train_loss"), (int, float)):
            score = -float(record["train_loss"])  # no validation crops: the lowest training loss
        return score

    # export

    def export(self, state: RunState) -> Path | None:
        if state.step == 0:
            raise TrainingError(f"the time budget ({self.config.max_minutes} min) ran out before the first "
                                f"training step; raise max_minutes")
        weights, _ = best_weights(self.run.out, self.model, state)
        net = self.model
        net.load_state_dict(weights)
        val_logits = predict_logits(net, self.val)
        temperature = fit_temperature(val_logits, self.val.labels)
        metrics: dict[str, Any] = {
            "train_config": {**to_mapping(self.s), "seed": self.config.seed, "max_minutes": self.config.max_minutes},
            "data": {**self.data_summary, "train_crops": len(self.train), "val_crops": len(self.val)},
            "best_epoch": state.best_epoch, "history": state.history, "temperature": temperature}
        if len(self.val):
            metrics["validation"] = evaluate(split_reject(log_probs_of(val_logits, temperature))[0], self.val)
        if self.detected_val is not None and len(self.detected_val):
            metrics["validation_detected"] = evaluate_detected(
                log_probs_of(predict_logits(net, self.detected_val), temperature), self.detected_val)
        metrics["train_minutes"] = state.minutes
        manifest = export_classic_model(
            self.run.out / "export", self.config.name, net, temperature=temperature, checkpoint_metrics=metrics,
            detector=self.s.detector, template=self.template, description=self._description(),
            training_data=self._training_data(), metrics=manifest_metrics(metrics))
        return manifest.path

    def _description(self) -> str:
        finder = "learned chromosome detector" if self.s.detector else "classic threshold segmentation"
        calibration = (f"; detector threshold, assignment calibration and box reading of {self.s.pipeline_from}"
                       if self.template is not None else "")
        return f"CPU pipeline: {finder} + crop classifier trained by karyostudio train{calibration}"

    def _training_data(self) -> str:
        s = self.s
        parts = [f"crops of the VOC boxes of {s.data_root}"]
        if s.detector:
            parts.append(f"of the detector's boxes on the same cells ({Path(s.detector).name})")
        if s.capture_styles:
            parts.append(f"of the training images re-recorded in {s.capture_styles} drawn capture style(s) each")
        if s.synth_cells:
            parts.append(f"of {s.synth_cells} synthetic cells (seed {s.synth_seed})")
        if s.labelme_dirs:
            parts.append("of the reviewed cells in " + ", ".join(s.labelme_dirs))
        return "; ".join(parts)


def manifest_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The validation numbers a classic model's manifest shows (as the shipped default's does)."""
    val, detected = metrics.get("validation", {}), metrics.get("validation_detected", {})
    named = {"val_top1_independent": val.get("top1_independent"), "val_top1_joint_assignment": val.get("top1_joint"),
             "val_sex_hypothesis_accuracy": val.get("sex_hypothesis_accuracy"),
             "val_detected_top1": detected.get("top1_independent_found"),
             "val_reject_recall": detected.get("reject_recall"), "val_reject_precision": detected.get("reject_precision")}
    return {k: round(float(v), 4) for k, v in named.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def pipeline_template(name: str | None) -> Manifest | None:
    """The installed model an export takes its calibration from (settings.pipeline_from)."""
    if name is None:
        return None
    path = find_manifests().get(name)
    if path is None:
        raise ConfigError(f"settings.pipeline_from: no installed model {name!r} (see karyostudio models)")
    try:
        template = read_manifest(path)
    except ManifestError as exc:
        raise ConfigError(f"settings.pipeline_from: {exc}") from None
    if template.family != "classic":
        raise ConfigError(f"settings.pipeline_from: {name!r} is a {template.family} model, not a classic pipeline")
    return template


def train_on_crops(config: TrainConfig, train: CropDataset, val: CropDataset, callbacks: Sequence[Any] = (),
                   cancel: CancelToken | None = None) -> FitResult:
    """Train the classifier of ``config`` on crop sets made elsewhere (benchmarks, tests)."""
    return Trainer(config, ClassifierTask(config, crops=(train, val)), callbacks, cancel).fit()


def resolved_paths(config: TrainConfig, s: ClassifierSettings) -> ClassifierSettings:
    """The settings with data_root under data.root and the weights files (detector, init_from)
    found as config.model_file finds them."""
    s.data_root = str(data_path(config, s.data_root))
    if s.detector is not None:
        s.detector = str(model_file(s.detector, "settings.detector"))
    if s.init_from is not None:
        s.init_from = str(model_file(s.init_from, "settings.init_from"))
    return s


def augment(crops: torch.Tensor, features: torch.Tensor, gen: torch.Generator, *,
            flip_prob: float, style_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips, small rotation/scale/shift, gamma and contrast, and with ``style_prob`` the
    look of another microscope (see ``scanner_style``); background stays 0."""
    n = crops.shape[0]
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    flip = u(n) < flip_prob
    crops = torch.where(flip[:, None, None, None], torch.flip(crops, dims=(2, 3)), crops)
    mirror = u(n) < 0.5  # a chromosome's mirror image is the same chromosome
    crops = torch.where(mirror[:, None, None, None], torch.flip(crops, dims=(3,)), crops)
    angle = (u(n) - 0.5) * math.radians(16)
    scale = 0.9 + 0.2 * u(n)
    h, w = crops.shape[2:]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    # affine_grid works in [-1, 1] coordinates; the aspect ratio h/w corrects the rotation.
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    theta[:, 0, 2] = (u(n) - 0.5) * 4.0 / w
    theta[:, 1, 2] = (u(n) - 0.5) * 4.0 / h
    grid = F.affine_grid(theta, list(crops.shape), align_corners=False)
    crops = F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gamma = torch.exp((u(n) - 0.5) * 0.6)[:, None, None, None]
    contrast = (0.85 + 0.3 * u(n))[:, None, None, None]
    crops = (crops.clamp(0, 1) ** gamma * contrast).clamp(0, 1)
    if style_prob > 0:
        crops = scanner_style(crops, u(n) < style_prob, gen)
    # Segmented outlines measure a little differently from box-derived masks.
    features = features + 0.03 * torch.randn(features.shape, generator=gen)
    return crops, features


def scanner_style(crops: torch.Tensor, chosen: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The chosen crops as another lab's camera might show them: optics blur, a coarser sampling
    of the chromosome, sensor noise, in random amounts; background (0) stays 0."""
    n = crops.shape[0]
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    foreground = (crops > 0).to(crops.dtype)
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0  # binomial, sigma 1 px
    blurred = F.conv2d(crops, kernel.view(1, 1, 1, 5), padding=(0, 2))
    blurred = F.conv2d(blurred, kernel.view(1, 1, 5, 1), padding=(2, 0))
    h, w = crops.shape[2:]
    coarse = F.interpolate(F.interpolate(crops, scale_factor=0.5, mode="area"), size=(h, w), mode="bilinear",
                           align_corners=False)
    amount = lambda: u(n)[:, None, None, None]  # noqa: E731
    styled = torch.lerp(crops, blurred, amount())
    styled = torch.where(u(n)[:, None, None, None] < 0.5, torch.lerp(styled, coarse, amount()), styled)
    styled = styled + 0.06 * amount() * torch.randn(crops.shape, generator=gen)
    styled = styled.clamp(0, 1) * foreground
    return torch.where(chosen[:, None, None, None], styled, crops)


def _lr_factor(progress: float, warmup: float = 0.03) -> float:
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (progress - warmup) / (1.0 - warmup))))


def init_weights(net: CropNet, checkpoint: str | Path) -> None:
    """Copy a classifier checkpoint's weights into ``net``; a new reject output starts from zero
    weights and a bias that makes it unlikely, so the start reads chromosomes as before."""
    source, _, _ = load_checkpoint(checkpoint)
    state = net.state_dict()
    for key, value in source.state_dict().items():
        if key not in state:
            continue
        target = state[key]
        if target.shape == value.shape:
            state[key] = value
        elif target.shape[1:] == value.shape[1:] and target.shape[0] == value.shape[0] + 1:
            state[key] = torch.cat([value, torch.full_like(target[-1:], 0.0 if value.ndim > 1 else -4.0)])
        else:
            raise TrainingError(f"{checkpoint}: weights {key} {tuple(value.shape)} do not fit {tuple(target.shape)}")
    net.load_state_dict(state)


def _final_phase_seconds(net: CropNet, val: CropDataset) -> float:
    """Time to keep after the last batch: the last validation, calibration and evaluation."""
    if len(val) == 0:
        return 5.0
    sample = val.select_cells(val.image_ids[:8])
    predict_logits(net, sample)  # the first call pays one-off start-up costs
    t = time.monotonic()
    predict_logits(net, sample)
    per_crop = (time.monotonic() - t) / max(len(sample), 1)
    return 2.0 * per_crop * len(val) + 0.05 * len(val.image_ids) + 10.0
