"""Human G-band ideograms (GRCh38 band tables) and the darkness profile they give along a chromosome.

The band tables in ``data/`` list every band of every chromosome with its Giemsa stain
(gneg, gpos25..gpos100, acen, gvar, stalk) at the ~850-band level. A metaphase seen at
300-550 px per cell shows far fewer bands, so profiles are smoothed along the chromosome
(``blur_mb``) to merge neighbouring sub-bands the way lower band resolutions do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.ndimage import gaussian_filter1d

from karyostudio.core.classes import CLASS_NAMES

_BAND_FILES = ("cytobands_hg38.bed", "cytobands_hg38_xy.bed")

# G-banding darkness per stain: gpos bands take up Giemsa (dark), gneg bands stay pale.
# gvar (constitutive heterochromatin, e.g. 1q12, 9q12, Yq12) varies between people, so its
# value is only a mean that callers jitter; stalks (acrocentric p12) are pale and thin.
STAIN_DARKNESS: dict[str, float] = {
    "gneg": 0.0,
    "gpos25": 0.3,
    "gpos50": 0.55,
    "gpos75": 0.78,
    "gpos100": 1.0,
    "acen": 0.45,
    "gvar": 0.7,
    "stalk": 0.12,
}

ACROCENTRIC: frozenset[str] = frozenset({"13", "14", "15", "21", "22"})


@dataclass(frozen=True)
class Ideogram:
    """The bands of one chromosome: parallel arrays in base pairs, p-arm end first."""

    name: str
    starts: np.ndarray  # band start, bp
    ends: np.ndarray  # band end, bp
    stains: tuple[str, ...]
    centromere_bp: float  # boundary between the p-arm and q-arm acen bands

    @property
    def length_bp(self) -> float:
        return float(self.ends[-1])

    @property
    def centromere_fraction(self) -> float:
        return self.centromere_bp / self.length_bp

    def stain_mask(self, stain: str, positions_bp: np.ndarray) -> np.ndarray:
        """True where the band at each position has the given stain."""
        idx = np.clip(np.searchsorted(self.ends, positions_bp, side="right"), 0, len(self.ends) - 1)
        return np.array(self.stains)[idx] == stain


@lru_cache(maxsize=1)
def load_ideograms() -> dict[str, Ideogram]:
    """All 24 ideograms keyed by canonical class name ("1".."22", "X", "Y")."""
    rows: dict[str, list[tuple[int, int, str, str]]] = {}
    data = resources.files("karyostudio.synth") / "data"
    for file_name in _BAND_FILES:
        for line in (data / file_name).read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) != 5:
                continue
            chrom, start, end, band, stain = fields
            rows.setdefault(chrom.removeprefix("chr"), []).append((int(start), int(end), band, stain))
    ideograms = {}
    for name in CLASS_NAMES:
        bands = sorted(rows[name])
        stains = tuple(b[3] for b in bands)
        unknown = set(stains) - set(STAIN_DARKNESS)
        if unknown:
            raise ValueError(f"band table: unknown stains {sorted(unknown)} on chromosome {name}")
        p_acen = [b for b in bands if b[3] == "acen" and b[2].startswith("p")]
        if not p_acen:
            raise ValueError(f"band table: chromosome {name} has no p-arm acen band")
        ideograms[name] = Ideogram(
            name=name,
            starts=np.array([b[0] for b in bands], dtype=np.float64),
            ends=np.array([b[1] for b in bands], dtype=np.float64),
            stains=stains,
            centromere_bp=float(p_acen[-1][1]),
        )
    return ideograms


def darkness_profile(ideogram: Ideogram, n_samples: int, *, blur_mb: float,
                     gvar_darkness: float = STAIN_DARKNESS["gvar"]) -> np.ndarray:
    """Band darkness in [0, 1] at n_samples evenly spaced points, p end (first) to q end (last).

    blur_mb is the Gaussian sigma in megabases that merges sub-bands (about 2-3 Mb gives the
    look of 400-550 bands per haploid set).
    """
    if n_samples < 2:
        raise ValueError("a profile needs at least 2 samples")
    positions = np.linspace(0.0, ideogram.length_bp, n_samples)
    idx = np.clip(np.searchsorted(ideogram.ends, positions, side="right"), 0, len(ideogram.ends) - 1)
    table = {**STAIN_DARKNESS, "gvar": gvar_darkness}
    values = np.array([table[s] for s in ideogram.stains])[idx]
    sigma = blur_mb * 1e6 / ideogram.length_bp * (n_samples - 1)
    if sigma > 0:
        values = gaussian_filter1d(values, sigma, mode="nearest")
    return values
