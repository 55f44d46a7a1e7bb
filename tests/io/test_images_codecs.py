"""Real compressed TIFFs (CytoVision writes LZW) and EXIF-rotated JPEGs, written with tifffile/Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from karyostudio.io.images import (
    ORIENTATION_KEY, apply_orientation, exif_orientation, image_size, orientation_extra, read_image,
)


def _cell(dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.full((64, 96), 200, dtype=np.float64)
    image[10:50, 20:28] = 40
    image += rng.normal(0, 3, image.shape)
    if dtype == np.uint16:
        image *= 250
    return np.clip(image, 0, np.iinfo(dtype).max).astype(dtype)


@pytest.mark.parametrize("compression", ["lzw", "zlib", "packbits", "zstd", "lzma"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_lossless_tiff_compressions_read_exactly(tmp_path, compression, dtype):
    image = _cell(dtype)
    path = tmp_path / f"cell_{compression}.tif"
    tifffile.imwrite(path, image, compression=compression, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:  # the file really is compressed that way
        assert tif.pages.first.compression.name.lower() in {
            "lzw": ("lzw",), "zlib": ("adobe_deflate", "deflate"), "packbits": ("packbits",),
            "zstd": ("zstd",), "lzma": ("lzma",)}[compression]
    out = read_image(path)
    assert out.dtype == dtype and np.array_equal(out, image)


def test_lzw_colour_tiff_with_predictor_like_cytovision(tmp_path):
    rgb = np.stack([_cell()] * 3, axis=-1)
    path = tmp_path / "cyto.tif"
    tifffile.imwrite(path, rgb, compression="lzw", predictor=True, photometric="rgb")
    assert np.array_equal(read_image(path), _cell())


def test_jpeg_in_tiff_reads_close_to_the_original(tmp_path):
    image = _cell()
    path = tmp_path / "cell_jpeg.tif"
    tifffile.imwrite(path, image, compression="jpeg", photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.compression.name == "JPEG"
    out = read_image(path)
    assert out.shape == image.shape and np.abs(out.astype(int) - image).mean() < 3


def _jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", exif=exif, quality=100, subsampling=0)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_and_labelme_do(tmp_path, orientation):
    stored = _cell()
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(_jpeg_with_orientation(stored, orientation))
    reference = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("L"))
    out = read_image(path)
    assert np.array_equal(out, reference)
    assert image_size(path) == (out.shape[1], out.shape[0])
    assert exif_orientation(path) == orientation
    extra = orientation_extra(path)
    if orientation == 1:
        assert extra == {}
    else:
        assert extra[ORIENTATION_KEY]["exifOrientation"] == orientation and extra[ORIENTATION_KEY]["applied"]


def test_apply_orientation_inverts_nothing_for_upright_images():
    image = _cell()
    assert apply_orientation(image, 1) is image
    assert apply_orientation(image, 6).shape == (96, 64)
    assert np.array_equal(apply_orientation(apply_orientation(image, 3), 3), image)
