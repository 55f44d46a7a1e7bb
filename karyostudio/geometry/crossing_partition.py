"""ChromSeg's crossing-partition (Cao et al., Algorithm 1): split a crossing cluster into chromosomes.

Input: a cluster's foreground mask and its crossing-overlap mask (pixels two chromosomes
cover). Steps (blocks and rays in karyostudio.geometry.crossing_parts):
  1. watershed split into overlap blocks V_i and non-overlap blocks S_j;
  2. Build Dictionary: the blocks S_j that touch each V_i. (The paper searches the whole disk
     area; a part that only comes near an overlap belongs to a chromosome that does not cross
     there, so here a part must touch the overlap, within ``contact`` px);
  3. Classify: from each S_j's centre (its pixels inside V_i's disk area) a ray through V_i's
     centre; the block it meets on the far side belongs to the same chromosome;
  4. union-find over the pairs; every tree plus the overlaps its blocks touch is a chromosome,
     so an overlap belongs to both chromosomes that cross there.

What the rays may conclude is checked against what a crossing is: exactly two chromosomes
through one overlap. With 4 arms (X) the rays must give two pairs (one pair found leaves the
other two as the second pair); with 3 arms (T) one pair, the third arm ending in the overlap;
with 2 arms (L, or a T whose stem ends on a chromosome without cutting it) the arms are two
chromosomes, unless they leave in opposite directions from an overlap open to the background on
its sides: that is one chromosome under a falsely detected crossing. Anything else is refused
with a reason instead of guessed: fewer than 2 or more than 4 arms (three chromosomes through
one point), rays that pair nothing, parts that touch no overlap, or an overlap whose arms end
up in one chromosome or in three. Junctions are named by their arms: X (4), T (3), L (2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

import numpy as np

from karyostudio.geometry.crossing_parts import (
    Blocks,
    background_contact,
    disk_area,
    emit_ray,
    neighbours,
    part_centre,
    split_blocks,
)
from karyostudio.geometry.union_find import group_parts

# The paper's disk radius (8-12 px) is for its 256 px crops, where chromosomes are about
# 20 px wide; other resolutions scale it with the chromosome width.
REFERENCE_WIDTH = 20.0
# Share of an overlap's rim on the background above which two straight-through arms are taken
# for one chromosome (a stem ending inside another chromosome leaves its overlap enclosed).
MAX_BACKGROUND_CONTACT = 0.1
OPPOSITE_DEGREES = 150.0


class PartitionInputError(ValueError):
    """The masks given to the partition are not two 2-D arrays of one shape."""


class PartitionStatus(enum.Enum):
    SPLIT = "split"
    NO_OVERLAP = "no_overlap"  # nothing to split: no crossing-overlap region in the cluster
    AMBIGUOUS = "ambiguous"  # the geometry does not say which parts form which chromosome


@dataclass(frozen=True)
class PartitionParams:
    disk_radius: float = 10.0  # px: overlap dilation giving the disk area (paper: 8-12 px)
    contact: int = 2  # px: a part within this distance of an overlap touches it
    part_gap: int = 2  # px: ring cut around overlaps before parts are labelled (splits arms
    # that meet just past an overlap's sharp tip; wider rings swallow short arms)
    min_overlap_area: int = 6  # px: smaller crossing regions are treated as plain foreground
    min_part_area: int = 10  # px: smaller non-overlap regions seed no part of their own
    max_overlap_grow: int = 10  # px: an overlap enclosed by one arm region may grow this far to cut it

    def __post_init__(self) -> None:
        if self.disk_radius <= self.contact:
            raise ValueError(f"disk_radius ({self.disk_radius}) must exceed contact ({self.contact})")
        if min(self.contact, self.part_gap, self.min_overlap_area, self.min_part_area) < 0:
            raise ValueError("contact, part_gap and minimum areas must not be negative")

    @classmethod
    def for_chromosome_width(cls, width: float, **overrides) -> "PartitionParams":
        """Parameters scaled to chromosomes ``width`` px wide (defaults are for ~20 px)."""
        scale = float(np.clip(width / REFERENCE_WIDTH, 0.25, 4.0))
        params = cls(disk_radius=max(3.0, cls.disk_radius * scale),
                     part_gap=max(1, int(round(cls.part_gap * scale))),
                     max_overlap_grow=max(2, int(round(cls.max_overlap_grow * scale))),
                     min_overlap_area=max(2, int(round(cls.min_overlap_area * scale ** 2))),
                     min_part_area=max(3, int(round(cls.min_part_area * scale ** 2))))
        return replace(params, **overrides)


@dataclass(frozen=True)
class ChromosomePatch:
    """A reconstructed chromosome image: the cluster's pixels inside its mask, background outside."""

    image: np.ndarray
    mask: np.ndarray  # bool, same shape as image
    origin: tuple[int, int]  # (x0, y0) of the patch in the cluster's coordinates


