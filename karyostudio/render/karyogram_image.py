"""Render a karyogram image (numpy, no Qt): the page of karyostudio.render.karyogram_layout.

What ``karyostudio predict`` writes as ``<image>_karyogram.png``, laid out exactly like the app's
karyogram view and its exports: the clinical four-row layout on an A4-landscape page, every
chromosome cut out with its own outline, upright with the p arm up (where the data or the width
profile says which end is p), straightened where bent, at the cell's one common scale, contrast
stretched between the darkest bands and the slide (karyostudio.render.contrast). Unnamed
chromosomes, clusters and other objects are left out of the rows; ``include_unplaced`` lists
them in a band at the bottom. The header names the cell, its karyotype and its counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from karyostudio.core.cell_count import count_cell, is_chromosome
from karyostudio.core.instance import Instance
from karyostudio.core.karyogram import layout_karyogram
from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.render.contrast import chromosome_levels, stretch_lut
from karyostudio.render.cutout import WHITE, to_gray_uint8
from karyostudio.render.karyogram_layout import CAPTION_FONT, HEADER_FONT, PageLayout, Piece, layout_page
from karyostudio.render.straighten import AUTO, Strip, chromosome_strip
from karyostudio.synth.ideogram import STAIN_DARKNESS, load_ideograms

DEFAULT_WIDTH_PX = 1754  # A4 landscape at 150 dpi
TEXT = (0, 0, 0)
ABNORMAL = (190, 0, 0)
PLACEHOLDER = (150, 150, 150)


@dataclass
class Karyogram:
    """The rendered image plus where things went (for tests and clickable views)."""

    image: np.ndarray  # H x W x 3 uint8 RGB
    scale: float  # output pixels per image pixel (one for every chromosome in the rows)
    placements: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # id -> (x0, y0, x1, y1)
    slots: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # class -> slot box
    unplaced: list[int] = field(default_factory=list)  # ids left out of the rows
    layout: PageLayout | None = None


def render_karyogram(image: np.ndarray, instances: Iterable[Instance], **options) -> np.ndarray:
    """Karyogram of ``instances`` cut from ``image`` as an RGB uint8 array (white page)."""
    return compose_karyogram(image, instances, **options).image


def compose_karyogram(image: np.ndarray, instances: Iterable[Instance], *, title: str | None = None,
                      karyotype: str | None = None, ideograms: bool = False, include_unplaced: bool = False,
                      straighten: bool | str = AUTO, width_px: int = DEFAULT_WIDTH_PX) -> Karyogram:
    """Like render_karyogram, also returning each chromosome's and each slot's box."""
    gray = to_gray_uint8(image)
    instances = list(instances)
    by_id = {inst.id: inst for inst in instances}
    slots = layout_karyogram(instances)
    placed_ids = [i for row in slots.rows for slot in row for i in slot.instance_ids]
    wanted = placed_ids + (slots.unassigned if include_unplaced else [])
    strips = {i: s for i in wanted if (s := chromosome_strip(gray, by_id[i], straighten=straighten)) is not None}
    lut = stretch_lut(chromosome_levels(gray, [inst.polygon for inst in instances if is_chromosome(inst)]))
    pieces = [_piece(i, by_id[i].label, strips[i]) for i in placed_ids if i in strips]
    unplaced = [_piece(i, None, strips[i]) for i in slots.unassigned if i in strips] if include_unplaced else []
    page = layout_page(pieces, unplaced, ideograms=ideograms)
    ppu = width_px / page.width
    height_px = int(round(page.height * ppu))
    canvas = np.full((height_px, width_px, 3), WHITE, dtype=np.uint8)
    result = Karyogram(canvas, page.scale * ppu, unplaced=list(slots.unassigned), layout=page)

    for piece in pieces + unplaced:
        x, y, w, h = (v * ppu for v in page.box_of(piece.id))
        result.placements[piece.id] = _paste(canvas, strips[piece.id], lut, x, y, w, h)
    for slot in page.slots:
        if slot.ideogram is not None:
            _ideogram(canvas, slot.name, *(v * ppu for v in slot.ideogram))
    text = _Text(canvas)  # text and lines after every numpy drawing: flush() writes its copy back
    for slot in page.slots:
        x, y, w, h = slot.rect
        result.slots[slot.name] = (int(x * ppu), int(y * ppu), int((x + w) * ppu), int((y + h) * ppu))
        line_y = int(round(slot.line_y * ppu))
        text.line((x + w * 0.12) * ppu, line_y, (x + w * 0.88) * ppu, line_y, max(1, int(ppu * 3)))
        text.centred(slot.caption, (x + w / 2) * ppu, line_y + 4 * ppu, CAPTION_FONT * ppu,
                     ABNORMAL if slot.abnormal else TEXT)
        for box in slot.placeholders:
            text.dashed_box(*(v * ppu for v in box))
    for piece_id in page.extra:
        x0, y0, x1, _ = result.placements[piece_id]
        text.centred("+", (x0 + x1) / 2, y0 - CAPTION_FONT * ppu * 1.1, CAPTION_FONT * ppu, ABNORMAL)
    counts = count_cell(instances)
    lines = ["   ".join(t for t in (title, karyotype) if t), counts.text()]
    hx, hy, _, _ = page.header
    for k, line in enumerate(t for t in lines if t):
        text.left(line, hx * ppu, (hy + k * HEADER_FONT * 1.35) * ppu, HEADER_FONT * ppu, TEXT)
    if page.unplaced_band is not None:
        bx, by, _, _ = page.unplaced_band
        text.left("Not placed in the karyogram: " + _unplaced_text(instances, slots.unassigned), bx * ppu,
                  by * ppu, CAPTION_FONT * ppu, ABNORMAL)
    text.flush()
    return result


def _piece(instance_id: int, label: str | None, strip: Strip) -> Piece:
    h, w = strip.shape
    return Piece(instance_id, label, float(w), float(h), strip.centromere)


def _unplaced_text(instances: list[Instance], ids: list[int]) -> str:
    chosen = set(ids)
    count = count_cell(inst for inst in instances if inst.id in chosen)
    parts = ([f"{count.unnamed} unnamed"] if count.unnamed else []) + \
            ([f"{count.clusters} cluster(s)"] if count.clusters else []) + \
            ([f"{count.other} other object(s)"] if count.other else [])
    return ", ".join(parts) or "nothing"


def _paste(canvas: np.ndarray, strip: Strip, lut: np.ndarray, x: float, y: float, w: float, h: float
           ) -> tuple[int, int, int, int]:
    """Composite the strip (stretched, resized to w x h) onto the canvas; returns its box."""
    size = (max(1, int(round(w))), max(1, int(round(h))))
    shrink = size[0] < strip.shape[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    fill = cv2.resize(lut[strip.fill], size, interpolation=interpolation).astype(np.float32)
    alpha = np.clip(cv2.resize(strip.coverage, size, interpolation=interpolation).astype(np.float32) / 255.0, 0, 1)
    x0, y0 = int(round(x)), int(round(y))
    c0, r0 = max(0, -x0), max(0, -y0)
    x1, y1 = min(canvas.shape[1], x0 + size[0]), min(canvas.shape[0], y0 + size[1])
    if x1 <= max(x0, 0) or y1 <= max(y0, 0):
        return x0, y0, x0 + size[0], y0 + size[1]
    fill = fill[r0:r0 + y1 - max(y0, 0), c0:c0 + x1 - max(x0, 0)]
    alpha = alpha[r0:r0 + y1 - max(y0, 0), c0:c0 + x1 - max(x0, 0)]
    region = canvas[max(y0, 0):y1, max(x0, 0):x1].astype(np.float32)
    blended = alpha[..., None] * np.clip(fill, 0, 255)[..., None] + (1.0 - alpha[..., None]) * region
    canvas[max(y0, 0):y1, max(x0, 0):x1] = np.round(blended).astype(np.uint8)
    return x0, y0, x0 + size[0], y0 + size[1]


def _ideogram(canvas: np.ndarray, name: str, x: float, y: float, w: float, h: float) -> None:
    ideogram = load_ideograms()[name]
    length = ideogram.length_bp
    for start, end, stain in zip(ideogram.starts, ideogram.ends, ideogram.stains):
        top, bottom = y + h * float(start) / length, y + h * float(end) / length
        if stain == "acen":
            inset, colour = w * 0.3, (170, 60, 60)
        elif stain == "stalk":
            inset, colour = w * 0.35, (200, 200, 200)
        else:
            level = int(round(255 * (1.0 - STAIN_DARKNESS[stain])))
            inset, colour = 0.0, (level, level, level)
        cv2.rectangle(canvas, (int(round(x + inset)), int(round(top))),
                      (int(round(x + w - inset)) - 1, max(int(round(bottom)) - 1, int(round(top)))), colour, -1)
    cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)) - 1, int(round(y + h)) - 1),
                  (60, 60, 60), 1)


class _Text:
    """Text and thin lines drawn with Pillow (anti-aliased) onto the numpy canvas, in one pass."""

    def __init__(self, canvas: np.ndarray):
        self.canvas = canvas
        self.image = Image.fromarray(canvas)
        self.draw = ImageDraw.Draw(self.image)
        self._fonts: dict[int, ImageFont.ImageFont] = {}

    def font(self, size: float):
        key = max(6, int(round(size)))
        if key not in self._fonts:
            self._fonts[key] = ImageFont.load_default(size=key)
        return self._fonts[key]

    def left(self, text: str, x: float, y: float, size: float, colour) -> None:
        font, room = self.font(size), self.canvas.shape[1] - 2 * x
        while len(text) > 4 and self.draw.textlength(text, font=font) > room:  # too long: cut, say so
            text = text[:max(4, int(len(text) * room / self.draw.textlength(text, font=font))) - 4] + "..."
        self.draw.text((x, y), text, fill=colour, font=font)

    def centred(self, text: str, cx: float, y: float, size: float, colour) -> None:
        font = self.font(size)
        x0, _, x1, _ = self.draw.textbbox((0, 0), text, font=font)
        self.draw.text((cx - (x1 - x0) / 2 - x0, y), text, fill=colour, font=font)

    def line(self, x0: float, y0: float, x1: float, y1: float, width: int) -> None:
        self.draw.line([(x0, y0), (x1, y1)], fill=TEXT, width=width)

    def dashed_box(self, x: float, y: float, w: float, h: float) -> None:
        step = max(3.0, w / 4)
        for a, b in (((x, y), (x + w, y)), ((x + w, y), (x + w, y + h)), ((x + w, y + h), (x, y + h)),
                     ((x, y + h), (x, y))):
            length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
            for t in np.arange(0.0, length, 2 * step):
                s, e = t / length, min(t + step, length) / length
                self.draw.line([(a[0] + (b[0] - a[0]) * s, a[1] + (b[1] - a[1]) * s),
                                (a[0] + (b[0] - a[0]) * e, a[1] + (b[1] - a[1]) * e)], fill=PLACEHOLDER, width=1)

    def flush(self) -> None:
        self.canvas[...] = np.asarray(self.image)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB or gray uint8 image as PNG, atomically."""
    array = np.asarray(image)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"could not encode an image of shape {array.shape} as PNG")
    atomic_write_bytes(path, encoded.tobytes())
