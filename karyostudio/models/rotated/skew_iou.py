"""Exact skew-IoU of rotated boxes in pure torch (CPU/GPU, autograd-friendly).

The intersection of two rectangles is a convex polygon whose vertices are (a) the corners of
each box that lie inside or on the other and (b) the crossings of their edges. All 24
candidate points of every pair are computed at once, the valid ones are ordered by angle
around their mean and measured with the shoelace formula. This is the method of
``karyostudio.geometry.rotated`` vectorised over pairs in torch; unlike OpenCV's
``NMSBoxesRotated`` it does not treat containment as IoU 1: a small box inside a big one gets
the true area ratio. Zero-area boxes have IoU 0 with everything.

Gradients flow to the corner coordinates through the crossing points and the shoelace sum;
the vertex ordering is a discrete choice (no gradient), as in every polygon-IoU loss.
"""

from __future__ import annotations

import torch

from karyostudio.models.rotated.boxes import box_area, box_corners, box_extents, check_boxes

# Pairs are processed in chunks to bound memory (24 candidate points per pair).
_CHUNK = 32768


def _eps(dtype: torch.dtype) -> float:
    """Boundary/parallel tolerance in pair-normalised units (coordinates scaled to about 1)."""
    return 1e-9 if dtype == torch.float64 else 1e-5


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(points: torch.Tensor, quad: torch.Tensor, edges: torch.Tensor, eps: float) -> torch.Tensor:
    """[P, K] whether each of K points lies inside or on the convex positively oriented quad."""
    rel = points[:, :, None, :] - quad[:, None, :, :]  # P x K x 4 x 2
    return (_cross(edges[:, None, :, :], rel) >= -eps).all(dim=2)


