"""Measuring a crop classifier: logits of a crop set, temperature calibration, accuracy before and
after the whole-cell assignment, how well the reject output finds false detections, calibration error."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from karyostudio.core.classes import CLASS_NAMES, NUM_CLASSES
from karyostudio.models.classic.assign import AssignConfig, assign_karyotype
from karyostudio.models.classic.classifier import CropNet, calibrated_log_probs, end_logits, split_reject
from karyostudio.training.classifier_data import REJECT_LABEL, CropDataset


def crop_batch(data: CropDataset, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    crops = torch.from_numpy(data.crops[idx]).float().div_(255.0).unsqueeze(1)
    return crops, torch.from_numpy(data.features[idx]).float(), torch.from_numpy(data.labels[idx]).long()


@torch.no_grad()
def predict_logits(net: CropNet, data: CropDataset, *, batch_size: int = 512) -> torch.Tensor:
    """Logits (2, N, 24) of a dataset read both ways up (as at inference)."""
    was_training = net.training
    net.eval()
    out = []
    for s in range(0, len(data), batch_size):
        crops, feats, _ = crop_batch(data, np.arange(s, min(s + batch_size, len(data))))
        out.append(end_logits(net, crops, feats))
    net.train(was_training)
    return torch.cat(out, dim=1) if out else torch.zeros(2, 0, NUM_CLASSES)


def log_probs_of(logits: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    return calibrated_log_probs(logits, temperature).numpy().astype(np.float64)


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
