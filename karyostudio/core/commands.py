"""Undoable edits of a Document.

Every command reduces to one primitive, Document.swap(remove_ids, add_instances). A command
plans that swap from the document's state when it is first applied and remembers the
instances it replaced and the previous order, so undo restores the exact prior state
(same ids, same order, same values) and redo re-applies the same planned change.

Geometry (merging outlines, cutting along a line) is computed by the caller with
karyostudio.geometry and handed to the command; commands only move instances around.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from karyostudio.core.document import Document
from karyostudio.core.instance import Instance


class Command:
    """Base class: subclasses implement ``plan`` and a human-readable ``text``."""

    text = "edit"

    def __init__(self) -> None:
        self._planned: tuple[tuple[int, ...], tuple[Instance, ...]] | None = None
        self._before: tuple[Instance, ...] = ()
        self._order: tuple[int, ...] = ()

    def plan(self, doc: Document) -> tuple[Sequence[int], Sequence[Instance]]:
        raise NotImplementedError

    def apply(self, doc: Document) -> None:
        if self._planned is None:
            remove, add = self.plan(doc)
            self._planned = (tuple(remove), tuple(add))
        remove, add = self._planned
        self._order = tuple(i.id for i in doc.instances)
        self._before = tuple(doc.get(i) for i in remove)
        doc.swap(remove, add)

    def revert(self, doc: Document) -> None:
        if self._planned is None:
            raise RuntimeError("command was never applied")
        _, add = self._planned
        doc.swap([i.id for i in add], self._before)
        doc.restore_order(self._order)


class AddInstances(Command):
    def __init__(self, instances: Iterable[Instance]):
        super().__init__()
        self.instances = tuple(instances)
        self.text = f"add {len(self.instances)} instance(s)"

    def plan(self, doc):
        return (), self.instances


class RemoveInstances(Command):
    def __init__(self, ids: Iterable[int]):
        super().__init__()
        self.ids = tuple(ids)
        self.text = f"delete {len(self.ids)} instance(s)"

    def plan(self, doc):
        return self.ids, ()


class EditVertices(Command):
    """Replace one instance's outline (vertex drag, insert, delete, brush edits)."""

    text = "edit outline"

    def __init__(self, instance_id: int, polygon: np.ndarray):
        super().__init__()
        self.instance_id = instance_id
        self.polygon = np.asarray(polygon, dtype=np.float64)

    def plan(self, doc):
        old = doc.get(self.instance_id)
        return (old.id,), (old.with_(polygon=self.polygon),)


class UpdateInstance(Command):
    """Replace one instance by a new version of it (same id): e.g. a GrabCut outline that replaces
    the outline it was drawn on, with its class, in one step."""

    def __init__(self, instance: Instance, text: str = "replace outline"):
        super().__init__()
        self.instance = instance
        self.text = text

    def plan(self, doc):
        doc.get(self.instance.id)  # must exist
        return (self.instance.id,), (self.instance,)


class SetLabel(Command):
    """Name one or more instances; a person's naming also marks them reviewed unless told not to.

    A reviewed naming drops the model's score: the class is now the person's, and the model's old
    confidence (often a 1.00 for another class) would only mislead; lists show "reviewed" instead.
    """

    def __init__(self, ids: Iterable[int], label: str | None, *, mark_reviewed: bool = True):
        super().__init__()
        self.ids = tuple(ids)
        self.label = label
        self.mark_reviewed = mark_reviewed
        self.text = f"label {len(self.ids)} instance(s) as {label}"

    def plan(self, doc):
        new = []
        for i in self.ids:
            old = doc.get(i)
            if self.mark_reviewed:
                new.append(old.with_(label=self.label, reviewed=True, score=None))
            else:
                new.append(old.with_(label=self.label))
        return self.ids, new


class SetReviewed(Command):
    def __init__(self, ids: Iterable[int], reviewed: bool = True):
        super().__init__()
        self.ids = tuple(ids)
        self.reviewed = reviewed
        self.text = f"mark {len(self.ids)} instance(s) {'reviewed' if reviewed else 'unreviewed'}"

    def plan(self, doc):
        return self.ids, [doc.get(i).with_(reviewed=self.reviewed) for i in self.ids]


class Split(Command):
    """Replace one instance by several pieces (outlines computed by the caller)."""

    text = "split instance"

    def __init__(self, instance_id: int, pieces: Sequence[np.ndarray], labels: Sequence[str | None] | None = None):
        super().__init__()
        if len(pieces) < 2:
            raise ValueError("a split needs at least two pieces")
        self.instance_id = instance_id
        self.pieces = [np.asarray(p, dtype=np.float64) for p in pieces]
        self.labels = list(labels) if labels is not None else None

    def plan(self, doc):
        old = doc.get(self.instance_id)
        first_new = doc.next_id()
        new = []
        for k, poly in enumerate(self.pieces):
            label = self.labels[k] if self.labels is not None else old.label
            new.append(Instance(id=old.id if k == 0 else first_new + k - 1, polygon=poly, label=label,
                                score=None, source=old.source, reviewed=False,
                                attributes={a: v for a, v in old.attributes.items() if a != "cluster"}))
        return (old.id,), new


class Merge(Command):
    """Replace several instances by one outline (computed by the caller); keeps the first id."""

    text = "merge instances"

    def __init__(self, ids: Sequence[int], polygon: np.ndarray, label: str | None = None):
        super().__init__()
        if len(ids) < 2:
            raise ValueError("a merge needs at least two instances")
        self.ids = tuple(ids)
        self.polygon = np.asarray(polygon, dtype=np.float64)
        self.label = label

    def plan(self, doc):
        first = doc.get(self.ids[0])
        merged = first.with_(polygon=self.polygon, label=self.label if self.label is not None else first.label,
                             score=None, reviewed=False)
        return self.ids, (merged,)


class ReplaceInstances(Command):
    """Replace everything at once: how a model's result enters a document as one undoable step."""

    def __init__(self, instances: Iterable[Instance], text: str = "replace all instances"):
        super().__init__()
        self.instances = tuple(instances)
        self.text = text

    def plan(self, doc):
        return [i.id for i in doc.instances], self.instances
