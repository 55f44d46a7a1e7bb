"""Union-find (disjoint sets) over hashable items, and grouping of parts joined by pairs.

Used by the crossing-partition algorithm to merge the pieces of one chromosome that lie on
either side of its crossings. The groups it returns do not depend on the order in which parts
or pairs are given: each group is a frozenset, and groups are listed by their smallest member.
"""

from __future__ import annotations

from typing import Hashable, Iterable, TypeVar

T = TypeVar("T", bound=Hashable)


class UnionFind:
    """Disjoint sets with path halving and union by size."""

    def __init__(self, items: Iterable[Hashable] = ()) -> None:
        self._parent: dict[Hashable, Hashable] = {}
        self._size: dict[Hashable, int] = {}
        for item in items:
            self.add(item)

    def add(self, item: Hashable) -> None:
        if item not in self._parent:
            self._parent[item] = item
            self._size[item] = 1

    def find(self, item: Hashable) -> Hashable:
        """Representative of the item's set (the item is added if unknown)."""
        self.add(item)
        parent = self._parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: Hashable, b: Hashable) -> bool:
        """Merge the sets of a and b; False when they were already one set."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        return True

    def connected(self, a: Hashable, b: Hashable) -> bool:
        return self.find(a) == self.find(b)

    def groups(self) -> list[frozenset]:
        """All sets, each as a frozenset, ordered by their smallest member."""
        by_root: dict[Hashable, set] = {}
        for item in self._parent:
            by_root.setdefault(self.find(item), set()).add(item)
        return sorted((frozenset(g) for g in by_root.values()), key=min)


def group_parts(parts: Iterable[T], pairs: Iterable[tuple[T, T]]) -> list[frozenset[T]]:
    """Groups of parts after joining every pair; parts in no pair form groups of one.

    A pair naming an unknown part raises KeyError, so a typo cannot create a phantom part.
    """
    forest = UnionFind(parts)
    known = set(forest._parent)
    for a, b in pairs:
        for item in (a, b):
            if item not in known:
                raise KeyError(f"pair names unknown part {item!r}")
        forest.union(a, b)
    return forest.groups()
