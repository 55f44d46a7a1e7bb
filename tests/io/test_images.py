"""Image reading/writing: every supported kind, every refused kind, header-only sizes, display stretch."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from karyostudio.io import atomic
from karyostudio.io.errors import ImageReadError
from karyostudio.io.images import (decode_image, image_key, image_size, read_image, to_display_uint8,
                                   write_image)

RNG = np.random.default_rng(7)
GRAY8 = RNG.integers(0, 256, (23, 31), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (23, 31), dtype=np.uint16)


def pillow_luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


def png_with_header(width: int, height: int) -> bytes:
    """A small PNG whose IHDR claims another size (CRC fixed so the header itself is valid)."""
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def tiff_with_header(width: int, height: int) -> bytes:
    """A hand-made little-endian TIFF header for an 8-bit gray image with no pixel data behind it."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 200), (277, 3, 1), (278, 4, height), (279, 4, width * height)]
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


# --- what reads ----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_8bit_gray_is_read_exactly(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, GRAY8)
    else:
        Image.fromarray(GRAY8).save(path)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == GRAY8.shape
    np.testing.assert_array_equal(image, GRAY8)


def test_jpeg_reads_as_2d_uint8(tmp_path: Path) -> None:
    smooth = np.tile(np.linspace(0, 255, 31).astype(np.uint8), (23, 1))
    Image.fromarray(smooth).save(tmp_path / "a.jpg", quality=95)
    image = read_image(tmp_path / "a.jpg")
    assert image.dtype == np.uint8 and image.shape == (23, 31)
    assert np.abs(image.astype(int) - smooth).max() <= 8


@pytest.mark.parametrize("writer", ["tifffile", "pillow-png", "cv2-png"])
def test_16bit_gray_stays_uint16(tmp_path: Path, writer: str) -> None:
    if writer == "tifffile":
        path = tmp_path / "a.tif"
        tifffile.imwrite(path, GRAY16)
    elif writer == "pillow-png":
        path = tmp_path / "a.png"
        Image.fromarray(GRAY16).save(path)
    else:
        path = tmp_path / "b.png"
        cv2.imwrite(str(path), GRAY16)
    image = read_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, GRAY16)


def test_multipage_tiff_gives_first_page(tmp_path: Path) -> None:
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tif:
        for page in (GRAY16, GRAY16 // 2, GRAY16 // 3):
            tif.write(page, photometric="minisblack")
    assert len(tifffile.TiffFile(tmp_path / "stack.tif").pages) == 3
    np.testing.assert_array_equal(read_image(tmp_path / "stack.tif"), GRAY16)
    assert image_size(tmp_path / "stack.tif") == (31, 23)


@pytest.mark.parametrize("first_pages", [[1], [4], [1, 4]])  # subfile type 1: reduced resolution, 4: mask
def test_a_tiff_whose_first_pages_are_a_thumbnail_or_a_mask_gives_the_image(tmp_path: Path, first_pages) -> None:
    with tifffile.TiffWriter(tmp_path / "capture.tif") as tif:
        for kind in first_pages:
            if kind == 1:
                tif.write(np.full((6, 8), 200, np.uint8), photometric="minisblack", subfiletype=1)
            else:
                tif.write(np.zeros((23, 31), bool), photometric="mask", subfiletype=4)
        tif.write(GRAY16, photometric="minisblack")
        tif.write(GRAY16 // 2, photometric="minisblack")
    np.testing.assert_array_equal(read_image(tmp_path / "capture.tif"), GRAY16)
    assert image_size(tmp_path / "capture.tif") == (31, 23)


def test_rgb_becomes_luminance_like_pillow(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), pillow_luma(rgb))
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif"), pillow_luma(rgb))


def test_rgb_with_identical_channels_keeps_exact_gray(tmp_path: Path) -> None:
    # The Taichung originals are RGB files with three identical channels.
    Image.fromarray(np.dstack([GRAY8] * 3)).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), GRAY8)
    tifffile.imwrite(tmp_path / "a16.tif", np.dstack([GRAY16] * 3), photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "a16.tif"), GRAY16)


