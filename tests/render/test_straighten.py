"""Upright and straightened chromosome strips, p arm up, and the reviewer's orientation corrections."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from karyostudio.core.document import Document
from karyostudio.core.history import History
from karyostudio.core.instance import Instance
from karyostudio.core.orientation import ORIENTATION_ATTRIBUTE, ChangeOrientation, Orientation, orientation_of
from karyostudio.geometry.polygons import mask_to_polygon, polygon_to_mask
from karyostudio.render.straighten import chromosome_strip

SIZE = 200


def _bar(angle_deg: float, length: float = 100.0, width: float = 16.0, centre=(100.0, 100.0)):
    """A straight chromosome whose darkness grows from its p end (dark) to its q end (light)."""
    a = math.radians(angle_deg)
    axis = np.array([math.cos(a), math.sin(a)])
    normal = np.array([-axis[1], axis[0]])
    c = np.asarray(centre)
    p_end, q_end = c - axis * length / 2, c + axis * length / 2
    corners = np.array([p_end - normal * width / 2, q_end - normal * width / 2,
                        q_end + normal * width / 2, p_end + normal * width / 2])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    along = ((xx - c[0]) * axis[0] + (yy - c[1]) * axis[1]) / length + 0.5  # 0 at p, 1 at q
    image = np.full((SIZE, SIZE), 255, np.uint8)
    inside = cv2.fillPoly(np.zeros((SIZE, SIZE), np.uint8), [np.round(corners).astype(np.int32)], 1).astype(bool)
    image[inside] = np.clip(40 + 150 * along[inside], 0, 255).astype(np.uint8)
    return image, corners, p_end, q_end


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 135.0])
def test_upright_strip_stands_the_long_axis_vertical(angle):
    image, corners, p_end, q_end = _bar(angle)
    strip = chromosome_strip(image, Instance(id=1, polygon=corners))
    height, width = strip.shape
    assert 96 <= height <= 106 and 13 <= width <= 20
    assert np.all(strip.pixels[~strip.mask] == 255)  # outside the outline is white


def test_endpoints_put_the_p_arm_up_and_swapping_them_turns_it():
    image, corners, p_end, q_end = _bar(30.0)
    with_p = Instance(id=1, polygon=corners, attributes={"endpoints": [p_end.tolist(), q_end.tolist()]})
    strip = chromosome_strip(image, with_p)
    rows = [strip.pixels[r][strip.mask[r]].mean() for r in range(strip.shape[0]) if strip.mask[r].any()]
    assert strip.p_arm_known and rows[2] < rows[-3] - 60  # dark p end at the top
    swapped = chromosome_strip(image, with_p.with_(attributes={"endpoints": [q_end.tolist(), p_end.tolist()]}))
    np.testing.assert_array_equal(swapped.pixels, strip.pixels[::-1, ::-1])  # a turn, not a mirror


def test_centromere_attribute_puts_the_short_arm_up():
    image, corners, p_end, q_end = _bar(60.0)
    near_q = (p_end + 0.8 * (q_end - p_end)).tolist()
    strip = chromosome_strip(image, Instance(id=1, polygon=corners, attributes={"centromere": near_q}))
    top = strip.pixels[:10][strip.mask[:10]].mean()
    bottom = strip.pixels[-10:][strip.mask[-10:]].mean()
    assert top > bottom  # the light q end (near the centromere here) is up


def test_width_constriction_guesses_the_centromere():
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.rectangle(mask, (90, 40), (110, 160), 1, -1)
    mask[125:131, 90:96] = 0  # a constriction 3/4 down: the short arm is at the bottom
    mask[125:131, 105:111] = 0
    image = np.where(mask > 0, 80, 255).astype(np.uint8)
    image[40:60, 90:111][mask[40:60, 90:111] > 0] = 20  # mark the original top end
    strip = chromosome_strip(image, Instance(id=1, polygon=mask_to_polygon(mask.astype(bool))))
    assert not strip.p_arm_known
    assert strip.pixels[-15:][strip.mask[-15:]].mean() < 40  # the long arm (marked end) is now at the bottom


def test_straightening_follows_a_bent_chromosome():
    mask = np.zeros((SIZE, SIZE), np.uint8)
    t = np.linspace(0, math.pi / 2, 60)
    arc = np.column_stack([40 + 110 * np.cos(t), 40 + 110 * np.sin(t)])  # a quarter circle, ~173 px long
    cv2.polylines(mask, [np.round(arc).astype(np.int32)], False, 1, thickness=15)
    image = np.where(mask > 0, 90, 255).astype(np.uint8)
    instance = Instance(id=1, polygon=mask_to_polygon(mask.astype(bool)))
    bent = chromosome_strip(image, instance)
    straight = chromosome_strip(image, instance, straighten=True)
    assert bent.shape[1] > 40  # upright but still curved: wide (the arc's sagitta plus its width)
    assert straight.shape[1] <= 22 and 170 <= straight.shape[0] <= 200  # arc ~173 px plus round caps
    assert straight.mask.mean() > 0.8  # a straight band, nearly filling its box


def test_stored_skeleton_is_used_for_straightening():
    image, corners, p_end, q_end = _bar(45.0)
    skeleton = [p_end + (q_end - p_end) * f for f in np.linspace(0.05, 0.95, 20)]
    instance = Instance(id=1, polygon=corners, attributes={"skeleton": [p.tolist() for p in skeleton]})
    strip = chromosome_strip(image, instance, straighten=True)
    assert strip.p_arm_known and 96 <= strip.shape[0] <= 106
    assert strip.pixels[:8][strip.mask[:8]].mean() < strip.pixels[-8:][strip.mask[-8:]].mean()


def test_reviewer_flips_apply_after_the_automatic_orientation():
    image, corners, p_end, q_end = _bar(10.0)
    instance = Instance(id=1, polygon=corners, attributes={"endpoints": [p_end.tolist(), q_end.tolist()]})
    base = chromosome_strip(image, instance).pixels
    flipped = chromosome_strip(image, instance, orientation=Orientation(flip_vertical=True)).pixels
    turned = chromosome_strip(image, instance, orientation=Orientation().apply("rotate_180")).pixels
    np.testing.assert_array_equal(flipped, base[::-1])
    np.testing.assert_array_equal(turned, base[::-1, ::-1])


def test_change_orientation_is_one_undo_step_and_stores_nothing_by_default():
    image, corners, _, _ = _bar(0.0)
    doc = Document.from_instances([Instance(id=1, polygon=corners, attributes={"note": 1})])
    history = History(doc)
    history.push(ChangeOrientation([1], "flip_horizontal"))
    assert orientation_of(doc.get(1)) == Orientation(False, True)
    history.push(ChangeOrientation([1], "rotate_180"))
    assert orientation_of(doc.get(1)) == Orientation(True, False)
    history.push(ChangeOrientation([1], "flip_vertical"))
    assert ORIENTATION_ATTRIBUTE not in doc.get(1).attributes and doc.get(1).attributes == {"note": 1}
    history.undo()
    assert orientation_of(doc.get(1)) == Orientation(True, False)
    with pytest.raises(ValueError, match="unknown orientation operation"):
        ChangeOrientation([1], "spin")


def test_auto_straightens_only_bent_chromosomes():
    image, corners, _, _ = _bar(30.0)
    straight = chromosome_strip(image, Instance(id=1, polygon=corners), straighten="auto")
    assert straight is not None and not straight.straightened
    arc = np.zeros((SIZE, SIZE), np.uint8)
    t = np.linspace(-1.0, 1.0, 50)
    line = np.column_stack([100 + 70 * np.sin(t), 150 - 70 * np.cos(t)])
    cv2.polylines(arc, [np.round(line).astype(np.int32)], False, 1, thickness=12)
    bent = Instance(id=2, polygon=mask_to_polygon(arc.astype(bool)))
    strip = chromosome_strip(np.where(arc > 0, 60, 255).astype(np.uint8), bent, straighten="auto")
    assert strip.straightened and strip.shape[0] > 4 * strip.shape[1]


def test_edges_never_blend_in_the_white_outside_and_alpha_is_soft():
    corners = cv2.boxPoints(((100, 100), (16, 90), 33.0)).astype(np.float64)
    image = np.where(polygon_to_mask(corners, (SIZE, SIZE)), 60, 255).astype(np.uint8)
    strip = chromosome_strip(image, Instance(id=1, polygon=corners))
    covered = strip.coverage > 0
    assert strip.fill[covered].max() <= 90  # the rim keeps the chromosome's own gray
    assert ((strip.coverage > 0) & (strip.coverage < 255)).any()  # anti-aliased coverage
    assert np.array_equal(strip.mask, strip.coverage >= 128)


def test_a_known_centromere_gives_its_row():
    image, corners, p_end, q_end = _bar(0.0)
    near_p = (p_end + 0.3 * (q_end - p_end)).tolist()
    strip = chromosome_strip(image, Instance(id=1, polygon=corners, attributes={"centromere": near_p}))
    assert strip.centromere == pytest.approx(0.3 * strip.shape[0], abs=3)
    assert chromosome_strip(image, Instance(id=1, polygon=corners)).centromere is None
