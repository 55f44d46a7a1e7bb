"""DetectionPredictor: the Predictor glue shared by the Mask R-CNN-style families.

A subclass names its weights loader, its raw detector and the decoder of raw detections; this
class prepares the image (grey uint8, longer side to ``spec.input_size``, scaled to [0, 1]),
reports progress, honours cancellation, and reads "score_threshold" and "mask_threshold" from a
manifest's ``extra``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import torch

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.maskrcnn.image_prep import as_uint8, resize_long_side

DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_MASK_THRESHOLD = 0.5


class DetectionPredictor:
    """A loaded detector with masks behind the Predictor protocol (see models/base.py)."""

    # set by subclasses (as staticmethods): (path, device) -> (model, spec); (model, images) -> raw
    # detections; (raw, image_shape, *, source, scale, score_threshold, mask_threshold) -> instances
    _load_model: ClassVar[Callable[..., tuple[Any, Any]]]
    _detect: ClassVar[Callable[..., list[Mapping[str, torch.Tensor]]]]
    _raw_to_instances: ClassVar[Callable[..., list[Instance]]]

    def __init__(self, model: torch.nn.Module, spec: Any, *, name: str, description: str = "",
                 device: str = "cpu", score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                 mask_threshold: float = DEFAULT_MASK_THRESHOLD):
        self.model = model.to(device).eval()
        self.spec = spec
        self.name = name
        self.description = description or self.default_description(spec)
        self.device = torch.device(device)
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold

    @staticmethod
    def default_description(spec: Any) -> str:
        """What the model is, when its manifest says nothing."""
        raise NotImplementedError

    @classmethod
    def from_weights(cls, path: str | Path, *, name: str, device: str = "cpu", **options):
        """Load a weights file without a manifest, e.g. to try a run's export before installing it;
        ``options`` as for the constructor."""
        model, spec = cls._load_model(path, device)
        return cls(model, spec, name=name, device=device, **options)

    @classmethod
    def from_manifest(cls, manifest: Manifest, device: str = "cpu"):
        """The model whose (verified) weights the manifest names, with the manifest's thresholds."""
        extra = manifest.extra or {}
        try:
            score_threshold = float(extra.get("score_threshold", DEFAULT_SCORE_THRESHOLD))
            mask_threshold = float(extra.get("mask_threshold", DEFAULT_MASK_THRESHOLD))
        except (TypeError, ValueError) as exc:
            raise ManifestError(manifest.path, f"bad threshold in manifest: {exc}") from None
        return cls.from_weights(manifest.weights_path, name=manifest.name, description=manifest.description,
                                device=device, score_threshold=score_threshold, mask_threshold=mask_threshold)

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        check(cancel)
        report(progress, 0, 3, "preparing the image")
        gray = as_uint8(image)
        resized, scale = resize_long_side(gray, self.spec.input_size)
        tensor = torch.from_numpy(np.ascontiguousarray(resized)).to(self.device).float().div_(255.0)[None]
        check(cancel)
        report(progress, 1, 3, "detecting chromosomes")
        raw = self._detect(self.model, [tensor])[0]
        check(cancel)
        report(progress, 2, 3, "tracing outlines")
        instances = self._raw_to_instances(raw, gray.shape, source=self.name, scale=scale,
                                           score_threshold=self.score_threshold, mask_threshold=self.mask_threshold)
        report(progress, 3, 3, "done")
        return instances