def test_alpha_is_ignored(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    alpha = RNG.integers(0, 256, (23, 31, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=2)).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), pillow_luma(rgb))


def test_palette_and_bilevel_images(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    palette = Image.fromarray(rgb).convert("P")
    palette.save(tmp_path / "p.bmp")
    np.testing.assert_array_equal(read_image(tmp_path / "p.bmp"), np.asarray(palette.convert("L")))
    Image.fromarray(GRAY8 > 128).convert("1").save(tmp_path / "bw.png")
    np.testing.assert_array_equal(read_image(tmp_path / "bw.png"), np.where(GRAY8 > 128, 255, 0))


def test_palette_tiff_shows_its_colours_as_pillow_does(tmp_path: Path) -> None:
    indices = RNG.integers(0, 256, (23, 31), dtype=np.uint8)
    colormap = RNG.integers(0, 65536, (3, 256), dtype=np.uint16)  # the standard's 16-bit entries
    tifffile.imwrite(tmp_path / "p.tif", indices, photometric="palette", colormap=colormap)
    with Image.open(tmp_path / "p.tif") as reference:
        assert reference.mode == "P"
        np.testing.assert_array_equal(read_image(tmp_path / "p.tif"), np.asarray(reference.convert("L")))
    grey_ramp = np.tile(np.arange(256, dtype=np.uint16), (3, 1))  # a writer that stores 8-bit entries
    tifffile.imwrite(tmp_path / "p8.tif", indices, photometric="palette", colormap=255 - grey_ramp)
    np.testing.assert_array_equal(read_image(tmp_path / "p8.tif"), 255 - indices)


def test_min_is_white_tiff_is_read_as_brightness(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "w8.tif", GRAY8, photometric="miniswhite")
    with Image.open(tmp_path / "w8.tif") as reference:
        np.testing.assert_array_equal(read_image(tmp_path / "w8.tif"), np.asarray(reference.convert("L")))
    np.testing.assert_array_equal(read_image(tmp_path / "w8.tif"), 255 - GRAY8)
    gray16 = RNG.integers(0, 65536, (23, 31), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "w16.tif", gray16, photometric="miniswhite")
    image = read_image(tmp_path / "w16.tif")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, 65535 - gray16)
    tifffile.imwrite(tmp_path / "w1.tif", GRAY8 > 128, photometric="miniswhite")
    np.testing.assert_array_equal(read_image(tmp_path / "w1.tif"), np.where(GRAY8 > 128, 0, 255))


def test_16bit_rgb_keeps_16_bits(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 65536, (23, 31, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb[:, :, ::-1])  # OpenCV writes BGR
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, 2, 0), photometric="rgb", planarconfig="separate")
    wide = rgb.astype(np.int64)
    expected = (wide[..., 0] * 19595 + wide[..., 1] * 38470 + wide[..., 2] * 7471 + 32768) >> 16
    for name in ("rgb16.png", "planar.tif"):
        image = read_image(tmp_path / name)
        assert image.dtype == np.uint16, name
        np.testing.assert_array_equal(image, expected)


def test_integer_data_that_fits_16_bits_is_accepted(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "i32.tif", GRAY16.astype(np.int32))
    image = read_image(tmp_path / "i32.tif")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, GRAY16)


def test_decode_image_reads_bytes() -> None:
    buf = io.BytesIO()
    Image.fromarray(GRAY8).save(buf, "PNG")
    np.testing.assert_array_equal(decode_image(buf.getvalue()), GRAY8)


# --- what is refused -----------------------------------------------------------------------------

