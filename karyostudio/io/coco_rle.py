"""Decoding COCO run-length encoded masks (both the compressed string and the plain list form).

pycocotools is only a test dependency, so the few lines needed to read RLE segmentations
written by other tools (detectron2 results, crowd annotations) live here.
"""

from __future__ import annotations

from typing import Any

import numpy as np


MAX_SIDE = 20_000  # the largest image karyostudio reads (karyostudio.io.images)
MAX_PIXELS = 150_000_000


def decode_rle(rle: Any) -> np.ndarray:
    """A COCO RLE ({"size": [h, w], "counts": str | list[int]}) as a bool mask of shape (h, w).

    Raises ValueError with a readable message when the RLE is malformed or larger than any image
    karyostudio reads (a hostile size must not allocate gigabytes).
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("an RLE needs 'size' and 'counts'")
    size = rle["size"]
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)):
        raise ValueError(f"RLE size must be [height, width], found {size!r}")
    height, width = size
    if height > MAX_SIDE or width > MAX_SIDE or height * width > MAX_PIXELS:
        raise ValueError(f"RLE size {height} x {width} is beyond what karyostudio reads (at most {MAX_SIDE} px "
                         f"a side and {MAX_PIXELS // 1_000_000} megapixels)")
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        runs = _decode_counts(counts)
    elif isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        runs = counts
    else:
        raise ValueError("RLE counts must be a string or a list of integers")
    runs_arr = np.asarray(runs, dtype=np.int64)
    if np.any(runs_arr < 0) or int(runs_arr.sum()) != height * width:
        raise ValueError(f"RLE counts cover {int(runs_arr.sum())} pixels, not {height} x {width}")
    values = np.arange(len(runs_arr)) % 2 == 1  # runs alternate background, foreground
    flat = np.repeat(values, runs_arr)
    return flat.reshape((height, width), order="F")  # COCO runs go down columns


def _decode_counts(text: str) -> list[int]:
    """pycocotools' compressed counts: 5-bit groups with a continuation bit, deltas after the 3rd run."""
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(text):
                raise ValueError("RLE counts string ends in the middle of a number")
            chunk = ord(text[pos]) - 48
            if not 0 <= chunk < 64:
                raise ValueError(f"invalid character {text[pos]!r} in RLE counts")
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)
            pos += 1
            shift += 5
            if not more and chunk & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts
