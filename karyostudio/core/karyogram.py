"""Karyogram layout (pure data): which instance goes in which row and slot.

Rows follow the conventional arrangement 1-3 / 4-5 / 6-12 + X / 13-15 / 16-18 / 19-20 /
21-22 + Y. Each slot holds the instances of one class, homologues side by side; unnamed
instances are listed apart so a reviewer sees them. Rendering lives elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from karyostudio.core.classes import KARYOGRAM_ROWS
from karyostudio.core.instance import Instance


@dataclass
class Slot:
    name: str
    instance_ids: list[int] = field(default_factory=list)

    @property
    def expected(self) -> int:
        """Copies expected in a normal cell (sex chromosomes vary: 2 for X in XX, 1 each in XY)."""
        return 2


@dataclass
class KaryogramLayout:
    rows: list[list[Slot]]
    unassigned: list[int]

    def slot(self, name: str) -> Slot:
        for row in self.rows:
            for slot in row:
                if slot.name == name:
                    return slot
        raise KeyError(name)


def layout_karyogram(instances: Iterable[Instance]) -> KaryogramLayout:
    """Group instances by class into karyogram rows.

    Within a slot, instances are ordered by descending score (manual ones first), then by
    id, so the layout is stable while a person edits.
    """
    instances = list(instances)
    rows = [[Slot(name) for name in row] for row in KARYOGRAM_ROWS]
    by_name = {slot.name: slot for row in rows for slot in row}

    def order(inst: Instance) -> tuple[float, int]:
        return (-(inst.score if inst.score is not None else 2.0), inst.id)

    unassigned = []
    for inst in sorted(instances, key=order):
        if inst.label is None:
            unassigned.append(inst.id)
        else:
            by_name[inst.label].instance_ids.append(inst.id)
    return KaryogramLayout(rows=rows, unassigned=unassigned)