def refused(path: Path, *words: str) -> None:
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_missing_empty_and_folder(tmp_path: Path) -> None:
    refused(tmp_path / "nope.png", "no such file")
    (tmp_path / "empty.png").write_bytes(b"")
    refused(tmp_path / "empty.png", "empty")
    refused(tmp_path, "not a file")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_truncated_files(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(whole, GRAY16)
    else:
        Image.fromarray(GRAY8).save(whole)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    refused(cut, "truncated or corrupt")


def test_garbage_and_unsupported_formats(tmp_path: Path) -> None:
    (tmp_path / "garbage.png").write_bytes(b"\x00\x13garbage" * 50)
    refused(tmp_path / "garbage.png", "not a supported image")
    (tmp_path / "notes.tif").write_text("these are not pixels")
    refused(tmp_path / "notes.tif", "not a supported image")
    Image.fromarray(GRAY8).save(tmp_path / "a.gif")
    refused(tmp_path / "a.gif", "not a supported image")
    corrupt_tiff = bytearray(tiff_with_header(10, 10))
    corrupt_tiff[4:8] = struct.pack("<I", 10_000)  # IFD offset past the end
    (tmp_path / "bad.tif").write_bytes(bytes(corrupt_tiff))
    refused(tmp_path / "bad.tif", "TIFF")


@pytest.mark.parametrize("size", [(30_000, 100), (100, 20_001), (13_000, 12_000), (15_000, 15_000)])
def test_absurd_sizes_are_refused_from_the_header(tmp_path: Path, size: tuple[int, int]) -> None:
    (tmp_path / "big.png").write_bytes(png_with_header(*size))
    (tmp_path / "big.tif").write_bytes(tiff_with_header(*size))
    for name in ("big.png", "big.tif"):
        # The files hold no pixel data at all: a size message proves nothing was decoded.
        refused(tmp_path / name, "beyond what karyostudio reads")
    assert image_size(tmp_path / "big.tif") == size
    if size[0] * size[1] < 178_956_970:  # Pillow refuses to open bigger headers at all
        assert image_size(tmp_path / "big.png") == size


def test_zero_size_images_are_refused(tmp_path: Path) -> None:
    (tmp_path / "zero.tif").write_bytes(tiff_with_header(0, 10))
    (tmp_path / "zero.png").write_bytes(png_with_header(0, 10))
    for name in ("zero.tif", "zero.png"):
        with pytest.raises(ImageReadError):
            read_image(tmp_path / name)


@pytest.mark.parametrize("array, words", [
    (np.array([[0.0, np.nan], [1.0, 0.5]], np.float32), "1 NaN or infinite values"),
    (np.array([[0.0, np.inf], [1.0, 0.5]], np.float64), "1 NaN or infinite values"),
    (np.zeros((5, 5), np.complex64), "complex64 pixel data is not supported"),
])
def test_unrepresentable_pixel_data(tmp_path: Path, array: np.ndarray, words: str) -> None:
    tifffile.imwrite(tmp_path / "odd.tif", array)
    refused(tmp_path / "odd.tif", words)


@pytest.mark.parametrize("array, expected", [
    # unit-range data (ImageJ, scikit-image) fills the 16-bit range
    (np.array([[0.0, 0.25], [0.5, 1.0]], np.float32), np.array([[0, 16384], [32768, 65535]])),
    # an integer camera image stored as float keeps its values
    (np.array([[0.0, 17.0], [4095.0, 3.0]], np.float32), np.array([[0, 17], [4095, 3]])),
    (np.array([[2.0, 200.0], [255.0, 1.5]], np.float16), np.array([[2, 200], [255, 2]])),
    # anything else is stretched from its minimum to its maximum, in order
    (np.array([[-1.0, 0.0], [1.0, 3.0]], np.float64), np.array([[0, 16384], [32768, 65535]])),
    (np.array([[0.0, 1e5], [5e4, 2e5]], np.float32), np.array([[0, 32768], [16384, 65535]])),
    (np.full((2, 2), -5.0, np.float32), np.zeros((2, 2))),  # nothing to stretch
    # integer data beyond 16 bits, or signed below 0, is stretched the same way
    (np.array([[0, 100_000], [50_000, 200_000]], np.uint32), np.array([[0, 32768], [16384, 65535]])),
    (np.array([[-3, 0], [1, 5]], np.int16), np.array([[0, 24576], [32768, 65535]])),
    (np.full((2, 2), 70_000, np.uint32), np.zeros((2, 2))),
])
def test_floating_point_and_wide_integer_tiffs_are_read_as_16_bit(tmp_path: Path, array: np.ndarray, expected: np.ndarray) -> None:
    tifffile.imwrite(tmp_path / "float.tif", array)
    image = read_image(tmp_path / "float.tif")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, expected)


