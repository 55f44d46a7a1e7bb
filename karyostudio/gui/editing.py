"""Edits of the current session, expressed as commands on its History.

Every change the GUI makes to a document goes through here (or through ReplaceInstances
from a model run), so each is one undo step and every view learns of it from the
document's change events.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from karyostudio.core.commands import AddInstances, EditVertices, Merge, RemoveInstances, SetLabel, SetReviewed, \
    Split, UpdateInstance
from karyostudio.core.instance import MANUAL_SOURCE, Instance
from karyostudio.geometry.edit_ops import EditError, merge_outlines
from karyostudio.geometry.polygons import to_shapely
from karyostudio.gui.selection import Selection
from karyostudio.workspace.session import Session


OVERLAP_SHARE = 0.5  # a new outline covering this share of an existing one (or of itself) lies on it


class Editor:
    """Applies the user's edits to whatever session is current, as undoable commands."""

    def __init__(self, current_session: Callable[[], Session], selection: Selection):
        self._session = current_session
        self.selection = selection
        # While a tool holds an outline that is not in the document yet (a GrabCut preview),
        # class keys name and add that outline instead of relabelling the selection.
        self.pending_outline: Callable[[str | None], bool] | None = None

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
        if self.pending_outline is not None and self.pending_outline(label):
            return 1
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

    def edit_vertices(self, instance_id: int, polygon: np.ndarray, text: str = "edit outline") -> None:
        doc = self.session.document
        if instance_id in doc and not np.array_equal(doc.get(instance_id).polygon, polygon):
            command = EditVertices(instance_id, polygon)
            command.text = text
            self.session.history.push(command)

    def add_polygon(self, polygon: np.ndarray, label: str | None = None) -> int:
        """Add a manually drawn outline and select it, ready to be labelled by a key.

        With a label (named while it was drawn) it counts as reviewed, like any naming by a person.
        """
        doc = self.session.document
        instance = Instance(id=doc.next_id(), polygon=polygon, label=label, source=MANUAL_SOURCE,
                            reviewed=label is not None)
        self.session.history.push(AddInstances([instance]))
        self.selection.set([instance.id])
        return instance.id

    def covered_outline(self, polygon: np.ndarray, share: float = OVERLAP_SHARE) -> int | None:
        """The existing outline a new one mostly lies on (overlap over the smaller area >= share)."""
        try:
            new = to_shapely(polygon)
        except ValueError:
            return None
        best, best_share = None, share
        x0, y0, x1, y1 = new.bounds
        for inst in self.session.document:
            bx0, by0, bx1, by1 = inst.bbox
            if bx1 < x0 or bx0 > x1 or by1 < y0 or by0 > y1:
                continue
            try:
                old = to_shapely(inst.polygon)
            except ValueError:
                continue
            smaller = min(old.area, new.area)
            overlap = old.intersection(new).area / smaller if smaller > 0 else 0.0
            if overlap >= best_share:
                best, best_share = inst.id, overlap
        return best

    def add_outline(self, polygon: np.ndarray, label: str | None = None,
                    ask_replace: Callable[[str], bool] = lambda _text: False) -> int:
        """Add a tool's outline; when it lies on an existing one, ask whether it replaces that one.

        Replacing keeps the old outline's id and class (unless label names another), as one undo step;
        otherwise the outline is added beside it.
        """
        covered = self.covered_outline(polygon)
        if covered is None:
            return self.add_polygon(polygon, label)
        old = self.session.document.get(covered)
        name = old.label or ("a cluster" if old.attributes.get("cluster") else "unnamed")
        if not ask_replace(f"The new outline lies on outline #{covered} ({name}). Replace that outline with it?\n\n"
                           "No adds it as another outline."):
            return self.add_polygon(polygon, label)
        named = label if label is not None else old.label
        person_named = label is not None or old.reviewed
        replacement = old.with_(polygon=np.asarray(polygon, dtype=np.float64), label=named, source=MANUAL_SOURCE,
                                reviewed=person_named, score=None if person_named else old.score)
        self.session.history.push(UpdateInstance(replacement, f"replace outline #{covered}"))
        self.selection.set([covered])
        return covered

    def replace_outline(self, instance_id: int, pieces: list[np.ndarray], text: str) -> list[int]:
        """Replace one outline by the result of an edit, as one undo step; returns the new ids.

        pieces come largest first. One piece edits the outline in place; none deletes it;
        several split it: the largest piece keeps the id and the name (a cut usually frees a
        smaller neighbour or fragment from the named chromosome), the others are unnamed, and
        all of them are left unreviewed.
        """
        doc = self.session.document
        if instance_id not in doc:
            raise EditError("the outline is gone")
        if not pieces:
            command = RemoveInstances([instance_id])
            ids: list[int] = []
        elif len(pieces) == 1:
            self.edit_vertices(instance_id, pieces[0], text)
            return [instance_id]
        else:
            labels = [doc.get(instance_id).label] + [None] * (len(pieces) - 1)
            command = Split(instance_id, pieces, labels)
            ids = [instance_id] + [doc.next_id() + k for k in range(len(pieces) - 1)]
        command.text = text
        self.session.history.push(command)
        self.selection.set(ids)
        return ids

    def merge_selected(self) -> int:
        """Merge the selected outlines (overlapping or touching) into one; returns its id.

        The largest outline keeps its id; the result keeps the name of the largest named one.
        Raises EditError (with a message for the user) when the selection cannot be merged.
        """
        ids = self._present(self.selection.ids)
        if len(ids) < 2:
            raise EditError("select two or more touching outlines to merge (Ctrl+click adds to the selection)")
        doc = self.session.document
        by_area = sorted(ids, key=lambda i: doc.get(i).area, reverse=True)
        polygon = merge_outlines([doc.get(i).polygon for i in by_area])
        label = next((doc.get(i).label for i in by_area if doc.get(i).label is not None), None)
        command = Merge(by_area, polygon, label)
        command.text = f"merge {len(ids)} outlines"
        self.session.history.push(command)
        self.selection.set([by_area[0]])
        return by_area[0]

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
