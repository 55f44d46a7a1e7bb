"""Skeleton-guided rotated anchors (DeepCHM Algorithm 1).

Each anchor location (a feature cell) carries the same base anchors: for every size scale s and
aspect ratio r the paper's sides l*s*sqrt(r) and l*s/sqrt(r), turned through every angle step in
[0, 180). Sides are stored in this project's convention (w the short side, h the long side; theta
clockwise, theta = 0 puts h along y), which only renames the angles: the set of rectangles is the
paper's. With SGAch the locations are the cells whose skeleton map is >= T_loc (the ground-truth
map in training, the predicted map at inference); without it, every cell.
"""

from __future__ import annotations

import math

import torch

from karyostudio.models.deepchm.spec import DeepCHMSpec


def base_anchor_shapes(spec: DeepCHMSpec) -> torch.Tensor:
    """[A, 3] (w, h, theta_deg) of the anchors at one location, scale-major, then ratio, then angle."""
    steps = int(round(180.0 / spec.angle_step))
    rows = []
    for scale in spec.scales:
        for ratio in spec.ratios:
            long_side = spec.base_size * scale * math.sqrt(ratio)
            short_side = spec.base_size * scale / math.sqrt(ratio)
            for k in range(steps):
                rows.append((short_side, long_side, k * spec.angle_step))
    return torch.tensor(rows, dtype=torch.float32)


def anchor_locations(skeleton: torch.Tensor | None, t_loc: float, grid: tuple[int, int],
                     use_sgach: bool) -> torch.Tensor:
    """[L] flat indices (row * width + col) of the anchor locations of one image.

    ``skeleton`` is the [h, w] skeleton map (ignored, and may be None, without SGAch).
    """
    height, width = grid
    if not use_sgach:
        device = skeleton.device if skeleton is not None else None
        return torch.arange(height * width, device=device)
    if skeleton is None:
        raise ValueError("skeleton-guided anchors need a skeleton map")
    if tuple(skeleton.shape) != (height, width):
        raise ValueError(f"skeleton map of shape {tuple(skeleton.shape)} does not match the grid {grid}")
    return torch.nonzero(skeleton.reshape(-1) >= t_loc, as_tuple=False).reshape(-1)


def anchors_at(locations: torch.Tensor, grid_width: int, stride: int, shapes: torch.Tensor) -> torch.Tensor:
    """[L * A, 5] anchors (cx, cy, w, h, theta) in input pixels, location-major.

    A cell (col, row) covers input pixels [col*stride, (col+1)*stride), so its centre is
    ((col + 0.5) * stride, (row + 0.5) * stride).
    """
    shapes = shapes.to(locations.device)
    rows = torch.div(locations, grid_width, rounding_mode="floor")
    cols = locations - rows * grid_width
    centres = torch.stack([(cols.float() + 0.5) * stride, (rows.float() + 0.5) * stride], dim=1)  # [L, 2]
    count, per = len(locations), len(shapes)
    centres = centres[:, None, :].expand(count, per, 2)
    sides = shapes[None, :, :].expand(count, per, 3)
    return torch.cat([centres, sides], dim=2).reshape(count * per, 5)


def gather_at(head: torch.Tensor, locations: torch.Tensor, per_anchor: int) -> torch.Tensor:
    """Values of a head map [A * per_anchor, h, w] at the locations: [L * A, per_anchor] (or [L * A]).

    Channel layout: anchor-major (anchor a's values at channels a*per_anchor ... +per_anchor-1),
    matching anchors_at's location-major, anchor-minor order.
    """
    channels = head.shape[0]
    flat = head.reshape(channels, -1)[:, locations]  # [C, L]
    values = flat.t().reshape(len(locations), channels // per_anchor, per_anchor)
    values = values.reshape(-1, per_anchor)
    return values[:, 0] if per_anchor == 1 else values
