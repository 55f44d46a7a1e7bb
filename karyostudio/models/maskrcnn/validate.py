"""Validation of a Mask R-CNN on annotated images: box / mask mAP@50 and AJI via karyostudio.metrics.

The model's detections go through the same postprocess as predictions (raw_to_instances with
score threshold 0, so AP sees every detection; AJI uses those scoring >= ``score_threshold``),
and karyostudio.metrics.evaluate.evaluate_annotations scores them, exactly as ``karyostudio
evaluate`` would. Ground truth given as box-only instances gets box metrics only.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from karyostudio.core.annotated_image import AnnotationSet, ImageAnnotations
from karyostudio.core.progress import CancelToken, check
from karyostudio.metrics.evaluate import evaluate_annotations
from karyostudio.models.maskrcnn.inference import detect
from karyostudio.models.maskrcnn.postprocess import raw_to_instances


def predict_annotations(model: nn.Module, images: Iterable[tuple[str, torch.Tensor]], *, source: str,
                        batch_size: int = 2, cancel: CancelToken | None = None) -> AnnotationSet:
    """Key -> predicted ImageAnnotations for (key, 1 x H x W tensor on the model's device) pairs."""
    result: AnnotationSet = {}
    batch: list[tuple[str, torch.Tensor]] = []

    def flush() -> None:
        check(cancel)
        raws = detect(model, [t for _, t in batch])
        for (key, tensor), raw in zip(batch, raws):
            height, width = tensor.shape[-2:]
            instances = raw_to_instances(raw, (height, width), source=source, score_threshold=0.0)
            result[key] = ImageAnnotations(key=key, instances=instances, image_size=(width, height))
        batch.clear()

    for item in images:
        batch.append(item)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return result


def summarise(report: dict) -> dict[str, float | None]:
    """The headline numbers of an evaluate_annotations report."""
    masks = report.get("mask_ap")
    segmentation = report.get("segmentation") or {}
    return {
        "box_map50": report["box_ap"]["mean"],
        "mask_map50": masks["mean"] if masks else None,
        "aji": segmentation.get("aji"),
        "aji_class_aware": segmentation.get("aji_class_aware"),
    }


def evaluate_model(model: nn.Module, images: Iterable[tuple[str, torch.Tensor]], ground_truth: AnnotationSet, *,
                   source: str, batch_size: int = 2, score_threshold: float = 0.5,
                   cancel: CancelToken | None = None) -> dict[str, float | None]:
    """box_map50, mask_map50, aji, aji_class_aware (None where undefined, e.g. masks of box-only data)."""
    predictions = predict_annotations(model, images, source=source, batch_size=batch_size, cancel=cancel)
    return summarise(evaluate_annotations(ground_truth, predictions, score_threshold=score_threshold, images="gt"))
