"""Render a karyogram image: every chromosome cut out, stood upright and placed in its class slot.

Rows follow karyostudio.core.karyogram (1-3 / 4-5 / 6-12 + X / 13-15 / 16-18 / 19-20 /
21-22 + Y); homologues stand side by side above their class label; unnamed instances and
clusters fill a final row. One scale factor applies to the whole karyogram so relative
chromosome lengths stay true. The long axis is made vertical, but which arm points up is not
decided (that needs centromere detection), so a chromosome may stand upside down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.karyogram import layout_karyogram
from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.render.cutout import WHITE, to_gray_uint8, upright_cutout

FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_FONT_SCALE = 0.5
TITLE_FONT_SCALE = 0.6
TEXT_COLOR = (0, 0, 0)
UNASSIGNED_COLOR = (200, 0, 0)
HOMOLOGUE_GAP = 4
SLOT_PAD = 10
ROW_GAP = 14
MARGIN = 12
LABEL_HEIGHT = 18
MIN_SLOT_WIDTH = 24
MIN_ROW_HEIGHT = 10
DEFAULT_TALLEST = 140  # pixels the longest chromosome gets when the scale is automatic


@dataclass
class Karyogram:
    """The rendered image plus where things went (for tests and clickable views)."""

    image: np.ndarray  # H x W x 3 uint8 RGB
    scale: float
    placements: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # id -> (x0, y0, x1, y1)
    slots: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # class -> slot box


@dataclass
class _Item:
    instance_id: int
    pixels: np.ndarray
    label: str  # text under it in the unassigned row; slot items use the slot's label


def render_karyogram(image: np.ndarray, instances: Iterable[Instance], *, title: str | None = None,
                     karyotype: str | None = None, scale: float | None = None) -> np.ndarray:
    """Karyogram of ``instances`` cut from ``image`` as an RGB uint8 array (white background)."""
    return compose_karyogram(image, instances, title=title, karyotype=karyotype, scale=scale).image


def compose_karyogram(image: np.ndarray, instances: Iterable[Instance], *, title: str | None = None,
                      karyotype: str | None = None, scale: float | None = None) -> Karyogram:
    """Like render_karyogram, also returning each chromosome's and each slot's box.

    scale multiplies image pixels; None picks one so the longest chromosome is
    DEFAULT_TALLEST pixels high (never more than 3x enlarged).
    """
    gray = to_gray_uint8(image)
    instances = list(instances)
    by_id = {inst.id: inst for inst in instances}
    cutouts = {inst.id: c for inst in instances if (c := upright_cutout(gray, inst)) is not None}
    if scale is None:
        tallest = max((c.shape[0] for c in cutouts.values()), default=DEFAULT_TALLEST)
        scale = min(3.0, DEFAULT_TALLEST / tallest)
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    cutouts = {i: _rescale(c, scale) for i, c in cutouts.items()}

    layout = layout_karyogram(instances)
    rows: list[list[tuple[str, list[_Item]]]] = []
    for row in layout.rows:
        rows.append([(slot.name, [_Item(i, cutouts[i], slot.name) for i in slot.instance_ids if i in cutouts])
                     for slot in row])
    unassigned = [_Item(i, cutouts[i], "cluster" if by_id[i].attributes.get("cluster") else "?")
                  for i in layout.unassigned if i in cutouts]

    header = "   ".join(t for t in (title, karyotype) if t)
    header_h = (_text_size(header, TITLE_FONT_SCALE)[1] + ROW_GAP) if header else 0
    width = max([_row_width(r) for r in rows] + [_text_size(header, TITLE_FONT_SCALE)[0] if header else 0])
    # Unnamed instances get their own slots, wrapped into as many rows as the width needs.
    unassigned_rows = _wrap([(item.label, [item]) for item in unassigned], width)
    width = max([width] + [_row_width(r) for r in unassigned_rows])
    all_rows = rows + unassigned_rows
    height = MARGIN + header_h + sum(_row_height(r) + ROW_GAP for r in all_rows) - ROW_GAP + MARGIN
    canvas = np.full((height, width + 2 * MARGIN, 3), WHITE, dtype=np.uint8)
    result = Karyogram(image=canvas, scale=scale)
    if header:
        _put_text(canvas, header, (MARGIN, MARGIN), TITLE_FONT_SCALE, TEXT_COLOR)

    y = MARGIN + header_h
    for index, row in enumerate(all_rows):
        is_unassigned = index >= len(rows)
        row_h = _row_height(row)
        x = MARGIN + (width - _row_width(row)) // 2
        for name, items in row:
            slot_w = _slot_width(name, items)
            content_w = sum(it.pixels.shape[1] for it in items) + HOMOLOGUE_GAP * max(0, len(items) - 1)
            cx = x + (slot_w - content_w) // 2
            baseline = y + row_h - LABEL_HEIGHT  # chromosomes stand on this line
            for item in items:
                h, w = item.pixels.shape
                top = baseline - h
                canvas[top:baseline, cx:cx + w] = item.pixels[..., None]
                result.placements[item.instance_id] = (cx, top, cx + w, baseline)
                cx += w + HOMOLOGUE_GAP
            text_w = _text_size(name, LABEL_FONT_SCALE)[0]
            _put_text(canvas, name, (x + (slot_w - text_w) // 2, baseline + 4), LABEL_FONT_SCALE,
                      UNASSIGNED_COLOR if is_unassigned else TEXT_COLOR)
            if not is_unassigned:
                result.slots[name] = (x, y, x + slot_w, y + row_h)
            x += slot_w
        y += row_h + ROW_GAP
    return result


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB or gray uint8 image as PNG, atomically."""
    array = np.asarray(image)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"could not encode an image of shape {array.shape} as PNG")
    atomic_write_bytes(path, encoded.tobytes())


def _rescale(pixels: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return pixels
    h, w = pixels.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _slot_width(name: str, items: list[_Item]) -> int:
    content = sum(it.pixels.shape[1] for it in items) + HOMOLOGUE_GAP * max(0, len(items) - 1)
    return max(content, _text_size(name, LABEL_FONT_SCALE)[0], MIN_SLOT_WIDTH) + 2 * SLOT_PAD


def _row_width(row: list[tuple[str, list[_Item]]]) -> int:
    return sum(_slot_width(name, items) for name, items in row)


def _row_height(row: list[tuple[str, list[_Item]]]) -> int:
    tallest = max((it.pixels.shape[0] for _, items in row for it in items), default=0)
    return max(tallest, MIN_ROW_HEIGHT) + LABEL_HEIGHT


def _wrap(slots: list[tuple[str, list[_Item]]], width: int) -> list[list[tuple[str, list[_Item]]]]:
    rows: list[list[tuple[str, list[_Item]]]] = []
    current: list[tuple[str, list[_Item]]] = []
    for slot in slots:
        if current and _row_width(current + [slot]) > width:
            rows.append(current)
            current = []
        current.append(slot)
    if current:
        rows.append(current)
    return rows


def _text_size(text: str, font_scale: float) -> tuple[int, int]:
    (w, h), baseline = cv2.getTextSize(text, FONT, font_scale, 1)
    return w, h + baseline


def _put_text(canvas: np.ndarray, text: str, top_left: tuple[int, int], font_scale: float,
              color: tuple[int, int, int]) -> None:
    (_, h), _ = cv2.getTextSize(text, FONT, font_scale, 1)
    cv2.putText(canvas, text, (top_left[0], top_left[1] + h), FONT, font_scale, color, 1, cv2.LINE_AA)
