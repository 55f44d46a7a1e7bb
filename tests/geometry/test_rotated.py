"""Rotated boxes: convention, minAreaRect fitting, and exact IoU checked against shapely."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely

from karyostudio.geometry.polygons import polygon_area
from karyostudio.geometry.rotated import (
    normalize_rotated_boxes,
    rotated_box_area,
    rotated_box_corners,
    rotated_box_from_polygon,
    rotated_box_to_polygon,
    rotated_boxes_from_polygons,
    rotated_iou,
    rotated_iou_matrix,
)


def shapely_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    pa = shapely.polygons(rotated_box_corners(a))
    pb = shapely.polygons(rotated_box_corners(b))
    inter = shapely.area(shapely.intersection(pa[:, None], pb[None, :]))
    union = shapely.area(pa)[:, None] + shapely.area(pb)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def random_boxes(rng: np.random.Generator, n: int, offset: float = 0.0) -> np.ndarray:
    return np.column_stack([rng.uniform(0, 60, n) + offset, rng.uniform(0, 60, n) + offset,
                            rng.uniform(0.5, 30, n), rng.uniform(0.5, 30, n), rng.uniform(-360, 360, n)])


def same_point_set(a: np.ndarray, b: np.ndarray, tol: float = 1e-6) -> bool:
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return bool(np.all(d.min(axis=1) < tol) and np.all(d.min(axis=0) < tol))


def test_convention_theta_zero_is_upright_with_w_along_x():
    corners = rotated_box_to_polygon([10, 20, 4, 8, 0])
    assert same_point_set(corners, np.array([[8, 16], [12, 16], [12, 24], [8, 24]], dtype=float))
    # theta = 90: the box turns a quarter clockwise on screen, the long h side now along x.
    turned = rotated_box_to_polygon([10, 20, 4, 8, 90])
    assert same_point_set(turned, np.array([[6, 18], [14, 18], [14, 22], [6, 22]], dtype=float))


def test_corners_have_positive_orientation():
    rng = np.random.default_rng(3)
    corners = rotated_box_corners(random_boxes(rng, 50))
    x, y = corners[..., 0], corners[..., 1]
    signed = 0.5 * (x * np.roll(y, -1, axis=1) - y * np.roll(x, -1, axis=1)).sum(axis=1)
    assert np.all(signed > 0)


def test_normalize_makes_h_the_long_side_and_keeps_the_rectangle():
    rng = np.random.default_rng(0)
    boxes = random_boxes(rng, 200)
    norm = normalize_rotated_boxes(boxes)
    assert np.all(norm[:, 3] >= norm[:, 2])
    assert np.all((norm[:, 4] >= 0) & (norm[:, 4] < 180))
    for raw, n in zip(rotated_box_corners(boxes), rotated_box_corners(norm)):
        assert same_point_set(raw, n)


def test_normalize_examples_and_squares():
    np.testing.assert_allclose(normalize_rotated_boxes([0, 0, 8, 4, 10]), [0, 0, 4, 8, 100])
    np.testing.assert_allclose(normalize_rotated_boxes([0, 0, 4, 8, 190]), [0, 0, 4, 8, 10])
    np.testing.assert_allclose(normalize_rotated_boxes([0, 0, 4, 8, -30]), [0, 0, 4, 8, 150])
    # A square has a 90-degree symmetry: one canonical angle in [0, 90).
    np.testing.assert_allclose(normalize_rotated_boxes([0, 0, 5, 5, 135]), [0, 0, 5, 5, 45])
    with pytest.raises(ValueError):
        normalize_rotated_boxes([0, 0, -1, 5, 0])
    with pytest.raises(ValueError):
        normalize_rotated_boxes([[0, 0, 1, 5]])


@pytest.mark.parametrize("box", [(50, 40, 6, 30, 0), (50, 40, 6, 30, 37.5), (120, 80, 12, 45, 100),
                                 (30, 30, 10, 20, 179)])
def test_from_polygon_recovers_a_rotated_rectangle(box):
    poly = rotated_box_to_polygon(box)
    fitted = rotated_box_from_polygon(poly)
    np.testing.assert_allclose(fitted[:4], box[:4], atol=1e-3)
    angle_diff = (fitted[4] - box[4] + 90) % 180 - 90
    assert abs(angle_diff) < 1e-3
    assert fitted[3] >= fitted[2]


def test_from_polygon_matches_cv2_box_points():
    rng = np.random.default_rng(5)
    for _ in range(20):
        pts = rng.uniform(0, 100, size=(12, 2))
        rect = cv2.minAreaRect(pts.astype(np.float32))
        fitted = rotated_box_from_polygon(pts)
        assert same_point_set(rotated_box_to_polygon(fitted), cv2.boxPoints(rect).astype(np.float64), tol=1e-3)
        # The box covers the points (up to float32 rounding).
        box = shapely.buffer(shapely.Polygon(rotated_box_to_polygon(fitted)), 1e-3)
        assert shapely.contains(box, shapely.points(pts)).all()


def test_from_polygon_of_a_chromosome_outline():
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    # A bent, elongated outline rotated by 30 degrees.
    local = np.column_stack([8 * np.cos(t) + 2 * np.sin(t) ** 2, 40 * np.sin(t)])
    rot = np.deg2rad(30)
    r = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    poly = local @ r.T + [200, 150]
    fitted = rotated_box_from_polygon(poly)
    assert fitted[3] > 3 * fitted[2]
    assert rotated_box_area(fitted)[0] >= polygon_area(poly)
    assert abs(fitted[4] - 30) < 3  # upright box turned 30 degrees clockwise on screen


def test_from_polygon_degenerate_and_batch():
    line = rotated_box_from_polygon(np.array([[0, 0], [5, 5], [10, 10]]))
    assert line[2] == pytest.approx(0, abs=1e-6) and line[3] == pytest.approx(np.hypot(10, 10), rel=1e-6)
    assert rotated_boxes_from_polygons([]).shape == (0, 5)
    batch = rotated_boxes_from_polygons([np.array([[0, 0], [4, 0], [4, 9], [0, 9]])] * 3)
    np.testing.assert_allclose(batch, [[2, 4.5, 4, 9, 0]] * 3, atol=1e-5)


def test_iou_agrees_with_shapely_on_random_boxes():
    rng = np.random.default_rng(42)
    a, b = random_boxes(rng, 150), random_boxes(rng, 120)
    ours = rotated_iou_matrix(a, b)
    assert np.count_nonzero(ours) > 500  # the test really exercises overlaps
    np.testing.assert_allclose(ours, shapely_iou_matrix(a, b), atol=1e-6)


def test_iou_agrees_with_shapely_far_from_the_origin():
    rng = np.random.default_rng(7)
    a, b = random_boxes(rng, 60, offset=3000.0), random_boxes(rng, 60, offset=3000.0)
    np.testing.assert_allclose(rotated_iou_matrix(a, b), shapely_iou_matrix(a, b), atol=1e-6)


def test_contained_box_gives_area_ratio_not_one():
    rng = np.random.default_rng(1)
    outer = random_boxes(rng, 40)
    inner = outer.copy()
    inner[:, 2:4] *= rng.uniform(0.1, 0.9, size=(40, 1))
    inner[:, 4] += rng.uniform(-3, 3, size=40)  # slightly turned, still inside for small turns
    ours = rotated_iou_matrix(inner, outer).diagonal()
    np.testing.assert_allclose(ours, shapely_iou_matrix(inner, outer).diagonal(), atol=1e-6)
    contained = shapely.contains(shapely.polygons(rotated_box_corners(outer)),
                                 shapely.polygons(rotated_box_corners(inner)))
    assert contained.sum() >= 20
    ratio = rotated_box_area(inner) / rotated_box_area(outer)
    np.testing.assert_allclose(ours[contained], ratio[contained], atol=1e-9)
    assert np.all(ours[contained] < 0.9)
    concentric = np.array([[10, 10, 4, 6, 20]]), np.array([[10, 10, 8, 12, 20]])
    assert rotated_iou(concentric[0][0], concentric[1][0]) == pytest.approx(0.25, abs=1e-12)


@pytest.mark.parametrize("a, b, expected", [
    ((10, 10, 4, 8, 33), (10, 10, 4, 8, 33), 1.0),          # identical
    ((10, 10, 4, 8, 33), (10, 10, 8, 4, 123), 1.0),         # same rectangle, other representation
    ((10, 10, 4, 8, 33), (10, 10, 4, 8, 213), 1.0),         # theta + 180
    ((0, 0, 2, 2, 0), (2, 0, 2, 2, 0), 0.0),                # sharing an edge
    ((0, 0, 2, 2, 0), (2, 2, 2, 2, 0), 0.0),                # touching at a corner
    ((0, 0, 2, 2, 0), (1, 0, 2, 2, 0), 1 / 3),              # half overlap
    ((0, 0, 0, 5, 10), (0, 0, 3, 5, 10), 0.0),              # zero-width box inside another
    ((0, 0, 0, 0, 0), (0, 0, 3, 5, 10), 0.0),               # a point
    ((0, 0, 0, 0, 0), (0, 0, 0, 0, 0), 0.0),                # two points: union 0
])
def test_iou_special_cases(a, b, expected):
    assert rotated_iou(a, b) == pytest.approx(expected, abs=1e-9)
    ref = shapely_iou_matrix(np.array([a], float), np.array([b], float))[0, 0]
    assert rotated_iou(a, b) == pytest.approx(ref, abs=1e-6)


def test_iou_of_crossing_boxes_matches_shapely():
    # Two chromosomes crossing at right angles and at 45 degrees: octagon / hexagon intersections.
    a = np.array([[50, 50, 6, 40, 0], [50, 50, 6, 40, 0]], dtype=float)
    b = np.array([[50, 50, 6, 40, 90], [52, 49, 6, 40, 45]], dtype=float)
    np.testing.assert_allclose(rotated_iou_matrix(a, b), shapely_iou_matrix(a, b), atol=1e-9)
    assert rotated_iou(a[0], b[0]) == pytest.approx(36 / (240 + 240 - 36))


def test_iou_matrix_shapes_and_symmetry():
    rng = np.random.default_rng(9)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    assert rotated_iou_matrix(a, np.zeros((0, 5))).shape == (7, 0)
    assert rotated_iou_matrix(np.zeros((0, 5)), b).shape == (0, 5)
    np.testing.assert_allclose(rotated_iou_matrix(a, b), rotated_iou_matrix(b, a).T, atol=1e-12)
