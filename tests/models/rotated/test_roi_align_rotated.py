"""Rotated RoIAlign against torchvision's axis-aligned RoIAlign and against exact crops."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align

from karyostudio.models.rotated.roi_align_rotated import (
    MultiScaleRotatedRoIAlign,
    roi_align_rotated,
    rotated_sample_points,
)


def _features(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, 40, 48, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("scale, ratio", [(1.0, 2), (0.25, 2), (0.5, 1)])
def test_axis_aligned_roi_matches_torchvision(scale, ratio):
    feats = _features()
    # Interior boxes of odd sizes and fractional positions, on both images.
    xyxy = torch.tensor([[0, 6.3, 5.1, 30.7, 20.9], [1, 10.0, 8.0, 18.5, 36.2], [0, 12.2, 14.4, 40.0, 30.0]],
                        dtype=torch.float64)
    xyxy[:, 1:] /= scale
    x0, y0, x1, y1 = xyxy[:, 1:].unbind(-1)
    rotated = torch.stack([xyxy[:, 0], (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, torch.zeros_like(x0)], 1)
    ours = roi_align_rotated(feats, rotated, (7, 5), spatial_scale=scale, sampling_ratio=ratio)
    theirs = roi_align(feats, xyxy, (7, 5), spatial_scale=scale, sampling_ratio=ratio, aligned=True)
    assert ours.shape == (3, 3, 7, 5)
    torch.testing.assert_close(ours, theirs, atol=1e-9, rtol=0)


def test_ninety_degree_roi_is_the_transposed_crop():
    feats = _features(1)
    # A pixel-aligned crop sampled at pixel centres: 1 bin per pixel, 1 sample per bin.
    x0, y0, cols, rows = 8, 5, 12, 20  # crop of 20 rows x 12 columns
    crop = feats[0, :, y0:y0 + rows, x0:x0 + cols]
    cx, cy = x0 + cols / 2, y0 + rows / 2
    # theta = 90: the w side runs along +y (rows of the crop), the h side along -x.
    roi = torch.tensor([[0, cx, cy, rows, cols, 90.0]], dtype=torch.float64)
    out = roi_align_rotated(feats, roi, (cols, rows), sampling_ratio=1)[0]  # out_h = cols, out_w = rows
    expected = torch.flip(crop.transpose(-1, -2), dims=[-2])
    torch.testing.assert_close(out, expected, atol=1e-9, rtol=0)


def test_upright_roi_at_pixel_centres_is_the_exact_crop():
    feats = _features(2)
    roi = torch.tensor([[1, 10 + 4 / 2, 3 + 9 / 2, 4, 9, 0.0]], dtype=torch.float64)
    out = roi_align_rotated(feats, roi, (9, 4), sampling_ratio=1)[0]
    torch.testing.assert_close(out, feats[1, :, 3:12, 10:14], atol=1e-9, rtol=0)


def test_sample_points_follow_the_box_axes():
    roi = torch.tensor([[50.0, 40.0, 10.0, 30.0, 30.0]])
    pts = rotated_sample_points(roi, 3, 1)[0, :, 0]  # one column along the h side
    t = torch.deg2rad(torch.tensor(30.0))
    direction = torch.stack([-torch.sin(t), torch.cos(t)])
    torch.testing.assert_close(pts[2] - pts[0], direction * 20.0)
    torch.testing.assert_close(pts[1], torch.tensor([50.0, 40.0]))


def test_gradients_reach_features():
    feats = _features().float().requires_grad_(True)
    rois = torch.tensor([[0, 20.0, 20.0, 6.0, 20.0, 33.0]])
    roi_align_rotated(feats, rois, 7).sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_multiscale_picks_levels_by_size_and_keeps_order():
    feats = {"0": torch.rand(1, 2, 64, 64), "1": torch.rand(1, 2, 32, 32)}
    pool = MultiScaleRotatedRoIAlign(["0", "1"], [4, 8], output_size=3, canonical_size=32, canonical_level=3)
    boxes = torch.tensor([[40.0, 40.0, 8.0, 8.0, 0.0], [100.0, 100.0, 64.0, 64.0, 10.0]])
    assert pool.levels_for(boxes).tolist() == [0, 1]
    out = pool(feats, [boxes])
    torch.testing.assert_close(out[1:], roi_align_rotated(feats["1"], torch.cat([torch.zeros(1, 1), boxes[1:]], 1),
                                                          3, 1 / 8))


def test_bad_rois_are_rejected():
    with pytest.raises(ValueError, match="rois must be"):
        roi_align_rotated(torch.rand(1, 1, 8, 8), torch.zeros(2, 5), 3)
