"""Chromosome classes: canonical names, Denver groups, karyogram order and label parsing.

Canonical class names everywhere in karyostudio are the strings "1".."22", "X", "Y".
Readers of foreign formats translate their labels with :func:`parse_label`; a label that
cannot be translated raises :class:`UnknownLabelError` so the caller can report and skip it
instead of silently mapping it to something else.
"""

from __future__ import annotations

import re

AUTOSOMES: tuple[str, ...] = tuple(str(i) for i in range(1, 23))
SEX_CHROMOSOMES: tuple[str, ...] = ("X", "Y")
CLASS_NAMES: tuple[str, ...] = AUTOSOMES + SEX_CHROMOSOMES
NUM_CLASSES = len(CLASS_NAMES)  # 24

_INDEX = {name: i for i, name in enumerate(CLASS_NAMES)}

# Denver groups (ISCN): letter -> members. X sits with group C by size, Y with group G.
DENVER_GROUPS: dict[str, tuple[str, ...]] = {
    "A": ("1", "2", "3"),
    "B": ("4", "5"),
    "C": ("6", "7", "8", "9", "10", "11", "12"),
    "D": ("13", "14", "15"),
    "E": ("16", "17", "18"),
    "F": ("19", "20"),
    "G": ("21", "22"),
}
_GROUP_OF = {name: g for g, members in DENVER_GROUPS.items() for name in members}
_GROUP_OF["X"] = "C"
_GROUP_OF["Y"] = "G"

# The clinical karyogram layout (ISCN figures, CytoVision, Ikaros): four rows of Denver groups,
#   1 2 3 | 4 5  /  6 7 8 9 10 11 12  /  13 14 15 | 16 17 18  /  19 20 | 21 22 | X Y
# Each row is a tuple of groups; groups are drawn with a wider gap between them.
KARYOGRAM_GROUPS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("1", "2", "3"), ("4", "5")),
    (("6", "7", "8", "9", "10", "11", "12"),),
    (("13", "14", "15"), ("16", "17", "18")),
    (("19", "20"), ("21", "22"), ("X", "Y")),
)
# The same rows without the group structure.
KARYOGRAM_ROWS: tuple[tuple[str, ...], ...] = tuple(
    tuple(name for group in row for name in group) for row in KARYOGRAM_GROUPS)


class UnknownLabelError(ValueError):
    """A label that does not name a chromosome class (e.g. AutoKary2022's -1 or 119)."""

    def __init__(self, label: object, scheme: str = "any"):
        self.label = label
        self.scheme = scheme
        super().__init__(f"unknown chromosome label {label!r} (scheme {scheme!r}); "
                         f"expected one of 1..22, X, Y")


def class_index(name: str) -> int:
    """0-based index of a canonical class name ("1" -> 0, "X" -> 22, "Y" -> 23)."""
    try:
        return _INDEX[name]
    except KeyError:
        raise UnknownLabelError(name, "canonical") from None


def class_name(index: int) -> str:
    """Canonical class name of a 0-based index."""
    if not 0 <= int(index) < NUM_CLASSES:
        raise UnknownLabelError(index, "index")
    return CLASS_NAMES[int(index)]


def denver_group(name: str) -> str:
    """Denver group letter ("A".."G") of a canonical class name."""
    class_index(name)
    return _GROUP_OF[name]


def is_class_name(name: object) -> bool:
    return isinstance(name, str) and name in _INDEX


_VOC_RE = re.compile(r"^[A-G](\d{1,2})$")


def parse_label(raw: object, scheme: str = "any") -> str:
    """Translate a label from a known scheme into a canonical class name.

    Schemes:
      - "canonical": "1".."22", "X", "Y" (case-insensitive for X/Y).
      - "autokary": AutoKary2022 numbers "1".."24" where 23 = X and 24 = Y.
      - "voc": Taichung VOC names A1..G22, X, Y (the letter must be the right Denver group).
      - "any": canonical, then VOC, then AutoKary numbers 23/24.
    Anything else raises UnknownLabelError.
    """
    if isinstance(raw, bool):
        raise UnknownLabelError(raw, scheme)
    text = str(raw).strip()
    upper = text.upper()
    if scheme not in ("any", "canonical", "autokary", "voc"):
        raise ValueError(f"unknown label scheme {scheme!r}")
    if upper in ("X", "Y"):
        return upper
    if scheme in ("any", "canonical", "autokary") and text.isdigit():
        n = int(text)
        if 1 <= n <= 22 and text == str(n):
            return text
        if scheme in ("any", "autokary") and text in ("23", "24"):
            return "X" if text == "23" else "Y"
    if scheme in ("any", "voc"):
        m = _VOC_RE.match(upper)
        if m:
            name = str(int(m.group(1)))
            if name in _INDEX and _GROUP_OF.get(name) == upper[0] and m.group(1) == name:
                return name
    raise UnknownLabelError(raw, scheme)


def voc_name(name: str) -> str:
    """Taichung VOC name of a canonical class ("1" -> "A1", "X" -> "X")."""
    class_index(name)
    if name in SEX_CHROMOSOMES:
        return name
    return _GROUP_OF[name] + name


def karyogram_order(name: str) -> int:
    """Sort key that puts classes in karyogram order (1..22, X, Y)."""
    return class_index(name)
