"""ChromSeg training crops: exact region maps, determinism, cache, augmentation, labelme folders."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.io.images import write_image
from karyostudio.io.labelme import write_labelme
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from karyostudio.synth.overlaps import coverage_count
from karyostudio.training.chromseg_data import (
    CROSSING,
    FOREGROUND,
    ChromSegDataError,
    augment,
    augment_rng,
    crop_window,
    labelme_crops_by_image,
    split_keys,
    synth_crops,
    synth_image_crops,
)

SMALL = SynthConfig(size=256)


def test_synth_crops_hold_the_exact_coverage_of_their_window():
    index = next(i for i in range(40) if any(c.kind in "XTL" for c in generate_metaphase(rng_for(3, i), SMALL).clusters))
    sample = generate_metaphase(rng_for(3, index), SMALL)
    count = coverage_count(sample.mask_patches, sample.shape)
    crop = synth_image_crops(3, index, 64, SMALL, max_per_image=1)[0]
    # Find the window: the crop's image is a sub-array of the metaphase image.
    hits = [(y, x) for y in range(256 - 63) for x in range(256 - 63)
            if np.array_equal(sample.image[y:y + 64, x:x + 64], crop.image)]
    assert hits
    y, x = hits[0]
    window = count[y:y + 64, x:x + 64]
    assert np.array_equal(crop.foreground, window >= 1)
    assert np.array_equal(crop.crossing, window >= 2)
    assert crop.crossing.any()


def test_synth_crops_are_deterministic_and_cached(tmp_path):
    first = synth_crops(1, 5, size=64, synth=SMALL, max_per_image=2, cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("*.npz"))
    assert files
    again = synth_crops(1, 5, size=64, synth=SMALL, max_per_image=2, cache_dir=tmp_path)
    fresh = synth_crops(1, 5, size=64, synth=SMALL, max_per_image=2, cache_dir=None)
    for a, b, c in zip(first, again, fresh):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, c.labels) and a.box == c.box
    assert all(c.crossing.any() and not (c.crossing & ~c.foreground).any() for c in first)


def test_too_few_crossings_is_an_error():
    with pytest.raises(ChromSegDataError, match="crossing crops"):
        synth_crops(0, 50, size=64, synth=SynthConfig(size=256, clusters_mean=0), max_images=3)


def test_augment_is_a_function_of_its_seed_and_keeps_labels_aligned(tmp_path):
    crop = synth_crops(1, 1, size=64, synth=SMALL, cache_dir=tmp_path)[0]
    a = augment(crop, augment_rng(0, 1, 2), tight_probability=0.0)
    b = augment(crop, augment_rng(0, 1, 2), tight_probability=0.0)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    # Geometric changes move labels with pixels: the label histogram is unchanged.
    assert np.array_equal(np.bincount(a.labels.ravel(), minlength=3), np.bincount(crop.labels.ravel(), minlength=3))
    tight = augment(crop, augment_rng(0, 1, 2), tight_probability=1.0)
    assert np.count_nonzero(tight.labels) <= np.count_nonzero(crop.labels)


def test_crop_window_stays_inside_or_centres_small_images():
    assert crop_window((10, 10), 64, (256, 256)) == (0, 0)
    assert crop_window((250, 128), 64, (256, 256)) == (192, 96)
    assert crop_window((20, 20), 64, (40, 40)) == (-12, -12)


def test_labelme_crossings_come_from_overlapping_polygons(tmp_path):
    image = np.full((80, 80), 220, np.uint8)
    write_image(tmp_path / "cell.png", image)
    bar = np.array([[10, 30], [70, 30], [70, 40], [10, 40]], float)  # horizontal 60 x 10
    post = np.array([[35, 5], [45, 5], [45, 65], [35, 65]], float)  # vertical 10 x 60
    apart = np.array([[60, 60], [75, 60], [75, 75], [60, 75]], float)
    ann = ImageAnnotations(key="cell", instances=[Instance(1, bar, "1"), Instance(2, post, "2"),
                                                  Instance(3, apart, "3")],
                           image_path=tmp_path / "cell.png", image_size=(80, 80))
    write_labelme(tmp_path / "cell.json", ann)
    crops = labelme_crops_by_image(tmp_path, size=64)
    assert list(crops) == ["cell"] and len(crops["cell"]) == 1
    crop = crops["cell"][0]
    assert np.count_nonzero(crop.labels == CROSSING) == 100  # the 10 x 10 square where they cross
    assert np.count_nonzero(crop.labels >= FOREGROUND) >= 60 * 10 * 2 - 100


def test_split_keys_is_stable():
    keys = [f"img{i}" for i in range(200)]
    train, val = split_keys(keys, 0.1)
    assert sorted(train + val) == sorted(keys) and 5 <= len(val) <= 40
    assert split_keys(keys[:100], 0.1)[1] == [k for k in val if k in keys[:100]]
