"""Reading and writing metaphase images as 2-D grayscale arrays (uint8, or uint16 kept as uint16).

PNG, JPEG and BMP go through Pillow, TIFF (8/16-bit, multi-page: the first page that is not a
thumbnail or a mask) through tifffile with every compression tifffile knows (LZW, Deflate,
PackBits, JPEG, ... through imagecodecs; CytoVision writes LZW); a TIFF's palette (colour map) is
applied and a MINISWHITE one inverted, so the values are the brightness every viewer shows.
Floating-point images, and integer ones beyond 0..65535, become uint16 (:func:`_float_to_gray`).
Colour is reduced to luminance (ITU-R 601 weights, alpha ignored).
An EXIF orientation (phone and some camera JPEGs) is applied, as labelme and image viewers do,
so pixels and outlines live in the upright frame; ``exif_orientation`` tells callers, who record
it in the files they write (``orientation_note``). Sizes are checked from the header before any
pixel is decoded, so a hostile or corrupt header cannot make us allocate gigabytes. Every
failure is an ImageReadError that names the file and says what is wrong.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.io.errors import FormatError, ImageReadError

MAX_SIDE = 20_000
# Below Pillow's own decompression-bomb limit (~179 Mpx), so our check and message always apply.
MAX_PIXELS = 150_000_000

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_PILLOW_FORMATS = ("PNG", "JPEG", "BMP")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_EXIF_ORIENTATION_TAG = 0x0112
_TIFF_MINISWHITE, _TIFF_PALETTE = 0, 3  # TIFF PhotometricInterpretation values
# What each EXIF orientation asks for, to show the image upright.
ORIENTATIONS = {1: "as stored", 2: "mirrored left-right", 3: "rotated 180 degrees",
                4: "mirrored top-bottom", 5: "transposed (mirrored along the main diagonal)",
                6: "rotated 90 degrees clockwise", 7: "transversed (mirrored along the other diagonal)",
                8: "rotated 90 degrees counter-clockwise"}
ORIENTATION_KEY = "karyostudioImageOrientation"  # top-level key of annotation files that records it
# ITU-R 601-2 luma in 16.16 fixed point, the weights Pillow's convert("L") uses (they sum to 65536,
# so an RGB image with three identical channels keeps its exact values).
_LUMA_WEIGHTS = (19595, 38470, 7471)


def image_key(name: str | Path) -> str:
    """The key of an image: its file name without an image suffix ("a.b.png" -> "a.b").

    Only known image suffixes are removed, so keys that contain dots survive a round trip
    through formats that store the key without a suffix.
    """
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if dot and stem and f".{suffix.lower()}" in IMAGE_SUFFIXES:
        return stem
    return base


# --- reading -------------------------------------------------------------------------------------

def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as a 2-D grayscale array (uint8, or uint16 for 16-bit data)."""
    data = _read_file_bytes(path)
    return decode_image(data, source=path)


def decode_image(data: bytes, *, source: str | Path | None = None) -> np.ndarray:
    """Decode encoded image bytes (PNG/JPEG/BMP/TIFF) like :func:`read_image`."""
    if not data:
        raise ImageReadError(source, "the image data is empty")
    if data[:4] in _TIFF_MAGICS:
        return _decode_tiff(data, source)
    return _decode_pillow(data, source)


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation (1..8) of an image file, 1 when it has none (or is a TIFF)."""
    path = Path(path)
    _check_is_file(path)
    with open(path, "rb") as handle:
        if handle.read(4) in _TIFF_MAGICS:
            return 1
        handle.seek(0)
        with _open_pillow(handle, path) as im:
            return _orientation_of(im)


def orientation_note(orientation: int) -> dict | None:
    """What annotation files record about an applied EXIF orientation (None for upright images)."""
    if orientation == 1 or orientation not in ORIENTATIONS:
        return None
    return {"exifOrientation": int(orientation), "applied": True,
            "note": f"the stored pixels were {ORIENTATIONS[orientation]} as the EXIF orientation asks "
                    "(as labelme and image viewers do); outlines are in that upright frame"}


def orientation_extra(path: str | Path) -> dict:
    """{ORIENTATION_KEY: orientation_note(...)} for an image read upright from EXIF, else {} (for
    the top-level extra keys of an annotation file; unreadable files give {})."""
    try:
        note = orientation_note(exif_orientation(path))
    except ImageReadError:
        return {}
    return {ORIENTATION_KEY: note} if note is not None else {}


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as read_image gives it (EXIF orientation applied), from its header.

    Raises ImageReadError for a missing or unreadable file, and for a PNG/JPEG/BMP header that
    claims more pixels than Pillow agrees to open (about 179 megapixels).
    """
    path = Path(path)
    _check_is_file(path)
    with open(path, "rb") as handle:
        magic = handle.read(4)
        handle.seek(0)
        if magic in _TIFF_MAGICS:
            with _open_tiff(handle, path) as tif:
                page = _image_page(tif)
                return int(page.imagewidth), int(page.imagelength)
        with _open_pillow(handle, path) as im:
            width, height = int(im.size[0]), int(im.size[1])
            return (height, width) if _orientation_of(im) in (5, 6, 7, 8) else (width, height)