@dataclass(frozen=True)
class PartitionResult:
    """Outcome of one partition. ``chromosomes`` is empty unless status is SPLIT."""

    status: PartitionStatus
    reason: str  # human-readable: what was found, or why nothing was split
    chromosomes: tuple[np.ndarray, ...] = ()  # bool masks of the cluster's shape; overlaps shared
    junctions: tuple[str, ...] = ()  # shape at each overlap: "X", "T" or "L"
    foreground: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.status is PartitionStatus.SPLIT

    def reconstruct(self, image: np.ndarray, *, background: float | None = None,
                    margin: int = 2) -> list[ChromosomePatch]:
        """Image patches of every chromosome (see reconstruct_chromosome).

        Background defaults to the median of the image outside the cluster's foreground.
        """
        if background is None:
            outside = np.asarray(image)[~self.foreground] if self.foreground is not None else np.empty(0)
            background = float(np.median(outside)) if outside.size else float(np.max(image))
        return [reconstruct_chromosome(image, m, background=background, margin=margin) for m in self.chromosomes]


def reconstruct_chromosome(image: np.ndarray, mask: np.ndarray, *, background: float,
                           margin: int = 2) -> ChromosomePatch:
    """The chromosome's own image: its mask's bounding box (plus margin) of the cluster image,
    every pixel outside the mask set to the background level. Inside an overlap the cluster
    image is kept as it is (the paper does the same; the other chromosome's darkness is part of it).
    """
    image = np.asarray(image)
    if image.shape[:2] != mask.shape:
        raise PartitionInputError(f"image shape {image.shape[:2]} differs from mask shape {mask.shape}")
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise PartitionInputError("cannot reconstruct an empty chromosome mask")
    y0, y1 = max(ys.min() - margin, 0), min(ys.max() + 1 + margin, mask.shape[0])
    x0, x1 = max(xs.min() - margin, 0), min(xs.max() + 1 + margin, mask.shape[1])
    m = mask[y0:y1, x0:x1]
    patch = image[y0:y1, x0:x1].copy()
    patch[~m] = np.asarray(background).astype(image.dtype)
    return ChromosomePatch(patch, m.copy(), (int(x0), int(y0)))


def partition_cluster(foreground: np.ndarray, crossing: np.ndarray,
                      params: PartitionParams = PartitionParams()) -> PartitionResult:
    """Split one cluster into chromosomes (Algorithm 1); see the module docstring."""
    fg = np.asarray(foreground)
    cross = np.asarray(crossing)
    if fg.ndim != 2 or fg.shape != cross.shape:
        raise PartitionInputError(f"foreground and crossing masks must be 2-D and of one shape, got "
                                  f"{fg.shape} and {cross.shape}")
    fg = fg.astype(bool)
    blocks = split_blocks(fg, cross.astype(bool), min_overlap_area=params.min_overlap_area,
                          min_part_area=params.min_part_area, part_gap=params.part_gap,
                          max_grow=params.max_overlap_grow)
    return partition_blocks(blocks, params, foreground=fg)


def _refuse(reason: str, foreground: np.ndarray | None) -> PartitionResult:
    return PartitionResult(PartitionStatus.AMBIGUOUS, reason, foreground=foreground)


