"""Enhanced Rotated Mask R-CNN weights files: the spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 and are converted back to float32 when loaded (as the Mask R-CNN family).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

import torch

from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.models.manifest import Manifest, ManifestError, manifest_for_weights, write_manifest
from karyostudio.models.rotated.ermrcnn import EnhancedRotatedMaskRCNN, build_ermrcnn
from karyostudio.models.rotated.ermrcnn_spec import ERMRCNNSpec, ERMRCNNSpecError

FAMILY = "rotated-maskrcnn"
WEIGHTS_FORMAT = "karyostudio-ermrcnn-weights"
WEIGHTS_VERSION = 1


class ERMRCNNWeightsError(ManifestError):
    """A file is not a readable Enhanced Rotated Mask R-CNN weights file, or does not fit its spec."""


def save_weights(path: str | Path, state_dict: Mapping[str, torch.Tensor], spec: ERMRCNNSpec, *,
                 half: bool = True) -> Path:
    state = {k: (v.detach().to("cpu", torch.float16) if half and v.is_floating_point() else v.detach().cpu())
             for k, v in state_dict.items()}
    buffer = io.BytesIO()
    torch.save({"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "spec": spec.to_dict(), "state_dict": state},
               buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def read_weights(path: str | Path) -> tuple[ERMRCNNSpec, dict[str, torch.Tensor]]:
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ERMRCNNWeightsError(path, "weights file not found") from None
    except Exception as exc:  # damaged or foreign files raise many types
        raise ERMRCNNWeightsError(path, f"cannot read weights: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != WEIGHTS_FORMAT:
        raise ERMRCNNWeightsError(path, f"not an Enhanced Rotated Mask R-CNN weights file "
                                        f"(format {WEIGHTS_FORMAT!r} expected)")
    if data.get("version") != WEIGHTS_VERSION:
        raise ERMRCNNWeightsError(path, f"weights version {data.get('version')} is not supported")
    try:
        spec = ERMRCNNSpec.from_dict(data["spec"])
    except (KeyError, ERMRCNNSpecError) as exc:
        raise ERMRCNNWeightsError(path, f"bad model spec: {exc}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    return spec, state


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[EnhancedRotatedMaskRCNN, ERMRCNNSpec]:
    """The model of a weights file, in eval mode on ``device``."""
    spec, state = read_weights(path)
    model = build_ermrcnn(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ERMRCNNWeightsError(path, f"weights do not fit the model spec: {exc}") from None
    return model.to(device).eval(), spec


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: ERMRCNNSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    weights = save_weights(Path(directory) / f"{name}.pt", state_dict, spec, half=True)
    manifest = manifest_for_weights(
        weights, name, FAMILY, description=description or "Enhanced Rotated Mask R-CNN",
        training_data=training_data, metrics={k: float(v) for k, v in (metrics or {}).items()},
        input={"channels": 1, "input_size": spec.input_size, "image_mean": [spec.image_mean],
               "image_std": [spec.image_std],
               "scaling": "uint8 / 255; other integer images percentile-stretched to uint8 first",
               "resize": "longer side to input_size"},
        extra={"spec": spec.to_dict(), **dict(extra or {})})
    return write_manifest(manifest, manifest.path)
