"""Document: one metaphase image and its instances, with change events.

Only commands (karyostudio.core.commands) change a document; views subscribe with
:meth:`Document.subscribe` and redraw what an event names. Every change bumps ``revision``
so autosave and "unsaved changes" logic can compare revisions instead of contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from karyostudio.core.instance import Instance


@dataclass(frozen=True)
class DocumentChanged:
    """What changed: ids removed, ids added (an edit is a removal plus an addition of the same id)."""

    removed: tuple[int, ...]
    added: tuple[int, ...]
    revision: int


Listener = Callable[[DocumentChanged], None]


@dataclass
class Document:
    """A metaphase image reference plus its chromosome instances.

    image is optional (None while only annotations are loaded); image_path is where the image
    lives on disk, image_size is (width, height) and is known even without pixels.
    """

    image_path: Path | None = None
    image_size: tuple[int, int] | None = None
    image: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    _instances: dict[int, Instance] = field(default_factory=dict, repr=False)
    revision: int = 0
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    @classmethod
    def from_instances(cls, instances: Iterable[Instance], **kwargs) -> "Document":
        doc = cls(**kwargs)
        for inst in instances:
            if inst.id in doc._instances:
                raise ValueError(f"duplicate instance id {inst.id}")
            doc._instances[inst.id] = inst
        return doc

    # --- reading ---------------------------------------------------------------------------
    @property
    def instances(self) -> list[Instance]:
        """Instances in insertion order (a fresh list; the instances themselves are immutable)."""
        return list(self._instances.values())

    def __len__(self) -> int:
        return len(self._instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(list(self._instances.values()))

    def __contains__(self, instance_id: int) -> bool:
        return instance_id in self._instances

    def get(self, instance_id: int) -> Instance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise KeyError(f"no instance with id {instance_id}") from None

    def next_id(self) -> int:
        return max(self._instances, default=0) + 1

    def snapshot(self) -> tuple[Instance, ...]:
        """The full state of the instances, for comparisons in tests and autosave."""
        return tuple(self._instances.values())

    # --- events ----------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call listener after each change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # --- the one mutation primitive (used by commands only) --------------------------------
    def swap(self, remove: Iterable[int], add: Iterable[Instance]) -> None:
        """Remove instances by id, then add instances, as one change.

        An added instance whose id was just removed takes that id's old position, so an
        edit keeps list order stable. Validates everything before changing anything.
        """
        remove = tuple(remove)
        add = tuple(add)
        for i in remove:
            if i not in self._instances:
                raise KeyError(f"no instance with id {i}")
        remaining = set(self._instances) - set(remove)
        seen: set[int] = set()
        for inst in add:
            if inst.id in remaining or inst.id in seen:
                raise ValueError(f"instance id {inst.id} already in the document")
            seen.add(inst.id)
        replaced = {inst.id: inst for inst in add if inst.id in remove}
        new: dict[int, Instance] = {}
        for key, inst in self._instances.items():
            if key in replaced:
                new[key] = replaced[key]
            elif key not in remove:
                new[key] = inst
        for inst in add:
            if inst.id not in replaced:
                new[inst.id] = inst
        self._instances = new
        self.revision += 1
        event = DocumentChanged(removed=remove, added=tuple(i.id for i in add), revision=self.revision)
        for listener in list(self._listeners):
            listener(event)

    def restore_order(self, order: Iterable[int]) -> None:
        """Reorder instances to the given id order (used by undo to restore exact state)."""
        order = list(order)
        if sorted(order) != sorted(self._instances):
            raise ValueError("order must name every instance exactly once")
        self._instances = {i: self._instances[i] for i in order}
