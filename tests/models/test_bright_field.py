"""Other microscopes' images made like the bright-field training cells; those already like them left as recorded."""

import numpy as np
import pytest

from karyostudio.io.images import read_image
from karyostudio.models.maskrcnn.image_prep import as_uint8
from karyostudio.models.bright_field import (EVEN_LIGHT_AT_LEAST, NARROW_RANGE, STRETCH_TO, as_bright_field,
                                             dark_on_light, evenly_lit, full_contrast, is_bright_on_dark,
                                             slide_light)
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from tests.models.test_pipeline import BUNDLED_SAMPLE as SAMPLE
from tests.models.test_pipeline import shipped_predictor


@pytest.fixture(scope="module")
def metaphase() -> np.ndarray:
    return generate_metaphase(rng_for(3, 0), SynthConfig(size=384)).image


def test_a_bright_field_metaphase_is_left_as_it_is(metaphase):
    assert not is_bright_on_dark(metaphase)
    assert as_bright_field(metaphase) is metaphase
    real = read_image(SAMPLE)
    assert not is_bright_on_dark(real) and as_bright_field(real) is real


def _vignetted(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    yy, xx = np.mgrid[:h, :w]
    r2 = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / ((h / 2) ** 2 + (w / 2) ** 2)
    return np.clip(image * (1 - 0.45 * r2), 0, 255).astype(np.uint8)


def test_vignetting_is_divided_out_once(metaphase):
    dim = _vignetted(metaphase)
    light = slide_light(dim)
    assert light.min() < EVEN_LIGHT_AT_LEAST * light.max()
    even = evenly_lit(dim)
    light = slide_light(even)
    assert even.dtype == np.uint8 and light.min() > 0.9 * light.max()
    assert evenly_lit(even) is even
    assert np.median(metaphase) - np.median(dim) > 30  # the slide, most of the image, is back to its level
    assert abs(np.median(even) - np.median(metaphase)) < 10
    # Most of the light lost in the corners comes back (a quadratic fit does not follow the fall-off exactly).
    for corner in ((slice(0, 20), slice(0, 20)), (slice(0, 20), slice(-20, None)), (slice(-20, None), slice(0, 20)),
                   (slice(-20, None), slice(-20, None))):
        recorded, lost = np.percentile(metaphase[corner], 90), np.percentile(dim[corner], 90)
        assert np.percentile(even[corner], 90) > lost + 0.6 * (recorded - lost)


def test_the_slide_fit_is_not_taken_in_by_a_large_nucleus(metaphase):
    crowded = metaphase.copy()
    yy, xx = np.mgrid[:384, :384]
    crowded[(yy - 300) ** 2 + (xx - 300) ** 2 < 110 ** 2] = 90  # an interphase nucleus over a corner
    def evenness(image):
        light = slide_light(image)
        return light.min() / light.max()

    assert abs(evenness(crowded) - evenness(metaphase)) < 0.05
    assert evenly_lit(crowded) is crowded


def test_a_pale_image_is_stretched_to_the_training_contrast_once(metaphase):
    pale = (150 + metaphase.astype(np.float32) * (80 / 255)).astype(np.uint8)
    low, high = np.percentile(pale, [0.5, 99.5])
    assert high - low < NARROW_RANGE
    stretched = full_contrast(pale)
    low, high = np.percentile(stretched, [0.5, 99.5])
    assert abs(low - STRETCH_TO[0]) < 5 and abs(high - STRETCH_TO[1]) < 5
    assert full_contrast(stretched) is stretched
    assert np.corrcoef(stretched.ravel(), metaphase.ravel())[0, 1] > 0.99  # the bands keep their order
    deep = pale.astype(np.uint16)
    assert full_contrast(deep) is deep  # 16-bit images are stretched on their way to 8 bits


def test_a_negative_is_turned_back_exactly_in_8_and_16_bits(metaphase):
    assert is_bright_on_dark(255 - metaphase)
    assert np.array_equal(dark_on_light(255 - metaphase), metaphase)
    twelve_bit = metaphase.astype(np.uint16) * 16  # a 12-bit camera in a 16-bit file
    negative = (4095 - twelve_bit).astype(np.uint16)
    restored = dark_on_light(negative)
    assert restored.dtype == np.uint16 and not is_bright_on_dark(restored)
    assert np.corrcoef(restored.ravel(), twelve_bit.ravel())[0, 1] > 0.999


def test_every_network_input_is_made_bright_field(metaphase):
    assert np.array_equal(as_uint8(255 - metaphase), metaphase)
    pale = (150 + metaphase.astype(np.float32) * (80 / 255)).astype(np.uint8)
    assert np.array_equal(as_uint8(255 - pale), full_contrast(pale))
    assert np.array_equal(as_uint8(_vignetted(metaphase)), evenly_lit(_vignetted(metaphase)))


def test_images_without_a_clear_polarity_are_not_inverted():
    flat = np.full((64, 64), 120, np.uint8)
    assert dark_on_light(flat) is flat and full_contrast(flat) is flat
    half = np.zeros((64, 64), np.uint8)
    half[:, 32:] = 200  # as much "slide" as "object": no clear case either way
    assert not is_bright_on_dark(half)
    for tiny in (np.full((1, 1), 200, np.uint8), np.arange(9, dtype=np.uint8).reshape(3, 3) * 20,
                 np.full((2, 900), 230, np.uint8)):  # too few blocks for a slide fit: passed on, not refused
        assert as_bright_field(tiny).shape == tiny.shape
    with pytest.raises(ValueError, match="2-D"):
        is_bright_on_dark(np.zeros((4, 4, 3), np.uint8))


@pytest.mark.slow
def test_the_default_model_reads_a_fluorescence_style_negative_as_the_cell_itself():
    predictor = shipped_predictor()
    image = read_image(SAMPLE)
    cell, negative = predictor.predict_cell(image), predictor.predict_cell(255 - image)
    assert len(cell.instances) >= 40
    assert negative.karyotype == cell.karyotype
    assert [i.polygon.tolist() for i in negative.instances] == [i.polygon.tolist() for i in cell.instances]
