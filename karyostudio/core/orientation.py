"""A reviewer's orientation corrections of a chromosome in the karyogram, stored on the instance.

The karyogram stands every chromosome upright automatically (p arm up where the instance's
data says which end is which); a reviewer corrects what the automatic choice got wrong by
flipping it vertically or horizontally, or turning it by 180 degrees (both flips). The
correction lives in ``attributes[ORIENTATION_ATTRIBUTE]`` so it is saved with the outlines and
undone like any other edit. Default orientations store nothing, keeping files clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from karyostudio.core.commands import Command
from karyostudio.core.instance import Instance

ORIENTATION_ATTRIBUTE = "karyogram_orientation"
VERTICAL, HORIZONTAL = "flip_vertical", "flip_horizontal"
OPERATIONS = ("flip_vertical", "flip_horizontal", "rotate_180")


@dataclass(frozen=True)
class Orientation:
    flip_vertical: bool = False
    flip_horizontal: bool = False

    def apply(self, operation: str) -> "Orientation":
        """The orientation after one more reviewer operation (flips toggle; 180 degrees is both)."""
        if operation == "flip_vertical":
            return Orientation(not self.flip_vertical, self.flip_horizontal)
        if operation == "flip_horizontal":
            return Orientation(self.flip_vertical, not self.flip_horizontal)
        if operation == "rotate_180":
            return Orientation(not self.flip_vertical, not self.flip_horizontal)
        raise ValueError(f"unknown orientation operation {operation!r}; expected one of {', '.join(OPERATIONS)}")

    def to_json(self) -> dict[str, bool] | None:
        if not (self.flip_vertical or self.flip_horizontal):
            return None
        return {VERTICAL: self.flip_vertical, HORIZONTAL: self.flip_horizontal}


def orientation_of(instance: Instance) -> Orientation:
    """The stored correction (a malformed value reads as no correction rather than failing a view)."""
    value = instance.attributes.get(ORIENTATION_ATTRIBUTE)
    if not isinstance(value, Mapping):
        return Orientation()
    return Orientation(bool(value.get(VERTICAL, False)), bool(value.get(HORIZONTAL, False)))


def with_orientation(instance: Instance, orientation: Orientation) -> Instance:
    attributes = {k: v for k, v in instance.attributes.items() if k != ORIENTATION_ATTRIBUTE}
    stored = orientation.to_json()
    if stored is not None:
        attributes[ORIENTATION_ATTRIBUTE] = stored
    return instance.with_(attributes=attributes)


class ChangeOrientation(Command):
    """Flip or turn one or more chromosomes in the karyogram (one undo step)."""

    def __init__(self, ids: Iterable[int], operation: str):
        super().__init__()
        Orientation().apply(operation)  # validates the operation name now, not at apply time
        self.ids = tuple(ids)
        self.operation = operation
        self.text = f"{operation.replace('_', ' ')} {len(self.ids)} chromosome(s)"

    def plan(self, doc):
        new = [with_orientation(doc.get(i), orientation_of(doc.get(i)).apply(self.operation)) for i in self.ids]
        return self.ids, new
