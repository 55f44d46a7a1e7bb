"""The metaphase scene: the image plus one item per instance, kept in step with the document.

Document events name the ids that changed, and only those items are touched: an id removed
and added in the same event is an edit (its item is updated in place, keeping its selection),
an id only removed loses its item, an id only added gets a new one. Scene coordinates are
image pixel coordinates.
"""

from __future__ import annotations

import math
from typing import Callable

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from karyostudio.core.document import Document, DocumentChanged
from karyostudio.gui.canvas.image_item import ImageItem
from karyostudio.gui.canvas.instance_item import HANDLE_PX, InstanceItem
from karyostudio.gui.selection import Selection

_EMPTY_SIZE = (1024, 768)  # scene extent when there is neither image nor image size


class MetaphaseScene(QGraphicsScene):
    def __init__(self, selection: Selection, parent=None):
        super().__init__(parent)
        self.setBackgroundBrush(QColor(60, 60, 60))
        self.selection = selection
        self.image_item = ImageItem()
        self.addItem(self.image_item)
        self._hint = self.addSimpleText("Open a metaphase image or a labelme file (Ctrl+O)")
        self._hint.setBrush(QColor(200, 200, 200))
        self._hint.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self._items: dict[int, InstanceItem] = {}
        self._document: Document | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._syncing = False
        self._handle_margin = HANDLE_PX
        self._labels_visible = True
        self.selectionChanged.connect(self._scene_selection_changed)
        selection.changed.connect(self._apply_selection)

    # --- document --------------------------------------------------------------------------
    @property
    def document(self) -> Document | None:
        return self._document

    def set_document(self, document: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for item in self._items.values():
            self.removeItem(item)
        self._items.clear()
        self._document = document
        self.image_item.set_image(document.image if document is not None else None)
        if document is not None:
            for instance in document.instances:
                self._add_item(instance)
            self._unsubscribe = document.subscribe(self._on_document_changed)
        rect = self.image_rect()
        self.setSceneRect(rect)
        self._hint.setVisible(document is None or document.image_size is None)
        self._hint.setPos(rect.center() - self._hint.boundingRect().center())
        self._apply_selection()

    def image_rect(self) -> QRectF:
        doc = self._document
        if doc is not None and doc.image_size is not None:
            width, height = doc.image_size
        else:
            width, height = _EMPTY_SIZE
        return QRectF(0.0, 0.0, float(width), float(height))

    def item_for(self, instance_id: int) -> InstanceItem | None:
        return self._items.get(instance_id)

    def instance_items(self) -> list[InstanceItem]:
        return list(self._items.values())

    def set_labels_visible(self, visible: bool) -> None:
        self._labels_visible = visible
        for item in self._items.values():
            item.tag.setVisible(visible)

    def _add_item(self, instance) -> None:
        item = InstanceItem(instance, self._handle_margin)
        item.tag.setVisible(self._labels_visible)
        self._items[instance.id] = item
        self.addItem(item)

    def _on_document_changed(self, event: DocumentChanged) -> None:
        doc = self._document
        added = set(event.added)
        self._syncing = True
        try:
            for instance_id in event.removed:
                if instance_id not in added:
                    self.removeItem(self._items.pop(instance_id))
            for instance_id in event.added:
                item = self._items.get(instance_id)
                if item is not None:
                    item.set_instance(doc.get(instance_id))
                else:
                    self._add_item(doc.get(instance_id))
        finally:
            self._syncing = False
        self._apply_selection()

    # --- selection -------------------------------------------------------------------------
    def _scene_selection_changed(self) -> None:
        if not self._syncing:
            self.selection.set(item.instance_id for item in self.selectedItems() if isinstance(item, InstanceItem))

    def _apply_selection(self) -> None:
        wanted = self.selection.ids
        self._syncing = True
        try:
            for instance_id, item in self._items.items():
                selected = instance_id in wanted
                if item.isSelected() != selected:
                    item.setSelected(selected)
                # Selected outlines are drawn above their neighbours, uncached. (Done here rather
                # than in an itemChange override, which leaks references to None in PySide6 6.12.)
                if item.zValue() != (1.0 if selected else 0.0):
                    item.set_selected_look(selected)
        finally:
            self._syncing = False

    # --- zoom-dependent sizes --------------------------------------------------------------
    def set_view_scale(self, scale: float) -> None:
        """Keep handle margins big enough for handles drawn at a fixed size on screen.

        The margin changes only when the zoom crosses a power of two, so zooming stays cheap.
        """
        margin = HANDLE_PX / (2.0 ** math.floor(math.log2(max(scale, 1e-6))))
        if margin != self._handle_margin:
            self._handle_margin = margin
            for item in self._items.values():
                item.set_handle_margin(margin)
