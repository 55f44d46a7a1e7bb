"""Mask R-CNN weights files: the model spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 (half the size; the precision loss is far below what changes a detection)
and are converted back to float32 when loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torchvision.models.detection import MaskRCNN

from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.maskrcnn.build import build_maskrcnn
from karyostudio.models.maskrcnn.spec import MaskRCNNSpec, SpecError
from karyostudio.models.weights_io import (
    load_fitting_state,
    read_spec_and_state,
    save_weights_file,
    write_export_manifest,
)

FAMILY = "maskrcnn"
WEIGHTS_FORMAT = "karyostudio-maskrcnn-weights"
WEIGHTS_VERSION = 1


class WeightsFileError(ManifestError):
    """A file is not a readable Mask R-CNN weights file, or its tensors do not fit its spec."""


def save_weights(path: str | Path, state_dict: Mapping[str, torch.Tensor], spec: MaskRCNNSpec, *,
                 half: bool = True) -> Path:
    """Write spec + state_dict atomically (floating-point tensors as float16 when ``half``)."""
    return save_weights_file(path, WEIGHTS_FORMAT, WEIGHTS_VERSION, spec, state_dict, half=half)


def read_weights(path: str | Path) -> tuple[MaskRCNNSpec, dict[str, torch.Tensor]]:
    """(spec, float32 state_dict) of a weights file."""
    return read_spec_and_state(Path(path), WEIGHTS_FORMAT, WeightsFileError, kind="a Mask R-CNN",
                               parse_spec=MaskRCNNSpec.from_dict, spec_errors=(SpecError,))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[MaskRCNN, MaskRCNNSpec]:
    """The model of a weights file, in eval mode on ``device``."""
    spec, state = read_weights(path)
    return load_fitting_state(build_maskrcnn(spec), state, Path(path), WeightsFileError, device), spec


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: MaskRCNNSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    weights = save_weights(Path(directory) / f"{name}.pt", state_dict, spec, half=True)
    return write_export_manifest(
        weights, name, FAMILY, spec, description=description, training_data=training_data, metrics=metrics,
        input={"channels": 1, "input_size": spec.input_size, "image_mean": [spec.image_mean],
               "image_std": [spec.image_std],
               "scaling": "uint8 / 255; other integer images percentile-stretched to uint8 first",
               "resize": "longer side to input_size"},
        extra=extra)
