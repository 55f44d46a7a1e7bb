"""Separate touching chromosomes: a greedy search over candidate cuts, judged by the piece model.

A component is kept whole when the piece model already finds it a likely single chromosome.
Otherwise the few most convincing candidate cuts (:mod:`seg_cuts`) are tried; each yields pieces
that the model scores. A cut is taken only when it frees at least one likely single chromosome
and the pieces are worth more than the whole, where a piece is worth

    P(single) - fp_cost * (1 - P(single))      (expected true minus false detections),

or, for a piece that still looks like several chromosomes, a small credit for what a later cut
may free. Pieces are then searched in turn. Over-splitting is what this guards against: a cut
through one chromosome yields fragments, which the model scores as such, so the cut loses.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from karyostudio.core.progress import CancelToken, check
from karyostudio.models.classic.seg_cuts import Cut, CutRules, apply_cut, candidate_cuts
from karyostudio.models.classic.seg_piece_features import CellStats, CutContext, piece_features, principal_axis
from karyostudio.models.classic.seg_piece_model import CLUSTER, SINGLE, PieceModel
from karyostudio.models.classic.seg_skeleton import SkeletonInfo


@dataclass(frozen=True)
class SearchRules:
    """How eagerly :func:`separate` cuts."""

    fp_cost: float = 1.0  # weight of a false detection against a true one
    cluster_credit: float = 0.3  # worth of a piece that still looks like several chromosomes
    keep_single: float = 0.85  # pieces at least this likely single are not cut
    free_single: float = 0.5  # a cut must free a piece at least this likely single
    max_cuts: int = 4  # candidate cuts tried per piece
    max_depth: int = 8  # successive cuts per component
    min_piece_w2: float = 1.0  # smallest piece a cut may leave (w^2)


@dataclass(frozen=True)
class ScoredPiece:
    """A piece as a mask over the sub-window starting at (oy, ox) of its component's window."""

    mask: np.ndarray
    oy: int
    ox: int
    probabilities: np.ndarray  # over seg_piece_model.OUTCOMES
    crossings: int  # four-way skeleton junctions: chromosomes lying across each other


@dataclass(frozen=True)
class _Window:
    component: np.ndarray
    dark: np.ndarray
    border: np.ndarray | None
    cell: CellStats
    model: PieceModel


def crop_to_content(mask: np.ndarray, oy: int = 0, ox: int = 0, pad: int = 1) -> tuple[np.ndarray, int, int]:
    """The mask cut down to its bounding box plus ``pad`` pixels (within the mask's own extent),
    with the offset of the result added to (oy, ox). Work on small crops keeps the search fast."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return mask, oy, ox
    y0, y1 = max(0, rows[0] - pad), min(mask.shape[0], rows[-1] + 1 + pad)
    x0, x1 = max(0, cols[0] - pad), min(mask.shape[1], cols[-1] + 1 + pad)
    return mask[y0:y1, x0:x1], oy + int(y0), ox + int(x0)


def contact_length(piece: np.ndarray, component: np.ndarray) -> float:
    """Pixels of the component outside ``piece`` that touch it (4-neighbours): the cut length."""
    grown = cv2.dilate(piece.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))).astype(bool)
    return float((grown & component & ~piece).sum())


def cut_contexts(parts: list[np.ndarray], cut: Cut) -> list[CutContext]:
    """For each piece of a cut: the cut and the long axis of its largest sibling."""
    axes = [principal_axis(p) for p in parts]
    areas = [int(p.sum()) for p in parts]
    out = []
    for i in range(len(parts)):
        j = max((k for k in range(len(parts)) if k != i), key=lambda k: areas[k])
        out.append(CutContext(cut, axes[j]))
    return out


def _score(win: _Window, mask: np.ndarray, oy: int, ox: int,
           context: CutContext | None = None) -> tuple[np.ndarray, SkeletonInfo]:
    h, w = mask.shape
    region = np.s_[oy:oy + h, ox:ox + w]
    border = win.border[region] if win.border is not None else None
    feats, info = piece_features(mask, win.dark[region], border, win.cell,
                                 contact_length(mask, win.component[region]), context)
    return win.model.probabilities(feats), info


def separate(component: np.ndarray, dark: np.ndarray, border: np.ndarray | None, cell: CellStats,
             model: PieceModel, cut_rules: CutRules, rules: SearchRules,
             cancel: CancelToken | None = None) -> list[ScoredPiece]:
    """Split one component (window mask; ``dark`` and ``border`` over the same window)."""
    win = _Window(component, dark, border, cell, model)
    mask, oy, ox = crop_to_content(component)
    probs, info = _score(win, mask, oy, ox)
    return _search(win, mask, oy, ox, probs, info, cut_rules, rules, 0, cancel)


def _worth(p: np.ndarray, rules: SearchRules) -> float:
    as_single = p[SINGLE] - rules.fp_cost * (1.0 - p[SINGLE])
    return max(as_single, rules.cluster_credit * p[CLUSTER])


def _search(win: _Window, mask: np.ndarray, oy: int, ox: int, probs: np.ndarray, info: SkeletonInfo,
            cut_rules: CutRules, rules: SearchRules, depth: int, cancel: CancelToken | None) -> list[ScoredPiece]:
    if probs[SINGLE] >= rules.keep_single or depth >= rules.max_depth:
        return [ScoredPiece(mask, oy, ox, probs, len(info.crossings))]
    check(cancel)
    width = win.cell.width
    min_piece = rules.min_piece_w2 * width ** 2
    best = None
    for cut in candidate_cuts(mask, width, cut_rules, info.crossings)[:rules.max_cuts]:
        parts = apply_cut(mask, cut, min_piece)
        if len(parts) < 2:
            continue
        scored = []
        for part, context in zip(parts, cut_contexts(parts, cut)):
            sub, py, px = crop_to_content(part, oy, ox)
            scored.append((sub, py, px, *_score(win, sub, py, px, context)))
        if max(p[SINGLE] for *_, p, _ in scored) < rules.free_single:
            continue
        worth = sum(_worth(p, rules) for *_, p, _ in scored)
        if best is None or worth > best[0]:
            best = (worth, scored)
    if best is None or best[0] <= _worth(probs, rules):
        return [ScoredPiece(mask, oy, ox, probs, len(info.crossings))]
    out: list[ScoredPiece] = []
    for sub, py, px, p, part_info in best[1]:
        out.extend(_search(win, sub, py, px, p, part_info, cut_rules, rules, depth + 1, cancel))
    return out
