"""The centre detector's parts: spec, targets, losses, decoding, scale measurement and tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.models.centernet import detector as det
from karyostudio.models.centernet.decode import decode
from karyostudio.models.centernet.net import CenterNet
from karyostudio.models.centernet.spec import CenterNetSpec, CenterNetSpecError
from karyostudio.models.centernet.targets import giou_loss, losses, make_targets

SMALL = CenterNetSpec(widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1), stem_channels=8, fpn_channels=8, head_channels=8)


def test_spec_round_trip_and_errors():
    assert CenterNetSpec.from_dict(SMALL.to_dict()) == SMALL
    with pytest.raises(CenterNetSpecError, match="unknown setting.*: widht; known: widths"):
        CenterNetSpec.from_dict({"widht": [1, 2, 3, 4]})
    with pytest.raises(CenterNetSpecError, match="score_threshold must be a number, got .high."):
        CenterNetSpec.from_dict({"score_threshold": "high"})
    with pytest.raises(CenterNetSpecError, match="score_threshold"):
        CenterNetSpec(score_threshold=1.5)
    with pytest.raises(CenterNetSpecError, match="4 stages"):
        CenterNetSpec(widths=(8, 16))


def test_targets_peak_at_each_box_centre_and_regress_the_box():
    boxes = np.array([[10, 20, 50, 40], [60, 60, 70, 100]], np.float32)
    t = make_targets(boxes, (128, 128), SMALL)
    assert t["heatmap"].shape == (32, 32) and t["box"].shape == (4, 32, 32)
    peaks = np.argwhere(t["heatmap"] == 1.0)
    assert sorted(map(tuple, peaks)) == [(7, 7), (20, 16)]  # (row, col) = centre // 4
    assert np.allclose(t["box"][:, 7, 7], boxes[0]) and np.allclose(t["box"][:, 20, 16], boxes[1])
    # Weights are log(area) per object, spread over its cells.
    assert t["box_weight"][t["box"][0] == 10].sum() == pytest.approx(np.log(40 * 20), rel=1e-4)
    assert t["box_weight"].min() >= 0 and t["heatmap"].max() == 1.0


def test_empty_image_has_zero_targets_and_finite_losses():
    t = make_targets(np.zeros((0, 4)), (64, 64), SMALL)
    assert not t["heatmap"].any() and not t["box_weight"].any()
    net = CenterNet(SMALL)
    out = net(torch.rand(1, 1, 64, 64))
    parts = losses(out, {k: torch.from_numpy(v)[None] for k, v in t.items()}, SMALL)
    assert torch.isfinite(parts["heatmap"]) and float(parts["box"].detach()) == 0.0


def test_giou_loss_is_zero_for_equal_boxes_and_grows_apart():
    a = torch.tensor([[0.0, 0, 10, 10]])
    assert float(giou_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    near, far = torch.tensor([[2.0, 0, 12, 10]]), torch.tensor([[30.0, 0, 40, 10]])
    assert 0 < float(giou_loss(near, a)) < 1 < float(giou_loss(far, a)) < 2


def _perfect_outputs(boxes: np.ndarray, size: int) -> dict[str, torch.Tensor]:
    """Network outputs equal to the targets: the heatmap as logits, side distances at every cell."""
    t = make_targets(boxes, (size, size), SMALL)
    heat = np.clip(t["heatmap"], 1e-4, 1 - 1e-4)
    logits = torch.from_numpy(np.log(heat / (1 - heat)))[None, None]
    h, w = t["heatmap"].shape
    xs = (np.arange(w) + 0.5) * 4
    ys = (np.arange(h) + 0.5) * 4
    xx, yy = np.meshgrid(xs, ys)
    b = t["box"]
    dist = np.stack([xx - b[0], yy - b[1], b[2] - xx, b[3] - yy]).astype(np.float32)
    return {"heatmap": logits.float(), "box": torch.from_numpy(dist)[None]}


def test_decode_recovers_boxes_from_perfect_outputs():
    rng = np.random.default_rng(0)
    x0, y0 = rng.uniform(0, 200, 12), rng.uniform(0, 200, 12)
    boxes = np.stack([x0, y0, x0 + rng.uniform(15, 50, 12), y0 + rng.uniform(15, 50, 12)], 1).astype(np.float32)
    # Spread them out so no two centres share a cell.
    boxes = boxes[np.argsort(x0)][::2]
    found = decode(_perfect_outputs(boxes, 256), SMALL)[0]
    assert len(found) == len(boxes)
    for box in boxes:
        assert np.abs(found.boxes - box).max(axis=1).min() < 1e-3


def test_decode_merges_peaks_whose_boxes_coincide():
    out = _perfect_outputs(np.array([[40, 40, 80, 120]], np.float32), 160)
    # A second peak two cells away regressing (nearly) the same box is the same chromosome.
    out["heatmap"][0, 0, 22, 15] = 5.0
    found = decode(out, SMALL)[0]
    assert len(found) == 1


def test_foreground_diagonal_measures_dark_objects():
    image = np.full((600, 600), 230, np.uint8)
    rng = np.random.default_rng(1)
    for k in range(20):
        x, y = 40 + (k % 5) * 110, 40 + (k // 5) * 130
        image[y:y + 60, x:x + 16] = 60  # 60 x 16 rods: diagonal ~62 px
    image[5:8, 300:303] = 60  # a speck is left out
    assert det.foreground_diagonal(image) == pytest.approx(np.hypot(60, 16), rel=0.05)
    assert det.foreground_diagonal(np.full((100, 100), 200, np.uint8)) is None  # blank: no estimate
    noisy = (rng.random((300, 300)) * 255).astype(np.uint8)
    assert det.foreground_diagonal(noisy) is None or det.foreground_diagonal(noisy) < 10


def test_tiles_cover_with_overlap():
    assert det._tiles(500) == [0]
    starts = det._tiles(3000)
    assert starts[0] == 0
    assert starts[-1] + det.TILE >= 3000 and starts[-1] < 3000 and all(s % 32 == 0 for s in starts)
    assert all(b - a <= det.TILE - det.TILE_OVERLAP for a, b in zip(starts, starts[1:]))


class _FakeNet(torch.nn.Module):
    """Predicts a peak with a fixed 40 x 40 box wherever the input is dark: tiling must keep
    each object exactly once, in image coordinates."""

    def __init__(self):
        super().__init__()
        self.spec = SMALL

    def forward(self, x):
        dark = (x < 0.5).float()
        small = torch.nn.functional.avg_pool2d(dark, 4)
        heat = torch.where(small > 0.99, 5.0, -5.0)
        return {"heatmap": heat, "box": torch.full((x.shape[0], 4, *small.shape[-2:]), 20.0)}


def test_tiled_detection_keeps_every_object_once():
    image = np.full((2600, 2600), 255, np.uint8)
    corners = [(300, 300), (1008, 1008), (1300, 700), (2500, 2500), (900, 2200)]
    for x, y in corners:
        image[y:y + 4, x:x + 4] = 0  # one output cell each at scale 1
    centres = [(x + 2, y + 2) for x, y in corners]
    detector = det.CenterNetDetector(_FakeNet())
    found = detector.detect_at(image, 1.0, 0.5)
    got = sorted((round(x), round(y)) for x, y in found.centres)
    assert len(got) == len(centres)
    for (cx, cy), (gx, gy) in zip(sorted(centres), got):
        assert abs(cx - gx) <= 4 and abs(cy - gy) <= 4
    assert found.boxes.min() >= 0 and found.boxes.max() <= 2600


class _PerfectNet(torch.nn.Module):
    """Finds every dark rectangle exactly: a peak at each rectangle's centre cell and, at every
    cell inside it, the distances to its sides (what a fully trained detector would output)."""

    def __init__(self):
        super().__init__()
        self.spec = CenterNetSpec()

    def forward(self, x):
        from scipy import ndimage

        dark = x[0, 0].numpy() < 0.5
        labels, count = ndimage.label(dark)
        h, w = dark.shape[0] // 4, dark.shape[1] // 4
        heat = np.full((h, w), -9.0, np.float32)
        dist = np.zeros((4, h, w), np.float32)
        for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
            x0, x1, y0, y1 = xs.start, xs.stop, ys.start, ys.stop
            cy, cx = min(int((y0 + y1) / 2 / 4), h - 1), min(int((x0 + x1) / 2 / 4), w - 1)
            heat[cy, cx] = 9.0
            for r in range(y0 // 4, min(-(-y1 // 4), h)):
                for c in range(x0 // 4, min(-(-x1 // 4), w)):
                    px, py = (c + 0.5) * 4, (r + 0.5) * 4
                    dist[:, r, c] = [px - x0, py - y0, x1 - px, y1 - py]
        return {"heatmap": torch.from_numpy(heat)[None, None], "box": torch.from_numpy(dist)[None]}


@pytest.mark.parametrize("zoom", [1.0, 2.0, 0.6])
def test_detect_runs_at_the_scale_that_shows_chromosomes_at_the_trained_size(zoom):
    import cv2

    image = np.full((700, 900), 235, np.uint8)
    for k in range(24):
        x, y = 40 + (k % 8) * 105, 60 + (k // 8) * 200
        image[y:y + 60 + 3 * (k % 3), x:x + 18] = 50  # rods of ~63 px diagonal
    image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    result = det.CenterNetDetector(_PerfectNet()).detect(image)
    assert len(result.detections) == 24
    diagonal = np.median(np.hypot(*(result.detections.boxes[:, 2:] - result.detections.boxes[:, :2]).T))
    assert diagonal == pytest.approx(63 * zoom, rel=0.1)  # boxes come back in image pixels
    assert diagonal * result.scale == pytest.approx(CenterNetSpec().chromosome_px, rel=0.15)


def _rods(zoom: float):
    import cv2

    image = np.full((700, 900), 235, np.uint8)
    for k in range(24):
        x, y = 40 + (k % 8) * 105, 60 + (k // 8) * 200
        image[y:y + 60 + 3 * (k % 3), x:x + 18] = 50  # rods of ~63 px diagonal at zoom 1
    return cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)


def test_objects_too_small_for_chromosomes_even_enlarged_are_not_returned():
    # ~32 px rods need x1.6: found. ~19 px rods would need x2.7, past MAX_SCALE: specks, none returned.
    readable = det.CenterNetDetector(_PerfectNet()).detect(_rods(0.5))
    assert len(readable.detections) == 24 and readable.scale <= det.MAX_SCALE
    specks = det.CenterNetDetector(_PerfectNet()).detect(_rods(0.3))
    assert len(specks.detections) == 0 and specks.scale == pytest.approx(det.MAX_SCALE)


def test_the_network_input_stays_under_the_pixel_bound(monkeypatch):
    monkeypatch.setattr(det, "MAX_INPUT_PIXELS", 700 * 900 * 0.5)
    result = det.CenterNetDetector(_PerfectNet()).detect(_rods(1.0))  # would run at x0.83
    assert result.scale == pytest.approx(0.5 ** 0.5, rel=1e-3)
    assert len(result.detections) == 24  # bounded by size, not too small: still returned
