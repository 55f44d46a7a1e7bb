"""The karyogram page (pure numbers): where every slot, chromosome, ideogram and caption goes.

One layout for the app's karyogram view, its PNG/SVG/PDF export and ``karyostudio predict``'s
PNG, so all of them look alike. The page is A4 landscape in tenths of a millimetre
(2970 x 2100 units), laid out as the clinical karyogram (ISCN figures, CytoVision, Ikaros):

    1 2 3 | 4 5  /  6 7 8 9 10 11 12  /  13 14 15 | 16 17 18  /  19 20 | 21 22 | X Y

four rows, slots spread across the page with wider gaps between Denver groups, each pair of
homologues side by side above its line and number. Every chromosome is drawn at one common
scale, the cell's own: chromosome 1 (estimated robustly from every named chromosome and its
relative length in the band tables) fills the first row's height. Homologues whose centromere
is known are aligned at it; others stand on the line. Missing copies get a dashed placeholder
of their class's length, copies beyond the expected number are marked extra. Unplaced objects
(unnamed chromosomes, clusters, nuclei) never enter the rows; on request they fill a band at
the bottom of the page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import median
from typing import Sequence

from karyostudio.core.classes import KARYOGRAM_GROUPS
from karyostudio.synth.ideogram import load_ideograms

Box = tuple[float, float, float, float]  # x, y, width, height (page units)

UNITS_PER_MM = 10.0
PAGE_SIZE = (2970.0, 2100.0)  # A4 landscape
MARGIN = 100.0
HEADER_HEIGHT = 200.0  # three lines of metadata and a gap
LABEL_HEIGHT = 60.0  # under each slot: the line and the class number
LINE_OFFSET = 8.0  # the line sits this far below the chromosomes
ROW_GAP = 40.0
SLOT_PAD = 20.0
HOMOLOGUE_GAP = 18.0
IDEOGRAM_WIDTH = 26.0
IDEOGRAM_GAP = 16.0
MIN_SLOT_WIDTH = 120.0
GROUP_GAP_WEIGHT = 2.0  # a gap between Denver groups takes this many shares of the spare width
UNPLACED_SHARE = 0.2  # share of the content height the unplaced band takes when it is shown
CAPTION_FONT = 38.0  # text heights in page units, for the painters
HEADER_FONT = 40.0
DEFAULT_CHR1_PX = 100.0
DEFAULT_WIDTH_PX = 14.0


@dataclass(frozen=True)
class Piece:
    """One cut-out to place: its size in image pixels and, when known, its centromere row."""

    id: int
    label: str | None  # the class slot; ignored for unplaced pieces
    width: float
    height: float
    centromere: float | None = None


@dataclass
class SlotGeometry:
    name: str
    rect: Box  # the slot's area, chromosomes and label
    line_y: float  # the line under the chromosomes
    caption: str  # the class number, with the count when it is abnormal
    abnormal: bool
    ideogram: Box | None
    placeholders: list[Box]
    ids: list[int] = field(default_factory=list)


@dataclass
class PageLayout:
    width: float
    height: float
    scale: float  # page units per image pixel (one for every chromosome)
    header: Box
    slots: list[SlotGeometry]
    positions: dict[int, tuple[float, float]]  # piece id -> top-left on the page
    sizes: dict[int, tuple[float, float]]  # piece id -> (width, height) on the page
    extra: set[int]
    rows: list[Box]  # each row's area (chromosomes and labels)
    unplaced_band: Box | None = None
    unplaced_scale: float = 0.0

    def slot(self, name: str) -> SlotGeometry:
        for slot in self.slots:
            if slot.name == name:
                return slot
        raise KeyError(name)

    def box_of(self, piece_id: int) -> Box:
        x, y = self.positions[piece_id]
        w, h = self.sizes[piece_id]
        return x, y, w, h


@lru_cache(maxsize=1)
def relative_lengths() -> dict[str, float]:
    """Each class's length relative to chromosome 1 (from the band tables)."""
    ideograms = load_ideograms()
    chr1 = ideograms["1"].length_bp
    return {name: ideo.length_bp / chr1 for name, ideo in ideograms.items()}


