"""Where everything goes in the karyogram scene (Qt-free numbers, so it is cheap and testable).

Rows follow karyostudio.core.karyogram (ISCN order, Denver groups). Each slot holds its class's
ideogram at the left, the chromosomes side by side standing on a common baseline, and a dashed
outline for every expected copy that is missing. Copies beyond the expected number are marked
extra. Ideograms are drawn to the cell's own scale: their heights follow the band tables'
lengths, calibrated by the median of (chromosome height / relative length) over the named
chromosomes. Unlabelled outlines and clusters go to an "unassigned" area below the rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from statistics import median
from typing import Iterable

from karyostudio.core.classes import KARYOGRAM_ROWS
from karyostudio.core.instance import Instance
from karyostudio.core.karyogram import layout_karyogram
from karyostudio.models.base import is_cluster
from karyostudio.synth.ideogram import load_ideograms

Box = tuple[float, float, float, float]  # x, y, width, height

MARGIN = 16.0
SLOT_PAD = 6.0
SLOT_GAP = 6.0
HOMOLOGUE_GAP = 6.0
IDEOGRAM_WIDTH = 8.0
IDEOGRAM_GAP = 6.0
LABEL_HEIGHT = 20.0
EXTRA_MARK_HEIGHT = 16.0
ROW_GAP = 10.0
MIN_SLOT_WIDTH = 44.0
DEFAULT_CHR1_HEIGHT = 120.0
DEFAULT_WIDTH = 20.0


@dataclass
class SlotBox:
    name: str | None  # None: the unassigned area
    rect: Box
    ideogram: Box | None
    placeholders: list[Box]
    caption: str
    abnormal: bool
    instance_ids: list[int] = field(default_factory=list)


@dataclass
class Arrangement:
    slots: list[SlotBox]  # in ISCN order, the unassigned area last
    positions: dict[int, tuple[float, float]]  # instance id -> top-left of its chromosome
    extra: set[int]
    width: float
    height: float

    def slot(self, name: str | None) -> SlotBox:
        for slot in self.slots:
            if slot.name == name:
                return slot
        raise KeyError(name)


def expected_copies(name: str, counts: Counter) -> int:
    """Copies of a class in a normal cell of this cell's sex (a Y present means male)."""
    male = counts.get("Y", 0) > 0
    if name == "X":
        return 1 if male else 2
    if name == "Y":
        return 1 if male else 0
    return 2


def relative_lengths() -> dict[str, float]:
    """Each class's length relative to chromosome 1 (from the band tables)."""
    ideograms = load_ideograms()
    chr1 = ideograms["1"].length_bp
    return {name: ideo.length_bp / chr1 for name, ideo in ideograms.items()}


def assignment(instances: Iterable[Instance]) -> tuple[dict[str, list[int]], list[int]]:
    """Class name -> ids in slot order, and the unassigned ids (unnamed, then clusters)."""
    instances = list(instances)
    singles = [inst for inst in instances if not is_cluster(inst)]
    layout = layout_karyogram(singles)
    slots = {slot.name: list(slot.instance_ids) for row in layout.rows for slot in row}
    clusters = sorted(inst.id for inst in instances if is_cluster(inst))
    return slots, layout.unassigned + clusters


def arrange(instances: Iterable[Instance], sizes: dict[int, tuple[float, float]]) -> Arrangement:
    """Place every instance that has a size (width, height); those without one are left out."""
    instances = [inst for inst in instances if inst.id in sizes]
    clusters = {inst.id for inst in instances if is_cluster(inst)}
    slot_ids, unassigned = assignment(instances)
    counts = Counter({name: len(ids) for name, ids in slot_ids.items()})
    rel = relative_lengths()
    named = [sizes[i][1] / rel[name] for name, ids in slot_ids.items() for i in ids]
    chr1_height = median(named) if named else DEFAULT_CHR1_HEIGHT
    typical_width = median(w for w, _ in sizes.values()) if sizes else DEFAULT_WIDTH

    rows = []
    for row in KARYOGRAM_ROWS:
        cells = []
        for name in row:
            ids = slot_ids[name]
            missing = max(0, expected_copies(name, counts) - len(ids))
            ideogram_h = rel[name] * chr1_height
            widths = [sizes[i][0] for i in ids] + [typical_width] * missing
            content_w = sum(widths) + HOMOLOGUE_GAP * max(0, len(widths) - 1)
            slot_w = max(MIN_SLOT_WIDTH, 2 * SLOT_PAD + IDEOGRAM_WIDTH + IDEOGRAM_GAP + content_w)
            content_h = max([ideogram_h] + [sizes[i][1] for i in ids])
            cells.append((name, ids, missing, ideogram_h, slot_w, content_h))
        rows.append(cells)
    row_widths = [sum(c[4] for c in cells) + SLOT_GAP * (len(cells) - 1) for cells in rows]
    width = max(row_widths)

    slots: list[SlotBox] = []
    positions: dict[int, tuple[float, float]] = {}
    extra: set[int] = set()
    y = MARGIN
    for cells, row_w in zip(rows, row_widths):
        row_h = EXTRA_MARK_HEIGHT + max(c[5] for c in cells) + LABEL_HEIGHT
        baseline = y + row_h - LABEL_HEIGHT
        x = MARGIN + (width - row_w) / 2.0
        for name, ids, missing, ideogram_h, slot_w, _ in cells:
            expected = expected_copies(name, counts)
            ideogram = (x + SLOT_PAD, baseline - ideogram_h, IDEOGRAM_WIDTH, ideogram_h)
            cx = x + SLOT_PAD + IDEOGRAM_WIDTH + IDEOGRAM_GAP
            for k, i in enumerate(ids):
                w, h = sizes[i]
                positions[i] = (cx, baseline - h)
                if k >= expected:
                    extra.add(i)
                cx += w + HOMOLOGUE_GAP
            placeholders = []
            for _ in range(missing):
                placeholders.append((cx, baseline - ideogram_h, typical_width, ideogram_h))
                cx += typical_width + HOMOLOGUE_GAP
            abnormal = len(ids) != expected
            caption = f"{name} ({len(ids)})" if abnormal else name
            slots.append(SlotBox(name, (x, y, slot_w, row_h), ideogram, placeholders, caption, abnormal, list(ids)))
            x += slot_w + SLOT_GAP
        y += row_h + ROW_GAP

    # The unassigned area: wrapped rows of chromosomes under a title; always present as a drop target.
    top = y
    x, line_top, line_h = MARGIN + SLOT_PAD, top + LABEL_HEIGHT + 4.0, 0.0
    for i in unassigned:
        w, h = sizes[i]
        if x + w > MARGIN + width - SLOT_PAD and x > MARGIN + SLOT_PAD:
            x, line_top, line_h = MARGIN + SLOT_PAD, line_top + line_h + HOMOLOGUE_GAP, 0.0
        positions[i] = (x, line_top)
        x += w + HOMOLOGUE_GAP
        line_h = max(line_h, h)
    area_h = (line_top - top) + max(line_h, 40.0) + SLOT_PAD
    n_clusters = sum(1 for i in unassigned if i in clusters)
    parts = [f"{len(unassigned) - n_clusters} unlabelled"] + ([f"{n_clusters} cluster(s)"] if n_clusters else [])
    slots.append(SlotBox(None, (MARGIN, top, width, area_h), None, [], "Unassigned: " + ", ".join(parts),
                         False, list(unassigned)))
    return Arrangement(slots, positions, extra, width + 2 * MARGIN, top + area_h + MARGIN)
