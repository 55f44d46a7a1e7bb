"""DeepCHM weights files: the spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 and are converted back to float32 when loaded (as Mask R-CNN's do).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

import torch

from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.models.manifest import Manifest, ManifestError, manifest_for_weights, write_manifest
from karyostudio.models.rotated.deepchm import DeepCHM
from karyostudio.models.rotated.deepchm_spec import DeepCHMSpec, DeepCHMSpecError

FAMILY = "deepchm"
WEIGHTS_FORMAT = "karyostudio-deepchm-weights"
WEIGHTS_VERSION = 1


class DeepCHMWeightsError(ManifestError):
    """A file is not a readable DeepCHM weights file, or its tensors do not fit its spec."""


def save_weights(path: str | Path, state_dict: Mapping[str, torch.Tensor], spec: DeepCHMSpec, *,
                 half: bool = True) -> Path:
    state = {k: (v.detach().to("cpu", torch.float16) if half and v.is_floating_point() else v.detach().cpu())
             for k, v in state_dict.items()}
    buffer = io.BytesIO()
    torch.save({"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "spec": spec.to_dict(),
                "state_dict": state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def read_weights(path: str | Path) -> tuple[DeepCHMSpec, dict[str, torch.Tensor]]:
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DeepCHMWeightsError(path, "weights file not found") from None
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise DeepCHMWeightsError(path, f"cannot read weights: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != WEIGHTS_FORMAT:
        raise DeepCHMWeightsError(path, f"not a DeepCHM weights file (format {WEIGHTS_FORMAT!r} expected)")
    if data.get("version") != WEIGHTS_VERSION:
        raise DeepCHMWeightsError(path, f"weights version {data.get('version')} is not supported")
    try:
        spec = DeepCHMSpec.from_dict(data["spec"])
    except (KeyError, DeepCHMSpecError) as exc:
        raise DeepCHMWeightsError(path, f"bad model spec: {exc}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    return spec, state


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[DeepCHM, DeepCHMSpec]:
    """The model of a weights file, in eval mode on ``device``."""
    spec, state = read_weights(path)
    model = DeepCHM(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise DeepCHMWeightsError(path, f"weights do not fit the model spec: {exc}") from None
    return model.to(device).eval(), spec


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: DeepCHMSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    weights = save_weights(Path(directory) / f"{name}.pt", state_dict, spec, half=True)
    manifest = manifest_for_weights(
        weights, name, FAMILY, classes=[], description=description, training_data=training_data,
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        input={"channels": 1, "input_size": spec.input_size, "scaling": "uint8 / 255",
               "resize": "longer side to input_size, padded with the median grey to multiples of 32"},
        extra={"spec": spec.to_dict(), "class_agnostic": True, **dict(extra or {})})
    return write_manifest(manifest, manifest.path)