def _edge_crossings(qa, ea, qb, eb, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Crossings [P, 16, 2] of the 4 edges of qa with the 4 edges of qb, and their validity."""
    r = ea[:, :, None, :]
    s = eb[:, None, :, :]
    d = qb[:, None, :, :] - qa[:, :, None, :]
    denom = _cross(r, s)  # P x 4 x 4
    parallel = denom.abs() <= eps
    safe = torch.where(parallel, torch.ones_like(denom), denom)
    t = _cross(d, s) / safe
    u = _cross(d, r) / safe
    ok = ~parallel & (t >= -eps) & (t <= 1 + eps) & (u >= -eps) & (u <= 1 + eps)
    points = qa[:, :, None, :] + t[..., None] * r
    n = qa.shape[0]
    return points.reshape(n, 16, 2), ok.reshape(n, 16)


def quad_intersection_area(qa: torch.Tensor, qb: torch.Tensor) -> torch.Tensor:
    """Intersection area [P] of paired convex positively oriented quads ([P, 4, 2] each)."""
    eps = _eps(qa.dtype)
    # Centre and scale each pair so tolerances are relative. Area is exactly translation
    # invariant and scales with scale**2, so the detached normalisation keeps gradients exact.
    centre = (0.5 * (qa.mean(dim=1) + qb.mean(dim=1))).detach()[:, None, :]
    qa, qb = qa - centre, qb - centre
    scale = torch.maximum(qa.detach().abs().amax(dim=(1, 2)), qb.detach().abs().amax(dim=(1, 2)))
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    qa, qb = qa / scale[:, None, None], qb / scale[:, None, None]
    ea, eb = qa.roll(-1, dims=1) - qa, qb.roll(-1, dims=1) - qb
    crossings, crossing_ok = _edge_crossings(qa, ea, qb, eb, eps)
    points = torch.cat([qa, qb, crossings], dim=1)  # P x 24 x 2
    valid = torch.cat([_inside(qa, qb, eb, eps), _inside(qb, qa, ea, eps), crossing_ok], dim=1)
    count = valid.sum(dim=1)
    weights = valid.to(points.dtype)
    mean = (weights[..., None] * points.detach()).sum(dim=1) / count.clamp(min=1)[:, None].to(points.dtype)
    rel = points - mean[:, None, :]
    detached = rel.detach()
    angle = torch.atan2(detached[..., 1], detached[..., 0])
    angle = torch.where(valid, angle, torch.full_like(angle, float("inf")))
    order = angle.argsort(dim=1)
    ordered = rel.gather(1, order[..., None].expand(-1, -1, 2))
    ordered_valid = valid.gather(1, order)
    # Invalid slots (sorted last) repeat the first point: they only add zero-length edges.
    ordered = torch.where(ordered_valid[..., None], ordered, ordered[:, :1, :])
    area = 0.5 * _cross(ordered, ordered.roll(-1, dims=1)).sum(dim=1).abs()
    area = torch.where(count >= 3, area, torch.zeros_like(area))
    return area * scale**2


def iou_from_corners(ca, cb, area_a, area_b) -> torch.Tensor:
    """IoU [P] of paired boxes given their corners [P, 4, 2] and areas [P]."""
    inter = quad_intersection_area(ca, cb)
    inter = torch.minimum(inter, torch.minimum(area_a, area_b))
    union = area_a + area_b - inter
    ok = (union > 0) & (area_a > 0) & (area_b > 0)
    iou = inter / torch.where(ok, union, torch.ones_like(union))
    return torch.where(ok, iou, torch.zeros_like(iou))


def rotated_iou_pairwise(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Exact IoU of aligned pairs: boxes_a[i] with boxes_b[i] ([N, 5] each) -> [N]. Differentiable."""
    check_boxes(boxes_a, "boxes_a")
    check_boxes(boxes_b, "boxes_b")
    if boxes_a.shape != boxes_b.shape:
        raise ValueError(f"aligned boxes need equal shapes, got {tuple(boxes_a.shape)} and {tuple(boxes_b.shape)}")
    lead = boxes_a.shape[:-1]
    a, b = boxes_a.reshape(-1, 5), boxes_b.reshape(-1, 5)
    if a.shape[0] == 0:
        return a.new_zeros(lead)
    parts = []
    for start in range(0, a.shape[0], _CHUNK):
        sa, sb = a[start:start + _CHUNK], b[start:start + _CHUNK]
        parts.append(iou_from_corners(box_corners(sa), box_corners(sb), box_area(sa), box_area(sb)))
    return torch.cat(parts).reshape(lead)


def rotated_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Exact IoU matrix [N, M] between boxes_a [N, 5] and boxes_b [M, 5].

    Only pairs whose axis-aligned extents overlap are measured; the rest are 0. Differentiable
    with respect to the measured pairs.
    """
    check_boxes(boxes_a, "boxes_a")
    check_boxes(boxes_b, "boxes_b")
    if boxes_a.ndim != 2 or boxes_b.ndim != 2:
        raise ValueError("rotated_iou expects [N, 5] and [M, 5]; use rotated_iou_pairwise for aligned pairs")
    if boxes_a.dtype != boxes_b.dtype:
        raise TypeError(f"boxes_a and boxes_b differ in dtype ({boxes_a.dtype} vs {boxes_b.dtype})")
    n, m = boxes_a.shape[0], boxes_b.shape[0]
    dtype = torch.promote_types(boxes_a.dtype, boxes_b.dtype)
    out = torch.zeros((n, m), dtype=dtype, device=boxes_a.device)
    if n == 0 or m == 0:
        return out
    ca, cb = box_corners(boxes_a), box_corners(boxes_b)
    area_a, area_b = box_area(boxes_a), box_area(boxes_b)
    with torch.no_grad():
        lo_a, hi_a = box_extents(boxes_a)
        lo_b, hi_b = box_extents(boxes_b)
        overlap = ((lo_a[:, None, :] < hi_b[None, :, :]) & (lo_b[None, :, :] < hi_a[:, None, :])).all(dim=2)
        overlap &= (area_a[:, None] > 0) & (area_b[None, :] > 0)
        ia, ib = overlap.nonzero(as_tuple=True)
        apart = torch.cat([separated(ca[ia[k:k + _CHUNK]], cb[ib[k:k + _CHUNK]])
                           for k in range(0, ia.shape[0], _CHUNK)]) if ia.shape[0] else ia.bool()
        ia, ib = ia[~apart], ib[~apart]
    if ia.shape[0] == 0:
        return out
    values = [iou_from_corners(ca[sa], cb[sb], area_a[sa], area_b[sb])
              for sa, sb in zip(ia.split(_CHUNK), ib.split(_CHUNK))]
    return out.index_put((ia, ib), torch.cat(values).to(dtype))


def separated(ca: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
    """[P] True where paired rectangles (corners [P, 4, 2]) are strictly apart along one of
    their edge directions (the separating-axis test: exact for convex shapes), so IoU is 0."""
    axes = torch.stack([ca[:, 1] - ca[:, 0], ca[:, 3] - ca[:, 0], cb[:, 1] - cb[:, 0], cb[:, 3] - cb[:, 0]], dim=1)
    pa = torch.einsum("pkd,pad->pka", ca, axes)  # P x 4 corners x 4 axes
    pb = torch.einsum("pkd,pad->pka", cb, axes)
    gap = torch.maximum(pb.amin(dim=1) - pa.amax(dim=1), pa.amin(dim=1) - pb.amax(dim=1))
    return (gap > 0).any(dim=1)