def _read_file_bytes(path: str | Path) -> bytes:
    path = Path(path)
    _check_is_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if not data:
        raise ImageReadError(path, "the file is empty (0 bytes)")
    return data


def _check_is_file(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if not path.is_file():
        raise ImageReadError(path, "not a file")


def _check_size(width: int, height: int, source) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(source, f"the image has no pixels ({width} x {height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageReadError(source, f"image size {width} x {height} is beyond what karyostudio reads "
                                     f"(at most {MAX_SIDE} px a side and {MAX_PIXELS // 1_000_000} megapixels)")


def _open_pillow(handle: BinaryIO, source) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(handle, formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageReadError(source, f"image size is beyond what karyostudio reads ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(source, "not a supported image (expected PNG, JPEG, BMP or TIFF)") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(source, f"corrupt image header: {exc}") from exc
    return im


def _decode_pillow(data: bytes, source) -> np.ndarray:
    with _open_pillow(io.BytesIO(data), source) as im:
        _check_size(*im.size, source)
        orientation = _orientation_of(im)
        if im.format == "PNG" and _is_16bit_colour_png(data):
            return apply_orientation(_decode_16bit_colour_png(data, source), orientation)
        try:
            im.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageReadError(source, f"truncated or corrupt {im.format} data: {exc}") from exc
        return apply_orientation(_pillow_to_gray(im, source), orientation)


def _orientation_of(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the image unreadable
        return 1
    return int(value) if isinstance(value, int) and value in ORIENTATIONS else 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image as EXIF orientation ``orientation`` asks it to be shown (Pillow's exif_transpose)."""
    transforms = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    if orientation == 1:
        return image
    return np.ascontiguousarray(transforms.get(orientation, transforms[1])(image))


def _pillow_to_gray(im: Image.Image, source) -> np.ndarray:
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=np.uint8) * np.uint8(255)
    if mode == "L":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode == "LA":
        return np.asarray(im.getchannel("L"), dtype=np.uint8).copy()
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    if mode in ("I", "F"):
        return _integer_to_gray(np.asarray(im), source)
    if mode in ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(im.convert("RGB").convert("L"), dtype=np.uint8).copy()
    raise ImageReadError(source, f"unsupported pixel mode {mode!r}")


def _is_16bit_colour_png(data: bytes) -> bool:
    # IHDR is the first chunk: bit depth at byte 24, colour type at 25 (2 = RGB, 6 = RGBA).
    return data[:8] == _PNG_MAGIC and len(data) > 25 and data[24] == 16 and data[25] in (2, 6)


def _decode_16bit_colour_png(data: bytes, source) -> np.ndarray:
    # Pillow reduces 48/64-bit PNGs to 8 bits per channel; OpenCV keeps all 16.
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 3:
        raise ImageReadError(source, "truncated or corrupt 16-bit PNG data")
    return _luminance(arr[:, :, 2::-1])  # OpenCV gives BGR(A)


def _open_tiff(handle: BinaryIO, source) -> tifffile.TiffFile:
    try:
        tif = tifffile.TiffFile(handle)
        if len(tif.pages) == 0:
            tif.close()
            raise ImageReadError(source, "the TIFF file has no pages")
        return tif
    except FormatError:
        raise
    except Exception as exc:  # tifffile raises many kinds for corrupt headers
        raise ImageReadError(source, f"corrupt TIFF header: {exc}") from exc


_TIFF_PAGES_SEARCHED = 16  # for the image itself, past thumbnails and masks (stacks can hold thousands of pages)


def _image_page(tif: tifffile.TiffFile):
    """The TIFF's image: its first page that is neither a reduced-resolution copy (a thumbnail,
    which some capture systems write first) nor a transparency mask; else the first page."""
    for k, page in enumerate(tif.pages):
        if k >= _TIFF_PAGES_SEARCHED:
            break
        if not int(getattr(page, "subfiletype", 0)) & 0b101:  # bit 0: reduced resolution, bit 2: mask
            return page
    return tif.pages.first


def _decode_tiff(data: bytes, source) -> np.ndarray:
    with _open_tiff(io.BytesIO(data), source) as tif:
        page = _image_page(tif)
        _check_size(int(page.imagewidth), int(page.imagelength), source)
        if page.dtype is None:
            raise ImageReadError(source, "unsupported TIFF sample format")
        if int(page.imagedepth) > 1:
            raise ImageReadError(source, "volumetric TIFF pages are not supported")
        try:
            arr = page.asarray()
        except Exception as exc:
            raise ImageReadError(source, f"truncated or corrupt TIFF data: {exc}") from exc
        axes = page.axes
        photometric, colormap, bits = int(page.photometric), page.colormap, int(page.bitspersample)
    if np.issubdtype(arr.dtype, np.floating):  # before the min-is-white inversion, which needs unsigned data
        arr, bits = _float_to_gray(arr, source), 16
    if photometric == _TIFF_PALETTE and colormap is not None and arr.ndim == 2:
        arr, axes = _apply_tiff_colormap(arr, colormap, source), "YXS"
    elif photometric == _TIFF_MINISWHITE and arr.ndim == 2:
        arr = _invert_min_is_white(arr, bits)
    if "S" in axes and arr.ndim == 3:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if arr.ndim == 3:
        if arr.shape[-1] in (3, 4):
            return _luminance(_integer_to_gray(arr[..., :3], source))
        if arr.shape[-1] in (1, 2):  # gray (+ alpha)
            arr = arr[..., 0]
    if arr.ndim != 2:
        raise ImageReadError(source, f"unsupported TIFF layout (array shape {arr.shape}, axes {axes})")
    return _integer_to_gray(arr, source)


def _apply_tiff_colormap(indices: np.ndarray, colormap: np.ndarray, source) -> np.ndarray:
    """A palette image's colours (H x W x 3 uint8), as Pillow and image viewers show them."""
    if not np.issubdtype(indices.dtype, np.integer) or (indices.size and int(indices.max()) >= colormap.shape[1]):
        raise ImageReadError(source, "the TIFF palette image has indices outside its colour map")
    colours = colormap.astype(np.uint32)
    if colours.max(initial=0) > 255:  # the TIFF standard's 16-bit entries; some writers store 8-bit ones
        colours = colours >> 8
    return np.ascontiguousarray(colours.astype(np.uint8)[:, indices].transpose(1, 2, 0))


def _invert_min_is_white(arr: np.ndarray, bits: int) -> np.ndarray:
    """Values of a MINISWHITE image (0 is white) turned into brightness, as Pillow reads it."""
    if arr.dtype == np.bool_:
        return ~arr
    if not np.issubdtype(arr.dtype, np.unsignedinteger):
        return arr  # signed or float data: left for _integer_to_gray to accept or refuse
    top = min((1 << bits) - 1, int(np.iinfo(arr.dtype).max))
    return (top - np.minimum(arr, top)).astype(arr.dtype)


def _float_to_gray(arr: np.ndarray, source) -> np.ndarray:
    """Floating-point pixels (ImageJ's 32-bit images, processed exports) as uint16: data within
    0..1 is the unit range (x 65535), data within 0..65535 keeps its values (an integer camera
    image stored as float), anything else is stretched from its minimum to its maximum. The
    pipeline reads darkness relative to the slide, so only the order of the values matters."""
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ImageReadError(source, f"{arr.dtype} pixel data holds {int(bad.sum())} NaN or infinite "
                                     "values; save the image without them")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    wide = arr.astype(np.float64)
    if lo >= 0.0 and hi <= 1.0:
        wide = wide * 65535.0
    elif lo < 0.0 or hi > 65535.0:
        wide = (wide - lo) * (65535.0 / (hi - lo)) if hi > lo else np.zeros_like(wide)
    return np.rint(wide).astype(np.uint16)


def _integer_to_gray(arr: np.ndarray, source) -> np.ndarray:
    """uint8/uint16 as they are; other integer data as uint8/uint16 when every value fits in
    0..65535, else stretched from its minimum to its maximum (an ImageJ sum of frames, signed
    background-subtracted data); floating-point data by :func:`_float_to_gray`."""
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        return _float_to_gray(arr, source)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ImageReadError(source, f"{arr.dtype} pixel data is not supported "
                                     "(karyostudio reads integer and floating-point grey or colour images)")
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo < 0 or hi > 65535:
        return _float_to_gray(arr.astype(np.float64), source)
    return arr.astype(np.uint8 if arr.dtype.itemsize == 1 else np.uint16)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Luma of an H x W x 3 uint8/uint16 array, same dtype, rounded like Pillow's convert("L")."""
    wide = rgb.astype(np.int64)
    r, g, b = _LUMA_WEIGHTS
    luma = (wide[..., 0] * r + wide[..., 1] * g + wide[..., 2] * b + 32768) >> 16
    return luma.astype(rgb.dtype)


# --- writing -------------------------------------------------------------------------------------

def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an image atomically; the format follows the suffix (.png, .tif/.tiff, .jpg/.jpeg).

    Accepts 2-D uint8/uint16 arrays and H x W x 3 (RGB) or x 4 (RGBA) uint8 arrays.
    JPEG holds 8-bit data only.
    """
    path = Path(path)
    arr = np.asarray(image)
    suffix = path.suffix.lower()
    if arr.ndim == 2:
        if arr.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"a grayscale image must be uint8 or uint16, got {arr.dtype}")
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        if arr.dtype != np.uint8:
            raise ValueError(f"a colour image must be uint8, got {arr.dtype}")
    else:
        raise ValueError(f"expected an H x W (gray) or H x W x 3/4 (colour) array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError("cannot write an image without pixels")
    atomic_write_bytes(path, encode_image(arr, suffix))


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode an array as the file format named by a suffix (".png", ".tif", ".jpg", ...)."""
    arr = np.ascontiguousarray(image)
    suffix = suffix.lower()
    buffer = io.BytesIO()
    if suffix in (".tif", ".tiff"):
        photometric = "minisblack" if arr.ndim == 2 else "rgb"
        tifffile.imwrite(buffer, arr, photometric=photometric, compression="zlib")
    elif suffix == ".png":
        Image.fromarray(arr).save(buffer, format="PNG")
    elif suffix in (".jpg", ".jpeg"):
        if arr.dtype != np.uint8:
            raise ValueError("JPEG holds 8-bit data only; write 16-bit images as PNG or TIFF")
        Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr).save(buffer, format="JPEG", quality=95)
    else:
        raise ValueError(f"unsupported image suffix {suffix!r} (use .png, .tif, .tiff, .jpg or .jpeg)")
    return buffer.getvalue()


# --- display -------------------------------------------------------------------------------------

def to_display_uint8(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """8-bit version of an image for display.

    uint8 images are returned unchanged (a copy). 16-bit (any integer) images are stretched
    linearly so that the low_pct percentile maps to 0 and the high_pct percentile to 255;
    percentiles come from the exact histogram, so this is fast on large images.
    """
    arr = np.asarray(image)
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    if arr.dtype == np.uint8:
        return arr.copy()
    if arr.dtype != np.uint16:
        if not np.issubdtype(arr.dtype, np.integer) or (arr.size and (arr.min() < 0 or arr.max() > 65535)):
            raise ValueError(f"expected uint8 or uint16 data, got {arr.dtype}")
        arr = arr.astype(np.uint16)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.uint8)
    counts = np.bincount(arr.ravel(), minlength=65536)
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    lo = int(np.searchsorted(cumulative, max(total * low_pct / 100.0, 1), side="left"))
    hi = int(np.searchsorted(cumulative, max(total * high_pct / 100.0, 1), side="left"))
    hi = max(hi, lo + 1)
    levels = np.arange(65536, dtype=np.float64)
    lut = np.clip(np.round((levels - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)
    return lut[arr]
