"""CenterNetPredictor: the centre detector alone behind the Predictor protocol (family "centernet").

Class-agnostic: every detection is a chromosome with label None and the detector's score; its
outline is traced inside its box (outlines.py). The default model combines this detector with
the crop classifier (models/classic/pipeline.py); this predictor exists to measure and use the
detector on its own. ``from_manifest`` is the registry factory; the manifest's ``extra`` may
set "score_threshold".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.centernet.detector import CenterNetDetector
from karyostudio.models.centernet.outlines import edge_width, instances_from_detections
from karyostudio.models.centernet.weights import load_model
from karyostudio.models.manifest import Manifest, ManifestError


def load_detector(path: str | Path, device: str = "cpu", score_threshold: float | None = None) -> CenterNetDetector:
    model, _ = load_model(path, device)
    return CenterNetDetector(model, device=device, score_threshold=score_threshold)


def manifest_threshold(manifest: Manifest, value: object) -> float | None:
    """A score threshold from a manifest (None: the spec's), checked."""
    if value is None:
        return None
    try:
        threshold = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ManifestError(manifest.path, f"bad score_threshold in manifest: {value!r}") from None
    if not 0.0 <= threshold <= 1.0:
        raise ManifestError(manifest.path, f"score_threshold must lie in [0, 1], got {threshold}")
    return threshold


class CenterNetPredictor:
    def __init__(self, detector: CenterNetDetector, *, name: str, description: str = ""):
        self.detector = detector
        self.name = name
        self.description = description or "class-agnostic chromosome centre detector"

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        check(cancel)
        report(progress, 0, 2, "detecting chromosomes")
        result = self.detector.detect(image, cancel)
        found = result.detections
        report(progress, 1, 2, f"tracing {len(found)} outlines")
        instances = instances_from_detections(image, found, source=self.name, edge_px=edge_width(result.scale),
                                              cancel=cancel)
        report(progress, 2, 2, "done")
        return instances


def from_manifest(manifest: Manifest, device: str = "cpu") -> CenterNetPredictor:
    threshold = manifest_threshold(manifest, (manifest.extra or {}).get("score_threshold"))
    detector = load_detector(manifest.weights_path, device, threshold)
    return CenterNetPredictor(detector, name=manifest.name, description=manifest.description)
