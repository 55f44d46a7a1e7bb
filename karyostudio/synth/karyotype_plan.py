"""Which chromosomes a synthetic cell holds: 46,XX or 46,XY, or a chosen numerical abnormality."""

from __future__ import annotations

import numpy as np

from karyostudio.core.classes import AUTOSOMES, is_class_name

# Sex-chromosome complements and autosomal trisomies the generator can draw.
SEX_COMPLEMENTS: tuple[str, ...] = ("XX", "XY", "X", "XXY", "XYY", "XXX")
ANEUPLOIDIES: tuple[str, ...] = ("45,X", "47,XXY", "47,XYY", "47,XXX", "+21", "+18", "+13")


def validate_aneuploidy(name: str) -> None:
    """Raise ValueError unless name is "45,X", "47,XXY", "47,XYY", "47,XXX" or "+N" (N an autosome)."""
    if name in ANEUPLOIDIES[:4]:
        return
    if name.startswith("+") and name[1:] in AUTOSOMES:
        return
    raise ValueError(f"unknown aneuploidy {name!r}: use one of 45,X 47,XXY 47,XYY 47,XXX or +N (N = 1..22)")


def plan_karyotype(rng: np.random.Generator, *, aneuploidy_rate: float = 0.0,
                   aneuploidies: tuple[str, ...] = ANEUPLOIDIES,
                   sex: str | None = None, extra_autosomes: tuple[str, ...] = ()) -> tuple[list[str], str | None]:
    """Class names of every chromosome in the cell, and the aneuploidy drawn (None if none).

    sex forces the sex complement ("XX", "XY", "X", "XXY", "XYY" or "XXX"); otherwise it is
    XX or XY with p = 0.5. With probability aneuploidy_rate one entry of aneuploidies is
    applied on top (a sex-chromosome one replaces the complement, "+N" adds a chromosome N).
    extra_autosomes are always added (e.g. ("21",) for a forced trisomy 21).
    """
    if not 0.0 <= aneuploidy_rate <= 1.0:
        raise ValueError(f"aneuploidy_rate must lie in [0, 1], got {aneuploidy_rate}")
    if sex is not None and sex not in SEX_COMPLEMENTS:
        raise ValueError(f"sex must be one of {', '.join(SEX_COMPLEMENTS)}, got {sex!r}")
    for name in aneuploidies:
        validate_aneuploidy(name)
    for name in extra_autosomes:
        if not is_class_name(name) or name in ("X", "Y"):
            raise ValueError(f"extra autosome must be one of 1..22, got {name!r}")
    complement = sex if sex is not None else ("XX" if rng.random() < 0.5 else "XY")
    extras = list(extra_autosomes)
    drawn = None
    if aneuploidies and rng.random() < aneuploidy_rate:
        drawn = aneuploidies[int(rng.integers(len(aneuploidies)))]
        if drawn.startswith("+"):
            extras.append(drawn[1:])
        else:
            complement = drawn.split(",")[1]
    labels = [name for name in AUTOSOMES for _ in range(2)] + extras + list(complement)
    return labels, drawn