def partition_blocks(blocks: Blocks, params: PartitionParams = PartitionParams(), *,
                     foreground: np.ndarray | None = None) -> PartitionResult:
    """Algorithm 1 on blocks that are already labelled (Build Dictionary, Classify, union-find)."""
    if blocks.n_overlaps == 0:
        return PartitionResult(PartitionStatus.NO_OVERLAP, "no crossing-overlap region found in the cluster",
                               foreground=foreground)
    arms = neighbours(blocks, params.contact)
    pairs: list[tuple[int, int]] = []
    junctions: list[str] = []
    for overlap in range(1, blocks.n_overlaps + 1):
        local, problem = _pair_at(blocks, overlap, arms[overlap], params.disk_radius)
        if problem:
            return _refuse(problem, foreground)
        pairs.extend(local)
        junctions.append({4: "X", 3: "T", 2: "L"}[len(arms[overlap])])
    touching = {p for parts in arms.values() for p in parts}
    leftover = sorted(set(range(1, blocks.n_parts + 1)) - touching)
    if leftover:
        return _refuse(f"{len(leftover)} non-overlap part(s) touch no crossing-overlap region, so no crossing "
                       f"tells which chromosome they belong to", foreground)
    groups = group_parts(range(1, blocks.n_parts + 1), pairs)
    group_of = {p: g for g, members in enumerate(groups) for p in members}
    for overlap, parts in arms.items():
        through = {group_of[p] for p in parts}
        if len(through) != 2:
            return _refuse(f"after grouping, {len(through)} chromosome(s) pass through crossing-overlap region "
                           f"{overlap} instead of 2 (parts joined around a loop of crossings)", foreground)
    masks = []
    for members in groups:
        own = np.isin(blocks.part_labels, list(members))
        shared = [v for v, parts in arms.items() if members.intersection(parts)]
        masks.append(own | np.isin(blocks.overlap_labels, shared))
    # Order by the first pixel in raster order, so the result does not depend on label numbering.
    masks.sort(key=lambda m: int(np.flatnonzero(m.ravel())[0]))
    kinds = ", ".join(f"{junctions.count(k)} {k}" for k in "XTL" if k in junctions)
    return PartitionResult(PartitionStatus.SPLIT,
                           f"split into {len(masks)} chromosomes at {blocks.n_overlaps} crossing(s) ({kinds})",
                           tuple(masks), tuple(junctions), foreground)


def _pair_at(blocks: Blocks, overlap: int, parts: list[int], radius: float) -> tuple[list[tuple[int, int]], str]:
    """Pairs of arms that continue each other through one overlap, or a reason to refuse."""
    k = len(parts)
    if k < 2:
        return [], (f"crossing-overlap region {overlap} touches {k} non-overlap part(s); a crossing needs "
                    f"the arms of two chromosomes")
    if k > 4:
        return [], (f"{k} arms meet at crossing-overlap region {overlap}: more than two chromosomes cross "
                    f"there, which the partition does not resolve")
    area = disk_area(blocks, overlap, radius)
    centres = {part: part_centre(blocks, part, area) for part in parts}
    if k == 2:
        # L, or a T whose stem ends inside the other chromosome: two chromosomes either way. But
        # two arms leaving in opposite directions from an overlap that reaches the background on
        # its sides are one chromosome under a falsely detected crossing.
        if (_opposite(area.centre, *centres.values())
                and background_contact(blocks, overlap) > MAX_BACKGROUND_CONTACT):
            return [], (f"crossing-overlap region {overlap} lies across a single chromosome: its two arms "
                        f"continue each other and nothing else crosses there")
        return [], ""
    candidates = set(parts)
    hits = {part: None if centres[part] is None else emit_ray(blocks, part, centres[part], area, candidates - {part})
            for part in parts}
    pairs = _ray_pairs(parts, hits)
    if k == 3:
        if len(pairs) != 1:
            return [], (f"three arms meet at crossing-overlap region {overlap} but the rays find "
                        f"{len(pairs)} pairs of opposite arms instead of 1")
        return pairs, ""
    if len(pairs) == 1:  # two chromosomes with four arms: the arms left over are the other one
        rest = sorted(candidates - set(pairs[0]))
        pairs.append((rest[0], rest[1]))
    if len(pairs) != 2:
        return [], (f"rays from the four arms at crossing-overlap region {overlap} meet no opposite arm, so "
                    f"which arms continue each other is unclear")
    return pairs, ""


def _opposite(centre: np.ndarray, a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """True when a and b lie on opposite sides of centre (directions over 150 degrees apart)."""
    if a is None or b is None:
        return False
    u, v = a - centre, b - centre
    norms = float(np.hypot(*u) * np.hypot(*v))
    return norms > 0 and float(np.dot(u, v)) / norms < np.cos(np.deg2rad(OPPOSITE_DEGREES))


def _ray_pairs(parts: list[int], hits: dict[int, int | None]) -> list[tuple[int, int]]:
    """Arms that continue each other: rays that hit each other, or a ray that hits an arm
    whose own ray meets nothing and that no other ray hits. The result does not depend on
    the order of ``parts``."""
    pairs = {tuple(sorted((p, h))) for p, h in hits.items() if h is not None and hits.get(h) == p}
    paired = {p for pair in pairs for p in pair}
    hit_count: dict[int, int] = {}
    for h in hits.values():
        if h is not None:
            hit_count[h] = hit_count.get(h, 0) + 1
    for p in parts:
        h = hits[p]
        if h is None or p in paired or h in paired:
            continue
        if hits[h] is None and hit_count[h] == 1:
            pairs.add(tuple(sorted((p, h))))
            paired.update((p, h))
    return sorted(pairs)
