"""Validation of ISCN karyotype strings typed by a reviewer.

Covers what a karyogram review produces: the chromosome count, the sex chromosomes,
numerical gains and losses (+21, -X, +mar, +2mar), common structural rearrangements with
their breakpoints (t(9;22)(q34;q11.2), del(5)(p15), inv(9)(p12q13), der(22)t(9;22)(q34;q11),
i(X)(q10), r(13)), and mosaics or chimaeras of clones ("mos 45,X[10]/46,XX[20]"). It is a
syntax and consistency check, not a complete ISCN grammar: a string it rejects gets a reason
naming the offending part, so the reviewer can fix it or report a gap.

The count must agree with the gains and losses (44 autosomes + the sex chromosomes + gains -
losses) unless a rearrangement that joins two chromosomes into one (rob, dic, or a der of two
chromosomes) makes that arithmetic ambiguous, or the cell is not near-diploid (over 57).
"U" stands for "sex chromosomes not identified", as karyostudio.core.karyotype writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CHROMOSOME = r"(?:[1-9]|1\d|2[0-2]|X|Y)"
_BAND = r"(?:[pq](?:\d{1,2}(?:\.\d{1,3})?)?|pter|qter|cen)"
_BANDS = rf"{_BAND}(?:(?:->|→|~)?{_BAND})*"
# Rearrangement keywords (ISCN 2020 abbreviations used in constitutional and tumour karyotypes).
_STRUCTURAL = ("add", "del", "der", "dic", "dup", "fra", "hsr", "i", "idem", "idic", "ins", "inv", "psu dic",
               "qdp", "r", "rob", "tas", "t", "trc", "trp", "ider")
_TERM = rf"(?:{'|'.join(sorted((re.escape(s) for s in _STRUCTURAL), key=len, reverse=True))})" \
        rf"\((?P<chroms>{_CHROMOSOME}(?:;{_CHROMOSOME})*)\)(?:\((?P<bands>{_BANDS}(?:;{_BANDS})*)\))?"
_TERM_RE = re.compile(_TERM)
_NUMERIC_RE = re.compile(rf"^[+-]{_CHROMOSOME}$")
_MARKER_RE = re.compile(r"^\+(?:[2-9]|[1-9]\d)?mar\d*$")
_CLONE_SIZE_RE = re.compile(r"\[(\d+)\]$")
_SEX_RE = re.compile(r"^(?:X*Y*|U)$")
_JOINING = ("rob", "dic", "idic", "psu dic")
NEAR_DIPLOID_MAX = 57


class IscnError(ValueError):
    """A karyotype string that is not valid ISCN; the message says which part and why."""


@dataclass(frozen=True)
class Clone:
    count: int
    sex: str
    abnormalities: tuple[str, ...]
    cells: int | None  # the [n] cell count of a mosaic clone


def validate_karyotype(text: str) -> tuple[Clone, ...]:
    """Parse an ISCN karyotype (one or more "/"-separated clones); raises IscnError with a reason."""
    body = text.strip()
    if not body:
        raise IscnError("the karyotype is empty")
    if " " in body.replace("mos ", "").replace("chi ", "").replace("psu dic", ""):
        raise IscnError("ISCN karyotypes contain no spaces (write e.g. 47,XX,+21)")
    prefix = next((p for p in ("mos ", "chi ") if body.startswith(p)), "")
    parts = body[len(prefix):].split("/")
    if prefix and len(parts) < 2:
        raise IscnError(f"'{prefix.strip()}' names a mosaic or chimaera: give two or more clones separated by '/'")
    clones = tuple(_clone(part, index + 1, len(parts)) for index, part in enumerate(parts))
    if len(clones) > 1 and any(c.cells is None for c in clones):
        raise IscnError("each clone of a mosaic needs its cell count in brackets, e.g. 45,X[10]/46,XX[20]")
    return clones


def is_valid_karyotype(text: str) -> bool:
    try:
        validate_karyotype(text)
    except IscnError:
        return False
    return True


def _clone(text: str, number: int, total: int) -> Clone:
    where = f"clone {number}: " if total > 1 else ""
    cells = None
    match = _CLONE_SIZE_RE.search(text)
    if match:
        cells = int(match.group(1))
        if cells == 0:
            raise IscnError(f"{where}a clone of 0 cells")
        text = text[:match.start()]
    fields = _split_fields(text, where)
    if len(fields) < 2:
        raise IscnError(f"{where}expected the count and the sex chromosomes, e.g. 46,XX (got {text!r})")
    count_text, sex = fields[0], fields[1]
    if not count_text.isdigit():
        raise IscnError(f"{where}the karyotype must start with the chromosome count, not {count_text!r}")
    count = int(count_text)
    if not 1 <= count <= 200:
        raise IscnError(f"{where}a count of {count} chromosomes is not plausible")
    if not _SEX_RE.match(sex):
        if "YX" in sex or ("Y" in sex and "X" in sex.split("Y", 1)[-1]):
            raise IscnError(f"{where}write the sex chromosomes X before Y ({''.join(sorted(sex))})")
        raise IscnError(f"{where}the second field must be the sex chromosomes (e.g. XX, XY, X, XXY), "
                        f"not {sex!r}")
    abnormalities = tuple(fields[2:])
    for item in abnormalities:
        _check_abnormality(item, where)
    _check_count(count, sex, abnormalities, where)
    return Clone(count, sex, abnormalities, cells)


def _split_fields(text: str, where: str) -> list[str]:
    """Split at commas outside parentheses (breakpoint lists never contain commas, but be safe)."""
    fields, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise IscnError(f"{where}unbalanced ')' in {text!r}")
        if char == "," and depth == 0:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise IscnError(f"{where}unbalanced '(' in {text!r}")
    fields.append("".join(current))
    for field in fields:
        if not field:
            raise IscnError(f"{where}empty field (two commas in a row, or a trailing comma)")
    return fields


def _check_abnormality(item: str, where: str) -> None:
    if _NUMERIC_RE.match(item) or _MARKER_RE.match(item):
        return
    body = item[1:] if item[:1] in "+-" else item
    position = 0
    while position < len(body):
        match = _TERM_RE.match(body, position)
        if match is None:
            raise IscnError(f"{where}cannot read {item!r} (expected e.g. +21, -X, +mar, t(9;22)(q34;q11.2), "
                            f"del(5)(p15))")
        _check_term(match, item, where)
        position = match.end()


def _check_term(match: re.Match, item: str, where: str) -> None:
    chroms = match.group("chroms").split(";")
    bands = match.group("bands")
    if bands is not None and len(bands.split(";")) != len(chroms):
        raise IscnError(f"{where}{item!r} names {len(chroms)} chromosome(s) but {len(bands.split(';'))} "
                        f"breakpoint group(s)")
    keyword = match.group(0).split("(", 1)[0]
    if keyword == "t" and len(chroms) < 2:
        raise IscnError(f"{where}a translocation joins two or more chromosomes: {item!r}")


def _check_count(count: int, sex: str, abnormalities: tuple[str, ...], where: str) -> None:
    if count > NEAR_DIPLOID_MAX:
        return
    joined = any(a.lstrip("+-").startswith(_JOINING) or re.match(r"^[+-]?der\([^)]*;", a) for a in abnormalities)
    if joined:
        return
    sex_count = 0 if sex == "U" else len(sex)
    gains = sum(_copies(a) for a in abnormalities if a.startswith("+"))
    losses = sum(1 for a in abnormalities if a.startswith("-"))
    expected = 44 + sex_count + gains - losses
    if count != expected:
        raise IscnError(f"{where}the count {count} does not match the sex chromosomes, gains and losses "
                        f"listed (they add up to {expected})")


def _copies(gain: str) -> int:
    marker = _MARKER_RE.match(gain)
    if marker:
        digits = gain[1:gain.index("mar")]
        return int(digits) if digits else 1
    return 1
