import cv2
import numpy as np
import pytest
from skimage.draw import polygon as skimage_polygon

from karyostudio.geometry.polygons import (box_to_polygon, mask_to_polygon, mask_to_polygons, polygon_area,
                                           polygon_bbox, polygon_iou, polygon_to_mask, union_polygons)


def reference_mask(poly, shape):
    """scikit-image's rasteriser with the same pixel-centre convention (centres at +0.5)."""
    p = np.asarray(poly) - 0.5
    rr, cc = skimage_polygon(p[:, 1], p[:, 0], shape)
    m = np.zeros(shape, bool)
    m[rr, cc] = True
    return m


def test_polygon_to_mask_matches_scikit_image_on_random_polygons():
    rng = np.random.default_rng(3)
    for _ in range(400):
        poly = rng.uniform(-5, 45, (int(rng.integers(3, 25)), 2))  # includes self-intersecting ones
        assert np.array_equal(polygon_to_mask(poly, (40, 35)), reference_mask(poly, (40, 35)))


def test_mask_polygon_round_trip_is_exact():
    rng = np.random.default_rng(5)
    for _ in range(200):
        m = np.zeros((40, 50), np.uint8)
        cv2.ellipse(m, (int(rng.integers(10, 40)), int(rng.integers(10, 30))),
                    (int(rng.integers(1, 15)), int(rng.integers(1, 8))), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        m = m.astype(bool)
        poly = mask_to_polygon(m)
        assert polygon_area(poly) == m.sum()
        assert np.array_equal(polygon_to_mask(poly, m.shape), m)


def test_single_pixel_and_box_outlines_lie_on_pixel_edges():
    m = np.zeros((5, 5), bool)
    m[2, 3] = True
    poly = mask_to_polygon(m)
    assert polygon_bbox(poly) == (3.0, 2.0, 4.0, 3.0) and len(poly) == 4
    assert np.array_equal(polygon_to_mask(box_to_polygon((1, 1, 4, 3)), (5, 5)).nonzero()[0], [1, 1, 1, 2, 2, 2])


def test_mask_to_polygons_finds_parts_largest_first_and_empty_gives_none():
    m = np.zeros((20, 20), bool)
    m[1:3, 1:3] = True
    m[10:18, 10:18] = True
    polys = mask_to_polygons(m)
    assert [polygon_area(p) for p in polys] == [64.0, 4.0]
    assert mask_to_polygon(np.zeros((4, 4), bool)) is None
    with pytest.raises(ValueError):
        mask_to_polygons(np.zeros((2, 2, 2)))


def test_clipping_at_image_border_and_outside():
    assert polygon_to_mask(box_to_polygon((-5, -5, 2, 2)), (4, 4)).sum() == 4
    assert polygon_to_mask(box_to_polygon((10, 10, 12, 12)), (4, 4)).sum() == 0


def test_union_and_iou():
    a, b = box_to_polygon((0, 0, 2, 2)), box_to_polygon((1, 0, 3, 2))
    assert polygon_iou(a, b) == pytest.approx(2 / 6)
    assert polygon_area(union_polygons([a, b])) == pytest.approx(6.0)
