"""Raw Mask R-CNN detections with masks still in RoI form (N x 1 x 28 x 28 probabilities).

torchvision's eval forward pastes every mask into a full-size float image, which costs
detections x height x width memory (100 x 1600 x 1600 floats = 1 GB for one AutoKary image).
``detect`` runs the same stages but stops before that step; postprocess.raw_to_instances pastes
each mask into its own box at the original image resolution instead.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.transform import resize_boxes


def unwrap(model: nn.Module) -> MaskRCNN:
    """The MaskRCNN inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


@torch.no_grad()
def detect(model: nn.Module, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Per image: boxes (N x 4, in the given image's pixels), labels (N, 1..num_classes-1),
    scores (N), masks (N x 1 x M x M mask probabilities over each box). Leaves the model's mode unchanged.

    Runs in float32 even where training uses autocast: boxes are decoded in the regression
    output's precision, and half-precision coordinates near 640 px are only 0.5-4 px apart."""
    net = unwrap(model)
    was_training = net.training
    net.eval()
    try:
        batch, _ = net.transform(images)
        features = net.backbone(batch.tensors)
        proposals, _ = net.rpn(batch, features)
        detections, _ = net.roi_heads(features, proposals, batch.image_sizes)
    finally:
        net.train(was_training)
    out = []
    for det, size, image in zip(detections, batch.image_sizes, images):
        original = (int(image.shape[-2]), int(image.shape[-1]))
        out.append({"boxes": resize_boxes(det["boxes"].float(), size, original), "labels": det["labels"],
                    "scores": det["scores"].float(), "masks": det["masks"].float()})
    return out