def expected_copies(name: str, counts: Counter) -> int:
    """Copies of a class in a normal cell of this cell's sex (a Y present means male)."""
    male = counts.get("Y", 0) > 0
    if name == "X":
        return 1 if male else 2
    if name == "Y":
        return 1 if male else 0
    return 2


def chromosome1_length(pieces: Sequence[Piece]) -> float:
    """The cell's chromosome-1 length in pixels: the median of height / relative length."""
    rel = relative_lengths()
    estimates = [p.height / rel[p.label] for p in pieces if p.label in rel]
    return float(median(estimates)) if estimates else DEFAULT_CHR1_PX


@dataclass
class _Slot:
    name: str
    pieces: list[Piece]
    missing: int
    ideogram_px: float  # the class's expected length in image pixels

    def extent_px(self) -> float:
        """Height the slot's chromosomes need above the line, in image pixels."""
        known = [p for p in self.pieces if p.centromere is not None]
        extent = max([self.ideogram_px] + [p.height for p in self.pieces])
        if known:
            above = max(p.centromere for p in known)
            below = max(p.height - p.centromere for p in known)
            extent = max(extent, above + below)
        return extent

    def width(self, scale: float, typical_px: float, ideograms: bool) -> float:
        widths = [p.width * scale for p in self.pieces] + [typical_px * scale] * self.missing
        content = sum(widths) + HOMOLOGUE_GAP * max(0, len(widths) - 1)
        if ideograms:
            content += IDEOGRAM_WIDTH + IDEOGRAM_GAP
        return max(MIN_SLOT_WIDTH, content + 2 * SLOT_PAD)


def layout_page(pieces: Sequence[Piece], unplaced: Sequence[Piece] = (), *, ideograms: bool = False,
                page: tuple[float, float] = PAGE_SIZE, header: bool = True) -> PageLayout:
    """Lay out one cell's karyogram on a page; unplaced pieces fill a bottom band when given."""
    rel = relative_lengths()
    by_class: dict[str, list[Piece]] = {name: [] for row in KARYOGRAM_GROUPS for g in row for name in g}
    for piece in pieces:
        if piece.label in by_class:
            by_class[piece.label].append(piece)
    counts = Counter({name: len(found) for name, found in by_class.items()})
    chr1_px = chromosome1_length([p for p in pieces if p.label in by_class])
    sized = [p for p in pieces if p.label in by_class]
    typical_px = float(median(p.width for p in sized)) if sized else DEFAULT_WIDTH_PX
    rows = [[[_Slot(name, by_class[name], max(0, expected_copies(name, counts) - len(by_class[name])),
                    rel[name] * chr1_px) for name in group] for group in row] for row in KARYOGRAM_GROUPS]

    page_w, page_h = page
    header_h = HEADER_HEIGHT if header else 0.0
    content_w = page_w - 2 * MARGIN
    content_h = page_h - 2 * MARGIN - header_h - ROW_GAP * (len(rows) - 1) - LABEL_HEIGHT * len(rows)
    band_h = 0.0
    if unplaced:
        band_h = UNPLACED_SHARE * content_h
        content_h -= band_h + ROW_GAP
    extents = [max(slot.extent_px() for group in row for slot in group) for row in rows]
    scale = content_h / sum(extents)
    for row in rows:  # no row wider than the page
        slots = [slot for group in row for slot in group]
        gaps = SLOT_PAD * (len(slots) + 1)
        for _ in range(40):
            natural = sum(slot.width(scale, typical_px, ideograms) for slot in slots) + gaps
            if natural <= content_w or scale < 1e-6:
                break
            scale *= 0.97 * content_w / natural

    heights = [extent * scale for extent in extents]
    used = sum(heights) + LABEL_HEIGHT * len(rows) + ROW_GAP * (len(rows) - 1)
    top = MARGIN + header_h + max(0.0, (content_h + LABEL_HEIGHT * len(rows) + ROW_GAP * (len(rows) - 1)
                                        - used) / 2.0)
    layout = PageLayout(page_w, page_h, scale, (MARGIN, MARGIN, content_w, header_h), [], {}, {}, set(), [])
    for row, row_h in zip(rows, heights):
        _place_row(layout, row, top, row_h, typical_px, ideograms, content_w, counts)
        layout.rows.append((MARGIN, top, content_w, row_h + LABEL_HEIGHT))
        top += row_h + LABEL_HEIGHT + ROW_GAP
    if unplaced:
        _place_unplaced(layout, list(unplaced), (MARGIN, page_h - MARGIN - band_h, content_w, band_h))
    return layout


