"""Rotated-model output -> Instances: outlines refined inside rotated boxes, mask outlines."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.geometry.polygons import polygon_iou, polygon_to_mask
from karyostudio.geometry.rotated import rotated_box_corners, rotated_iou
from karyostudio.models.rotated.postprocess import (
    BOX,
    OUTLINE,
    REFINED,
    instance_from_mask,
    instance_from_rotated_box,
    instances_from_rotated_boxes,
)
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for

BAR = np.array([60.0, 45.0, 10.0, 50.0, 35.0])


def bent_chromosome_image() -> tuple[np.ndarray, np.ndarray]:
    """An image with an L-shaped dark object (not a rectangle) and its exact mask."""
    image = np.full((100, 100), 220, dtype=np.uint8)
    mask = np.zeros((100, 100), dtype=bool)
    mask[20:70, 40:50] = True
    mask[60:70, 50:62] = True
    image[mask] = 60
    return image, mask


def test_outline_is_refined_inside_the_box_and_the_box_is_kept():
    image, mask = bent_chromosome_image()
    box = [51, 45, 22, 50, 0]  # the L's minimum-area box (upright)
    inst = instance_from_rotated_box(image, box, 0.8, 5, "rot-model", instance_id=3)
    assert inst.attributes[OUTLINE] == REFINED and inst.label == "5" and inst.id == 3
    assert inst.score == pytest.approx(0.8) and inst.source == "rot-model"
    assert inst.attributes["rotated_box"] == [51.0, 45.0, 22.0, 50.0, 0.0]
    truth = np.argwhere(mask)
    assert polygon_iou(inst.polygon, np.array([[40, 20], [50, 20], [50, 60], [62, 60], [62, 70], [40, 70]])) > 0.95
    assert polygon_to_mask(inst.polygon, mask.shape).sum() == pytest.approx(len(truth), rel=0.05)
    # The box polygon would cover the empty corner too.
    assert polygon_iou(rotated_box_corners(np.array([box], float))[0], inst.polygon) < 0.7


def test_refinement_follows_a_tilted_box_and_ignores_a_crossing_neighbour():
    image = np.full((90, 120), 215, dtype=np.uint8)
    image[polygon_to_mask(rotated_box_corners(BAR[None])[0], image.shape)] = 50
    neighbour = np.array([[75.0, 20.0, 8.0, 24.0, 100.0]])  # reaches into the box's corner
    image[polygon_to_mask(rotated_box_corners(neighbour)[0], image.shape)] = 50
    inst = instance_from_rotated_box(image, BAR + [0, 0, 4, 4, 0], 0.9, "7", "m")
    assert inst.attributes[OUTLINE] == REFINED
    assert polygon_iou(inst.polygon, rotated_box_corners(BAR[None])[0]) > 0.85


def test_falls_back_to_the_box_polygon_without_an_image_or_an_object():
    inst = instance_from_rotated_box(None, BAR, 0.5, None, "m")
    assert inst.attributes[OUTLINE] == BOX and inst.label is None
    np.testing.assert_allclose(inst.polygon, rotated_box_corners(BAR[None])[0])
    blank = instance_from_rotated_box(np.full((90, 120), 200, np.uint8), BAR, 0.5, "X", "m")
    assert blank.attributes[OUTLINE] == BOX
    with pytest.raises(ValueError):
        instance_from_rotated_box(None, BAR, 0.5, 25, "m")
    with pytest.raises(ValueError):
        instance_from_rotated_box(None, BAR[:4], 0.5, 1, "m")


def test_refined_outlines_beat_box_polygons_on_synthetic_chromosomes():
    cell = generate_metaphase(rng_for(2, 0), SynthConfig(size=512))
    boxes = np.array([i.attributes["rotated_box"] for i in cell.instances])
    scores = np.linspace(0.99, 0.5, len(boxes))
    refined = instances_from_rotated_boxes(cell.image, boxes, scores, [i.label for i in cell.instances], "m")
    plain = instances_from_rotated_boxes(None, boxes, scores, None, "m")
    assert [i.id for i in refined] == list(range(1, len(boxes) + 1))
    gain = [polygon_iou(r.polygon, t.polygon) - polygon_iou(p.polygon, t.polygon)
            for r, p, t in zip(refined, plain, cell.instances)]
    assert np.median(gain) > 0.0
    kept = instances_from_rotated_boxes(None, boxes, scores, None, "m", score_threshold=0.9)
    assert len(kept) == int(np.count_nonzero(scores >= 0.9))


def test_instance_from_mask_traces_the_mask_and_keeps_the_rotated_box():
    _, mask = bent_chromosome_image()
    inst = instance_from_mask(mask, 0.7, "X", "ermr", instance_id=2, rotated_box=[1, 2, 30, 10, 0])
    assert inst.label == "X" and inst.id == 2
    assert polygon_to_mask(inst.polygon, mask.shape).sum() == mask.sum()
    assert inst.attributes["rotated_box"] == [1.0, 2.0, 10.0, 30.0, 90.0]  # normalised: h is the long side
    own = instance_from_mask(mask, 0.7, 1, "ermr")
    assert rotated_iou(own.attributes["rotated_box"], [51, 45, 22, 50, 0]) > 0.99
    assert instance_from_mask(np.zeros((5, 5), bool), 0.7, 1, "ermr") is None
