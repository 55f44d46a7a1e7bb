"""MaskRCNNPredictor: a loaded Mask R-CNN behind the Predictor protocol (see models/base.py).

Loading goes through a manifest (``from_manifest`` is the registry factory of family
"maskrcnn"); the manifest's ``extra`` may set "score_threshold" and "mask_threshold".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.maskrcnn.image_prep import as_uint8, resize_long_side
from karyostudio.models.maskrcnn.inference import detect
from karyostudio.models.maskrcnn.postprocess import raw_to_instances
from karyostudio.models.maskrcnn.spec import MaskRCNNSpec
from karyostudio.models.maskrcnn.weights import load_model

DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_MASK_THRESHOLD = 0.5


class MaskRCNNPredictor:
    def __init__(self, model: MaskRCNN, spec: MaskRCNNSpec, *, name: str, description: str = "",
                 device: str = "cpu", score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                 mask_threshold: float = DEFAULT_MASK_THRESHOLD):
        self.model = model.to(device).eval()
        self.spec = spec
        self.name = name
        self.description = description or f"Mask R-CNN ({spec.backbone}{', attention FPN' if spec.attention else ''})"
        self.device = torch.device(device)
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold

    @classmethod
    def from_weights(cls, path: str | Path, *, name: str, device: str = "cpu", **options) -> "MaskRCNNPredictor":
        """Load a weights file (weights.save_weights / export_model) without a manifest, e.g. to try a
        run's export before installing it; ``options`` as for the constructor."""
        model, spec = load_model(path, device)
        return cls(model, spec, name=name, device=device, **options)

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        check(cancel)
        report(progress, 0, 3, "preparing the image")
        gray = as_uint8(image)
        resized, scale = resize_long_side(gray, self.spec.input_size)
        tensor = torch.from_numpy(np.ascontiguousarray(resized)).to(self.device).float().div_(255.0)[None]
        check(cancel)
        report(progress, 1, 3, "detecting chromosomes")
        raw = detect(self.model, [tensor])[0]
        check(cancel)
        report(progress, 2, 3, "tracing outlines")
        instances = raw_to_instances(raw, gray.shape, source=self.name, scale=scale,
                                     score_threshold=self.score_threshold, mask_threshold=self.mask_threshold)
        report(progress, 3, 3, "done")
        return instances


def from_manifest(manifest: Manifest, device: str = "cpu") -> MaskRCNNPredictor:
    """Registry factory: the model whose (verified) weights the manifest names."""
    extra = manifest.extra or {}
    try:
        score_threshold = float(extra.get("score_threshold", DEFAULT_SCORE_THRESHOLD))
        mask_threshold = float(extra.get("mask_threshold", DEFAULT_MASK_THRESHOLD))
    except (TypeError, ValueError) as exc:
        raise ManifestError(manifest.path, f"bad threshold in manifest: {exc}") from None
    return MaskRCNNPredictor.from_weights(manifest.weights_path, name=manifest.name, description=manifest.description,
                                          device=device, score_threshold=score_threshold,
                                          mask_threshold=mask_threshold)
