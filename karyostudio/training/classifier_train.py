"""Training of the chromosome crop classifier (CPU-friendly), used by the CLI, the GUI and tests.

``train_classifier(config)`` lists the Taichung-style data, splits it by patient, builds (or
loads cached) crops, fits the network with batch-level augmentation, keeps the checkpoint of the
epoch with the best validation accuracy, calibrates a softmax temperature on validation and
writes the final checkpoint with its measured metrics. ``fit`` is the loop alone, for any pair
of :class:`CropDataset`.

Time budget: the learning-rate schedule runs on whichever is further along, steps or wall time
(when ``max_minutes`` is set), so a slow machine still anneals fully and stops in time.

Callbacks are plain objects; each of these methods is called when the object has it:
``on_data_progress(done, total, message)``, ``on_batch_end(step, total_steps, loss)``,
``on_epoch_end(epoch, metrics)``. Cancellation (CancelToken) is checked between batches and
raises :class:`Cancelled`; the best checkpoint written so far stays on disk.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from karyostudio.core.classes import CLASS_NAMES, NUM_CLASSES
from karyostudio.core.progress import CancelToken, check
from karyostudio.io.errors import AnnotationReadError, ImageReadError
from karyostudio.models.classic.assign import AssignConfig, assign_karyotype
from karyostudio.models.classic.classifier import (
    CropNet,
    NetConfig,
    calibrated_log_probs,
    end_logits,
    load_checkpoint,
    save_checkpoint,
    split_reject,
)
from karyostudio.training.classifier_data import (
    REJECT_LABEL,
    CropDataset,
    build_detector_crops,
    build_synth_crops,
    concat_crops,
    labelme_crops,
    list_image_ids,
    load_or_build,
    split_by_patient,
)
from karyostudio.training import run_support as runs


class TrainingError(RuntimeError):
    """Training could not produce a model (e.g. no time left to train)."""


@dataclass
class ClassifierTrainConfig:
    data_root: str
    out_path: str = "models/default-cpu-classifier.pt"
    cache_dir: str | None = ".cache"
    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    seed: int = 0
    max_minutes: float | None = 55.0  # whole run, crop building included
    val_fraction: float = 0.1
    max_images: int | None = None  # use a seeded subset of the images (quick runs)
    out_size: tuple[int, int] = (64, 32)
    widths: tuple[int, ...] = (16, 32, 64, 128)
    hidden: int = 128
    dropout: float = 0.2
    flip_prob: float = 0.5  # upside-down flips (which end is up is a guess)
    num_threads: int | None = None  # torch CPU threads; None keeps torch's default
    workers: int = 2  # processes for crop building
    # A chromosome detector's weights: its boxes on the training images become crops too (what
    # the classifier reads at run time), and its false detections teach a "no chromosome" output.
    detector: str | None = None
    detector_score_floor: float = 0.2
    init_from: str | None = None  # start from this classifier checkpoint's weights
    labelme_dirs: list[str] = field(default_factory=list)  # reviewed cells to learn from too (all for training)
    synth_cells: int = 0  # synthetic cells whose chromosomes train too (classifier_data.build_synth_crops)
    synth_seed: int = 7


@dataclass
class TrainResult:
    out_path: Path
    best_epoch: int
    best_val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0


def default_cpu_config(data_root: str | Path, out_path: str | Path = "models/default-cpu-classifier.pt",
                       cache_dir: str | Path | None = ".cache") -> ClassifierTrainConfig:
    """The ``default-cpu`` preset: fits in an hour on two CPU cores, crop building included."""
    return ClassifierTrainConfig(data_root=str(data_root), out_path=str(out_path),
                                 cache_dir=None if cache_dir is None else str(cache_dir),
                                 epochs=8, max_minutes=55.0, num_threads=2, workers=2)


def _emit(callbacks: Sequence[Any], name: str, *args: Any) -> None:
    for cb in callbacks:
        method = getattr(cb, name, None)
        if method is not None:
            method(*args)


def augment(crops: torch.Tensor, features: torch.Tensor, gen: torch.Generator, *,
            flip_prob: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips, small rotation/scale/shift, gamma and contrast; background stays 0."""
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
    # Segmented outlines measure a little differently from box-derived masks.
    features = features + 0.03 * torch.randn(features.shape, generator=gen)
    return crops, features


