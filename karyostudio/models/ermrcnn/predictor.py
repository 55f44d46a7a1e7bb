"""ERMRCNNPredictor: a loaded Enhanced Rotated Mask R-CNN behind the Predictor protocol.

``from_manifest`` is the registry factory of family "rotated-maskrcnn"; the manifest's
``extra`` may set "score_threshold" and "mask_threshold". Each detection's m x m mask is pasted
back through its box (inverse rotated warp) at the caller's image resolution, thresholded and
traced (models/rotated/postprocess.instance_from_mask). attributes["rotated_box"] is the
detector's rotated box for rotated detections and the mask's minimum-area box for axis-aligned
ones (whose box says nothing about the chromosome's angle).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from karyostudio.core.instance import Instance
from karyostudio.models.manifest import Manifest
from karyostudio.models.maskrcnn.detection_predictor import DetectionPredictor
from karyostudio.models.ermrcnn.model import EnhancedRotatedMaskRCNN
from karyostudio.models.ermrcnn.masks import paste_window
from karyostudio.models.ermrcnn.spec import ERMRCNNSpec
from karyostudio.models.ermrcnn.weights import load_model
from karyostudio.models.rotated.postprocess import instance_from_mask


@torch.no_grad()
def detect(model: EnhancedRotatedMaskRCNN, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Raw detections (see ermrcnn.EnhancedRotatedMaskRCNN) in float32; the model's mode is kept."""
    net = getattr(model, "module", model)
    was_training = net.training
    net.eval()
    try:
        return net(images)
    finally:
        net.train(was_training)


def raw_to_instances(raw: Mapping[str, torch.Tensor], image_shape: tuple[int, int], *, source: str,
                     scale: tuple[float, float] = (1.0, 1.0), score_threshold: float = 0.5,
                     mask_threshold: float = 0.5) -> list[Instance]:
    """Instances in the pixels of an image of ``image_shape``; ``scale`` = network / image pixels."""
    sx, sy = scale
    boxes = raw["rboxes"].detach().float().cpu().clone()
    boxes[:, 0] /= sx
    boxes[:, 1] /= sy
    boxes[:, 2:4] /= (sx + sy) / 2  # the two scales differ only by rounding
    scores = raw["scores"].detach().float().cpu()
    labels = raw["labels"].detach().cpu()
    masks = raw["masks"].detach().float().cpu()
    rotated = raw.get("rotated", torch.ones(len(boxes), dtype=torch.bool)).cpu()
    instances: list[Instance] = []
    for k in torch.argsort(scores, descending=True, stable=True).tolist():
        if float(scores[k]) < score_threshold:
            break
        window = paste_window(masks[k], boxes[k], image_shape)
        if window is None:
            continue
        r0, c0, values = window
        full = np.zeros(image_shape, dtype=bool)
        full[r0:r0 + values.shape[0], c0:c0 + values.shape[1]] = (values >= mask_threshold).numpy()
        box = boxes[k].tolist() if bool(rotated[k]) else None
        inst = instance_from_mask(full, float(scores[k]), int(labels[k]), source, instance_id=len(instances) + 1,
                                  rotated_box=box)
        if inst is not None:
            instances.append(inst)
    return instances


class ERMRCNNPredictor(DetectionPredictor):
    """Enhanced Rotated Mask R-CNN: ``ERMRCNNPredictor(model, spec, name=...)`` or ``from_weights`` /
    ``from_manifest``."""

    _load_model = staticmethod(load_model)
    _detect = staticmethod(detect)
    _raw_to_instances = staticmethod(raw_to_instances)

    @staticmethod
    def default_description(spec: ERMRCNNSpec) -> str:
        return f"Enhanced Rotated Mask R-CNN ({spec.backbone})"


def from_manifest(manifest: Manifest, device: str = "cpu") -> ERMRCNNPredictor:
    """Registry factory: the model whose (verified) weights the manifest names."""
    return ERMRCNNPredictor.from_manifest(manifest, device)
