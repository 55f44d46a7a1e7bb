"""The karyogram scene: every chromosome upright in its class slot, kept in step with the document.

Document events are collected and applied together shortly after (a burst of edits costs one
update). An update recomputes the upright pixels only of instances whose outline or
orientation data changed (a relabel just moves the existing item) and then re-places items,
which is cheap. While the karyogram is hidden nothing is computed; showing it catches up.
Selection and hover follow the shared Selection, both ways.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsScene

from karyostudio.core.document import Document, DocumentChanged
from karyostudio.core.instance import Instance
from karyostudio.gui.karyogram.arrangement import Arrangement, arrange
from karyostudio.gui.karyogram.items import ChromosomeItem, SlotItem
from karyostudio.gui.selection import Selection
from karyostudio.render.cutout import to_gray_uint8
from karyostudio.render.straighten import Strip, chromosome_strip

UPDATE_DELAY_MS = 30
_NO_DROP = object()


def _same_pixels(a: Instance, b: Instance) -> bool:
    """True when the upright pixels of b are those of a (only outline and attributes matter)."""
    return np.array_equal(a.polygon, b.polygon) and dict(a.attributes) == dict(b.attributes)


class KaryogramScene(QGraphicsScene):
    def __init__(self, selection: Selection, parent=None):
        super().__init__(parent)
        self.setBackgroundBrush(QColor(255, 255, 255))
        self.selection = selection
        self.straighten = False
        self.active = True
        self.strips_computed = 0  # how many upright images were computed (tells updates are incremental)
        self.arrangement: Arrangement | None = None
        self._document: Document | None = None
        self._gray: np.ndarray | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._strips: dict[int, tuple[Instance, Strip | None]] = {}
        self._items: dict[int, ChromosomeItem] = {}
        self._slots: dict[str | None, SlotItem] = {}
        self._stale: set[int] | None = None  # ids to update; None: everything
        self._syncing = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_DELAY_MS)
        self._timer.timeout.connect(self.update_now)
        self.selectionChanged.connect(self._scene_selection_changed)
        selection.changed.connect(self._apply_selection)
        selection.hover_changed.connect(self._apply_hover)

    # --- document --------------------------------------------------------------------------
    @property
    def document(self) -> Document | None:
        return self._document

    def set_document(self, document: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._document = document
        image = document.image if document is not None else None
        self._gray = to_gray_uint8(image) if image is not None else None
        self._strips.clear()
        for item in self._items.values():
            self.removeItem(item)
        self._items.clear()
        if document is not None:
            self._unsubscribe = document.subscribe(self._on_change)
        self._stale = None
        self._schedule()

    def set_straighten(self, on: bool) -> None:
        if on != self.straighten:
            self.straighten = on
            self._strips.clear()
            self._stale = None
            self._schedule()

    def set_active(self, active: bool) -> None:
        """Inactive (hidden): remember what changed but compute nothing until shown again."""
        self.active = active
        if active and (self._stale is None or self._stale):
            self._schedule()

    def _on_change(self, event: DocumentChanged) -> None:
        if self._stale is not None:
            self._stale.update(event.removed, event.added)
        self._schedule()

    def _schedule(self) -> None:
        if self.active:
            self._timer.start()

    @property
    def pending(self) -> bool:
        """True while document changes are not shown yet (waiting for the timer, or for being shown)."""
        return self._stale is None or bool(self._stale)

    # --- updating --------------------------------------------------------------------------
    def update_now(self) -> None:
        """Apply every pending change at once (also what the debounce timer calls)."""
        self._timer.stop()
        doc = self._document
        stale, self._stale = self._stale, set()
        current = {inst.id: inst for inst in doc} if doc is not None else {}
        for instance_id in list(self._items):
            if instance_id not in current:
                self.removeItem(self._items.pop(instance_id))
                self._strips.pop(instance_id, None)
        ids = current.keys() if stale is None else [i for i in stale if i in current]
        for instance_id in ids:
            self._update_item(current[instance_id])
        sizes = {i: (float(s.shape[1]), float(s.shape[0])) for i, (_, s) in self._strips.items()
                 if s is not None and i in current}
        self.arrangement = arrange(current.values(), sizes)
        self._place(self.arrangement)
        self._apply_selection()
        self._apply_hover()

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
            item = ChromosomeItem(instance, strip)
            item.on_hover = self.selection.set_hovered
            self._items[instance.id] = item
            self.addItem(item)
        elif item.strip is not strip or item.instance is not instance:
            item.set_content(instance, strip)

    def _place(self, arrangement: Arrangement) -> None:
        wanted = {slot.name for slot in arrangement.slots}
        for name in list(self._slots):
            if name not in wanted:
                self.removeItem(self._slots.pop(name))
        for slot in arrangement.slots:
            item = self._slots.get(slot.name)
            if item is None:
                item = self._slots[slot.name] = SlotItem(slot.name)
                self.addItem(item)
            item.set_geometry(QRectF(*slot.rect), QRectF(*slot.ideogram) if slot.ideogram else QRectF(),
                              [QRectF(*p) for p in slot.placeholders], slot.caption, slot.abnormal,
                              20.0)
        for instance_id, item in self._items.items():
            x, y = arrangement.positions.get(instance_id, (0.0, 0.0))
            item.setPos(QPointF(x, y))
            item.set_flags(extra=instance_id in arrangement.extra)
        self.setSceneRect(QRectF(0.0, 0.0, arrangement.width, arrangement.height))

    def restore_positions(self) -> None:
        """Put every chromosome back where the arrangement says (after a drag that changed nothing)."""
        if self.arrangement is not None:
            self._place(self.arrangement)

    # --- lookup ----------------------------------------------------------------------------
    def item_for(self, instance_id: int) -> ChromosomeItem | None:
        return self._items.get(instance_id)

    def chromosome_items(self) -> list[ChromosomeItem]:
        return list(self._items.values())

    def slot_item(self, name: str | None) -> SlotItem:
        return self._slots[name]

    def slot_names(self) -> list[str | None]:
        """Slot names in scene order (ISCN order, then None for the unassigned area)."""
        return [slot.name for slot in self.arrangement.slots] if self.arrangement else []

    def drop_target_at(self, pos: QPointF):
        """The class name (or None: unassigned) of the slot under pos; _NO_DROP when none."""
        for name, item in self._slots.items():
            if item.rect.contains(pos):
                return name
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

    @contextlib.contextmanager
    def plain(self) -> Iterator[None]:
        """Draw without hover, selection and drop highlights (for exports)."""
        for item in self._items.values():
            item.plain = True
        self.clear_drop_highlight()
        try:
            yield
        finally:
            for item in self._items.values():
                item.plain = False
