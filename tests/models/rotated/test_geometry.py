"""Torch rotated-box geometry: exact skew-IoU against shapely and the numpy reference,
skew-NMS, delta encoding, Gaussian KL distance and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
import torch

from karyostudio.geometry.rotated import normalize_rotated_boxes, rotated_box_corners, rotated_iou_matrix
from karyostudio.models.rotated.geometry import (
    batched_skew_nms,
    box_corners,
    decode,
    encode,
    gaussian_params,
    kld,
    kld_loss,
    normalize_boxes,
    rotated_iou,
    rotated_iou_pairwise,
    skew_nms,
)


def shapely_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    pa = shapely.polygons(rotated_box_corners(a))
    pb = shapely.polygons(rotated_box_corners(b))
    inter = shapely.area(shapely.intersection(pa[:, None], pb[None, :]))
    union = shapely.area(pa)[:, None] + shapely.area(pb)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([rng.uniform(0, 60, n), rng.uniform(0, 60, n), rng.uniform(0.5, 30, n),
                            rng.uniform(0.5, 30, n), rng.uniform(-360, 360, n)])


def special_boxes() -> np.ndarray:
    """Containment, identical, disjoint, edge/corner touching and degenerate boxes."""
    return np.array([
        [50, 50, 10, 40, 30],     # big
        [50, 50, 2, 6, 75],       # small inside big
        [50, 50, 10, 40, 30],     # identical to big
        [50, 50, 10, 40, 210],    # the same rectangle, theta + 180
        [50, 50, 40, 10, 120],    # the same rectangle, w/h swapped
        [200, 200, 5, 5, 0],      # far away
        [10, 10, 4, 8, 0],        # upright
        [14, 10, 4, 8, 0],        # shares an edge with the upright box
        [14, 18, 4, 8, 0],        # shares a corner only
        [12, 10, 4, 8, 0],        # half overlap
        [10, 10, 0, 8, 0],        # zero width
        [50, 50, 0, 0, 0],        # a point
        [50, 50, 10, 40, 30.5],   # nearly identical
        [12, 12, 5, 5, 45],       # diamond across the upright box
    ], dtype=float)


@pytest.fixture(scope="module")
def boxes64() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.concatenate([random_boxes(rng, 300), special_boxes()])


def test_iou_matches_shapely_to_1e6(boxes64):
    got = rotated_iou(torch.from_numpy(boxes64), torch.from_numpy(boxes64)).numpy()
    np.testing.assert_allclose(got, shapely_iou(boxes64, boxes64), atol=1e-6)


def test_iou_matches_numpy_reference(boxes64):
    got = rotated_iou(torch.from_numpy(boxes64), torch.from_numpy(boxes64[::-1].copy())).numpy()
    np.testing.assert_allclose(got, rotated_iou_matrix(boxes64, boxes64[::-1]), atol=1e-9)


def test_special_cases_have_known_values():
    b = torch.from_numpy(special_boxes())
    iou = rotated_iou(b, b)
    assert iou[0, 1].item() == pytest.approx(12 / 400, abs=1e-12)  # contained: area ratio, not 1
    for same in (2, 3, 4):
        assert iou[0, same].item() == pytest.approx(1.0, abs=1e-12)
    assert iou[0, 5].item() == 0.0
    assert iou[6, 7].item() == pytest.approx(0.0, abs=1e-12)
    assert iou[6, 8].item() == pytest.approx(0.0, abs=1e-12)
    assert iou[6, 9].item() == pytest.approx(16 / 48, abs=1e-12)
    assert iou[10, 10].item() == 0.0 and iou[11, 11].item() == 0.0 and iou[6, 10].item() == 0.0


def test_pairwise_equals_matrix_diagonal_and_float32_is_close(boxes64):
    a = torch.from_numpy(boxes64)
    b = torch.from_numpy(np.roll(boxes64, 1, axis=0))
    full = rotated_iou(a, b)
    pair = rotated_iou_pairwise(a, b)
    np.testing.assert_allclose(pair.numpy(), full.diagonal().numpy(), atol=1e-12)
    np.testing.assert_allclose(rotated_iou_pairwise(a.float(), b.float()).numpy(), pair.numpy(), atol=1e-4)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        rotated_iou(torch.zeros(3, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError):
        rotated_iou_pairwise(torch.zeros(3, 5), torch.zeros(2, 5))
    with pytest.raises(TypeError):
        rotated_iou(torch.zeros(3, 5, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long))
    assert rotated_iou(torch.zeros(0, 5), torch.zeros(4, 5)).shape == (0, 4)


def test_normalize_and_corners_agree_with_numpy_convention(boxes64):
    got = normalize_boxes(torch.from_numpy(boxes64)).numpy()
    np.testing.assert_allclose(got, normalize_rotated_boxes(boxes64), atol=1e-9)
    np.testing.assert_allclose(box_corners(torch.from_numpy(boxes64)).numpy(), rotated_box_corners(boxes64),
                               atol=1e-9)
    with pytest.raises(ValueError):
        normalize_boxes(torch.tensor([[0.0, 0, -1, 2, 0]]))


def test_skew_nms_keeps_contained_box_and_removes_near_duplicate():
    boxes = torch.tensor([[50, 50, 10, 40, 30], [50, 50, 3, 8, 30], [50.5, 50, 10, 40, 31],
                          [100, 100, 6, 20, 90]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.85, 0.5])
    keep = skew_nms(boxes, scores, 0.2)
    assert keep.tolist() == [0, 1, 3]
    # The contained box is removed only when the threshold is below its true IoU (0.06).
    assert skew_nms(boxes, scores, 0.05).tolist() == [0, 3]
    assert skew_nms(boxes[:0], scores[:0], 0.5).numel() == 0


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.8])
def test_skew_nms_strategies_agree_on_crowded_boxes(threshold):
    rng = np.random.default_rng(5)
    centres = random_boxes(rng, 8)
    boxes = centres[rng.integers(8, size=150)] + rng.normal(0, 1.5, (150, 5)) * [1, 1, 0.3, 1, 4]
    boxes[:, 2:4] = np.abs(boxes[:, 2:4]) + 0.5
    boxes, scores = torch.from_numpy(boxes), torch.from_numpy(rng.random(150))
    rows = skew_nms(boxes, scores, threshold, strategy="rows")
    assert torch.equal(rows, skew_nms(boxes, scores, threshold, strategy="matrix"))
    kept = boxes[rows]
    iou = rotated_iou(kept, kept).fill_diagonal_(0)
    assert iou.max() <= threshold  # no two kept boxes overlap more than the threshold
    removed = np.setdiff1d(np.arange(150), rows.numpy())
    # Every removed box overlaps a kept box that scores at least as high by more than the threshold.
    cover = rotated_iou(boxes[removed], kept) > threshold
    higher = scores[rows][None, :] >= scores[removed][:, None]
    assert bool((cover & higher).any(dim=1).all())


def test_batched_skew_nms_separates_labels():
    boxes = torch.tensor([[50, 50, 10, 40, 30], [50.5, 50, 10, 40, 31]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8])
    assert batched_skew_nms(boxes, scores, torch.tensor([0, 0]), 0.3).tolist() == [0]
    assert batched_skew_nms(boxes, scores, torch.tensor([0, 1]), 0.3).tolist() == [0, 1]
    assert boxes[1, 0].item() == 50.5  # the caller's tensor is untouched


@pytest.mark.parametrize("box_frame", [False, True])
def test_encode_decode_round_trip(box_frame):
    rng = np.random.default_rng(3)
    anchors = torch.from_numpy(normalize_rotated_boxes(random_boxes(rng, 200)))
    gt = torch.from_numpy(normalize_rotated_boxes(random_boxes(rng, 200)))
    weights = (10.0, 10.0, 5.0, 5.0, 1.0)
    deltas = encode(anchors, gt, weights, box_frame=box_frame)
    assert torch.all(deltas[:, 4].abs() <= math.pi / 2 * weights[4] + 1e-12)
    back = decode(anchors, deltas, weights, box_frame=box_frame)
    assert rotated_iou_pairwise(back, gt).min().item() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(back[:, :4].numpy(), gt[:, :4].numpy(), atol=1e-9)


def test_encode_angle_is_periodic():
    anchor = torch.tensor([[0.0, 0, 4, 10, 1.0]], dtype=torch.float64)
    gt = torch.tensor([[0.0, 0, 4, 10, 179.0]], dtype=torch.float64)
    deltas = encode(anchor, gt)
    assert deltas[0, 4].item() == pytest.approx(math.radians(-2.0))
    assert decode(anchor, deltas)[0, 4].item() == pytest.approx(179.0)


def test_gaussian_params_of_upright_box():
    mu, sigma = gaussian_params(torch.tensor([[3.0, 4, 2, 6, 0]], dtype=torch.float64))
    assert mu[0].tolist() == [3.0, 4.0]
    np.testing.assert_allclose(sigma[0].numpy(), [[1.0, 0.0], [0.0, 9.0]], atol=1e-12)


def test_kld_hand_computed_cases():
    box = torch.tensor([[10.0, 20, 4, 12, 0]], dtype=torch.float64)
    assert kld(box, box).item() == pytest.approx(0.0, abs=1e-12)
    # Same rectangle written differently (theta + 180, w/h swapped): still distance 0.
    assert kld(box, torch.tensor([[10.0, 20, 12, 4, 90]], dtype=torch.float64)).item() == pytest.approx(0, abs=1e-9)
    # Shift along the w axis by dx: 0.5 * dx^2 / (w/2)^2 = 2 dx^2 / w^2, symmetric in the two boxes.
    shifted = box + torch.tensor([[3.0, 0, 0, 0, 0]], dtype=torch.float64)
    assert kld(box, shifted).item() == pytest.approx(2 * 9 / 16)
    assert kld(shifted, box).item() == pytest.approx(2 * 9 / 16)
    # A quarter turn swaps the variances: 0.5 * (h^2/w^2 + w^2/h^2 - 2), symmetric too.
    turned = torch.tensor([[10.0, 20, 4, 12, 90]], dtype=torch.float64)
    expected = 0.5 * (144 / 16 + 16 / 144 - 2)
    assert kld(box, turned).item() == pytest.approx(expected)
    assert kld(turned, box).item() == pytest.approx(expected)
    # Loss transform of DeepCHM Eq. (12) with tau = 1.
    assert kld_loss(box, shifted).item() == pytest.approx(1 - 1 / (1 + math.log1p(2 * 9 / 16)))
    assert kld_loss(box, box).item() == pytest.approx(0.0, abs=1e-12)


def test_gradients_are_finite():
    rng = np.random.default_rng(11)
    a = torch.from_numpy(np.concatenate([random_boxes(rng, 40), special_boxes()[:10]])).requires_grad_(True)
    b = torch.from_numpy(np.concatenate([random_boxes(rng, 40), special_boxes()[1:11]]))
    rotated_iou_pairwise(a, b).sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    a.grad = None
    kld_loss(a, b).sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_iou_gradient_matches_finite_differences():
    a = torch.tensor([[10.0, 10, 4, 12, 20]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[11.0, 9, 5, 10, 50]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: rotated_iou_pairwise(x, b), (a,))
