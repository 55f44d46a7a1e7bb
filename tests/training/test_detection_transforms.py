"""Paired transforms: outlines follow their image exactly; targets come out in torchvision's format."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.geometry.polygons import box_to_polygon, polygon_bbox, polygon_to_mask
from karyostudio.training.config import AugmentConfig
from karyostudio.training.transforms import (
    DetectionSample,
    adjust,
    as_boxes,
    augment,
    coarse_masks,
    hflip,
    resize,
    rot90,
    rotate,
    to_target,
    vflip,
)

H, W = 48, 64
BAR = np.array([[10.0, 5.0], [18.0, 5.0], [30.0, 30.0], [22.0, 33.0]])  # a slanted chromosome-like quad
L_SHAPE = np.array([[40.0, 10.0], [44.0, 10.0], [44.0, 30.0], [56.0, 30.0], [56.0, 34.0], [40.0, 34.0]])


def painted_sample(has_masks: bool = True) -> DetectionSample:
    """An image whose dark pixels are exactly the outlines' pixels."""
    image = np.full((H, W), 220, dtype=np.uint8)
    for poly in (BAR, L_SHAPE):
        image[polygon_to_mask(poly, (H, W))] = 30
    polygons = (BAR, L_SHAPE) if has_masks else tuple(box_to_polygon(polygon_bbox(p)) for p in (BAR, L_SHAPE))
    return DetectionSample("cell", image, polygons, (1, 23), has_masks)


def masks_of(sample: DetectionSample) -> np.ndarray:
    return np.logical_or.reduce([polygon_to_mask(p, sample.image.shape) for p in sample.polygons])


@pytest.mark.parametrize("transform", [hflip, vflip, lambda s: rot90(s, 1), lambda s: rot90(s, 2),
                                       lambda s: rot90(s, 3)])
def test_flips_and_quarter_turns_move_outlines_exactly_with_the_pixels(transform):
    sample = painted_sample()
    out = transform(sample)
    assert np.array_equal(masks_of(out), out.image == 30)
    assert out.labels == sample.labels and out.has_masks


def test_quarter_turn_swaps_the_image_sides_like_numpy():
    out = rot90(painted_sample(), 1)
    assert out.image.shape == (W, H)
    assert np.array_equal(out.image, np.rot90(painted_sample().image))


def test_resize_scales_outlines_with_the_image():
    out = resize(painted_sample(), 128)
    assert out.image.shape == (96, 128)
    dark = out.image < 125
    iou = (dark & masks_of(out)).sum() / (dark | masks_of(out)).sum()
    assert iou > 0.9
    assert np.allclose(out.polygons[0], BAR * 2.0)


def test_small_rotation_keeps_outlines_on_their_pixels():
    sample = painted_sample()
    out = rotate(sample, 12.0)
    assert out.image.shape == (H, W)
    dark = out.image < 125
    iou = (dark & masks_of(out)).sum() / (dark | masks_of(out)).sum()
    assert iou > 0.85
    assert not np.allclose(out.polygons[0], BAR)
    assert out.image[0, 0] == 220  # uncovered corners get the background grey


def test_brightness_and_contrast_change_pixels_only():
    sample = painted_sample()
    out = adjust(sample, brightness=0.1, contrast=1.5)
    assert out.polygons is sample.polygons
    assert out.image.dtype == np.uint8 and out.image.max() == 255  # clipped, not wrapped
    assert int(out.image[sample.image == 30][0]) == int(np.rint((30 - 127.5) * 1.5 + 127.5 + 25.5))


def test_augmentation_is_reproducible_and_box_samples_stay_axis_aligned():
    config = AugmentConfig(max_rotation_deg=20.0)
    a = augment(painted_sample(), config, np.random.default_rng(3))
    b = augment(painted_sample(), config, np.random.default_rng(3))
    assert np.array_equal(a.image, b.image) and all(np.array_equal(p, q) for p, q in zip(a.polygons, b.polygons))
    for seed in range(8):
        boxes = augment(painted_sample(has_masks=False), config, np.random.default_rng(seed))
        for poly in boxes.polygons:
            corners = set(map(tuple, box_to_polygon(polygon_bbox(poly))))
            assert len(poly) == 4 and set(map(tuple, poly)) == corners  # still an upright box


def test_boxes_become_coarse_masks_for_stage_one():
    boxes = as_boxes(painted_sample())
    assert not boxes.has_masks
    filled = coarse_masks(boxes, "box")
    assert filled.has_masks and np.array_equal(filled.polygons[0], box_to_polygon(polygon_bbox(BAR)))
    ellipse = coarse_masks(boxes, "ellipse")
    assert polygon_bbox(ellipse.polygons[0]) == pytest.approx(polygon_bbox(BAR))
    assert polygon_to_mask(ellipse.polygons[0], (H, W)).sum() < polygon_to_mask(filled.polygons[0], (H, W)).sum()
    with pytest.raises(ValueError, match="coarse"):
        coarse_masks(boxes, "star")


def test_target_has_boxes_labels_and_masks_and_drops_outlines_outside_the_image():
    sample = painted_sample()
    outside = np.array([[70.0, 50.0], [80.0, 50.0], [80.0, 60.0]])
    sample = DetectionSample("cell", sample.image, sample.polygons + (outside,), (1, 23, 5), True)
    image, target = to_target(sample)
    assert image.shape == (1, H, W) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert target["labels"].tolist() == [1, 23]
    assert target["boxes"].tolist()[1] == [40.0, 10.0, 56.0, 34.0]
    assert target["masks"].shape == (2, H, W)
    assert np.array_equal(target["masks"][0].numpy().astype(bool), polygon_to_mask(BAR, (H, W)))


def test_box_only_targets_have_no_masks_and_empty_samples_give_empty_tensors():
    _, target = to_target(painted_sample(has_masks=False))
    assert "masks" not in target and target["boxes"].shape == (2, 4)
    empty = DetectionSample("none", np.zeros((H, W), np.uint8), (), (), True)
    _, target = to_target(empty)
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    assert target["masks"].shape == (0, H, W)
