"""Training crops for ChromSeg's region-guided UNet++: crossing clusters with exact region maps.

A crop is a square gray image centred on a cluster of crossing chromosomes with two maps:
foreground (pixels covered by any chromosome) and crossing (pixels covered by two or more).

Synthetic crops come from karyostudio.synth: image k of a run with seed s is
generate_metaphase(rng_for(s, k)); every cluster of kind X, T or L (synth/overlaps.py) gives one
crop (at most ``max_per_image``, in cluster order), so the crop list of a seed is fixed. Each
image's crops are cached in ``<cache_dir>/<key>/img<k>.npz`` (key: every setting that changes
them), so later epochs and later runs read instead of generating. Validation images are drawn
from a separate index range (VAL_OFFSET + k) of the same seed.

Labelme folders (anything karyostudio.io.annotation_set reads that has polygons and images):
chromosomes whose polygons overlap form groups; each group with a crossing gives a crop.

Augmentation (training only) is a pure function of (seed, epoch, index): flips, rot90, an
intensity change (gain, offset, gamma) and, for some crops, a "tight" view that keeps only the
cluster's box plus a margin and fills the rest with the background level, as a crop cut out
by a detector looks.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from scipy import ndimage

from karyostudio.core.annotated_image import BOX_ONLY
from karyostudio.core.progress import CancelToken, check
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.io.annotation_set import load_annotation_set
from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.io.images import read_image, to_display_uint8
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from karyostudio.synth.overlaps import coverage_count

CROSSING_KINDS = ("X", "T", "L")
VAL_OFFSET = 1_000_000  # validation images: indices VAL_OFFSET.. of the same seed
CACHE_VERSION = 1
# Label map values: background, foreground (one chromosome), crossing (two or more).
BACKGROUND, FOREGROUND, CROSSING = 0, 1, 2


class ChromSegDataError(ValueError):
    """Training data that cannot be used (no crops, unreadable folders)."""


@dataclass(frozen=True)
class Crop:
    image: np.ndarray  # uint8, S x S
    labels: np.ndarray  # uint8, S x S: BACKGROUND / FOREGROUND / CROSSING
    box: tuple[int, int, int, int]  # the cluster's box inside the crop (x0, y0, x1, y1)

    @property
    def foreground(self) -> np.ndarray:
        return self.labels >= FOREGROUND

    @property
    def crossing(self) -> np.ndarray:
        return self.labels >= CROSSING


def crop_window(center: tuple[float, float], size: int, shape: tuple[int, int]) -> tuple[int, int]:
    """Top-left (x0, y0) of a size x size window centred on ``center``, kept inside the image when it fits."""
    height, width = shape
    x0 = int(round(center[0] - size / 2))
    y0 = int(round(center[1] - size / 2))
    x0 = min(max(x0, 0), max(width - size, 0)) if width >= size else -((size - width) // 2)
    y0 = min(max(y0, 0), max(height - size, 0)) if height >= size else -((size - height) // 2)
    return x0, y0


def cut(array: np.ndarray, x0: int, y0: int, size: int, fill: float) -> np.ndarray:
    """The size x size window of a 2-D array at (x0, y0); outside the array filled with ``fill``."""
    out = np.full((size, size), fill, dtype=array.dtype)
    h, w = array.shape
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out


def background_level(image: np.ndarray) -> float:
    """Median of the border pixels: the background of a crop of a bright-field metaphase."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return float(np.median(border))


def crops_from_coverage(image: np.ndarray, count: np.ndarray, boxes: Iterable[tuple[int, int, int, int]],
                        size: int) -> list[Crop]:
    """One crop per cluster box, centred on it; labels from the coverage count."""
    labels_full = np.minimum(count, CROSSING).astype(np.uint8)
    fill = float(np.median(image))
    crops = []
    for bx0, by0, bx1, by1 in boxes:
        x0, y0 = crop_window(((bx0 + bx1) / 2, (by0 + by1) / 2), size, image.shape)
        box = (max(bx0 - x0, 0), max(by0 - y0, 0), min(bx1 - x0, size), min(by1 - y0, size))
        crops.append(Crop(cut(image, x0, y0, size, fill), cut(labels_full, x0, y0, size, BACKGROUND), box))
    return crops


# --- synthetic crops ------------------------------------------------------------------------------

def synth_image_crops(seed: int, index: int, size: int, synth: SynthConfig, max_per_image: int) -> list[Crop]:
    """The crops of synthetic image ``index`` of ``seed`` (clusters of kind X, T, L, in order)."""
    sample = generate_metaphase(rng_for(seed, index), synth)
    count = coverage_count(sample.mask_patches, sample.shape)
    by_id = {inst.id: patch for inst, patch in zip(sample.instances, sample.mask_patches)}
    boxes = []
    for cluster in sample.clusters:
        if cluster.kind not in CROSSING_KINDS:
            continue
        member_boxes = np.array([by_id[m].box for m in cluster.members])
        boxes.append((int(member_boxes[:, 0].min()), int(member_boxes[:, 1].min()),
                      int(member_boxes[:, 2].max()), int(member_boxes[:, 3].max())))
        if len(boxes) == max_per_image:
            break
    return crops_from_coverage(sample.image, count, boxes, size)


def _save_crops(path: Path, crops: Sequence[Crop], size: int) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=np.array([c.image for c in crops], np.uint8).reshape(-1, size, size),
                        labels=np.array([c.labels for c in crops], np.uint8).reshape(-1, size, size),
                        boxes=np.array([c.box for c in crops], np.int32).reshape(-1, 4))
    atomic_write_bytes(path, buffer.getvalue())


