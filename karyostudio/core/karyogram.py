"""Karyogram slots (pure data): which instance goes in which row and slot.

Rows follow the clinical layout (karyostudio.core.classes.KARYOGRAM_GROUPS): 1-3 | 4-5 /
6-12 / 13-15 | 16-18 / 19-20 | 21-22 | X Y. Each slot holds the named single chromosomes of
one class, homologues side by side. Unnamed chromosomes, clusters and other objects never go
into a slot: they are listed apart (``unassigned``) so a reviewer sees them. Geometry lives in
karyostudio.render.karyogram_layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from karyostudio.core.cell_count import CLUSTER, CHROMOSOME, object_kind
from karyostudio.core.classes import KARYOGRAM_ROWS
from karyostudio.core.instance import Instance


@dataclass
class Slot:
    name: str
    instance_ids: list[int] = field(default_factory=list)


@dataclass
class KaryogramLayout:
    rows: list[list[Slot]]
    unassigned: list[int]  # unnamed chromosomes, then clusters, then other objects

    def slot(self, name: str) -> Slot:
        for row in self.rows:
            for slot in row:
                if slot.name == name:
                    return slot
        raise KeyError(name)


def slot_order(inst: Instance) -> tuple[float, int]:
    """Within a slot: descending score (manual and reviewed ones first), then id, so the order is
    stable while a person edits."""
    return (-(inst.score if inst.score is not None else 2.0), inst.id)


def layout_karyogram(instances: Iterable[Instance]) -> KaryogramLayout:
    """Group instances by class into karyogram rows; everything not placeable goes to unassigned."""
    instances = list(instances)
    rows = [[Slot(name) for name in row] for row in KARYOGRAM_ROWS]
    by_name = {slot.name: slot for row in rows for slot in row}
    unnamed, clusters, other = [], [], []
    for inst in sorted(instances, key=slot_order):
        kind = object_kind(inst)
        if kind == CHROMOSOME and inst.label is not None:
            by_name[inst.label].instance_ids.append(inst.id)
        elif kind == CHROMOSOME:
            unnamed.append(inst.id)
        elif kind == CLUSTER:
            clusters.append(inst.id)
        else:
            other.append(inst.id)
    return KaryogramLayout(rows=rows, unassigned=unnamed + sorted(clusters) + sorted(other))
