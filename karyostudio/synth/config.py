"""SynthConfig: the knobs of the synthetic metaphase generator, checked when built."""

from __future__ import annotations

from dataclasses import dataclass

from karyostudio.core.classes import AUTOSOMES
from karyostudio.synth.karyotype_plan import ANEUPLOIDIES, SEX_COMPLEMENTS, validate_aneuploidy

MIN_SIZE = 128


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Defaults give 1024 px, 46,XX or 46,XY cells at the real data's scale.

    size: width and height of the square image (px, >= 128). Images of 800 px and more show
        chromosomes at the scale of the Taichung metaphases (chromosome 1 ~150 px long, ~20 px
        wide); smaller ones are scaled down in proportion.
    aneuploidy_rate: probability that a cell gets one of ``aneuploidies`` ("45,X", "47,XXY",
        "47,XYY", "47,XXX", "+N").
    sex: force the sex complement ("XX", "XY", "X", "XXY", "XYY", "XXX"); default XX/XY at p = 0.5.
    extra_autosomes: autosomes always added (("21",) makes every cell trisomic for 21).
    chr1_length: mean chromosome-1 length in px; default drawn per cell around the real scale.
    clusters_mean: mean number of touching/crossing groups per cell; default drawn per cell (1-5).
    clutter: add interphase nuclei, debris and haze.
    jpeg_probability: share of images passed through JPEG compression (the real data is JPEG).
    chromatid_gap: sister chromatids apart along the arms (joined at the centromere), as the
        share of each chromosome's width that opens between them (0: together, as usual).
    debris_only: a field with no metaphase: nuclei, debris and haze, no chromosome.
    """

    size: int = 1024
    aneuploidy_rate: float = 0.0
    aneuploidies: tuple[str, ...] = ANEUPLOIDIES
    sex: str | None = None
    extra_autosomes: tuple[str, ...] = ()
    chr1_length: float | None = None
    clusters_mean: float | None = None
    clutter: bool = True
    jpeg_probability: float = 0.5
    chromatid_gap: float = 0.0
    debris_only: bool = False

    def __post_init__(self) -> None:
        if int(self.size) != self.size or self.size < MIN_SIZE:
            raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {self.size}")
        if not 0.0 <= self.aneuploidy_rate <= 1.0:
            raise ValueError(f"aneuploidy_rate must lie in [0, 1], got {self.aneuploidy_rate}")
        for name in self.aneuploidies:
            validate_aneuploidy(name)
        if self.sex is not None and self.sex not in SEX_COMPLEMENTS:
            raise ValueError(f"sex must be one of {', '.join(SEX_COMPLEMENTS)}, got {self.sex!r}")
        for name in self.extra_autosomes:
            if name not in AUTOSOMES:
                raise ValueError(f"extra autosome must be one of 1..22, got {name!r}")
        if self.chr1_length is not None and not 8 <= self.chr1_length <= self.size / 2:
            raise ValueError(f"chr1_length must lie in [8, size/2], got {self.chr1_length}")
        if self.clusters_mean is not None and not 0 <= self.clusters_mean <= 20:
            raise ValueError(f"clusters_mean must lie in [0, 20], got {self.clusters_mean}")
        if not 0.0 <= self.jpeg_probability <= 1.0:
            raise ValueError(f"jpeg_probability must lie in [0, 1], got {self.jpeg_probability}")
        if not 0.0 <= self.chromatid_gap <= 0.8:
            raise ValueError(f"chromatid_gap must lie in [0, 0.8], got {self.chromatid_gap}")
