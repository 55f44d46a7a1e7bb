"""The synthetic metaphase generator: determinism, ground truth consistency, karyotypes."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from karyostudio.core.classes import AUTOSOMES
from karyostudio.core.karyotype import karyotype_string
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from karyostudio.synth.overlaps import relation

SMALL = 384  # chromosomes scaled down with the image: fast, and every feature still drawn


@pytest.fixture(scope="module")
def crowded():
    """A cell with many planned touching/crossing groups and no clutter."""
    return generate_metaphase(rng_for(5, 0), SynthConfig(size=SMALL, clusters_mean=8, clutter=False,
                                                         jpeg_probability=0.0))


@pytest.fixture(scope="module")
def cells():
    return [generate_metaphase(rng_for(21, i), SynthConfig(size=SMALL)) for i in range(3)]


def test_same_seed_same_image_and_truth():
    a = generate_metaphase(rng_for(7, 3), SynthConfig(size=SMALL))
    b = generate_metaphase(rng_for(7, 3), SynthConfig(size=SMALL))
    c = generate_metaphase(rng_for(7, 4), SynthConfig(size=SMALL))
    assert a.image.dtype == np.uint8 and a.image.shape == (SMALL, SMALL)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.instances == b.instances
    assert np.array_equal(a.overlap_mask, b.overlap_mask)
    assert a.clusters == b.clusters
    assert a.image.tobytes() != c.image.tobytes()


def test_instance_count_matches_karyotype(cells):
    for cell in cells:
        labels = [inst.label for inst in cell.instances]
        assert len(cell.instances) == int(cell.karyotype.split(",")[0]) == 46
        assert cell.karyotype in ("46,XX", "46,XY")
        assert karyotype_string(labels) == cell.karyotype
        counts = Counter(labels)
        assert all(counts[name] == 2 for name in AUTOSOMES)
        assert sorted(inst.id for inst in cell.instances) == list(range(1, 47))
        assert all(inst.source == "synth" for inst in cell.instances)


def test_sex_and_aneuploidy_options_change_counts():
    rng = rng_for(3, 0)
    monosomy = generate_metaphase(rng, SynthConfig(size=SMALL, sex="X"))
    assert monosomy.karyotype == "45,X" and len(monosomy.instances) == 45
    assert Counter(i.label for i in monosomy.instances)["X"] == 1
    assert "Y" not in {i.label for i in monosomy.instances}

    trisomy = generate_metaphase(rng_for(3, 1), SynthConfig(size=SMALL, extra_autosomes=("21",)))
    assert len(trisomy.instances) == 47 and trisomy.karyotype.endswith(",+21")
    assert Counter(i.label for i in trisomy.instances)["21"] == 3

    drawn = generate_metaphase(rng_for(3, 2), SynthConfig(size=SMALL, aneuploidy_rate=1.0, aneuploidies=("47,XXY",)))
    assert drawn.karyotype == "47,XXY" and drawn.aneuploidy == "47,XXY" and len(drawn.instances) == 47

    sexes = {generate_metaphase(rng_for(9, i), SynthConfig(size=128, clutter=False)).karyotype for i in range(8)}
    assert sexes == {"46,XX", "46,XY"}


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="size"):
        SynthConfig(size=64)
    with pytest.raises(ValueError, match="aneuploidy"):
        SynthConfig(aneuploidies=("47,XXXY",))
    with pytest.raises(ValueError, match="aneuploidy_rate"):
        SynthConfig(aneuploidy_rate=1.5)
    with pytest.raises(ValueError, match="autosome"):
        SynthConfig(extra_autosomes=("X",))


def test_polygons_lie_on_the_dark_chromosome_pixels():
    cell = generate_metaphase(rng_for(11, 0), SynthConfig(size=SMALL, clutter=False, jpeg_probability=0.0))
    union = np.zeros(cell.shape, dtype=bool)
    for inst, patch in zip(cell.instances, cell.mask_patches):
        mask = polygon_to_mask(inst.polygon, cell.shape)
        assert np.array_equal(mask, patch.full(cell.shape))  # the stored mask is the polygon's raster
        union |= mask
    near = cv2.dilate(union.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    background = float(np.median(cell.image[~near]))
    dark = cell.image < background - 25
    grown = cv2.dilate(union.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    core = cv2.erode(union.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert dark[grown].sum() >= 0.99 * dark.sum()  # darkness only where chromosomes are
    assert dark[core].mean() >= 0.97  # and chromosomes are dark all over
    assert (dark & union).sum() / (dark | union).sum() >= 0.9
    for inst, patch in zip(cell.instances, cell.mask_patches):
        mask = patch.full(cell.shape)
        assert cell.image[mask].mean() < background - 40, inst.label


def test_overlap_mask_is_the_union_of_pairwise_intersections(crowded):
    masks = crowded.masks()
    expected = np.zeros(crowded.shape, dtype=bool)
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            expected |= masks[i] & masks[j]
    assert expected.any(), "a crowded cell should have crossings"
    assert np.array_equal(crowded.overlap_mask, expected)
    top, second = crowded.label_maps()
    assert np.array_equal(second > 0, expected)
    assert np.array_equal(top > 0, masks.any(axis=0))


def test_clusters_list_every_touching_or_overlapping_pair(crowded):
    masks = crowded.masks()
    ids = [inst.id for inst in crowded.instances]
    kinds = {c.kind for c in crowded.clusters}
    assert kinds & {"X", "T", "L"}
    listed = {(a, b): kind for c in crowded.clusters for a, b, kind in c.pairs}
    kernel = np.ones((3, 3), np.uint8)
    for i in range(len(masks)):
        grown = cv2.dilate(masks[i].astype(np.uint8), kernel).astype(bool)
        for j in range(i + 1, len(masks)):
            overlap, touch = (masks[i] & masks[j]).any(), (grown & masks[j]).any()
            kind = listed.get((ids[i], ids[j]))
            if overlap:
                assert kind in ("X", "T", "L")
            elif touch:
                assert kind == "touch"
            else:
                assert kind is None
    for c in crowded.clusters:
        members = {m for pair in c.pairs for m in pair[:2]}
        assert members == set(c.members) and len(c.members) >= 2
        assert c.kind == min((p[2] for p in c.pairs), key=("X", "T", "L", "touch").index)


def test_crossing_kinds_follow_where_the_overlap_lies(crowded):
    # Re-derive the relation of each listed pair from the stored patches.
    by_id = {inst.id: patch for inst, patch in zip(crowded.instances, crowded.mask_patches)}
    for c in crowded.clusters:
        for a, b, kind in c.pairs:
            assert relation(by_id[a], by_id[b]) == kind


def test_rotated_box_contains_polygon_and_geometry_attributes(cells):
    for inst in cells[0].instances:
        cx, cy, w, h, theta = inst.attributes["rotated_box"]
        assert h >= w > 0 and 0 <= theta < 180
        t = np.deg2rad(theta)
        d = inst.polygon - [cx, cy]
        along_w = d @ [np.cos(t), np.sin(t)]
        along_h = d @ [-np.sin(t), np.cos(t)]
        assert np.all(np.abs(along_w) <= w / 2 + 0.01) and np.all(np.abs(along_h) <= h / 2 + 0.01)

        skeleton = np.asarray(inst.attributes["skeleton"])
        ends = np.asarray(inst.attributes["endpoints"])
        assert np.allclose(skeleton[0], ends[0]) and np.allclose(skeleton[-1], ends[1])
        # The polygon's tips are the centreline's ends.
        assert min(np.hypot(*(inst.polygon - ends[0]).T)) < 0.02
        assert min(np.hypot(*(inst.polygon - ends[1]).T)) < 0.02
        centromere = np.asarray(inst.attributes["centromere"])
        assert min(np.hypot(*(skeleton - centromere).T)) < 3.0


def _arc_lengths(inst) -> np.ndarray:
    skeleton = np.asarray(inst.attributes["skeleton"])
    return np.concatenate([[0], np.cumsum(np.hypot(*np.diff(skeleton, axis=0).T))])


def test_lengths_and_centromeres_follow_the_ideogram(cells):
    for cell in cells:
        length = {}
        for inst in cell.instances:
            arc = _arc_lengths(inst)
            length.setdefault(inst.label, []).append(arc[-1])
            k = np.argmin(np.hypot(*(np.asarray(inst.attributes["skeleton"]) - inst.attributes["centromere"]).T))
            p_arm = arc[k] / arc[-1]
            if inst.label == "1":  # metacentric
                assert 0.42 < p_arm < 0.56
            if inst.label in ("13", "14", "15"):  # acrocentric (p arm 16-19 % of the bases)
                assert p_arm < 0.28
        mean = {name: float(np.mean(v)) for name, v in length.items()}
        assert mean["1"] > mean["7"] > mean["13"] > mean["18"] > mean["21"]
        assert 3.0 < mean["1"] / mean["21"] < 6.0