def _place_row(layout: PageLayout, row: list[list[_Slot]], top: float, row_h: float, typical_px: float,
               ideograms: bool, content_w: float, counts: Counter) -> None:
    scale = layout.scale
    widths = [[slot.width(scale, typical_px, ideograms) for slot in group] for group in row]
    natural = sum(sum(w) for w in widths)
    # Spare width goes to the gaps: one share between slots and at both ends, more between groups.
    shares = sum(len(w) - 1 for w in widths) + GROUP_GAP_WEIGHT * (len(row) - 1) + 2.0
    unit = max(0.0, content_w - natural) / shares
    x = MARGIN + unit
    baseline = top + row_h
    for g, (group, group_widths) in enumerate(zip(row, widths)):
        if g:
            x += unit * GROUP_GAP_WEIGHT - unit
        for slot, slot_w in zip(group, group_widths):
            _place_slot(layout, slot, (x, top, slot_w, row_h + LABEL_HEIGHT), baseline, typical_px, ideograms,
                        counts)
            x += slot_w + unit


def _place_slot(layout: PageLayout, slot: _Slot, rect: Box, baseline: float, typical_px: float, ideograms: bool,
                counts: Counter) -> None:
    scale = layout.scale
    x0, _, slot_w, _ = rect
    widths = [p.width * scale for p in slot.pieces] + [typical_px * scale] * slot.missing
    content = sum(widths) + HOMOLOGUE_GAP * max(0, len(widths) - 1)
    if ideograms:
        content += IDEOGRAM_WIDTH + IDEOGRAM_GAP
    cx = x0 + (slot_w - content) / 2.0
    ideogram_h = slot.ideogram_px * scale
    ideogram_box = None
    if ideograms:
        ideogram_box = (cx, baseline - ideogram_h, IDEOGRAM_WIDTH, ideogram_h)
        cx += IDEOGRAM_WIDTH + IDEOGRAM_GAP
    known = [p for p in slot.pieces if p.centromere is not None]
    centre_line = baseline - max((p.height - p.centromere) * scale for p in known) if known else baseline
    expected = expected_copies(slot.name, counts)
    for k, piece in enumerate(slot.pieces):
        w, h = piece.width * scale, piece.height * scale
        y = centre_line - piece.centromere * scale if piece.centromere is not None else baseline - h
        layout.positions[piece.id] = (cx, y)
        layout.sizes[piece.id] = (w, h)
        if k >= expected:
            layout.extra.add(piece.id)
        cx += w + HOMOLOGUE_GAP
    placeholders = []
    for _ in range(slot.missing):
        placeholders.append((cx, baseline - ideogram_h, typical_px * scale, ideogram_h))
        cx += typical_px * scale + HOMOLOGUE_GAP
    abnormal = len(slot.pieces) != expected
    caption = f"{slot.name} ({len(slot.pieces)})" if abnormal else slot.name
    layout.slots.append(SlotGeometry(slot.name, rect, baseline + LINE_OFFSET, caption, abnormal, ideogram_box,
                                     placeholders, [p.id for p in slot.pieces]))


def _place_unplaced(layout: PageLayout, pieces: list[Piece], band: Box) -> None:
    x0, y0, band_w, band_h = band
    room_h = band_h - LABEL_HEIGHT
    tallest = max(p.height for p in pieces)
    total_w = sum(p.width for p in pieces)
    gaps = HOMOLOGUE_GAP * (len(pieces) + 1)
    scale = min(layout.scale, room_h / max(tallest, 1e-6), (band_w - gaps) / max(total_w, 1e-6))
    x, baseline = x0 + HOMOLOGUE_GAP, y0 + LABEL_HEIGHT + room_h
    for piece in pieces:
        w, h = piece.width * scale, piece.height * scale
        layout.positions[piece.id] = (x, baseline - h)
        layout.sizes[piece.id] = (w, h)
        x += w + HOMOLOGUE_GAP
    layout.unplaced_band = band
    layout.unplaced_scale = scale
