"""Rotated-box basics in torch: validation, canonical form, corners and areas.

Boxes are float tensors ``[..., 5] = (cx, cy, w, h, theta_deg)`` in the convention of
:mod:`karyostudio.geometry.rotated`: the w side runs along (cos theta, sin theta), the h side
along (-sin theta, cos theta), theta is clockwise on screen (y down) and canonical boxes have
h >= w with theta in [0, 180) (squares: [0, 90)). Every function works on CPU and GPU and keeps
autograd where the operation is differentiable.
"""

from __future__ import annotations

import torch


def check_boxes(boxes: torch.Tensor, name: str = "boxes") -> torch.Tensor:
    """The tensor itself if it is a floating tensor of shape [..., 5]; TypeError/ValueError otherwise."""
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(boxes).__name__}")
    if not boxes.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {boxes.dtype}")
    if boxes.ndim == 0 or boxes.shape[-1] != 5:
        raise ValueError(f"{name} must have shape [..., 5] (cx, cy, w, h, theta_deg), got {tuple(boxes.shape)}")
    return boxes


def normalize_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """The same rectangles in canonical form: h >= w, theta in [0, 180) ([0, 90) for squares).

    Differentiable (the swap is a ``torch.where``, the wrap a ``remainder``). Raises ValueError
    for negative sides, which describe no rectangle.
    """
    check_boxes(boxes)
    if bool((boxes[..., 2:4] < 0).any()):
        raise ValueError("rotated boxes need non-negative w and h")
    cx, cy, w, h, theta = boxes.unbind(-1)
    swap = w > h
    new_w = torch.where(swap, h, w)
    new_h = torch.where(swap, w, h)
    theta = torch.where(swap, theta + 90.0, theta)
    period = torch.where(new_w == new_h, torch.full_like(theta, 90.0), torch.full_like(theta, 180.0))
    theta = torch.remainder(theta, period)
    theta = torch.where(theta >= period, torch.zeros_like(theta), theta)  # remainder can round up
    return torch.stack([cx, cy, new_w, new_h, theta], dim=-1)


def box_corners(boxes: torch.Tensor) -> torch.Tensor:
    """Corners ``[..., 4, 2]`` with positive shoelace area (counter-clockwise in x-right/y-up terms).

    Order in box coordinates: (-w/2, -h/2), (+w/2, -h/2), (+w/2, +h/2), (-w/2, +h/2), the same
    as ``karyostudio.geometry.rotated.rotated_box_corners``.
    """
    check_boxes(boxes)
    t = torch.deg2rad(boxes[..., 4])
    cos, sin = torch.cos(t), torch.sin(t)
    half_w = boxes[..., 2:3] / 2
    half_h = boxes[..., 3:4] / 2
    u = torch.stack([cos, sin], dim=-1) * half_w
    v = torch.stack([-sin, cos], dim=-1) * half_h
    c = boxes[..., 0:2]
    return torch.stack([c - u - v, c + u - v, c + u + v, c - u + v], dim=-2)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas ``[...]`` (w * h)."""
    check_boxes(boxes)
    return boxes[..., 2] * boxes[..., 3]


def box_extents(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis-aligned extents (lo ``[..., 2]``, hi ``[..., 2]``) of rotated boxes."""
    corners = box_corners(boxes)
    return corners.amin(dim=-2), corners.amax(dim=-2)


def boxes_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """The axis-aligned box ``[..., 4] = (x0, y0, x1, y1)`` enclosing each rotated box."""
    lo, hi = box_extents(boxes)
    return torch.cat([lo, hi], dim=-1)