def test_a_floating_point_min_is_white_tiff_is_inverted_and_colour_reduced_to_luminance(tmp_path: Path) -> None:
    gray = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    tifffile.imwrite(tmp_path / "white.tif", gray, photometric="miniswhite")
    np.testing.assert_array_equal(read_image(tmp_path / "white.tif"), 65535 - np.array([[0, 16384], [32768, 65535]]))
    rgb = np.stack([gray, gray, gray], axis=-1)  # a grey colour image reads as its grey
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif"), np.array([[0, 16384], [32768, 65535]]))


def test_image_size_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no such file"):
        image_size(tmp_path / "missing.png")
    (tmp_path / "junk.jpg").write_bytes(b"junk" * 10)
    with pytest.raises(ImageReadError, match="not a supported image"):
        image_size(tmp_path / "junk.jpg")


# --- writing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, array", [(".png", GRAY8), (".png", GRAY16), (".tif", GRAY16),
                                           (".tiff", GRAY8)])
def test_write_read_round_trip_is_exact(tmp_path: Path, suffix: str, array: np.ndarray) -> None:
    write_image(tmp_path / f"out{suffix}", array)
    back = read_image(tmp_path / f"out{suffix}")
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_write_jpeg_and_colour(tmp_path: Path) -> None:
    write_image(tmp_path / "out.jpg", GRAY8)
    assert read_image(tmp_path / "out.jpg").shape == GRAY8.shape
    colour = np.dstack([GRAY8, GRAY8, GRAY8])
    write_image(tmp_path / "colour.png", colour)
    np.testing.assert_array_equal(read_image(tmp_path / "colour.png"), GRAY8)


def test_write_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="8-bit"):
        write_image(tmp_path / "a.jpg", GRAY16)
    with pytest.raises(ValueError, match="suffix"):
        write_image(tmp_path / "a.gif", GRAY8)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_image(tmp_path / "a.png", GRAY8.astype(np.float32))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.png"
    write_image(target, GRAY8)
    before = target.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_image(target, GRAY16)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


# --- display and keys ----------------------------------------------------------------------------

def test_display_stretch_maps_percentiles_to_the_full_range() -> None:
    ramp = np.arange(1000, 11000, dtype=np.uint16).reshape(100, 100)
    shown = to_display_uint8(ramp, 1.0, 99.0)
    assert shown.dtype == np.uint8 and shown.shape == ramp.shape
    assert shown[0, 0] == 0 and shown[-1, -1] == 255
    assert (shown.ravel()[:100] == 0).all() and (shown.ravel()[-100:] == 255).all()
    assert np.all(np.diff(shown.ravel().astype(int)) >= 0)  # monotonic
    middle = int(ramp.ravel()[5000])
    assert abs(int(shown.ravel()[5000]) - round((middle - 1100) * 255 / 9800)) <= 1


def test_display_stretch_keeps_8bit_and_survives_flat_images() -> None:
    np.testing.assert_array_equal(to_display_uint8(GRAY8), GRAY8)
    flat = np.full((10, 10), 500, np.uint16)
    assert to_display_uint8(flat).dtype == np.uint8
    with pytest.raises(ValueError):
        to_display_uint8(np.zeros((3, 3), np.float32))


def test_image_key_strips_only_image_suffixes() -> None:
    assert image_key("0_1_247_180_0.880.png") == "0_1_247_180_0.880"
    assert image_key("0_1_247_180_0.880") == "0_1_247_180_0.880"
    assert image_key("dir\\sub\\103064.JPG") == "103064"
    assert image_key("../images/a.tiff") == "a"
