"""Edits of the current session, expressed as commands on its History.

Every change the GUI makes to a document goes through here (or through ReplaceInstances
from a model run), so each is one undo step and every view learns of it from the
document's change events.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from karyostudio.core.commands import AddInstances, EditVertices, RemoveInstances, SetLabel, SetReviewed
from karyostudio.core.instance import MANUAL_SOURCE, Instance
from karyostudio.gui.selection import Selection
from karyostudio.gui.session import Session


class Editor:
    """Applies the user's edits to whatever session is current, as undoable commands."""

    def __init__(self, current_session: Callable[[], Session], selection: Selection):
        self._session = current_session
        self.selection = selection

    @property
    def session(self) -> Session:
        return self._session()

    def _present(self, ids) -> list[int]:
        doc = self.session.document
        return [i for i in sorted(ids) if i in doc]

    def delete_selected(self) -> int:
        ids = self._present(self.selection.ids)
        if ids:
            self.session.history.push(RemoveInstances(ids))
        return len(ids)

    def set_label(self, label: str | None) -> int:
        """Name the selected instances (a person's naming marks them reviewed)."""
        ids = self._present(self.selection.ids)
        if ids:
            self.session.history.push(SetLabel(ids, label))
        return len(ids)

    def toggle_reviewed(self) -> int:
        """Mark the selection reviewed, or unreviewed when all of it already is."""
        ids = self._present(self.selection.ids)
        if not ids:
            return 0
        doc = self.session.document
        reviewed = not all(doc.get(i).reviewed for i in ids)
        self.session.history.push(SetReviewed(ids, reviewed))
        return len(ids)

    def edit_vertices(self, instance_id: int, polygon: np.ndarray) -> None:
        doc = self.session.document
        if instance_id in doc and not np.array_equal(doc.get(instance_id).polygon, polygon):
            self.session.history.push(EditVertices(instance_id, polygon))

    def add_polygon(self, polygon: np.ndarray) -> int:
        """Add a manually drawn outline (unnamed) and select it, ready to be labelled by a key."""
        doc = self.session.document
        instance = Instance(id=doc.next_id(), polygon=polygon, source=MANUAL_SOURCE)
        self.session.history.push(AddInstances([instance]))
        self.selection.set([instance.id])
        return instance.id

    def undo(self) -> bool:
        return self.session.history.undo()

    def redo(self) -> bool:
        return self.session.history.redo()

    def select_next_unreviewed(self) -> int | None:
        """Select the first unreviewed instance after the current selection (wrapping around)."""
        instances = self.session.document.instances
        after = max(self.selection.ids, default=None)
        order = sorted(instances, key=lambda inst: inst.id)
        later = [inst for inst in order if after is None or inst.id > after]
        earlier = [inst for inst in order if after is not None and inst.id <= after]
        for inst in later + earlier:
            if not inst.reviewed:
                self.selection.set([inst.id])
                return inst.id
        return None
