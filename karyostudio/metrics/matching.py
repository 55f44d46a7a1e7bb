"""Matching predictions to ground truth from an IoU matrix (rows = predictions, cols = GT).

Two rules are used in karyostudio's metrics:
  - :func:`greedy_match` is pycocotools' rule (COCOeval.evaluateImg): predictions in
    descending score order each take the still-free GT with the highest IoU >= threshold.
    It drives AP and the per-class / confusion tables.
  - :func:`match_by_iou` pairs by descending IoU above a threshold, as panoptic quality does;
    it is one-to-one even when instances overlap (crossing chromosomes), where "IoU > 0.5"
    alone no longer guarantees a unique pairing.
"""

from __future__ import annotations

import numpy as np


def score_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting scores high to low; ties keep their input order (as mergesort in COCOeval)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")


def greedy_match(iou: np.ndarray, threshold: float) -> np.ndarray:
    """pycocotools' greedy matching; rows of ``iou`` must already be in descending score order.

    Returns for each prediction the index of its GT, or -1. A prediction takes, among the
    GT not yet taken, the one with the highest IoU provided it is >= threshold (capped at
    1 - 1e-10 as pycocotools does); among equal IoUs the LAST such GT column wins, which is
    what COCOeval's ``if ious[d, g] < iou: continue`` loop does. Entries < 0 never match,
    which callers use to forbid pairs (e.g. different classes).
    """
    iou = np.asarray(iou, dtype=np.float64)
    n_pred, n_gt = iou.shape
    match = np.full(n_pred, -1, dtype=np.intp)
    if n_pred == 0 or n_gt == 0:
        return match
    thr = min(float(threshold), 1.0 - 1e-10)
    # Walk the candidate pairs (IoU >= thr) row by row in plain Python: rows have few.
    rows, cols = np.nonzero(iou >= thr)
    values = iou[rows, cols].tolist()
    rows, cols = rows.tolist(), cols.tolist()
    taken: set[int] = set()
    i, n = 0, len(rows)
    while i < n:
        row, best, best_iou = rows[i], -1, thr
        while i < n and rows[i] == row:
            if cols[i] not in taken and values[i] >= best_iou:
                best, best_iou = cols[i], values[i]
            i += 1
        if best >= 0:
            match[row] = best
            taken.add(best)
    return match


def match_by_iou(iou: np.ndarray, threshold: float = 0.5, *, strict: bool = True) -> list[tuple[int, int]]:
    """One-to-one pairs (pred, gt) taken in descending IoU order; IoU > threshold (>= if not strict)."""
    iou = np.asarray(iou, dtype=np.float64)
    above = iou > threshold if strict else iou >= threshold
    rows, cols = np.nonzero(above)
    order = np.argsort(-iou[rows, cols], kind="mergesort")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs
