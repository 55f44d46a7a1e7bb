"""Which predicted outlines may hold several chromosomes and are worth splitting.

Three simple tests; an outline is a candidate when any of them says so:
  1. the predictor flagged it as a cluster (``"cluster": True``, karyostudio.models.base);
  2. it is too large for its class: its area exceeds ``max_area_ratio`` times the area its
     class should have in this cell. Expected areas come from the GRCh38 ideogram lengths
     (lengths grow as DNA content ** 0.9 and widths a little with length, as in
     karyostudio.synth), scaled to the cell by the median area / expected-area ratio of the
     cell's named outlines. Unnamed outlines are compared with the largest chromosome (1)
     at ``max_unnamed_area_ratio``. Fewer than ``min_named`` named outlines: no scale, no test;
  3. its medial skeleton branches: ``min_branch_ends`` or more ends after pruning spurs shorter
     than about a chromosome width (an X has four ends, a T three; a single chromosome two).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.models.base import is_cluster
from karyostudio.models.classic.seg_skeleton import analyse
from karyostudio.models.overlap.splitter import chromosome_width
from karyostudio.synth.ideogram import load_ideograms
from karyostudio.synth.metaphase import LENGTH_EXPONENT


@dataclass(frozen=True)
class CandidateRules:
    use_cluster_flag: bool = True
    max_area_ratio: float = 1.6  # named outline vs its class's expected area in this cell
    max_unnamed_area_ratio: float = 1.3  # unnamed outline vs chromosome 1's expected area
    min_named: int = 10  # named outlines needed to know the cell's scale
    min_branch_ends: int = 3  # 0 turns the skeleton test off


@lru_cache(maxsize=1)
def expected_relative_areas() -> dict[str, float]:
    """Expected area of every class relative to chromosome 1 (1.0)."""
    ideograms = load_ideograms()
    bp1 = ideograms["1"].length_bp
    areas = {}
    for name, ideogram in ideograms.items():
        length = (ideogram.length_bp / bp1) ** LENGTH_EXPONENT
        areas[name] = length * (0.85 + 0.15 * np.sqrt(length))  # width grows a little with length
    return areas


def cell_area_scale(instances: Sequence[Instance], min_named: int) -> float | None:
    """Area of chromosome 1 in this cell, from the named single outlines; None when too few."""
    expected = expected_relative_areas()
    ratios = [inst.area / expected[inst.label] for inst in instances
              if inst.label is not None and not is_cluster(inst)]
    return float(np.median(ratios)) if len(ratios) >= min_named else None


def skeleton_ends(instance: Instance) -> int:
    """Ends of the outline's medial skeleton after spur pruning."""
    xmin, ymin, xmax, ymax = instance.bbox
    x0, y0 = int(np.floor(xmin)) - 1, int(np.floor(ymin)) - 1
    shape = (int(np.ceil(ymax)) - y0 + 2, int(np.ceil(xmax)) - x0 + 2)
    mask = polygon_to_mask(instance.polygon - np.array([x0, y0], dtype=np.float64), shape)
    if mask.sum() < 9:
        return 0
    return analyse(mask, max(chromosome_width(mask), 2.0)).ends


def candidate_reason(instance: Instance, scale: float | None, rules: CandidateRules) -> str | None:
    """Why an outline may hold several chromosomes, or None."""
    if rules.use_cluster_flag and is_cluster(instance):
        return "flagged as a cluster"
    if scale is not None:
        if instance.label is not None:
            expected = scale * expected_relative_areas()[instance.label]
            if instance.area > rules.max_area_ratio * expected:
                return f"area {instance.area:.0f} px is {instance.area / expected:.1f}x that of a {instance.label}"
        elif instance.area > rules.max_unnamed_area_ratio * scale:
            return f"area {instance.area:.0f} px exceeds chromosome 1's {scale:.0f} px"
    if rules.min_branch_ends and skeleton_ends(instance) >= rules.min_branch_ends:
        return "its skeleton branches"
    return None


def find_candidates(instances: Sequence[Instance], rules: CandidateRules = CandidateRules()) -> dict[int, str]:
    """Instance id -> reason, for every outline that may hold several chromosomes."""
    scale = cell_area_scale(instances, rules.min_named)
    found = {}
    for inst in instances:
        reason = candidate_reason(inst, scale, rules)
        if reason is not None:
            found[inst.id] = reason
    return found