def _load_crops(path: Path) -> list[Crop] | None:
    try:
        with np.load(path) as data:
            return [Crop(i, l, tuple(int(v) for v in b)) for i, l, b in zip(data["images"], data["labels"],
                                                                            data["boxes"])]
    except (OSError, KeyError, ValueError):
        return None  # missing or damaged: generate again


def cache_folder(cache_dir: str | Path, seed: int, size: int, synth: SynthConfig, max_per_image: int) -> Path:
    key = json.dumps({"v": CACHE_VERSION, "seed": seed, "size": size, "max": max_per_image,
                      "synth": repr(synth)}, sort_keys=True)
    return Path(cache_dir) / f"synth-s{seed}-{size}px-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def synth_crops(seed: int, count: int, *, first_index: int = 0, size: int = 256,
                synth: SynthConfig = SynthConfig(), max_per_image: int = 3, cache_dir: str | Path | None = None,
                max_images: int | None = None, progress: Callable[[int, int], None] | None = None,
                cancel: CancelToken | None = None) -> list[Crop]:
    """The first ``count`` crops of images first_index, first_index + 1, ... of ``seed``."""
    folder = cache_folder(cache_dir, seed, size, synth, max_per_image) if cache_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    limit = max_images if max_images is not None else max(20, 4 * count)
    crops: list[Crop] = []
    index = first_index
    while len(crops) < count:
        check(cancel)
        if index - first_index >= limit:
            raise ChromSegDataError(f"only {len(crops)} crossing crops in {limit} synthetic images; "
                                    f"{count} were asked for")
        path = folder / f"img{index:07d}.npz" if folder is not None else None
        found = _load_crops(path) if path is not None and path.is_file() else None
        if found is None:
            found = synth_image_crops(seed, index, size, synth, max_per_image)
            if path is not None:
                _save_crops(path, found, size)
        crops.extend(found[:count - len(crops)])
        index += 1
        if progress is not None:
            progress(len(crops), count)
    return crops


# --- labelme folders ------------------------------------------------------------------------------

def labelme_crops_by_image(folder: str | Path, size: int = 256,
                           cancel: CancelToken | None = None) -> dict[str, list[Crop]]:
    """Image key -> crops of every group of chromosomes whose polygons overlap, from an annotation folder."""
    annotations = load_annotation_set(folder, cancel=cancel)
    out: dict[str, list[Crop]] = {}
    for key in sorted(annotations):
        check(cancel)
        ann = annotations[key]
        polygons = [inst.polygon for inst in ann.instances
                    if not inst.attributes.get(BOX_ONLY, False) and len(inst.polygon) >= 3]
        if len(polygons) < 2 or ann.image_path is None or not Path(ann.image_path).is_file():
            continue
        image = read_image(ann.image_path)
        image = image if image.dtype == np.uint8 else to_display_uint8(image)
        masks = [polygon_to_mask(p, image.shape) for p in polygons]
        count = np.sum(masks, axis=0, dtype=np.uint8)
        crops = crops_from_coverage(image, count, _overlap_group_boxes(masks), size)
        if crops:
            out[key] = crops
    return out


def split_keys(keys: Sequence[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, validation) image keys: a key validates when its hash falls in the first val_fraction,
    so adding images never moves others between the two."""
    train, val = [], []
    for key in keys:
        position = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 16 ** 8
        (val if position < val_fraction else train).append(key)
    return train, val


def _overlap_group_boxes(masks: list[np.ndarray]) -> list[tuple[int, int, int, int]]:
    """Boxes of the groups of masks linked by overlapping pixels (groups of one left out)."""
    parent = list(range(len(masks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    boxes = [ndimage.find_objects(m.astype(np.uint8))[0] if m.any() else None for m in masks]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            if boxes[i] is not None and boxes[j] is not None and np.any(masks[i] & masks[j]):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(masks)):
        groups.setdefault(root(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ys = [boxes[m][0] for m in members]
        xs = [boxes[m][1] for m in members]
        out.append((min(s.start for s in xs), min(s.start for s in ys), max(s.stop for s in xs),
                    max(s.stop for s in ys)))
    return sorted(out, key=lambda b: (b[1], b[0]))


# --- augmentation ---------------------------------------------------------------------------------

def augment_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), 7, int(epoch), int(index)]))


def augment(crop: Crop, rng: np.random.Generator, tight_probability: float = 0.3) -> Crop:
    """A random view of a crop: tight view, flips, rot90 and an intensity change."""
    image, labels, box = crop.image, crop.labels, crop.box
    if rng.random() < tight_probability:
        image, labels = _tight_view(image, labels, box, int(rng.integers(4, 33)))
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if rng.random() < 0.5:
        image, labels = image[::-1], labels[::-1]
    turns = int(rng.integers(4))
    image, labels = np.rot90(image, turns), np.rot90(labels, turns)
    x = image.astype(np.float32) / 255.0
    x = np.clip(x * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1), 0.0, 1.0) ** rng.uniform(0.7, 1.4)
    image = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    return Crop(image, np.ascontiguousarray(labels), box)


def _tight_view(image: np.ndarray, labels: np.ndarray, box: tuple[int, int, int, int],
                margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Only the cluster's box grown by ``margin``; the rest at the background level, unlabelled."""
    h, w = image.shape
    x0, y0 = max(box[0] - margin, 0), max(box[1] - margin, 0)
    x1, y1 = min(box[2] + margin, w), min(box[3] + margin, h)
    if x1 <= x0 or y1 <= y0:
        return image, labels
    keep = np.zeros(image.shape, dtype=bool)
    keep[y0:y1, x0:x1] = True
    inside = image[y0:y1, x0:x1]
    fill = background_level(inside)
    return np.where(keep, image, np.uint8(round(fill))), np.where(keep, labels, np.uint8(BACKGROUND))
