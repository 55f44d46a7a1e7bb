"""OverlapSegmenter: a trained region-guided UNet++ that maps a cluster crop to ChromSeg's two maps.

    segmenter = load_splitter_model("chromseg-cpu")          # a model name, manifest or weights path
    foreground, crossing = segmenter.predict_maps(crop)      # float32 probabilities, crop.shape each

Weights files hold the network shape as a plain dict and a state_dict in float16 (nothing
pickled; ``torch.load(weights_only=True)``); the manifest (family "chromseg") says how inputs
are prepared. A crop is turned to 8 bits (16-bit data percentile-stretched), shrunk when its
longer side exceeds ``max_side``, padded with its background level (median of its border) to
at least ``input_size`` and to a multiple of the network's ``size_multiple`` (the network is
fully convolutional, so crops keep their scale), normalised as (x / 255 - mean) / std, and the
maps are cut and resized back. The crossing map is capped by the foreground map: a crossing
lies inside chromosomes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np
import torch

from karyostudio.io.images import to_display_uint8
from karyostudio.models.manifest import (
    MANIFEST_SUFFIX,
    Manifest,
    ManifestError,
    find_manifests,
    read_manifest,
    verify_weights,
)
from karyostudio.models.overlap.unetpp import RegionGuidedUNetPP, UNetPPSpec, UNetPPSpecError, build_unetpp
from karyostudio.models.registry import UnknownModelError, resolve_device
from karyostudio.models.weights_io import WeightsFormat

FAMILY = "chromseg"
DEFAULT_MODEL = "chromseg-cpu"
IMAGE_MEAN, IMAGE_STD = 0.5, 0.25


class ChromSegWeightsError(ManifestError):
    """A file is not a readable ChromSeg weights file, or its tensors do not fit its network."""


# --- weights files and manifests -------------------------------------------------------------------

WEIGHTS = WeightsFormat(family=FAMILY, name="karyostudio-chromseg-weights", kind="a ChromSeg",
                        error=ChromSegWeightsError, parse_spec=UNetPPSpec.from_dict, spec_errors=(UNetPPSpecError,),
                        build=build_unetpp)


def load_network(path: str | Path, device: str | torch.device = "cpu") -> RegionGuidedUNetPP:
    """The network of a weights file, float32, in eval mode on ``device``."""
    return WEIGHTS.load_model(path, device)[0]


def export_chromseg(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: UNetPPSpec, *,
                    input_size: int, threshold: float = 0.5, description: str = "", training_data: str = "",
                    metrics: Mapping[str, float] | None = None, extra: Mapping[str, Any] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    return WEIGHTS.export(
        directory, name, state_dict, spec, classes=[], description=description, training_data=training_data,
        metrics=metrics,
        input={"channels": 1, "input_size": input_size, "size_multiple": spec.size_multiple,
               "max_side": 2 * input_size, "image_mean": IMAGE_MEAN, "image_std": IMAGE_STD,
               "scaling": "uint8 / 255; uint16 percentile-stretched (0.5-99.5%) to uint8 first",
               "pad": "border median to at least input_size and a multiple of size_multiple",
               "outputs": ["foreground", "crossing"], "threshold": threshold},
        extra=extra)


# --- inference --------------------------------------------------------------------------------------

class OverlapSegmenter:
    """Foreground and crossing-overlap probability maps of cluster crops."""

    def __init__(self, model: RegionGuidedUNetPP, *, input_size: int = 256, max_side: int | None = None,
                 mean: float = IMAGE_MEAN, std: float = IMAGE_STD, threshold: float = 0.5, name: str = "",
                 device: str = "cpu"):
        self.model = model.eval()
        self.input_size = int(input_size)
        self.max_side = int(max_side) if max_side else 2 * self.input_size
        self.mean, self.std, self.threshold = float(mean), float(std), float(threshold)
        self.multiple = model.spec.size_multiple
        self.name, self.device = name, device

    @classmethod
    def from_manifest(cls, manifest: Manifest, device: str = "cpu") -> "OverlapSegmenter":
        if manifest.family != FAMILY:
            raise ManifestError(manifest.path, f"model {manifest.name!r} is of family {manifest.family!r}, "
                                               f"not a ChromSeg segmenter ({FAMILY!r})")
        device = resolve_device(device)
        weights = verify_weights(manifest)
        spec = manifest.input
        return cls(load_network(weights, device), input_size=int(spec.get("input_size", 256)),
                   max_side=spec.get("max_side"), mean=float(spec.get("image_mean", IMAGE_MEAN)),
                   std=float(spec.get("image_std", IMAGE_STD)), threshold=float(spec.get("threshold", 0.5)),
                   name=manifest.name, device=device)

    def predict_maps(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(foreground, crossing) float32 probability maps of the crop's own size."""
        image = _as_gray_uint8(crop)
        height, width = image.shape
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        h, w = image.shape
        ph = max(self.input_size, -(-h // self.multiple) * self.multiple)
        pw = max(self.input_size, -(-w // self.multiple) * self.multiple)
        top, left = (ph - h) // 2, (pw - w) // 2
        fill = np.median(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]))
        padded = np.full((ph, pw), fill, dtype=np.float32)
        padded[top:top + h, left:left + w] = image
        x = torch.from_numpy((padded / 255.0 - self.mean) / self.std)[None, None].to(self.device)
        with torch.inference_mode():
            foreground, crossing = self.model.probabilities(x)
        maps = []
        for m in (foreground, crossing):
            m = m[0, top:top + h, left:left + w].float().cpu().numpy()
            if scale < 1.0:
                m = cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)
            maps.append(np.clip(m, 0.0, 1.0).astype(np.float32))
        return maps[0], np.minimum(maps[1], maps[0])


def _as_gray_uint8(crop: np.ndarray) -> np.ndarray:
    if not isinstance(crop, np.ndarray):
        raise TypeError(f"a crop must be a numpy array, got {type(crop).__name__}")
    if crop.ndim != 2:
        raise ValueError(f"a crop must be a 2-D grayscale array, got shape {crop.shape}")
    if crop.shape[0] == 0 or crop.shape[1] == 0:
        raise ValueError("a crop must have pixels")
    if crop.dtype == np.uint8:
        return crop
    if crop.dtype == np.uint16:
        return to_display_uint8(crop)
    raise ValueError(f"a crop must be uint8 or uint16, got {crop.dtype}")


def from_manifest(manifest: Manifest, device: str = "cpu") -> OverlapSegmenter:
    return OverlapSegmenter.from_manifest(manifest, device)


def load_splitter_model(name_or_path: str | Path = DEFAULT_MODEL, device: str = "cpu") -> OverlapSegmenter:
    """The segmenter of a model name (found in the model folders), a manifest path or a weights path."""
    return OverlapSegmenter.from_manifest(_locate(name_or_path), device)


def _locate(name_or_path: str | Path) -> Manifest:
    text = str(name_or_path)
    manifests = find_manifests()
    if not isinstance(name_or_path, Path) and text in manifests:
        return read_manifest(manifests[text])
    path = Path(text).expanduser()
    if path.name.endswith(MANIFEST_SUFFIX):
        return read_manifest(path)
    if path.is_file():
        for candidate in sorted(path.parent.glob(f"*{MANIFEST_SUFFIX}")):
            try:
                manifest = read_manifest(candidate)
            except ManifestError:
                continue
            if manifest.weights == path.name:
                return manifest
        raise ManifestError(path, f"no manifest beside the weights file names it; expected a "
                                  f"*{MANIFEST_SUFFIX} file with \"weights\": \"{path.name}\"")
    if isinstance(name_or_path, Path) or path.suffix or "/" in text or "\\" in text:
        raise ManifestError(path, "no such manifest or weights file")
    available = []
    for name, manifest_path in manifests.items():
        try:
            if read_manifest(manifest_path).family == FAMILY:
                available.append(name)
        except ManifestError:
            continue
    raise UnknownModelError(text, available)