def _batch(data: CropDataset, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    crops = torch.from_numpy(data.crops[idx]).float().div_(255.0).unsqueeze(1)
    return crops, torch.from_numpy(data.features[idx]).float(), torch.from_numpy(data.labels[idx]).long()


@torch.no_grad()
def predict_logits(net: CropNet, data: CropDataset, *, batch_size: int = 512) -> torch.Tensor:
    """Logits (2, N, 24) of a dataset read both ways up (as at inference)."""
    was_training = net.training
    net.eval()
    out = []
    for s in range(0, len(data), batch_size):
        crops, feats, _ = _batch(data, np.arange(s, min(s + batch_size, len(data))))
        out.append(end_logits(net, crops, feats))
    net.train(was_training)
    return torch.cat(out, dim=1) if out else torch.zeros(2, 0, NUM_CLASSES)


def log_probs_of(logits: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    return calibrated_log_probs(logits, temperature).numpy().astype(np.float64)


def _lr_factor(progress: float, warmup: float = 0.03) -> float:
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (progress - warmup) / (1.0 - warmup))))


def fit(net: CropNet, train: CropDataset, val: CropDataset, config: ClassifierTrainConfig, *,
        callbacks: Sequence[Any] = (), cancel: CancelToken | None = None,
        deadline: float | None = None) -> tuple[dict[str, torch.Tensor], int, float, list[dict[str, float]]]:
    """Train ``net``; returns (best state_dict, best epoch, best val accuracy, history).

    ``deadline`` (time.monotonic() value) ends training early, with the schedule annealed.
    Each new best is written to config.out_path right away.
    """
    if len(train) == 0:
        raise ValueError("no training crops")
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net.to(memory_format=torch.channels_last)  # faster convolutions on CPU
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, len(train) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    start = time.monotonic()
    best_state, best_epoch, best_acc, history = copy.deepcopy(net.state_dict()), -1, -1.0, []
    step, done = 0, False
    for epoch in range(config.epochs):
        net.train()
        order = rng.permutation(len(train))
        losses = []
        for b in range(steps_per_epoch):
            check(cancel)
            progress = step / total_steps
            if deadline is not None:
                progress = max(progress, (time.monotonic() - start) / max(deadline - start, 1e-9))
            if progress >= 1.0:
                done = True
                break
            for group in opt.param_groups:
                group["lr"] = config.lr * _lr_factor(progress)
            crops, feats, labels = _batch(train, order[b * config.batch_size:(b + 1) * config.batch_size])
            crops, feats = augment(crops, feats, gen, flip_prob=config.flip_prob)
            loss = F.cross_entropy(net(crops, feats), labels, label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(loss.item())
            _emit(callbacks, "on_batch_end", step, total_steps, losses[-1])
        metrics = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                   "steps": step, "minutes": (time.monotonic() - start) / 60}
        if len(val):
            lp = log_probs_of(predict_logits(net, val))
            metrics["val_accuracy"] = float((lp.argmax(1) == val.labels).mean())
            metrics["val_loss"] = float(-lp[np.arange(len(val)), val.labels].mean())
        acc = metrics.get("val_accuracy", -metrics["train_loss"])
        history.append(metrics)
        if losses and acc > best_acc:
            best_state, best_epoch, best_acc = copy.deepcopy(net.state_dict()), epoch, acc
            save_checkpoint(config.out_path, net, metrics={"history": history})
        _emit(callbacks, "on_epoch_end", epoch, metrics)
        if done:
            break
    return best_state, best_epoch, best_acc, history


