"""Enhanced Rotated Mask R-CNN weights files: the spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 and are converted back to float32 when loaded (as the Mask R-CNN family).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.rotated.ermrcnn import EnhancedRotatedMaskRCNN, build_ermrcnn
from karyostudio.models.rotated.ermrcnn_spec import ERMRCNNSpec, ERMRCNNSpecError
from karyostudio.models.weights_io import (
    load_fitting_state,
    read_spec_and_state,
    save_weights_file,
    write_export_manifest,
)

FAMILY = "rotated-maskrcnn"
WEIGHTS_FORMAT = "karyostudio-ermrcnn-weights"
WEIGHTS_VERSION = 1


class ERMRCNNWeightsError(ManifestError):
    """A file is not a readable Enhanced Rotated Mask R-CNN weights file, or does not fit its spec."""


def save_weights(path: str | Path, state_dict: Mapping[str, torch.Tensor], spec: ERMRCNNSpec, *,
                 half: bool = True) -> Path:
    """Write spec + state_dict atomically (floating-point tensors as float16 when ``half``)."""
    return save_weights_file(path, WEIGHTS_FORMAT, WEIGHTS_VERSION, spec, state_dict, half=half)


def read_weights(path: str | Path) -> tuple[ERMRCNNSpec, dict[str, torch.Tensor]]:
    """(spec, float32 state_dict) of a weights file."""
    return read_spec_and_state(Path(path), WEIGHTS_FORMAT, ERMRCNNWeightsError, kind="an Enhanced Rotated Mask R-CNN",
                               parse_spec=ERMRCNNSpec.from_dict, spec_errors=(ERMRCNNSpecError,),
                               version=WEIGHTS_VERSION)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[EnhancedRotatedMaskRCNN, ERMRCNNSpec]:
    """The model of a weights file, in eval mode on ``device``."""
    spec, state = read_weights(path)
    return load_fitting_state(build_ermrcnn(spec), state, Path(path), ERMRCNNWeightsError, device), spec


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: ERMRCNNSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    weights = save_weights(Path(directory) / f"{name}.pt", state_dict, spec, half=True)
    return write_export_manifest(
        weights, name, FAMILY, spec, description=description or "Enhanced Rotated Mask R-CNN",
        training_data=training_data, metrics=metrics,
        input={"channels": 1, "input_size": spec.input_size, "image_mean": [spec.image_mean],
               "image_std": [spec.image_std],
               "scaling": "uint8 / 255; other integer images percentile-stretched to uint8 first",
               "resize": "longer side to input_size"},
        extra=extra)
