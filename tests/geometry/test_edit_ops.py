"""Outline edits: vertex insert/delete, brush add/erase, split by a line, merge."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import Polygon

from karyostudio.geometry.edit_ops import EditError, brush_add, brush_erase, delete_vertex, insert_vertex, \
    merge_outlines, nearest_edge, split_by_line, stroke_shape
from karyostudio.geometry.polygons import polygon_area


def rect(x0, y0, x1, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def test_insert_vertex_puts_it_on_the_nearest_edge():
    square = rect(0, 0, 10, 10)
    edge, distance, closest = nearest_edge(square, (4.0, 11.0))
    assert edge == 2 and distance == pytest.approx(1.0) and np.allclose(closest, (4.0, 10.0))
    result, index = insert_vertex(square, (4.0, 11.0))
    assert index == 3 and len(result) == 5
    assert np.allclose(result[3], (4.0, 10.0))
    assert polygon_area(result) == pytest.approx(100.0)  # a vertex on an edge keeps the shape
    with pytest.raises(EditError, match="already"):
        insert_vertex(square, (10.5, 10.5))


def test_delete_vertex_keeps_three():
    pentagon = np.array([[0, 0], [10, 0], [12, 5], [10, 10], [0, 10]], dtype=np.float64)
    result = delete_vertex(pentagon, 2)
    assert np.array_equal(result, pentagon[[0, 1, 3, 4]])
    triangle = delete_vertex(result, 0)
    with pytest.raises(EditError, match="at least 3"):
        delete_vertex(triangle, 0)
    with pytest.raises(EditError, match="no vertex"):
        delete_vertex(pentagon, 7)


def test_brush_add_unions_the_stroke():
    square = rect(0, 0, 20, 20)
    stroke = stroke_shape([(20.0, 10.0), (30.0, 10.0)], radius=2.0)
    grown = brush_add(square, stroke)
    # the part outside the square: a 10 x 4 band plus a half disc at the far end
    expected = 400.0 + 10 * 4 + math.pi * 4 / 2
    assert polygon_area(grown) == pytest.approx(expected, rel=0.01)
    with pytest.raises(EditError, match="does not touch"):
        brush_add(square, stroke_shape([(40.0, 40.0)], radius=2.0))


def test_brush_erase_subtracts_and_may_cut_in_pieces():
    square = rect(0, 0, 20, 20)
    bite = brush_erase(square, stroke_shape([(20.0, 10.0), (15.0, 10.0)], radius=2.0))
    assert len(bite) == 1
    assert polygon_area(bite[0]) == pytest.approx(400.0 - 5 * 4 - math.pi * 4 / 2, rel=0.01)
    # a stroke right across, off-centre: two pieces, largest first
    pieces = brush_erase(square, stroke_shape([(-5.0, 6.0), (25.0, 6.0)], radius=1.0))
    assert len(pieces) == 2
    assert polygon_area(pieces[0]) == pytest.approx(20 * 13, rel=0.01)
    assert polygon_area(pieces[1]) == pytest.approx(20 * 5, rel=0.01)
    # erasing everything leaves nothing
    assert brush_erase(square, stroke_shape([(10.0, 10.0)], radius=30.0)) == []


def test_erasing_a_hole_keeps_the_outline_whole():
    square = rect(0, 0, 20, 20)
    pieces = brush_erase(square, stroke_shape([(10.0, 10.0)], radius=3.0))
    assert len(pieces) == 1 and polygon_area(pieces[0]) == pytest.approx(400.0)


def test_split_rectangle_by_a_line_gives_two_pieces_of_the_right_areas():
    rectangle = rect(0, 0, 40, 10)
    pieces = split_by_line(rectangle, [(30.0, -2.0), (30.0, 12.0)])
    assert len(pieces) == 2
    assert polygon_area(pieces[0]) == pytest.approx(300.0, abs=0.5)
    assert polygon_area(pieces[1]) == pytest.approx(100.0, abs=0.5)
    assert Polygon(pieces[1]).centroid.x == pytest.approx(35.0, abs=0.1)


def test_split_by_a_bent_line_and_by_a_short_one_with_extension():
    rectangle = rect(0, 0, 40, 10)
    pieces = split_by_line(rectangle, [(10.0, -1.0), (10.0, 5.0), (20.0, 5.0), (20.0, 11.0)])
    assert sorted(round(polygon_area(p)) for p in pieces) == [150, 250]  # 10 x 10 + 10 x 5 on the left
    short = [(20.0, 1.0), (20.0, 9.0)]  # stops 1 px short of both edges
    with pytest.raises(EditError, match="cross"):
        split_by_line(rectangle, short)
    assert len(split_by_line(rectangle, short, extend=2.0)) == 2


def test_merge_overlapping_and_touching_squares():
    a, b = rect(0, 0, 10, 10), rect(5, 5, 15, 15)
    merged = merge_outlines([a, b])
    assert polygon_area(merged) == pytest.approx(100 + 100 - 25)
    touching = merge_outlines([rect(0, 0, 10, 10), rect(10, 0, 20, 10)])
    assert polygon_area(touching) == pytest.approx(200.0)
    corner = merge_outlines([rect(0, 0, 10, 10), rect(10, 10, 20, 20)])  # meet at one point
    assert 200.0 < polygon_area(corner) <= 202.0  # plus a small bridge at the shared corner
    with pytest.raises(EditError, match="do not touch"):
        merge_outlines([rect(0, 0, 10, 10), rect(13, 0, 20, 10)])
    with pytest.raises(EditError, match="at least two"):
        merge_outlines([a])
