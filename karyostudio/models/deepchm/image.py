"""Image preparation shared by DeepCHM training and inference, so both feed the network the same pixels.

The paper trains at 512 x 768. Here an image keeps its aspect ratio (a rotated box stays a
rotated box only under uniform scaling): its longer side is scaled to ``input_size`` (as
training/rotated_data.py does), then it is padded on the right and bottom with its median grey
to multiples of 32 (the encoder's total stride).
"""

from __future__ import annotations

import numpy as np
import torch

from karyostudio.models.maskrcnn.image_prep import as_uint8, resize_long_side

PAD_MULTIPLE = 32


def padded_shape(height: int, width: int, multiple: int = PAD_MULTIPLE) -> tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_image(image: torch.Tensor, multiple: int = PAD_MULTIPLE) -> torch.Tensor:
    """A [1, H, W] image tensor padded right and bottom with its median to multiples of ``multiple``."""
    height, width = image.shape[-2:]
    new_h, new_w = padded_shape(height, width, multiple)
    if (new_h, new_w) == (height, width):
        return image
    out = torch.full((*image.shape[:-2], new_h, new_w), float(image.median()), dtype=image.dtype)
    out[..., :height, :width] = image
    return out


def prepare(image: np.ndarray, input_size: int) -> tuple[torch.Tensor, tuple[float, float]]:
    """([1, H, W] network input in [0, 1], (x scale, y scale) new/old) of any 2-D grey image."""
    gray = as_uint8(image)
    resized, scale = resize_long_side(gray, input_size)
    tensor = torch.from_numpy(np.ascontiguousarray(resized)).float().div_(255.0)[None]
    return pad_image(tensor), scale
