"""What a cell's outlines count as: named chromosomes, unnamed chromosomes, clusters and other objects.

One definition for every place that reports a count (summary.csv, the case panel and report,
the instance list, the karyogram header), so the count always agrees with the karyotype:

- a *cluster* (``attributes["cluster"]``) holds an unknown number of touching or crossing
  chromosomes that were not separated; it is neither counted nor placed in the karyogram;
- an *other* object (``attributes["kind"]`` = "nucleus", "debris" or "other") is not a
  chromosome at all;
- every other outline is one chromosome: *named* when it has a class, *unnamed* otherwise.

The count is named + unnamed, which is the number the ISCN string starts with (unnamed
chromosomes are written as markers, "+mar"). Clusters and other objects are reported beside it.

A model result with fewer than NO_METAPHASE_BELOW chromosomes is reported as "no metaphase
found": even near-haploid cells, the lowest counts met in practice, keep about 24 chromosomes, so
a handful of objects is debris, a nucleus or an empty field rather than a cell to karyotype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from karyostudio.core.instance import Instance
from karyostudio.core.karyotype import karyotype_string

CLUSTER_ATTRIBUTE = "cluster"  # the same key as karyostudio.models.base.CLUSTER_ATTRIBUTE
KIND_ATTRIBUTE = "kind"
NON_CHROMOSOME_KINDS = frozenset({"nucleus", "debris", "other"})

CHROMOSOME, CLUSTER, OTHER = "chromosome", "cluster", "other"
NO_METAPHASE_BELOW = 10  # chromosomes (named + unnamed)
NO_METAPHASE = "no metaphase found"


def object_kind(instance: Instance) -> str:
    """"chromosome", "cluster" or "other" (a nucleus, debris or another object)."""
    attributes = instance.attributes
    if attributes.get(CLUSTER_ATTRIBUTE, False):
        return CLUSTER
    if str(attributes.get(KIND_ATTRIBUTE, "")).lower() in NON_CHROMOSOME_KINDS:
        return OTHER
    return CHROMOSOME


def is_chromosome(instance: Instance) -> bool:
    return object_kind(instance) == CHROMOSOME


def is_placeable(instance: Instance) -> bool:
    """True for a named single chromosome: the outlines that go into the karyogram rows."""
    return instance.label is not None and is_chromosome(instance)


@dataclass(frozen=True)
class CellCount:
    named: int = 0
    unnamed: int = 0
    clusters: int = 0
    other: int = 0
    karyotype: str = ""  # ISCN string of the chromosomes ("" when there are none)

    @property
    def chromosomes(self) -> int:
        """The cell's chromosome count: the number the karyotype starts with."""
        return self.named + self.unnamed

    @property
    def outlines(self) -> int:
        return self.named + self.unnamed + self.clusters + self.other

    def parts(self) -> list[str]:
        """e.g. ["46 chromosomes (44 named, 2 unnamed)", "1 cluster"]; empty for an empty cell."""
        if not self.outlines:
            return []
        text = f"{self.chromosomes} {'chromosome' if self.chromosomes == 1 else 'chromosomes'}"
        if self.unnamed:
            text += f" ({self.named} named, {self.unnamed} unnamed)"
        out = [text]
        if self.clusters:
            out.append(f"{self.clusters} {'cluster' if self.clusters == 1 else 'clusters'} (not counted)")
        if self.other:
            out.append(f"{self.other} other {'object' if self.other == 1 else 'objects'} (not counted)")
        return out

    def text(self) -> str:
        return ", ".join(self.parts())

    @property
    def no_metaphase(self) -> bool:
        """Too few chromosomes and no cluster that could hide more: not a metaphase to analyse."""
        return self.chromosomes < NO_METAPHASE_BELOW and not self.clusters

    def result_text(self) -> str:
        """What a model run found, in words: "no metaphase found (3 objects)" or the count's text."""
        if self.no_metaphase:
            return f"{NO_METAPHASE} ({self.outlines} {'object' if self.outlines == 1 else 'objects'})"
        return self.text()


def count_cell(instances: Iterable[Instance]) -> CellCount:
    """Count a cell's outlines by kind, with the karyotype of its chromosomes."""
    named = unnamed = clusters = other = 0
    labels: list[str | None] = []
    for inst in instances:
        kind = object_kind(inst)
        if kind == CLUSTER:
            clusters += 1
        elif kind == OTHER:
            other += 1
        else:
            labels.append(inst.label)
            if inst.label is None:
                unnamed += 1
            else:
                named += 1
    return CellCount(named, unnamed, clusters, other, karyotype_string(labels) if labels else "")
