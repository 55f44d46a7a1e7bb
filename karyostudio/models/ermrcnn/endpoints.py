"""The endpoint detection branch of Enhanced Rotated Mask R-CNN and its heatmap targets.

Branch (paper, Sec. II-B): the five FPN maps go through six convolutions; the fifth layer's
features are added to the FPN maps (extra position information for the RPN and RoI heads) and
the sixth gives a one-channel map that is interpolated to the input size. The per-level maps
are averaged into one heatmap. Loss (Eq. 4): mean squared error between the predicted heatmap
(sigmoid) and the target over all N x M pixels.

Targets: a Gaussian (``sigma`` px) at each chromosome end, the maximum where they meet. Ends
come from the data when it has them (synthetic metaphases do); otherwise from the mask's
skeleton: its ends (pixels with one skeleton neighbour), the two farthest apart when there are
more, the two farthest skeleton pixels when it has no ends (a ring).
"""

from __future__ import annotations

import math
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.morphology import skeletonize
from torch import nn

from karyostudio.models.maskrcnn.backbones import group_norm


class EndpointBranch(nn.Module):
    def __init__(self, fpn_channels: int, channels: int):
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), group_norm(c_out),
                                 nn.ReLU(inplace=True))

        self.body = nn.Sequential(block(fpn_channels, channels), block(channels, channels), block(channels, channels),
                                  block(channels, channels))
        self.fifth = nn.Conv2d(channels, fpn_channels, 3, padding=1)
        self.sixth = nn.Conv2d(fpn_channels, 1, 3, padding=1)
        # Start with a small contribution to the FPN maps so the detector starts as without the branch.
        nn.init.normal_(self.fifth.weight, std=0.001)
        nn.init.zeros_(self.fifth.bias)
        nn.init.zeros_(self.sixth.bias)  # sigmoid 0.5: a saturated start would barely learn under Eq. (4)

    def forward(self, features: dict[str, torch.Tensor], image_hw: tuple[int, int]
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(FPN maps plus the fifth layer's features, heatmap logits [B, 1, H, W])."""
        enhanced, logits = {}, []
        for name, feature in features.items():
            fifth = self.fifth(self.body(feature))
            enhanced[name] = feature + fifth
            logits.append(F.interpolate(self.sixth(F.relu(fifth)), size=image_hw, mode="bilinear", align_corners=False))
        return enhanced, torch.stack(logits, 0).mean(0)


def endpoint_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. (4): 1 / (N M) * sum (x - x_hat)^2 over pixels, averaged over the batch."""
    if logits.shape != target.shape:
        raise ValueError(f"heatmap {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    return F.mse_loss(torch.sigmoid(logits), target)


def mask_endpoints(mask: np.ndarray) -> np.ndarray:
    """The two ends [[x, y], [x, y]] (pixel centres) of a chromosome mask's skeleton; [0, 2] if empty."""
    mask = np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return np.zeros((0, 2))
    r0, c0 = rows.min(), cols.min()
    crop = np.pad(mask[r0:rows.max() + 1, c0:cols.max() + 1], 1)
    skeleton = skeletonize(crop)
    if not skeleton.any():
        skeleton = crop
    neighbours = ndimage.convolve(skeleton.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    ends = np.argwhere(skeleton & (neighbours == 1))
    candidates = ends if len(ends) >= 2 else np.argwhere(skeleton)
    if len(candidates) == 1:
        pair = np.stack([candidates[0], candidates[0]])
    else:
        d = ((candidates[:, None, :] - candidates[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmax(d)), d.shape)
        pair = candidates[[i, j]]
    # (row, col) in the padded crop -> (x, y) pixel centres in the image.
    return np.stack([pair[:, 1] - 1 + c0 + 0.5, pair[:, 0] - 1 + r0 + 0.5], axis=1).astype(np.float64)


def endpoint_heatmap(points: np.ndarray | torch.Tensor, shape: tuple[int, int], sigma: float) -> torch.Tensor:
    """[H, W] float32 heatmap: max over points (x, y) of exp(-d^2 / (2 sigma^2)) at pixel centres."""
    height, width = shape
    heat = torch.zeros((height, width), dtype=torch.float32)
    pts = torch.as_tensor(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    radius = int(math.ceil(3 * sigma))
    for x, y in pts.tolist():
        c0, c1 = max(int(math.floor(x)) - radius, 0), min(int(math.floor(x)) + radius + 1, width)
        r0, r1 = max(int(math.floor(y)) - radius, 0), min(int(math.floor(y)) + radius + 1, height)
        if c1 <= c0 or r1 <= r0:
            continue
        xs = torch.arange(c0, c1, dtype=torch.float32) + 0.5 - x
        ys = torch.arange(r0, r1, dtype=torch.float32) + 0.5 - y
        blob = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma ** 2))
        heat[r0:r1, c0:c1] = torch.maximum(heat[r0:r1, c0:c1], blob)
    return heat