def fit_temperature(logits: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """Softmax temperature minimising validation NLL (log-space grid search).

    ``logits`` is (N, classes) or (reads, N, classes) as from :func:`predict_logits`.
    """
    if len(labels) == 0:
        return 1.0
    logits = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    if logits.ndim == 2:
        logits = logits[None]
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    temps = np.exp(np.linspace(np.log(0.3), np.log(5.0), 61))
    nll = [float(F.nll_loss(calibrated_log_probs(logits, t), y)) for t in temps]
    return float(temps[int(np.argmin(nll))])


def evaluate(log_probs: np.ndarray, data: CropDataset, assign_config: AssignConfig = AssignConfig()) -> dict[str, Any]:
    """Top-1 accuracy per crop and per class, before and after whole-cell joint assignment."""
    labels = data.labels
    independent = log_probs.argmax(1)
    joint = np.empty_like(independent)
    confidence = np.empty(len(labels))
    row_probability = np.empty(len(labels))
    sex_right = []
    for c in range(len(data.image_ids)):
        rows = np.flatnonzero(data.cell == c)
        if len(rows) == 0:
            continue
        result = assign_karyotype(log_probs[rows], config=assign_config)
        joint[rows] = [CLASS_NAMES.index(lb) for lb in result.labels]
        confidence[rows] = result.confidence
        row_probability[rows] = result.row_probability
        true_sex = "XY" if (labels[rows] == CLASS_NAMES.index("Y")).any() else "XX"
        sex_right.append(result.sex_hypothesis == true_sex)
    per_class = {name: float((joint[labels == k] == k).mean()) if (labels == k).any() else float("nan")
                 for k, name in enumerate(CLASS_NAMES)}
    per_class_independent = {name: float((independent[labels == k] == k).mean()) if (labels == k).any()
                             else float("nan") for k, name in enumerate(CLASS_NAMES)}
    right = joint == labels
    return {
        "crops": int(len(labels)),
        "cells": int(len(data.image_ids)),
        "top1_independent": float((independent == labels).mean()) if len(labels) else float("nan"),
        "top1_joint": float(right.mean()) if len(labels) else float("nan"),
        "per_class_independent": per_class_independent,
        "per_class_joint": per_class,
        "sex_hypothesis_accuracy": float(np.mean(sex_right)) if sex_right else float("nan"),
        "mean_confidence_joint": float(confidence.mean()) if len(labels) else float("nan"),
        "ece_confidence_joint": expected_calibration_error(confidence, right),
        "ece_row_probability_joint": expected_calibration_error(row_probability, right),
    }


def evaluate_detected(log_probs: np.ndarray, data: CropDataset) -> dict[str, Any]:
    """On a detector's crops: class accuracy of the found chromosomes and how well the reject
    output (probability >= 0.5) separates false detections from chromosomes."""
    classes, reject = split_reject(log_probs)
    is_junk = data.labels == REJECT_LABEL
    said_junk = reject >= 0.5
    real = ~is_junk
    return {
        "crops": int(len(data)), "false_detections": int(is_junk.sum()),
        "top1_independent_found": float((classes[real].argmax(1) == data.labels[real]).mean()) if real.any() else None,
        "reject_recall": float(said_junk[is_junk].mean()) if is_junk.any() else None,
        "reject_precision": float(is_junk[said_junk].mean()) if said_junk.any() else None,
        "chromosomes_rejected": float(said_junk[real].mean()) if real.any() else None,
    }


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


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    if len(confidence) == 0:
        return float("nan")
    which = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            err += sel.sum() * abs(float(correct[sel].mean()) - float(confidence[sel].mean()))
    return float(err / len(confidence))


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


def train_classifier(config: ClassifierTrainConfig, callbacks: Sequence[Any] | None = None,
                     cancel: CancelToken | None = None) -> TrainResult:
    """Build data, train, calibrate and write the classifier checkpoint to config.out_path."""
    with runs.torch_threads(config.num_threads):
        return _train_classifier(config, list(callbacks or []), cancel)


def _train_classifier(config: ClassifierTrainConfig, callbacks: list[Any], cancel: CancelToken | None
                      ) -> TrainResult:
    start = time.monotonic()
    deadline = runs.deadline_after(start, config.max_minutes)
    torch.manual_seed(config.seed)
    ids = list_image_ids(config.data_root)
    if config.max_images is not None and config.max_images < len(ids):
        pick = np.random.default_rng(config.seed).choice(len(ids), config.max_images, replace=False)
        ids = sorted(ids[k] for k in pick)
    train_ids, val_ids = split_by_patient(ids, config.val_fraction, config.seed)
    data = load_or_build(config.data_root, config.cache_dir, out_size=config.out_size, image_ids=ids,
                         workers=config.workers, cancel=cancel,
                         progress=lambda d, t, m="": _emit(callbacks, "on_data_progress", d, t, m))
    train, val = data.select_cells(train_ids), data.select_cells(val_ids)
    detected_val = None
    if config.detector is not None:
        detected = build_detector_crops(config.data_root, ids, config.detector, out_size=config.out_size,
                                        score_floor=config.detector_score_floor, workers=config.workers,
                                        cache_dir=config.cache_dir, cancel=cancel,
                                        progress=lambda d, t, m="": _emit(callbacks, "on_data_progress", d, t, m))
        train = concat_crops(train, detected.select_cells(train_ids))
        detected_val = detected.select_cells(val_ids)
    if config.synth_cells:
        synthetic = build_synth_crops(config.synth_cells, config.synth_seed, out_size=config.out_size,
                                      workers=config.workers, cache_dir=config.cache_dir, cancel=cancel,
                                      progress=lambda d, t, m="": _emit(callbacks, "on_data_progress", d, t, m))
        train = concat_crops(train, synthetic)
    if config.labelme_dirs:
        try:
            corrections = labelme_crops(config.labelme_dirs, out_size=config.out_size, cancel=cancel)
        except (AnnotationReadError, ImageReadError) as exc:
            raise TrainingError(f"cannot read the reviewed cells: {exc}") from None
        if corrections is None:
            raise TrainingError(f"no named chromosome to learn from in {', '.join(config.labelme_dirs)}")
        train = concat_crops(train, corrections)
    net = CropNet(NetConfig(out_size=tuple(config.out_size), widths=tuple(config.widths),
                            hidden=config.hidden, dropout=config.dropout, reject=config.detector is not None))
    if config.init_from is not None:
        init_weights(net, config.init_from)
    fit_deadline = None if deadline is None else deadline - _final_phase_seconds(net, val)
    best_state, best_epoch, best_acc, history = fit(net, train, val, config, callbacks=callbacks,
                                                    cancel=cancel, deadline=fit_deadline)
    if best_epoch < 0:
        raise TrainingError(f"the time budget ({config.max_minutes} min) ran out before the first "
                            f"training step; raise max_minutes")
    net.load_state_dict(best_state)
    val_logits = predict_logits(net, val)
    temperature = fit_temperature(val_logits, val.labels)
    metrics: dict[str, Any] = {
        "train_config": asdict(config),
        "data": {"root": str(config.data_root), "images": len(ids), "train_images": len(train_ids),
                 "val_images": len(val_ids), "train_crops": len(train), "val_crops": len(val),
                 "split": f"by patient (id without last digit), val_fraction={config.val_fraction}, "
                          f"seed={config.seed}"},
        "best_epoch": best_epoch,
        "history": history,
        "temperature": temperature,
    }
    if len(val):
        metrics["validation"] = evaluate(split_reject(log_probs_of(val_logits, temperature))[0], val)
    if detected_val is not None and len(detected_val):
        metrics["validation_detected"] = evaluate_detected(
            log_probs_of(predict_logits(net, detected_val), temperature), detected_val)
    metrics["train_minutes"] = (time.monotonic() - start) / 60
    save_checkpoint(config.out_path, net, temperature=temperature, metrics=metrics)
    return TrainResult(out_path=Path(config.out_path), best_epoch=best_epoch, best_val_accuracy=best_acc,
                       history=history, metrics=metrics, elapsed_s=time.monotonic() - start)
