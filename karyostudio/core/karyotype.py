"""Chromosome counts -> karyotype string in ISCN notation (numerical findings only).

Examples: 46 normal chromosomes with XY -> "46,XY"; an extra 21 -> "47,XX,+21";
a single X -> "45,X"; XXY -> "47,XXY". Structural rearrangements cannot be seen from
counts and are out of scope here; a reviewer edits the string for those.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from karyostudio.core.classes import AUTOSOMES, class_index


def count_classes(labels: Iterable[str | None]) -> Counter:
    """Count canonical class names; None (unnamed instances) are counted under None."""
    counts: Counter = Counter()
    for label in labels:
        if label is not None:
            class_index(label)  # validates
        counts[label] += 1
    return counts


def iscn_from_counts(counts: Mapping[str | None, int]) -> str:
    """ISCN numerical karyotype from per-class counts.

    Sex chromosomes are written out (X and Y in that order); autosomes deviating from two
    copies are written as gains (+n) and losses (-n) in chromosome order. Unnamed instances
    (key None) count towards the total but cannot be placed, so they are reported as "+mar"
    (marker chromosomes), the ISCN term for unidentified extra chromosomes.
    """
    for key in counts:
        if key is not None:
            class_index(key)
    total = sum(int(v) for v in counts.values())
    n_x, n_y = int(counts.get("X", 0)), int(counts.get("Y", 0))
    # ISCN writes "U" when no sex chromosome could be identified.
    parts = [str(total), "X" * n_x + "Y" * n_y or "U"]
    for name in AUTOSOMES:
        n = int(counts.get(name, 0))
        parts.extend([f"-{name}"] * max(0, 2 - n))
        parts.extend([f"+{name}"] * max(0, n - 2))
    n_unnamed = int(counts.get(None, 0))
    if n_unnamed:
        parts.append("+mar" if n_unnamed == 1 else f"+{n_unnamed}mar")
    return ",".join(p for p in parts if p)


def karyotype_string(labels: Iterable[str | None]) -> str:
    """ISCN string of a cell from the labels of its instances."""
    return iscn_from_counts(count_classes(labels))


def is_normal(counts: Mapping[str | None, int]) -> bool:
    """True for 46,XX or 46,XY with two of every autosome."""
    return iscn_from_counts(counts) in ("46,XX", "46,XY")
