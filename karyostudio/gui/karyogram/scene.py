"""The karyogram scene: the page of karyostudio.render.karyogram_layout, kept in step with the document.

Two regions: the page (A4 landscape, the clinical four rows; what the main karyogram view shows
and what exports print) and below it the unplaced strip (unnamed chromosomes, clusters and
other objects at the same scale, to be dragged into a slot; a second view shows it). Scene
units are the page's (tenths of a millimetre); each chromosome item is its cut-out pixmap,
scaled by the page's one scale, so lengths compare truly.

Document events are collected and applied together shortly after (a burst of edits costs one
update). An update recomputes the upright pixels only of instances whose outline or
orientation data changed (a relabel just moves the existing item) and then lays the page out
again, which is cheap. Cutting out many chromosomes (a model's result on a crowded cell) goes in
slices of UPDATE_SLICE_S per event-loop turn, so the window stays responsive; the page is laid
out once every cut-out is ready. While the karyogram is hidden nothing is computed; showing it
catches up.
Selection and hover follow the shared Selection, both ways.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtWidgets import QGraphicsScene

from karyostudio.core.cell_count import CellCount, count_cell, is_chromosome
from karyostudio.core.document import Document, DocumentChanged
from karyostudio.core.instance import Instance
from karyostudio.core.karyogram import layout_karyogram
from karyostudio.gui.karyogram.items import ChromosomeItem, PageItem, SlotItem
from karyostudio.gui.selection import Selection
from karyostudio.render.contrast import chromosome_levels, stretch_lut
from karyostudio.render.cutout import to_gray_uint8
from karyostudio.render.karyogram_layout import HOMOLOGUE_GAP, LABEL_HEIGHT, PageLayout, Piece, layout_page
from karyostudio.render.straighten import AUTO, Strip, chromosome_strip

UPDATE_DELAY_MS = 30
UPDATE_SLICE_S = 0.05  # cut-out work per event-loop turn
STRIP_GAP = 400.0  # scene units between the page and the unplaced strip
STRIP_PAD = 40.0
STRIP_MIN = QRectF(0.0, 0.0, 1200.0, 400.0)
UNPLACED = None  # the drop target that removes the class
_NO_DROP = object()


def _same_pixels(a: Instance, b: Instance) -> bool:
    """True when the upright pixels of b are those of a (only outline and attributes matter)."""
    return np.array_equal(a.polygon, b.polygon) and dict(a.attributes) == dict(b.attributes)


class KaryogramScene(QGraphicsScene):
    page_changed = Signal()  # after every new layout

    def __init__(self, selection: Selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.straighten: bool | str = AUTO
        self.ideograms = True
        self.active = True
        self.strips_computed = 0  # how many upright images were computed (tells updates are incremental)
        self.page: PageLayout | None = None
        self.unplaced: list[int] = []
        self.counts = CellCount()
        self.strip_rect = QRectF(STRIP_MIN)
        self._document: Document | None = None
        self._gray: np.ndarray | None = None
        self._lut: np.ndarray | None = None
        self._strips: dict[int, tuple[Instance, Strip | None]] = {}
        self._items: dict[int, ChromosomeItem] = {}
        self._slots: dict[str, SlotItem] = {}
        self._page_item = PageItem()
        self.addItem(self._page_item)
        self._unsubscribe: Callable[[], None] | None = None
        self._stale: set[int] | None = None  # ids to update; None: everything
        self._syncing = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_DELAY_MS)
        self._timer.timeout.connect(lambda: self.update_now(budget_s=UPDATE_SLICE_S))
        self.selectionChanged.connect(self._scene_selection_changed)
        selection.changed.connect(self._apply_selection)
        selection.hover_changed.connect(self._apply_hover)

    # --- document --------------------------------------------------------------------------
    @property
    def document(self) -> Document | None:
        return self._document

    @property
    def page_rect(self) -> QRectF:
        return self._page_item.rect

    def set_document(self, document: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._document = document
        image = document.image if document is not None else None
        self._gray = to_gray_uint8(image) if image is not None else None
        self._lut = None
        self._strips.clear()
        for item in self._items.values():
            self.removeItem(item)
        self._items.clear()
        if document is not None:
            self._unsubscribe = document.subscribe(self._on_change)
        self._stale = None
        self._schedule()

    def set_straighten(self, on: bool) -> None:
        """On: straighten the bent chromosomes (the default); off: only turn them upright."""
        mode = AUTO if on else False
        if mode != self.straighten:
            self.straighten = mode
            self._strips.clear()
            self._stale = None
            self._schedule()

    def set_ideograms(self, on: bool) -> None:
        if on != self.ideograms:
            self.ideograms = on
            if self.page is not None:
                self._relayout()

    def set_header(self, lines: list[str]) -> None:
        self._page_item.set_lines(lines)

    def set_active(self, active: bool) -> None:
        """Inactive (hidden): remember what changed but compute nothing until shown again."""
        self.active = active
        if active and self.pending:
            self._schedule()

    def _on_change(self, event: DocumentChanged) -> None:
        if self._stale is not None:
            self._stale.update(event.removed, event.added)
        self._schedule()

    def _schedule(self) -> None:
        if self.active:
            self._timer.start(UPDATE_DELAY_MS)

    @property
    def pending(self) -> bool:
        """True while document changes are not shown yet (waiting for the timer, or for being shown)."""
        return self._stale is None or bool(self._stale)

    # --- updating --------------------------------------------------------------------------
    def update_now(self, budget_s: float | None = None) -> None:
        """Apply pending changes: all at once (also for exports), or for about budget_s seconds
        (the debounce timer), continuing on the next event-loop turn."""
        self._timer.stop()
        started = time.perf_counter()
        doc = self._document
        stale, self._stale = self._stale, set()
        current = {inst.id: inst for inst in doc} if doc is not None else {}
        for instance_id in list(self._items):
            if instance_id not in current:
                self.removeItem(self._items.pop(instance_id))
        for instance_id in list(self._strips):
            if instance_id not in current:
                del self._strips[instance_id]
        if self._lut is None or stale is None:
            new_lut = self._levels(current.values())
            if self._lut is None or not np.array_equal(new_lut, self._lut):
                self._lut = new_lut
                for item in self._items.values():
                    item.set_lut(new_lut)
        ids = list(current) if stale is None else [i for i in stale if i in current]
        for k, instance_id in enumerate(ids):
            if budget_s is not None and k and time.perf_counter() - started > budget_s:
                self._stale = set(ids[k:])  # the rest on the next turn
                self._timer.start(0)
                return
            self._update_item(current[instance_id])
        self.counts = count_cell(current.values())
        self._relayout()

    def _levels(self, instances) -> np.ndarray:
        if self._gray is None:
            return stretch_lut((0, 255))
        return stretch_lut(chromosome_levels(self._gray, [i.polygon for i in instances if is_chromosome(i)]))

    def _update_item(self, instance: Instance) -> None:
        cached = self._strips.get(instance.id)
        if cached is not None and _same_pixels(cached[0], instance):
            strip = cached[1]
        else:
            strip = chromosome_strip(self._gray, instance, straighten=self.straighten) \
                if self._gray is not None else None
            self.strips_computed += 1
        self._strips[instance.id] = (instance, strip)
        item = self._items.get(instance.id)
        if strip is None:
            if item is not None:
                self.removeItem(self._items.pop(instance.id))
            return
        if item is None:
            item = ChromosomeItem(instance, strip, self._lut)
            item.setVisible(False)  # until the page places it
            item.on_hover = self.selection.set_hovered
            self._items[instance.id] = item
            self.addItem(item)
        elif item.strip is not strip or item.instance is not instance:
            item.set_content(instance, strip)

    def _pieces(self) -> tuple[list[Piece], list[Piece]]:
        """(placed, unplaced) pieces of every instance that has pixels, in slot order."""
        instances = [item.instance for item in self._items.values()]
        slots = layout_karyogram(instances)
        placed = [self._piece(i, slot.name) for row in slots.rows for slot in row for i in slot.instance_ids]
        return placed, [self._piece(i, None) for i in slots.unassigned]

    def _piece(self, instance_id: int, label: str | None) -> Piece:
        strip = self._items[instance_id].strip
        h, w = strip.shape
        return Piece(instance_id, label, float(w), float(h), strip.centromere)

    def _relayout(self, *, ideograms: bool | None = None, include_unplaced: bool = False) -> None:
        placed, unplaced = self._pieces()
        page = layout_page(placed, unplaced if include_unplaced else (),
                           ideograms=self.ideograms if ideograms is None else ideograms)
        self.page, self.unplaced = page, [p.id for p in unplaced]
        self._page_item.set_page(QRectF(0.0, 0.0, page.width, page.height), page.header)
        wanted = {slot.name for slot in page.slots}
        for name in list(self._slots):
            if name not in wanted:
                self.removeItem(self._slots.pop(name))
        for slot in page.slots:
            item = self._slots.get(slot.name)
            if item is None:
                item = self._slots[slot.name] = SlotItem(slot.name)
                self.addItem(item)
            item.set_geometry(slot)
        for piece in placed + (unplaced if include_unplaced else []):
            x, y = page.positions[piece.id]
            scale = page.scale if piece.label is not None else page.unplaced_scale
            self._items[piece.id].place(QPointF(x, y), scale, extra=piece.id in page.extra)
        if not include_unplaced:
            self._place_strip(unplaced, page)
        self._apply_selection()
        self._apply_hover()
        self.page_changed.emit()

    def _place_strip(self, unplaced: list[Piece], page: PageLayout) -> None:
        """Unplaced pieces in one row below the page, at the page's scale."""
        top = page.height + STRIP_GAP
        x, tallest = STRIP_PAD, 0.0
        for piece in unplaced:
            w, h = piece.width * page.scale, piece.height * page.scale
            tallest = max(tallest, h)
        for piece in unplaced:
            w, h = piece.width * page.scale, piece.height * page.scale
            self._items[piece.id].place(QPointF(x, top + STRIP_PAD + tallest - h), page.scale, extra=False)
            x += w + 2 * HOMOLOGUE_GAP
        width = max(STRIP_MIN.width(), x + STRIP_PAD)
        height = max(STRIP_MIN.height(), tallest + 2 * STRIP_PAD + LABEL_HEIGHT)
        self.strip_rect = QRectF(0.0, top, width, height)

    def restore_positions(self) -> None:
        """Put every chromosome back where the layout says (after a drag that changed nothing)."""
        if self.page is not None:
            self._relayout()

    @contextlib.contextmanager
    def export_page(self, *, ideograms: bool, include_unplaced: bool, header: list[str]) -> Iterator[QRectF]:
        """The page laid out for an export (no hover or selection marks); restored afterwards."""
        if self.pending:
            self.update_now()
        previous = self._page_item.lines
        self._page_item.set_lines(header)
        for item in self._items.values():
            item.plain = True
        self.clear_drop_highlight()
        self._relayout(ideograms=ideograms, include_unplaced=include_unplaced)
        try:
            yield self.page_rect
        finally:
            for item in self._items.values():
                item.plain = False
            self._page_item.set_lines(previous)
            self._relayout()

    # --- lookup ----------------------------------------------------------------------------
    def item_for(self, instance_id: int) -> ChromosomeItem | None:
        return self._items.get(instance_id)

    def chromosome_items(self) -> list[ChromosomeItem]:
        return list(self._items.values())

    def slot_item(self, name: str) -> SlotItem:
        return self._slots[name]

    def slot_names(self) -> list[str]:
        """Slot names in page order (the clinical rows, left to right)."""
        return [slot.name for slot in self.page.slots] if self.page else []

    def slot_ids(self, name: str) -> list[int]:
        return list(self.page.slot(name).ids) if self.page else []

    def drop_target_at(self, pos: QPointF):
        """The class name of the slot under pos, UNPLACED (None) in the strip, _NO_DROP elsewhere."""
        for name, item in self._slots.items():
            if item.rect.contains(pos):
                return name
        if self.strip_rect.contains(pos):
            return UNPLACED
        return _NO_DROP

    @staticmethod
    def is_drop_target(target) -> bool:
        return target is not _NO_DROP

    def highlight_drop_target(self, target) -> None:
        for name, item in self._slots.items():
            item.set_drop_target(target is not _NO_DROP and name == target)

    def clear_drop_highlight(self) -> None:
        self.highlight_drop_target(_NO_DROP)

    # --- selection and hover ---------------------------------------------------------------
    def _scene_selection_changed(self) -> None:
        if not self._syncing:
            self.selection.set(item.instance_id for item in self.selectedItems() if isinstance(item, ChromosomeItem))

    def _apply_selection(self) -> None:
        wanted = self.selection.ids
        self._syncing = True
        try:
            for instance_id, item in self._items.items():
                if item.isSelected() != (instance_id in wanted):
                    item.setSelected(instance_id in wanted)
        finally:
            self._syncing = False

    def _apply_hover(self) -> None:
        hovered = self.selection.hovered
        for instance_id, item in self._items.items():
            item.set_flags(hovered=instance_id == hovered)
