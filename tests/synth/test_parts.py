"""Building blocks of the generator: band tables, karyotype plans, polygon rasterisation, rendering."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import shapely

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.synth.chromosome import make_chromosome_spec, render_chromosome
from karyostudio.synth.ideogram import darkness_profile, load_ideograms
from karyostudio.synth.karyotype_plan import plan_karyotype
from karyostudio.synth.style import draw_cell_style


def test_band_tables_cover_all_24_chromosomes():
    ideograms = load_ideograms()
    assert set(ideograms) == set(CLASS_NAMES)
    assert ideograms["1"].length_bp == 248_956_422 and ideograms["X"].length_bp == 156_040_895
    assert ideograms["Y"].length_bp == 57_227_415
    for ideogram in ideograms.values():
        assert np.all(ideogram.starts[1:] == ideogram.ends[:-1])  # contiguous bands
    assert 0.45 < ideograms["1"].centromere_fraction < 0.52
    assert ideograms["13"].centromere_fraction < 0.2  # acrocentric
    assert 0.35 < ideograms["X"].centromere_fraction < 0.42


def test_darkness_profile_follows_the_stains():
    chr1 = load_ideograms()["1"]
    raw = darkness_profile(chr1, 2490, blur_mb=0.0)  # 100 kb per sample
    assert raw.min() == 0.0 and raw.max() == 1.0
    # 1p31.1 (69.3-84.4 Mb) is gpos100, 1p36.33 (0-2.3 Mb) gneg.
    assert raw[770] == 1.0 and raw[10] == 0.0
    blurred = darkness_profile(chr1, 2490, blur_mb=3.0)
    assert 0 < blurred.min() and blurred.max() < 1 and np.abs(np.diff(blurred)).max() < np.abs(np.diff(raw)).max()


def test_plan_karyotype():
    rng = np.random.default_rng(0)
    labels, drawn = plan_karyotype(rng)
    counts = Counter(labels)
    assert len(labels) == 46 and drawn is None and counts["X"] + counts["Y"] == 2 and counts["X"] >= 1
    labels, drawn = plan_karyotype(rng, aneuploidy_rate=1.0, aneuploidies=("+13",), sex="XY")
    assert drawn == "+13" and Counter(labels)["13"] == 3 and len(labels) == 47
    labels, _ = plan_karyotype(rng, sex="XYY")
    assert Counter(labels)["Y"] == 2 and len(labels) == 47
    with pytest.raises(ValueError):
        plan_karyotype(rng, aneuploidies=("+23",))
    with pytest.raises(ValueError):
        plan_karyotype(rng, sex="YY")


def test_rendered_chromosome_is_dark_inside_its_outline_only():
    rng = np.random.default_rng(3)
    style = draw_cell_style(rng, size=1024)
    ideogram = load_ideograms()["2"]
    spec = make_chromosome_spec(rng, "2", ideogram, length=140.0, width=22.0, style=style)
    r = render_chromosome(spec, heading=0.7, origin=(50.0, 40.0)).exact()
    assert np.allclose(r.centreline[0], [50, 40])
    arc = np.sum(np.hypot(*np.diff(r.centreline, axis=0).T))
    assert arc == pytest.approx(140.0, rel=1e-3)
    # Density lies inside the outline; pixels outside it with any density sit on the outline itself.
    outline = shapely.LinearRing(r.polygon)
    for row, col in zip(*np.nonzero((r.od > 0) & ~r.mask)):
        assert outline.distance(shapely.Point(r.x0 + col + 0.5, r.y0 + row + 0.5)) < 0.1
    assert np.mean(r.od[r.mask] > 0.05) > 0.97
    assert 0.9 * 140 * 22 < r.mask.sum() < 1.05 * 140 * 22  # area of a rod with rounded ends
