"""Masks in rotated RoI frames: targets, paste-back (inverse warp) and mask-level NMS."""

from __future__ import annotations

import numpy as np
import torch

from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.geometry.rotated import rotated_box_to_polygon
from karyostudio.models.ermrcnn.masks import mask_nms, mask_targets, paste_mask, paste_window, window_iou


def _ellipse_mask(shape, box) -> np.ndarray:
    """A filled ellipse inscribed in a rotated box (cx, cy, w, h, theta_deg), sampled at pixel centres."""
    cx, cy, w, h, theta = box
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    t = np.deg2rad(theta)
    u = (xs - cx) * np.cos(t) + (ys - cy) * np.sin(t)
    v = -(xs - cx) * np.sin(t) + (ys - cy) * np.cos(t)
    return (u / (w / 2)) ** 2 + (v / (h / 2)) ** 2 <= 1.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_known_rotated_mask_survives_target_and_paste_back():
    shape = (96, 112)
    box = (55.3, 47.8, 14.0, 60.0, 33.0)
    truth = _ellipse_mask(shape, box)
    frame = mask_targets(torch.from_numpy(truth)[None].to(torch.uint8), torch.tensor([0]),
                         torch.tensor([box], dtype=torch.float32), 56)
    # In the box's own frame the ellipse is the upright ellipse inscribed in the m x m square.
    centres = (np.arange(56) + 0.5) / 56 - 0.5
    upright = (2 * centres[None, :]) ** 2 + (2 * centres[:, None]) ** 2 <= 1.0
    assert _iou(frame[0].numpy() > 0.5, upright) > 0.9
    pasted = paste_mask(frame[0], torch.tensor(box), shape).numpy() >= 0.5
    assert _iou(pasted, truth) > 0.95


def test_full_frame_mask_pastes_to_the_box():
    shape = (80, 80)
    box = (40.0, 38.0, 12.0, 44.0, 120.0)
    pasted = paste_mask(torch.ones(28, 28), torch.tensor(box), shape).numpy() >= 0.5
    truth = polygon_to_mask(rotated_box_to_polygon(box), shape)
    assert _iou(pasted, truth) > 0.93
    # Only pixels near the box's border may differ.
    assert np.abs(pasted.astype(int) - truth.astype(int)).sum() < 0.15 * truth.sum()


def test_paste_window_outside_image_is_none_and_clipped_inside():
    assert paste_window(torch.ones(4, 4), torch.tensor([-50.0, -50.0, 5.0, 10.0, 0.0]), (20, 20)) is None
    r0, c0, values = paste_window(torch.ones(4, 4), torch.tensor([2.0, 3.0, 4.0, 6.0, 0.0]), (20, 20))
    assert (r0, c0) == (0, 0) and values.shape == (6, 4)


def test_window_iou_and_mask_nms():
    a = (0, 0, torch.ones(4, 4, dtype=torch.bool))
    b = (2, 0, torch.ones(4, 4, dtype=torch.bool))  # overlaps a in 2 x 4 = 8 pixels of 24
    c = (10, 10, torch.ones(2, 2, dtype=torch.bool))
    assert abs(window_iou(a, b) - 8 / 24) < 1e-12
    assert window_iou(a, c) == 0.0
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    empty = (0, 0, torch.zeros(3, 3, dtype=torch.bool))
    assert mask_nms([a, b, c, empty], scores, 0.3) == [0, 2]
    assert mask_nms([a, b, c, None], scores, 0.5) == [0, 1, 2]
