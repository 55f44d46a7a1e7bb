"""GrabCut refinement on synthetic images with a known object."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.geometry.grabcut import GrabCutError, GrabCutRegion, to_8bit
from karyostudio.geometry.polygons import polygon_to_mask

# A thin rotated bar is the hard case for plain GrabCut: most of its box is background.
# 0.8 IoU is well above what the box itself gives (~0.3) and allows for a pixel of boundary
# error around a ~12 px wide bar (which alone costs ~0.15 IoU).
MIN_IOU = 0.8


def bar_image(noise_seed: int = 0, dtype=np.uint8, neighbours: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A dark diagonal bar (with a dark neighbour nearby) on a light, noisy background."""
    yy, xx = np.mgrid[0:200, 0:240]
    along = ((xx - 120) + (yy - 100)) / np.sqrt(2)
    across = ((xx - 120) - (yy - 100)) / np.sqrt(2)
    bar = (np.abs(along) < 55) & (np.abs(across) < 6)
    image = np.full(bar.shape, 210.0)
    image[bar] = 70.0
    if neighbours:
        image[20:40, 150:230] = 60.0  # another chromosome just outside the box
    rng = np.random.default_rng(noise_seed)
    image += rng.normal(0, 8, image.shape)
    image = np.clip(image, 0, 255)
    if dtype == np.uint16:
        return (image * 40 + 1000).astype(np.uint16), bar
    return image.astype(np.uint8), bar


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def box_of(mask: np.ndarray, pad: int = 4) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return xs.min() - pad, ys.min() - pad, xs.max() + 1 + pad, ys.max() + 1 + pad


def test_box_refines_to_the_bar():
    image, bar = bar_image()
    box = box_of(bar)
    box_mask = np.zeros_like(bar)
    box_mask[int(box[1]):int(box[3]), int(box[0]):int(box[2])] = True
    outline = GrabCutRegion.from_box(image, box).polygon()
    refined = polygon_to_mask(outline, bar.shape)
    assert iou(box_mask, bar) < 0.35
    assert iou(refined, bar) > MIN_IOU


def test_sixteen_bit_image_and_display_levels():
    image, bar = bar_image(dtype=np.uint16)
    for levels in (None, (1000, 1000 + 255 * 40)):
        outline = GrabCutRegion.from_box(image, box_of(bar), levels=levels).polygon()
        assert iou(polygon_to_mask(outline, bar.shape), bar) > MIN_IOU
    eight = to_8bit(image, (1000, 1000 + 255 * 40))
    assert eight.dtype == np.uint8 and abs(int(eight[100, 120]) - 70) <= 30


def test_click_and_polygon_seeds():
    image, bar = bar_image(noise_seed=1)
    outline = GrabCutRegion.from_click(image, (120.5, 100.5)).polygon()
    assert iou(polygon_to_mask(outline, bar.shape), bar) > MIN_IOU
    rough = np.array([[70, 40], [190, 160], [170, 175], [50, 60]], dtype=np.float64)  # a loose lasso
    outline = GrabCutRegion.from_polygon(image, rough).polygon()
    assert iou(polygon_to_mask(outline, bar.shape), bar) > MIN_IOU
    with pytest.raises(GrabCutError, match="background"):
        GrabCutRegion.from_click(image, (20.5, 180.5))


def test_strokes_remove_a_wrongly_included_part_and_add_a_missed_one():
    image, bar = bar_image(noise_seed=2, neighbours=False)
    blob = np.zeros_like(bar)
    blob[84:98, 122:136] = True  # a dark blob stuck to the side of the bar
    blob &= ~bar
    image[blob] = 70
    region = GrabCutRegion.from_box(image, box_of(bar | blob, pad=6))
    before = polygon_to_mask(region.polygon(), bar.shape)
    assert (before & blob).sum() > 0.8 * blob.sum()  # GrabCut takes the blob along
    region.add_stroke([(128.0, 87.0), (134.0, 87.0), (134.0, 93.0)], foreground=False, radius=3.0)
    after = polygon_to_mask(region.polygon(), bar.shape)
    assert (after & blob).sum() < 0.2 * blob.sum()
    assert iou(after, bar) > MIN_IOU
    region.add_stroke([(130.0, 90.0)], foreground=True, radius=3.0)  # changed my mind: it belongs
    again = polygon_to_mask(region.polygon(), bar.shape)
    assert again[90, 130] and iou(again, bar) < iou(after, bar)


def test_bad_input_is_reported():
    image, bar = bar_image()
    with pytest.raises(GrabCutError, match="2-D"):
        GrabCutRegion.from_box(np.dstack([image] * 3), box_of(bar))
    with pytest.raises(GrabCutError, match="too small"):
        GrabCutRegion.from_box(image, (10, 10, 11, 30))
    with pytest.raises(GrabCutError, match="outside"):
        GrabCutRegion.from_box(image, (500, 500, 600, 600))
    with pytest.raises(GrabCutError, match="uint8 or uint16"):
        GrabCutRegion.from_box(image.astype(np.float32), box_of(bar))


def test_an_empty_box_finds_nothing_instead_of_the_whole_box():
    image, _ = bar_image(neighbours=False)
    with pytest.raises(GrabCutError, match="nothing found"):
        GrabCutRegion.from_box(image, (5, 120, 70, 190)).polygon()  # only slide and its noise
    speck = image.copy()
    speck[150:153, 30:33] = 90  # debris a few pixels big is not a chromosome either
    with pytest.raises(GrabCutError, match="nothing found"):
        GrabCutRegion.from_box(speck, (5, 120, 70, 190)).polygon()


def test_object_strokes_overrule_the_nothing_found_check():
    image, _ = bar_image(neighbours=False)
    region = GrabCutRegion.from_box(image, (5, 120, 70, 190))
    region.add_stroke([(20, 150), (40, 160)], foreground=True, radius=4.0)
    assert len(region.polygon()) >= 3
