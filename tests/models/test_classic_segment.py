"""Classic segmentation: synthetic metaphases with known objects, a few real Taichung cells."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.models.classic.background import darkness_map
from karyostudio.models.classic.seg_cuts import CutRules, apply_cut, candidate_cuts
from karyostudio.models.classic.seg_fit import label_piece
from karyostudio.models.classic.seg_skeleton import analyse
from karyostudio.models.classic.seg_piece_model import (CLUSTER, DEBRIS, FRAGMENT, OUTCOMES, SINGLE, PieceModel,
                                                        fit_piece_model)
from karyostudio.models.classic.seg_piece_features import NUM_FEATURES
from karyostudio.models.classic.segment import SOURCE, segment_metaphase
from karyostudio.models.classic.threshold import holes

SHAPE = (420, 480)
WIDTH = 16  # chromosome width in pixels, as in the Taichung images


def _capsule(p0: tuple[int, int], p1: tuple[int, int], width: int = WIDTH) -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    cv2.line(m, p0, p1, 1, thickness=width)
    for p in (p0, p1):
        cv2.circle(m, p, width // 2, 1, -1)
    return m.astype(bool)


def _bands(p0: tuple[int, int], p1: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """G-band-like darkness varying along the p0 -> p1 axis."""
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    d = np.subtract(p1, p0, dtype=float)
    t = ((xx - p0[0]) * d[0] + (yy - p0[1]) * d[1]) / np.hypot(*d)
    return 0.6 + 0.2 * np.sin(t / 3.0 + rng.uniform(0, 6))


SINGLES = {
    "s0": ((40, 40), (40, 120)),
    "s1": ((100, 50), (165, 60)),
    "s2": ((215, 40), (275, 95)),
    "s3": ((350, 40), (385, 110)),
    "s4": ((60, 215), (115, 250)),
    "s5": ((50, 330), (62, 365)),
    "s6": ((160, 330), (250, 350)),
}
T_PAIR = {"t0": ((270, 190), (370, 190)), "t1": ((318, 199), (322, 265))}  # one end on the other's side
X_PAIR = {"x0": ((150, 165), (230, 250)), "x1": ((230, 165), (150, 250))}
NUCLEUS = ((405, 345), 50)
SPECKS = [(20, 270), (130, 275), (280, 18), (455, 160)]


def synthetic_metaphase(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A light, unevenly lit slide with banded capsules, a textured nucleus, specks and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    dark = np.zeros(SHAPE)
    objects: dict[str, np.ndarray] = {}
    for name, (p0, p1) in {**SINGLES, **T_PAIR, **X_PAIR}.items():
        m = _capsule(p0, p1)
        dark[m] = np.maximum(dark[m], _bands(p0, p1, rng)[m])
        objects[name] = m
    (cx, cy), r = NUCLEUS
    nucleus = (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
    texture = 0.5 + 0.1 * cv2.GaussianBlur(rng.normal(0, 1, SHAPE), (0, 0), 3)
    dark[nucleus] = texture[nucleus]
    objects["nucleus"] = nucleus
    for i, (x, y) in enumerate(SPECKS):
        speck = (xx - x) ** 2 + (yy - y) ** 2 < 2.5 ** 2
        dark[speck] = 0.5
        objects[f"speck{i}"] = speck
    dark = cv2.GaussianBlur(dark.astype(np.float32), (0, 0), 1.5)  # optics
    light = 215 + 25 * xx / SHAPE[1] - 20 * yy / SHAPE[0]  # uneven illumination
    image = light * (1 - dark) + rng.normal(0, 3, SHAPE)
    return np.clip(image, 0, 255).astype(np.uint8), objects


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _best_matches(instances, objects) -> dict[str, list[tuple[float, object]]]:
    """For each drawn object, the instances that overlap it (IoU, instance), best first."""
    masks = [polygon_to_mask(inst.polygon, SHAPE) for inst in instances]
    out = {}
    for name, obj in objects.items():
        hits = sorted(((_iou(m, obj), inst) for m, inst in zip(masks, instances) if (m & obj).any()),
                      key=lambda h: -h[0])
        out[name] = hits
    return out


@pytest.fixture(scope="module")
def synthetic():
    image, objects = synthetic_metaphase()
    return image, objects, segment_metaphase(image)


def test_instances_follow_the_contract(synthetic):
    _, _, instances = synthetic
    assert [inst.id for inst in instances] == list(range(1, len(instances) + 1))
    for inst in instances:
        assert inst.label is None and inst.score is None and inst.source == SOURCE
        assert isinstance(inst.attributes["cluster"], bool)
        cx, cy, w, h, theta = inst.attributes["rotated_box"]
        assert h >= w > 0 and 0 <= theta < 180
        assert 0.0 <= inst.attributes["seg_score"] <= 1.0
        # Pixel-edge outlines: vertices on integer coordinates.
        assert np.array_equal(inst.polygon, np.round(inst.polygon))


def test_every_isolated_chromosome_is_outlined_once(synthetic):
    _, objects, instances = synthetic
    matches = _best_matches(instances, {k: objects[k] for k in SINGLES})
    for name, hits in matches.items():
        assert hits, f"{name} was missed"
        iou, inst = hits[0]
        assert iou > 0.7, f"{name}: best outline IoU {iou:.2f}"
        assert not inst.attributes["cluster"]
        assert len([h for h in hits if h[0] > 0.2]) == 1, f"{name} was split"


def test_nucleus_and_specks_are_dropped(synthetic):
    _, objects, instances = synthetic
    matches = _best_matches(instances, objects)
    assert not matches["nucleus"], "the interphase nucleus was kept"
    for i in range(len(SPECKS)):
        assert not matches[f"speck{i}"], f"speck {i} was kept"


def test_count_is_right(synthetic):
    _, _, instances = synthetic
    # 7 isolated chromosomes, the T pair as 2 (or 1 cluster), the crossing as 1 cluster.
    assert len(instances) in (9, 10)


def test_touching_pair_is_split_or_flagged(synthetic):
    _, objects, instances = synthetic
    matches = _best_matches(instances, {k: objects[k] for k in T_PAIR})
    (iou0, a), (iou1, b) = matches["t0"][0], matches["t1"][0]
    if a is b:
        assert a.attributes["cluster"], "a touching pair was returned as one unflagged chromosome"
    else:
        assert iou0 > 0.6 and iou1 > 0.6


def test_crossing_is_one_cluster(synthetic):
    _, objects, instances = synthetic
    matches = _best_matches(instances, {k: objects[k] for k in X_PAIR})
    inst = matches["x0"][0][1]
    assert matches["x1"][0][1] is inst
    assert inst.attributes["cluster"]
    union = objects["x0"] | objects["x1"]
    assert _iou(polygon_to_mask(inst.polygon, SHAPE), union) > 0.7


def test_uint16_input_gives_the_same_outlines(synthetic):
    image, _, instances = synthetic
    wide = image.astype(np.uint16) * 257
    again = segment_metaphase(wide)
    assert len(again) == len(instances)
    for a, b in zip(instances, again):
        assert polygon_iou_of_masks(a, b) > 0.95


def polygon_iou_of_masks(a, b) -> float:
    return _iou(polygon_to_mask(a.polygon, SHAPE), polygon_to_mask(b.polygon, SHAPE))


def test_cancel_stops_the_work():
    image, _ = synthetic_metaphase(1)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        segment_metaphase(image, cancel=token)


def test_progress_is_reported():
    image, _ = synthetic_metaphase(2)
    calls = []
    segment_metaphase(image, progress=lambda done, total, msg="": calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(0 <= d <= t for d, t in calls)


@pytest.mark.parametrize("image", [
    np.full((200, 300), 220, np.uint8),
    np.zeros((64, 64), np.uint16),
    np.clip(np.random.default_rng(0).normal(220, 3, (200, 200)), 0, 255).astype(np.uint8),
])
def test_blank_images_give_nothing(image):
    assert segment_metaphase(image) == []


@pytest.mark.parametrize("bad, error", [
    (np.zeros((10, 10, 3), np.uint8), ValueError),
    (np.zeros((10, 10), np.float32), TypeError),
])
def test_bad_input_is_rejected(bad, error):
    with pytest.raises(error):
        segment_metaphase(bad)


def test_darkness_map_removes_uneven_illumination():
    yy, xx = np.mgrid[0:300, 0:400]
    light = (180 + 60 * xx / 400 + 0.0003 * (yy - 150) ** 2).astype(np.uint8)
    dark, _ = darkness_map(light)
    assert np.abs(dark).max() < 0.03


def test_holes_are_enclosed_background_only():
    mask = np.zeros((20, 20), bool)
    mask[2:10, 2:10] = True
    mask[4:6, 4:6] = False  # enclosed
    mask[12:18, 0:6] = True
    mask[14:16, 0:2] = False  # open to the image edge
    h = holes(mask)
    assert h.sum() == 4 and h[4:6, 4:6].all()


def test_piece_model_round_trips_and_learns():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (400, NUM_FEATURES))
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 1)  # outcomes 0..3 from two features
    model = fit_piece_model(x, y, hidden=8, max_iter=300)
    assert (model.probabilities(x).argmax(axis=1) == y).mean() > 0.9
    again = PieceModel.from_dict(model.to_dict())
    assert np.allclose(again.probabilities(x[:5]), model.probabilities(x[:5]))
    assert model.probabilities(x[0]).shape == (len(OUTCOMES),)


def _voc_boxes(path: Path) -> np.ndarray:
    root = ET.parse(path).getroot()
    b = np.array([[float(o.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
                  for o in root.findall("object")])
    b[:, :2] -= 1
    return b


@pytest.mark.shared_data
@pytest.mark.parametrize("image_id", ["103064", "1054101", "1071943"])
def test_real_cells(taichung_dir: Path, image_id: str):
    image = cv2.imread(str(taichung_dir / "JEPG" / f"{image_id}.jpg"), cv2.IMREAD_GRAYSCALE)
    gt = _voc_boxes(taichung_dir / "annotations" / f"{image_id}.xml")
    instances = segment_metaphase(image)
    assert 30 <= len(instances) <= 60
    boxes = np.array([inst.bbox for inst in instances])
    ix = np.clip(np.minimum(boxes[:, None, 2], gt[None, :, 2]) - np.maximum(boxes[:, None, 0], gt[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, None, 3], gt[None, :, 3]) - np.maximum(boxes[:, None, 1], gt[None, :, 1]), 0, None)
    inter = ix * iy
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / (area(boxes)[:, None] + area(gt)[None, :] - inter)
    recall = float((iou.max(axis=0) >= 0.5).mean())
    assert recall >= RECALL_FLOOR[image_id], f"recall {recall:.2f}"


# Measured recall at IoU 0.5 of these cells (0.93, 0.91, 0.78), minus a margin of 0.1. The
# cells sit at positions 0, 200 and 2400 of train.txt, never used to fit the piece model.
RECALL_FLOOR = {"103064": 0.83, "1054101": 0.81, "1071943": 0.68}


def test_skeleton_counts_ends_and_crossings():
    line = _capsule((40, 60), (200, 60))
    cross = _capsule((40, 40), (200, 200)) | _capsule((200, 40), (40, 200))
    tee = _capsule((40, 60), (200, 60)) | _capsule((120, 68), (120, 200))
    assert analyse(line, WIDTH).ends == 2 and not analyse(line, WIDTH).crossings
    assert analyse(tee, WIDTH).ends == 3 and not analyse(tee, WIDTH).crossings
    (cx, cy), = analyse(cross, WIDTH).crossings
    assert abs(cx - 120) < WIDTH and abs(cy - 120) < WIDTH


def test_tee_gets_a_cut_at_the_contact():
    tee = _capsule((40, 60), (200, 60)) | _capsule((120, 68), (120, 200))
    cuts = candidate_cuts(tee, WIDTH, CutRules(), [])
    assert cuts
    best = cuts[0]
    assert best.two_sided
    mid = (best.a + best.b) / 2
    assert abs(mid[0] - 120) < WIDTH and 60 < mid[1] < 60 + 2 * WIDTH  # across the stem, at the bar
    parts = apply_cut(tee, best, min_piece=WIDTH ** 2)
    assert len(parts) == 2 and (parts[0] | parts[1]).sum() == tee.sum()


def test_rotated_box_has_h_along_the_chromosome():
    image, objects = synthetic_metaphase()
    inst = next(i for i in segment_metaphase(image) if polygon_to_mask(i.polygon, SHAPE)[objects["s0"]].any())
    cx, cy, w, h, theta = inst.attributes["rotated_box"]
    # s0 runs vertically (along y): the h side is along (-sin t, cos t), so t is 0 (or 180).
    assert h > 3 * w and min(theta, 180 - theta) < 5


def test_training_labels_from_boxes():
    gt = np.array([[10, 10, 30, 60], [40, 10, 60, 60]], float)
    shape = (100, 100)
    one = np.zeros((50, 20), bool); one[:, :] = True  # exactly the first box
    assert label_piece(one, 10, 10, 0.0, shape, gt) == SINGLE
    both = np.ones((50, 50), bool)
    assert label_piece(both, 10, 10, 0.0, shape, gt) == CLUSTER
    half = np.ones((20, 20), bool)
    assert label_piece(half, 10, 10, 0.0, shape, gt) == FRAGMENT
    away = np.ones((10, 10), bool)
    assert label_piece(away, 80, 80, 0.0, shape, gt) == DEBRIS


def test_segmentation_imports_neither_torch_nor_qt():
    code = ("import sys, numpy as np; from karyostudio.models.classic.segment import segment_metaphase; "
            "segment_metaphase(np.full((50, 50), 200, np.uint8)); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
